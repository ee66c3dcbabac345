"""Who may import whom, read from the source with `ast`: xlsxedit (reading and editing a user's .xlsx) stands
under both programs and imports neither; excelgen never imports the trainer; the trainer reaches excelgen
only to generate the teaching sheets, when it writes the default workbook for a user who has none."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ("excelgen", "trainer")


def imports(path: Path) -> list[tuple[str, str | None, int]]:
    """(absolute module, the function it is imported in or None at module level, line) of every import in a
    file; relative imports resolved against the file's package."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    found: list[tuple[str, str | None, int]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, function, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = list(package[: len(package) - child.level + 1]) if child.level else []
                module = ".".join([*base, *([child.module] if child.module else [])])
                found.append((module, function, child.lineno))
            visit(child, function)

    visit(ast.parse(path.read_text(encoding="utf-8")), None)
    return found


def top(module: str) -> str:
    return module.split(".")[0]


def sources(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    return files


def test_the_resolver_sees_relative_and_nested_imports() -> None:
    # The walk must see what it is asked about, or the tests below could not fail.
    found = imports(ROOT / "trainer" / "export" / "run.py")
    assert {"trainer.export.log", "trainer.errors", "xlsxedit.ownership"} <= {m for m, _, _ in found}
    assert any(m == "excelgen.assemble" and f == "_default_workbook" for m, f, _ in found)
    assert any(m == "xlsxedit.package" for m, _, _ in imports(ROOT / "xlsxedit" / "graft.py"))


@pytest.mark.parametrize("package", ["xlsxedit"])
def test_the_editing_layer_imports_neither_program(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sources(package)
        for module, _, line in imports(path)
        if top(module) in PROGRAMS
    ]
    assert wrong == []


def test_the_terminal_helper_imports_neither_program() -> None:
    assert [m for m, _, _ in imports(ROOT / "terminal.py") if top(m) in PROGRAMS] == []


def test_excelgen_never_imports_the_trainer() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sources("excelgen")
        for module, _, line in imports(path)
        if top(module) == "trainer"
    ]
    assert wrong == []


def test_the_trainer_reaches_excelgen_only_to_generate_the_teaching_sheets() -> None:
    reached = [
        (path.relative_to(ROOT).as_posix(), function, module)
        for path in sources("trainer")
        for module, function, _ in imports(path)
        if top(module) == "excelgen"
    ]
    # Only where the export writes excelgen's workbook for a user who has none: its config and its writer.
    assert sorted(reached) == [
        ("trainer/export/run.py", "_default_workbook", "excelgen.assemble"),
        ("trainer/export/run.py", "_default_workbook", "excelgen.model.config"),
    ]
