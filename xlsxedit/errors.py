"""The refusals of the package: a file that is not a workbook this package can edit safely."""

from __future__ import annotations


class PackageError(ValueError):
    """The bytes are not a workbook this module can edit safely; the message says why, in one line."""


class StrictWorkbook(PackageError):
    """An ISO "Strict Open XML" workbook: other namespaces throughout, which this package does not edit."""

    def __init__(self) -> None:
        super().__init__(
            'is a "Strict Open XML Spreadsheet" workbook, which this tool cannot edit; it is unchanged: open '
            'it in Excel or LibreOffice and save it as an ordinary .xlsx ("Excel Workbook"), then try again'
        )
