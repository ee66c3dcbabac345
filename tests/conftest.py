"""Shared test setup: the rule for tests that need LibreOffice or Gnumeric (see tests/spreadsheet.py)."""

from __future__ import annotations

import pytest
from spreadsheet import require_gnumeric, require_libreoffice


@pytest.hookimpl(tryfirst=True)  # before any fixture of the test starts LibreOffice
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Skip with a reason when soffice is absent; fail under CI=true, where .ci/run installs it.
    if item.get_closest_marker("libreoffice") is not None:
        require_libreoffice()
    if item.get_closest_marker("gnumeric") is not None:
        require_gnumeric()
