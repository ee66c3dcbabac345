"""Excel's strictness without Excel: every kind of workbook this project writes passes the Open XML SDK's
schema and semantic rules (openxml-audit, a pure-Python port): a fresh one, one with biases trained, one
the trainer exported into twice (with the learned section), and one regenerated over MNIST, Runs and a
user's sheet. A grafting slip (an element out of schema order, a dangling relationship, a bad attribute) is
what Excel reports as a damaged file; these catch it. Warnings (Excel moving inline strings into a shared
table when it next saves) are allowed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from openxml_audit import FileFormat, OpenXmlValidator
from test_export import write_run
from test_results import fake_results
from test_writer import add_user_sheet

from excelgen import cli
from excelgen.model.config import Config, Network, Training
from trainer.export import export_run


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("openxml")
    books = {name: folder / f"{name}.xlsx" for name in ("fresh", "biases", "exported", "regenerated")}
    cli.generate(Config(), books["fresh"])
    trained = Config(network=Network(b1=0.35, b2=0.6), training=Training((0.5, 1.0), 20, train_biases=True))
    cli.generate(trained, books["biases"])
    shutil.copy(books["fresh"], books["exported"])
    for name, accs in (("a", [98.0, 99.45]), ("b", [98.5, 99.5])):
        run = write_run(folder / "runs" / name, accs)
        fake_results(run, wrong=55, epoch=len(accs))
        export_run(run, books["exported"])
    shutil.copy(books["exported"], books["regenerated"])
    add_user_sheet(books["regenerated"], "My notes")
    cli.generate(Config(training=Training((0.2, 2.0), 50)), books["regenerated"])
    return books


@pytest.mark.parametrize("name", ["fresh", "biases", "exported", "regenerated"])
def test_the_workbook_passes_the_open_xml_rules(name: str, workbooks: dict[str, Path]) -> None:
    result = OpenXmlValidator(file_format=FileFormat.MICROSOFT_365).validate(str(workbooks[name]))
    problems = [str(e)[:300] for e in result.errors]  # warnings too, for the message
    assert result.is_valid and result.error_count == 0, problems[:5]
