"""The one refusal of the package: a file that is not a workbook this package can edit safely."""

from __future__ import annotations


class PackageError(ValueError):
    """The bytes are not a workbook this module can edit safely; the message says why, in one line."""
