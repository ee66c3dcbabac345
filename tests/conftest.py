"""Shared test setup: the rule for tests that need LibreOffice or Gnumeric (see tests/spreadsheet.py)."""

from __future__ import annotations

import signal

import pytest
from spreadsheet import require_gnumeric, require_libreoffice

# A shell without job control (`nohup make test &`, some CI services) starts a background job with SIGINT
# ignored, and an ignored signal stays ignored in every child: the tests that press Ctrl-C on a child
# (excelgen's writer, the sweep) would see it do nothing. A handler here is reset to the default in each
# child, as a terminal starts them.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(tryfirst=True)  # before any fixture of the test starts LibreOffice
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Skip with a reason when soffice is absent; fail under CI=true, where .ci/run installs it.
    if item.get_closest_marker("libreoffice") is not None:
        require_libreoffice()
    if item.get_closest_marker("gnumeric") is not None:
        require_gnumeric()
