"""Reading and editing a user's .xlsx safely, for every program of the project; it imports none of them.

- files.py: atomic writes, the lock, `read_small` (a small user file read within a limit);
- writer.py: `update_workbook`, every workbook write's guarantees (locked, atomic, five backups, refusals);
- ownership.py: who wrote which sheet and name, and `Owner.update`, the one way a program updates its sheets;
- package.py: an .xlsx as its parts (a small core); zipguard.py, xmltext.py, relationships.py,
  contenttypes.py, graft.py, styles.py and apptitles.py: the concerns around it (package.py's docstring says
  which is which).
"""
