"""Everything the grader takes from the rest of the project, imported in this one place, so that when the
project's modules move (as they do) the grader follows with one edit here.

- reference: the numpy reference, the one numeric truth (evaluate, trajectory, rel_diff, the column names);
- config: the network's names (WEIGHTS, BIASES), the course's Network, Config for our own workbooks;
- xlsxedit: the zip guard (Package, zipguard.Limits, PackageError), the atomic writers (files, writer);
- libreoffice: headless recalculation for --recalc; terminal: printing η on a terminal that cannot;
- cli.generate: our own workbook, for the bench.
"""

import terminal
from xlsxedit import files, writer
from xlsxedit.errors import PackageError
from xlsxedit.package import NS_MAIN, Package, col_index, item_text
from xlsxedit.relationships import NS_DOC_REL, REL_SHARED_STRINGS, REL_WORKSHEET
from xlsxedit.zipguard import Limits

from ..model import reference
from ..model.config import BIASES, WEIGHTS, Config, Network
from ..tools import libreoffice


def generate_workbook(config: Config, out: object) -> None:
    """excelgen's own workbook (the bench grades one); imported when called, as the CLI imports the grader."""
    from ..cli import generate

    generate(config, out)


__all__ = [
    "BIASES",
    "NS_DOC_REL",
    "NS_MAIN",
    "REL_SHARED_STRINGS",
    "REL_WORKSHEET",
    "WEIGHTS",
    "Config",
    "Limits",
    "Network",
    "Package",
    "PackageError",
    "files",
    "generate_workbook",
    "col_index",
    "item_text",
    "libreoffice",
    "reference",
    "terminal",
    "writer",
]
