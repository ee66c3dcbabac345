"""Class sets: every student of a roster their own numbers (a variant drawn from the class's seed and their
id), a blank workbook to fill with no answer in the file, an answer key, class.json, and grading the class.

    excelgen class ROSTER.csv --out DIR [--seed S] [--blank N] [--config PATH]
    excelgen grade --class DIR SUBMISSION...
"""
