"""The columns a rewritten query may read from each relation: never fewer than it uses."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from lakemesh.query import GovernedRelation
from lakemesh.query.projection import columns_read

A = GovernedRelation("__lm_rel_0", "d.s.a", ("id", "name", "region", "amount"), exp.select("1"))
B = GovernedRelation("__lm_rel_1", "d.s.b", ("id", "label", "s"), exp.select("1"))
ALL = {A.alias: A.columns, B.alias: B.columns}


def reads(sql: str) -> dict[str, tuple[str, ...]]:
    tree = sqlglot.parse_one(sql.format(A='"__lm_rel_0"', B='"__lm_rel_1"'), dialect="duckdb")
    return columns_read(tree, (A, B))


@pytest.mark.parametrize(
    ("sql", "a", "b"),
    [
        ("SELECT count(*) FROM {A} a", ("id",), ("id",)),  # rows only: the first column
        ("SELECT region, sum(amount) FROM {A} GROUP BY 1", ("region", "amount"), ("id",)),
        ("SELECT a.name FROM {A} a JOIN {B} b ON a.id = b.id", ("id", "name"), ("id",)),
        ("SELECT label FROM {A} JOIN {B} USING (id)", ("id",), ("id", "label")),
        ("SELECT b.s.x FROM {B} b", ("id",), ("s",)),  # a struct's field: its column
        ("SELECT list_transform([amount], v -> v + 1) FROM {A}", ("amount",), ("id",)),
        ("SELECT count(t.*) FROM {A} t", ALL[A.alias], ALL[B.alias]),
    ],
)
def test_the_columns_named(sql: str, a: tuple[str, ...], b: tuple[str, ...]) -> None:
    assert reads(sql) == {A.alias: a, B.alias: b}


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM {A}",
        "SELECT a.* FROM {A} a",
        "SELECT * EXCLUDE (id) FROM {A}",
        "SELECT COLUMNS('n.*') FROM {A}",
        "SELECT name FROM {A} NATURAL JOIN {B}",
        "SELECT * FROM {A} PIVOT (sum(amount) FOR region IN ('eu'))",
        "SELECT struct_pack(*) FROM {A}",
    ],
)
def test_unnamed_columns_keep_everything(sql: str) -> None:
    assert reads(sql) == ALL


def test_whole_rows_and_positional_renames_keep_their_relation() -> None:
    got = reads('SELECT "a" FROM {A} AS "a"')  # the whole row as a struct
    assert got[A.alias] == A.columns and got[B.alias] == ("id",)
    got = reads("SELECT x FROM {B} AS t(x, y, z)")
    assert got[B.alias] == B.columns and got[A.alias] == ("id",)
