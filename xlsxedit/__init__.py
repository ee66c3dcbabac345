"""Reading and editing a user's .xlsx safely: atomic writes and the lock (files), the package model within
limits (package), and the one update path every program writes its sheets through (writer).

It imports neither excelgen nor trainer: both programs, and anything else that edits a workbook, stand on it.
"""
