"""Terminal tables: drawn as Rich draws its default table, without importing Rich."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lakemesh.cli._table import TextTable, width

CELL = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
CJK = st.text(alphabet="中文字表éü", max_size=6)


def rich_text(header: list[str], rows: list[list[str]], title: str | None = None) -> str:
    buffer = io.StringIO()
    # Text objects, so Rich neither reads markup nor turns ":WC:" into an emoji.
    table = Table(title=title)
    for cell in header:
        table.add_column(Text(cell))
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    Console(file=buffer, width=10_000, highlight=False, markup=False, emoji=False).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def ours(header: list[str], rows: list[list[str]], title: str | None = None) -> str:
    table = TextTable(*header, title=title)
    for row in rows:
        table.add_row(*row)
    return "\n".join(line.rstrip() for line in str(table).splitlines())


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=1, max_value=4).flatmap(
        lambda n: st.tuples(
            st.lists(CELL.filter(lambda c: c.strip() == c), min_size=n, max_size=n),
            st.lists(
                st.lists(
                    st.one_of(CELL, CJK).filter(lambda c: c.strip() == c), min_size=n, max_size=n
                ),
                max_size=4,
            ),
        )
    )
)
def test_tables_match_rich(table: tuple[list[str], list[list[str]]]) -> None:
    header, rows = table
    assert ours(header, rows) == rich_text(header, rows)


def test_emoji_codes_and_brackets_stay_as_typed() -> None:
    assert ours([":WC:"], [["[b]x[/b]"]]) == rich_text([":WC:"], [["[b]x[/b]"]])
    assert ":WC:" in ours([":WC:"], [])


def test_title_and_empty_tables_match_rich() -> None:
    assert ours(["a", "bb"], [], title="schema") == rich_text(["a", "bb"], [], title="schema")
    assert ours(["x"], [["1"]]) == rich_text(["x"], [["1"]])


def test_a_value_never_breaks_the_frame() -> None:
    table = TextTable("v")
    table.add_row("a\nb\tc\r\x00\u2028")
    lines = str(table).splitlines()
    assert len(lines) == 5 and "a\\nb\\tc\\r\\x00\\u2028" in lines[3]
    assert len({width(line) for line in lines}) == 1


def test_wide_characters_take_two_columns() -> None:
    assert width("中文") == 4 and width("é") == 1 and width("e\u0301") == 1
    table = TextTable("name")
    table.add_row("中文")
    table.add_row("ab")
    assert len({width(line) for line in str(table).splitlines()}) == 1


def test_a_row_must_fit_the_header() -> None:
    with pytest.raises(ValueError, match="a row of 1 cells in a table of 2"):
        TextTable("a", "b").add_row("x")
