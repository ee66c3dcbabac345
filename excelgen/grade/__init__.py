"""`excelgen grade`: grade a student's hand-built backprop sheet cell by cell, with error carried forward.

    from excelgen.grade import grade_file, grade_many
    report = grade_file("alice.xlsx")            # a Report; report.to_json() is the --json object

Modules, one concern each: reading (a submission's kind and cached values, within limits), columns (the
documents' column names and students' spellings), table (finding the table and η), check (the error carried
forward against reference.py), mistakes (the catalogue of known mistakes), report (Report and its JSON),
gradebook (the .xlsx and CSV), cli (the subcommand), bench (its speed).
"""

from .api import grade_file, grade_many
from .check import DEFAULT_TOLERANCE
from .report import ColumnResult, Diagnosis, Report

__all__ = ["DEFAULT_TOLERANCE", "ColumnResult", "Diagnosis", "Report", "grade_file", "grade_many"]
