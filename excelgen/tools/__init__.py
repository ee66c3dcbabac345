"""Tools for the people who work on excelgen, not for its users: the benchmark (bench), the choice of the
gradient check's step (fdstep), and headless LibreOffice (libreoffice), which the tests and docs use too."""
