"""XML edited as text at precise spots, never re-serialised.

ElementTree would drop the unused namespace declarations that ``mc:Ignorable`` names, which Excel reports as a
corrupt file; so a part's XML is parsed with ElementTree only to read it, and every change is an edit of its
text: an element found as a `Span`, then `apply_edits` of (start, end, new text) triples.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from .errors import PackageError

# The inside of a start tag: an attribute value may hold ">", so a tag ends at the first ">" outside quotes.
TAG_BODY = r"""(?:[^>"']|"[^"]*"|'[^']*')*?"""


def q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def parse(data: bytes, part: str) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as e:
        raise PackageError(f"{part} is not well-formed XML ({e})") from None


@dataclass(frozen=True)
class Span:
    """An element's place in a part's text: text[start:end] == xml; prefix is its namespace prefix + ':'."""

    start: int
    end: int
    xml: str
    prefix: str

    def open_tag(self) -> str:
        return re.match(rf"<{TAG_BODY}>", self.xml).group(0)


def element_spans(text: str, tag: str, offset: int = 0) -> list[Span]:
    """Every empty or open-close element <tag …> (any namespace prefix) in text, outermost first, in order;
    offsets are shifted by `offset` so that spans found in a slice point into the whole text."""
    pattern = rf"<(?P<p>(?:[\w.-]+:)?){tag}(?=[\s/>]){TAG_BODY}(?:/>|>.*?</(?P=p){tag}>)"
    return [
        Span(m.start() + offset, m.end() + offset, m.group(0), m.group("p") or "")
        for m in re.finditer(pattern, text, re.S)
    ]


def container(text: str, tag: str) -> Span | None:
    spans = element_spans(text, tag)
    return spans[0] if spans else None


def attr(tag_text: str, name: str) -> str | None:
    m = re.search(rf"\s{re.escape(name)}\s*=\s*(\"[^\"]*\"|'[^']*')", tag_text)
    return m.group(1)[1:-1] if m else None


def set_attr(open_tag: str, name: str, value: str) -> str:
    """Set an attribute in an opening tag's text, adding it when absent."""
    pattern = rf"(\s{re.escape(name)}\s*=\s*)(\"[^\"]*\"|'[^']*')"
    if re.search(pattern, open_tag):
        return re.sub(pattern, lambda m: f'{m.group(1)}"{value}"', open_tag, count=1)
    end = len(open_tag) - (2 if open_tag.endswith("/>") else 1)
    return f'{open_tag[:end]} {name}="{value}"{open_tag[end:]}'


def set_inner(element: str, value: str) -> str:
    return re.sub(r">[^<]*<", f">{value}<", element, count=1)


def append_children(text: str, container: Span, fragments: list[str], count: int) -> str:
    """Insert fragments as the last children of the container and set its count attribute."""
    open_tag = container.open_tag()
    if open_tag.endswith("/>"):  # <fonts count="0"/> -> <fonts count="n">…</fonts>
        name = re.match(r"<([\w.:-]+)", open_tag).group(1)
        new = set_attr(open_tag[:-2] + ">", "count", str(count)) + "".join(fragments) + f"</{name}>"
    else:
        close = container.xml.rindex("</")
        new = set_attr(open_tag, "count", str(count)) + container.xml[len(open_tag) : close]
        new += "".join(fragments) + container.xml[close:]
    return text[: container.start] + new + text[container.end :]


def insert_last_child(text: str, tag: str, part: str, child: Callable[[str], str]) -> str:
    """`text` with `child(prefix)` inserted as the last child of its root element <tag>, just before the
    closing tag; `prefix` is the root's namespace prefix ("" or e.g. "x:"). An empty root (<tag …/>) is
    opened up to hold it."""
    close = re.search(rf"</([\w.-]+:)?{tag}>\s*$", text)
    if close is not None:
        return text[: close.start()] + child(close.group(1) or "") + text[close.start() :]
    empty = re.search(rf"<([\w.-]+:)?{tag}\b{TAG_BODY}/>\s*$", text)
    if empty is None:
        raise PackageError(f"{part} has no closing </{tag}>")
    prefix = empty.group(1) or ""
    return text.rstrip()[:-2] + ">" + child(prefix) + f"</{prefix}{tag}>"


def apply_edits(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Replace text[start:end] for each edit, from the back so that earlier offsets stay valid."""
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + new + text[end:]
    return text


def unescape(text: str) -> str:
    return html.unescape(text)


def namespaces(text: str) -> dict[str, str]:
    """prefix -> namespace declared on the root element of an XML text."""
    root = re.search(rf"<(?!\?)(?:[\w.-]+:)?[\w.-]+{TAG_BODY}>", text)
    if root is None:
        return {}
    return dict(re.findall(r"""\sxmlns:([\w.-]+)\s*=\s*["']([^"']*)["']""", root.group(0)))


def root_prefix(text: str, tag: str) -> str:
    m = re.search(rf"<([\w.-]+:)?{tag}\b", text)
    return (m.group(1) or "") if m else ""
