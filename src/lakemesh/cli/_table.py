"""Terminal tables, drawn the way Rich draws its default table (heavy head, light body).

Written out here rather than imported: importing and starting Rich costs a command about
70 ms, more than the rest of printing a query result. Cells are one line each (control
characters are shown escaped, so a value cannot break the frame) and are measured in
terminal columns: East Asian wide characters take two, combining marks none.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


class TextTable:
    """Rows of text under a header, rendered with ``str()``."""

    def __init__(self, *header: str, title: str | None = None) -> None:
        self.header = [_cell(h) for h in header]
        self.title = title
        self.rows: list[list[str]] = []

    def add_row(self, *cells: str) -> None:
        if len(cells) != len(self.header):
            raise ValueError(f"a row of {len(cells)} cells in a table of {len(self.header)}")
        self.rows.append([_cell(c) for c in cells])

    def __str__(self) -> str:
        widths = [width(h) for h in self.header]
        for row in self.rows:
            widths = [max(w, width(c)) for w, c in zip(widths, row, strict=True)]
        bars = ["━" * (w + 2) for w in widths]
        lines = [
            "┏" + "┳".join(bars) + "┓",
            _line(self.header, widths, "┃"),
            "┡" + "╇".join(bars) + "┩",
            *(_line(row, widths, "│") for row in self.rows),
            "└" + "┴".join("─" * (w + 2) for w in widths) + "┘",
        ]
        if self.title:
            lines.insert(0, _centre(self.title, width(lines[0])))
        return "\n".join(lines)


def width(text: str) -> int:
    """Terminal columns ``text`` takes."""
    columns = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) == "Cf":
            continue
        columns += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return columns


def _cell(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(
        _ESCAPES.get(ch, f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp")
        else ch
        for ch in text
    )


def _line(cells: Sequence[str], widths: Sequence[int], edge: str) -> str:
    padded = (f" {c}{' ' * (w - width(c))} " for c, w in zip(cells, widths, strict=True))
    return edge + edge.join(padded) + edge


def _centre(text: str, columns: int) -> str:
    left = max(0, (columns - width(text)) // 2)
    return " " * left + text
