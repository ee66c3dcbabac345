"""Grafting sheets: replace whole sheets of a workbook by those of a scratch workbook (written by xlsxwriter),
or append a row to one, leaving every other part byte-identical.

A grafted sheet brings its worksheet XML, its drawing, charts and notes and their rels, under part names
unused in the target; Override entries in [Content_Types].xml; a ``<sheet>`` in xl/workbook.xml and its
relationship; docProps/app.xml's sheet list when it has one (apptitles.py); the defined names that point into
it; its cell and conditional formats appended to xl/styles.xml (styles.py). Replacing sheets removes the parts
reachable only from them, their local names, and calcChain.xml (Excel rebuilds it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from xml.sax.saxutils import quoteattr

from xlsxwriter.utility import xl_cell_to_rowcol, xl_rowcol_to_cell

from .apptitles import add_title, remove_title
from .contenttypes import add_override, content_type, remove_overrides
from .errors import PackageError
from .package import NS_MAIN, Package
from .relationships import (
    NS_DOC_REL,
    REL_CALC_CHAIN,
    REL_WORKSHEET,
    add_relationship,
    relative,
    rels_part,
    rels_xml,
    remove_relationships,
)
from .styles import graft_sheet_xml
from .xmltext import TAG_BODY, apply_edits, attr, container, element_spans, set_attr

_CELL = re.compile(r"\$?[A-Z]+\$?\d+")


class SheetNameTaken(PackageError):
    """A sheet to add has the name (case-insensitively) of a sheet the workbook keeps."""

    def __init__(self, name: str) -> None:
        super().__init__(f"it already has a sheet named {name!r} that is not this program's")
        self.name = name


def _name_key(name: str, local: int | None, sheets: list[str]) -> tuple[str, str | None]:
    """Names are unique per scope, case-insensitively: a name of the workbook or of one sheet."""
    sheet = sheets[local].lower() if local is not None and local < len(sheets) else None
    return name.lower(), sheet


def _set_local_sheet(element: str, local: int | None) -> str:
    """A <definedName> element with its localSheetId set to `local`, or removed for a global name."""
    open_tag = re.match(rf"<{TAG_BODY}>", element).group(0)
    if local is not None:
        tag = set_attr(open_tag, "localSheetId", str(local))
    else:
        tag = re.sub(r"""\slocalSheetId\s*=\s*(?:"[^"]*"|'[^']*')""", "", open_tag)
    return tag + element[len(open_tag) :]


def _reprefix(element: str, old: str, new: str) -> str:
    """An element's own tags moved from namespace prefix `old` (e.g. "" or "x:") to `new`."""
    if old == new:
        return element
    return re.sub(rf"<(/?){re.escape(old)}(definedName)\b", rf"<\g<1>{new}\g<2>", element)


def put_sheet(book: Package, name: str, scratch: Package) -> None:
    """Add scratch's sheet `name` in place of ours of that name, or as the last tab (replace_sheets)."""
    replace_sheets(book, [name], scratch, [name])


def replace_sheets(
    book: Package,
    remove: Iterable[str],
    scratch: Package | None,
    add: Sequence[str],
    *,
    at_start: bool = False,
    drop_name: Callable[[str], bool] = lambda name: False,
) -> None:
    """Remove the sheets `remove` (those that exist) with every part reachable only from them, then graft
    scratch's sheets `add`, in that order, where the first removed sheet stood (else first or last).

    Defined names: those local to a removed sheet go, as do the global ones that `drop_name` claims and
    those that scratch defines anew; scratch's names then follow its sheets in; every other name stays,
    its localSheetId moved with its sheet. The active tab stays on the sheet it was on, by name (else the
    first added sheet). Raises SheetNameTaken, leaving the package unchanged, when a kept sheet already
    has the name of one to add.
    """
    before = book.sheet_names()
    removing = {n.lower() for n in remove} & {n.lower() for n in before}
    kept = [n for n in before if n.lower() not in removing]
    adding = {n.lower() for n in add}
    clash = [n for n in kept if n.lower() in adding]
    if clash:
        raise SheetNameTaken(clash[0])
    first = next((i for i, n in enumerate(before) if n.lower() in removing), None)
    if first is not None:
        position = sum(1 for n in before[:first] if n.lower() not in removing)
    else:
        position = 0 if at_start else len(kept)
    active = _active_sheet(book, before)
    incoming = [] if scratch is None else scratch.defined_names()
    incoming_keys = {_name_key(d.name, d.local_sheet, scratch.sheet_names()) for d in incoming}
    names = [
        (d, before[d.local_sheet] if d.local_sheet is not None else None)
        for d in book.defined_names()
        if d.local_sheet is None or d.local_sheet < len(before)  # a name of no sheet is dropped
        if not (d.local_sheet is not None and before[d.local_sheet].lower() in removing)
        and not (d.local_sheet is None and drop_name(d.name))
        and _name_key(d.name, d.local_sheet, before) not in incoming_keys
    ]

    _remove_sheets(book, removing)
    if active is None or (active.lower() in removing and active.lower() not in {a.lower() for a in add}):
        active = add[0] if add else None
    for k, name in enumerate(add):
        _graft_sheet(book, name, scratch, position + k, selected=name.lower() == (active or "").lower())

    after = [n.lower() for n in book.sheet_names()]
    elements = [
        _set_local_sheet(d.span.xml, None if sheet is None else after.index(sheet.lower()))
        for d, sheet in names
    ]
    if scratch is not None:
        theirs = [n.lower() for n in scratch.sheet_names()]
        wanted = {a.lower() for a in add}
        for d in incoming:
            sheet = None if d.local_sheet is None else theirs[d.local_sheet]
            if sheet is None or sheet in wanted:
                local = None if sheet is None else after.index(sheet)
                element = _reprefix(d.span.xml, d.span.prefix, book.names_prefix())
                elements.append(_set_local_sheet(element, local))
    book.write_defined_names(elements)
    _drop_calc_chain(book)
    _set_active_tab(book, active)


def _remove_sheets(book: Package, removing: set[str]) -> None:
    entries = book.sheet_entries()
    targets = {r.id: r.target for r in book.rels(book.workbook) if not r.external}
    gone = [(i, name, rid, targets.get(rid)) for i, (name, _, rid) in enumerate(entries)]
    gone = [g for g in gone if g[1].lower() in removing]
    if not gone:
        return
    parts = {part for *_, part in gone if part is not None}
    others = book.reachable([""], skip=(book.workbook, parts))
    doomed = set().union(*(book.reachable([p]) for p in parts)) - others
    text, _, spans = book.sheet_spans()
    book.set_text(book.workbook, apply_edits(text, [(spans[i].start, spans[i].end, "") for i, *_ in gone]))
    remove_relationships(book, book.workbook, {rid for _, _, rid, _ in gone})
    for _, name, _, _ in gone:
        remove_title(book, name)
    for p in doomed:
        for part in (p, rels_part(p)):
            if part in book.parts:
                del book.parts[part]
    remove_overrides(book, doomed)


def _graft_sheet(book: Package, name: str, scratch: Package, position: int, selected: bool) -> None:
    source = scratch.sheet_part(name)
    if source is None:
        raise ValueError(f"the scratch workbook has no sheet {name!r}")  # a bug, not a user mistake
    # The sheet first, then by name: the new parts are named in this order, and a set's follows the hash seed.
    parts = sorted(scratch.reachable([source]), key=lambda p: (p != source, p))
    renamed = {}
    for part in parts:  # reserve each name as it is chosen, so that two new parts never collide
        renamed[part] = book.unused_name(part)
        book.parts[renamed[part]] = b""
    for old, new in renamed.items():
        data = scratch.parts[old]
        if old == source:
            xml = data.decode("utf-8")
            if not selected:  # two selected tabs are a group in Excel, and an edit would go to both
                xml = re.sub(r'\stabSelected="(?:1|true)"', "", xml)
            data = graft_sheet_xml(book, scratch, xml).encode("utf-8")
        book.parts[new] = data
        kind = content_type(scratch, old)
        if kind is None:
            raise ValueError(f"no content type for scratch part {old}")
        add_override(book, new, kind)
        rels = scratch.rels(old)
        if rels:
            book.parts[rels_part(new)] = rels_xml(
                [(r.id, r.type, r.target if r.external else relative(renamed[r.target], new)) for r in rels],
                [r.external for r in rels],
            )
    rid = add_relationship(book, book.workbook, REL_WORKSHEET, renamed[source])
    _insert_sheet_entry(book, name, rid, position)
    add_title(book, name, position)


def _insert_sheet_entry(book: Package, name: str, rid: str, position: int | None) -> None:
    entries = book.sheet_entries()
    sheet_id = max((i for _, i, _ in entries), default=0) + 1
    text, block, spans = book.sheet_spans()
    prefix = block.prefix
    # Use the prefix the workbook already declares for relationship ids; declare one only if it has none.
    root = re.search(r"<([\w.-]+:)?workbook\b[^>]*>", text).group(0)
    declared = re.search(rf'xmlns:([\w.-]+)="{re.escape(NS_DOC_REL)}"', root)
    r = declared.group(1) if declared else "r"
    local = "" if declared else f' xmlns:r="{NS_DOC_REL}"'
    entry = f'<{prefix}sheet name={quoteattr(name)} sheetId="{sheet_id}" {r}:id={quoteattr(rid)}{local}/>'
    if position is not None and position < len(spans):
        at = spans[position].start
    elif block.xml.endswith("/>"):
        text = text[: block.start] + block.xml[:-2] + f"></{prefix}sheets>" + text[block.end :]
        at = block.start + len(block.xml) - 1
    else:
        at = block.end - len(f"</{prefix}sheets>")
    book.set_text(book.workbook, text[:at] + entry + text[at:])


def _drop_calc_chain(book: Package) -> None:
    """calcChain.xml lists formula cells by sheet id; once sheets change Excel rebuilds it anew."""
    for r in book.rels(book.workbook):
        if r.type == REL_CALC_CHAIN:
            if r.target in book.parts:
                del book.parts[r.target]
            remove_overrides(book, {r.target})
            remove_relationships(book, book.workbook, {r.id})


def _active_sheet(book: Package, names: list[str]) -> str | None:
    view = container(book.text(book.workbook), "workbookView")
    tab = attr(view.open_tag(), "activeTab") if view is not None else None
    index = int(tab) if tab and tab.isdigit() else 0
    return names[index] if index < len(names) else (names[0] if names else None)


def _set_active_tab(book: Package, name: str | None) -> None:
    text = book.text(book.workbook)
    view = container(text, "workbookView")
    names = [n.lower() for n in book.sheet_names()]
    if view is None or not names:
        return
    index = names.index(name.lower()) if name and name.lower() in names else 0
    tag = set_attr(view.open_tag(), "activeTab", str(index))
    first = attr(tag, "firstSheet")
    if first is not None and (not first.isdigit() or int(first) > index):
        tag = set_attr(tag, "firstSheet", "0")
    book.set_text(book.workbook, text[: view.start] + tag + text[view.start + len(view.open_tag()) :])


def append_row(book: Package, name: str, scratch: Package, row: int) -> None:
    """Copy row number `row` of scratch's sheet `name` into our sheet `name` (below its last value);
    nothing else in our sheet changes but its dimension."""
    part, source = book.sheet_part(name), scratch.sheet_part(name)
    if part is None or source is None:
        raise ValueError(f"no sheet {name!r} to append to")
    scratch_text = scratch.text(source)
    found = [m for m in element_spans(scratch_text, "row") if attr(m.open_tag(), "r") == str(row)]
    if not found:
        raise ValueError(f"the scratch sheet {name!r} has no row {row}")
    row_xml = graft_sheet_xml(book, scratch, found[0].xml)
    text = book.text(part)
    data = container(text, "sheetData")
    if data is None:
        raise PackageError(f"{part} has no <sheetData>")
    if data.prefix:  # our row is in the default namespace: declare it where it lands
        row_xml = row_xml.replace("<row", f'<row xmlns="{NS_MAIN}"', 1)
    # Rows must stay in ascending order: rows that only carry formatting may follow the last value.
    later, number = [], 0
    for span in element_spans(data.xml, "row", data.start):
        number = int(attr(span.open_tag(), "r") or number + 1)
        if number >= row:
            later.append((span, number))
    if later and later[0][1] == row:  # a formatting-only row where ours goes: ours replaces it
        edits = [(later[0][0].start, later[0][0].end, row_xml)]
    elif later:
        edits = [(later[0][0].start, later[0][0].start, row_xml)]
    elif data.xml.endswith("/>"):
        edits = [(data.start, data.end, data.xml[:-2] + ">" + row_xml + f"</{data.prefix}sheetData>")]
    else:
        at = data.start + data.xml.rindex("</")
        edits = [(at, at, row_xml)]
    ours, theirs = container(text, "dimension"), container(scratch_text, "dimension")
    if ours is not None and theirs is not None:
        ref = _union_ref(attr(ours.open_tag(), "ref") or "A1", attr(theirs.open_tag(), "ref") or "A1")
        edits.append((ours.start, ours.end, set_attr(ours.xml, "ref", ref)))
    book.set_text(part, apply_edits(text, edits))


def _union_ref(a: str, b: str) -> str:
    """The smallest range holding both ranges: A1:F9 and A1:H12 -> A1:H12."""
    cells = [xl_cell_to_rowcol(c) for ref in (a, b) for c in ref.split(":") if _CELL.fullmatch(c)]
    rows, cols = [r for r, _ in cells], [c for _, c in cells]
    return f"{xl_rowcol_to_cell(min(rows), min(cols))}:{xl_rowcol_to_cell(max(rows), max(cols))}"
