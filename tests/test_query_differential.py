"""Differential tests: a governed result equals the raw data filtered and masked by hand.

For every policy shape (no filter; a row filter; two grants with different filters and
column sets; include and exclude lists; every mask method on column and tag rules, and
their removal; UNMASK, whole, per column and filtered; a delegated grant under its
domain's; database and tag-expression grants; a cross-domain join) a user of one mesh
holds that shape, and ``Mesh.query`` must return exactly what the Python reference
computes: rows kept by a three-valued evaluation of the row filters, cells shown only
where a grant covering the column admits the row (NULL elsewhere, ``rewrite.py``'s
cell-level union), masks from ``lakemesh.access.masks.apply_mask`` (custom masks by hand).
Hypothesis draws the rows, NULLs and any Unicode included (STYLE 12, 13).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lakemesh import keys
from lakemesh.access.masks import apply_mask, parse_mask
from lakemesh.engines import load_engine
from lakemesh.mesh import Mesh
from tests import govmesh
from tests.files import write_parquet

PEOPLE = "hr.core.people"
ACCOUNTS = "hr.core.accounts"
SITES = "ops.core.sites"

#: hr.core.people: every column's mask (``None``: shown raw).
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("region", pa.string()),
        ("score", pa.int64()),
        ("ssn", pa.string()),  # column rule: hash
        ("card", pa.string()),  # column rule: last4
        ("phone", pa.string()),  # column rule: redact
        ("email", pa.string()),  # column rule: null; tagged tier=silver
        ("nick", pa.string()),  # column rule: custom left(value, 2) || '~'
        ("plain", pa.string()),  # column rule hash, then 'none': raw
        ("t_hash", pa.int64()),  # tag cls=h: hash
        ("t_redact", pa.date32()),  # tag cls=r: redact (a NULL date)
        ("t_null", pa.int64()),  # tag cls=n: null
        ("t_last4", pa.int64()),  # tag cls=l: last4
        ("t_custom", pa.int64()),  # tag cls=c: custom value * 2 + 1
        ("t_gone", pa.string()),  # tag cls=g: hash, then 'none' on the tag: raw
        ("t_over", pa.string()),  # tag cls=h, column rule last4: the column rule wins
        ("t_pin", pa.string()),  # tag cls=h, column rule last4 then 'none': the tag's hash
    ]
)
COLUMNS = tuple(SCHEMA.names)
ACCOUNTS_SCHEMA = pa.schema(
    [("acct_id", pa.int64()), ("people_id", pa.int64()), ("owner_ssn", pa.string())]
)
SITE_ROWS: list[dict[str, Any]] = [
    {"region": "eu", "site": "berlin"},
    {"region": "eu", "site": "münchen"},
    {"region": "us", "site": "nyc"},
    {"region": "é", "site": "🙂"},
    {"region": None, "site": "nowhere"},
]

# --------------------------------------------------------------------------- reference

Row = dict[str, Any]
Pred = Callable[[Row], bool | None]


def _cmp(column: str, op: Callable[[Any, Any], bool], value: Any) -> Pred:
    """``column <op> value`` in SQL's three-valued logic (NULL -> unknown)."""
    return lambda r: None if r[column] is None else op(r[column], value)


def _or(a: Pred, b: Pred) -> Pred:
    def f(r: Row) -> bool | None:
        x, y = a(r), b(r)
        if x is True or y is True:
            return True
        return None if x is None or y is None else False

    return f


def _and(a: Pred, b: Pred) -> Pred:
    def f(r: Row) -> bool | None:
        x, y = a(r), b(r)
        if x is False or y is False:
            return False
        return None if x is None or y is None else True

    return f


def _is_null(column: str) -> Pred:
    return lambda r: r[column] is None


EU = ("region = 'eu'", _cmp("region", lambda a, b: a == b, "eu"))
HIGH = ("score > 50", _cmp("score", lambda a, b: a > b, 50))
POSITIVE = ("score > 0", _cmp("score", lambda a, b: a > b, 0))
US_OR_NEGATIVE = (
    "region = 'us' OR score < 0",
    _or(_cmp("region", lambda a, b: a == b, "us"), _cmp("score", lambda a, b: a < b, 0)),
)
#: A filter on the raw values of masked columns: rows are chosen by raw ssn, shown masked.
RAW_SSN = (
    "ssn LIKE '1%' OR card IS NULL",
    _or(_cmp("ssn", lambda a, b: a.startswith(b), "1"), _is_null("card")),
)


@dataclass(frozen=True)
class Permit:
    """The Python mirror of one grant: its columns (None: all) and row filter."""

    columns: frozenset[str] | None = None
    where: Pred | None = None

    def covers(self, column: str) -> bool:
        return self.columns is None or column in self.columns

    def admits(self, row: Row) -> bool:
        return self.where is None or self.where(row) is True


def permit(columns: str | None = None, where: tuple[str, Pred] | None = None) -> Permit:
    cols = None if columns is None else frozenset(columns.split(","))
    return Permit(cols, None if where is None else where[1])


def exclude(columns: str) -> frozenset[str]:
    return frozenset(COLUMNS) - frozenset(columns.split(","))


@functools.cache
def _key(home: Path) -> bytes:
    return keys.mask_hash_key(home)


def masks(key: bytes) -> dict[str, Callable[[Any], Any]]:
    """Column -> what a principal without UNMASK sees (the policy's masks, by hand)."""

    def method(name: str) -> Callable[[Any], Any]:
        mask = parse_mask(name)
        return lambda v: apply_mask(mask, v, hash_key=key)

    return {
        "ssn": method("hash"),
        "card": method("last4"),
        "phone": method("redact"),
        "email": method("null"),
        "nick": lambda v: None if v is None else v[:2] + "~",
        "t_hash": method("hash"),
        "t_redact": method("redact"),
        "t_null": method("null"),
        "t_last4": method("last4"),
        "t_custom": lambda v: None if v is None else v * 2 + 1,
        "t_over": method("last4"),
        "t_pin": method("hash"),
    }


def governed(
    rows: Sequence[Row],
    permits: Sequence[Permit],
    masked: dict[str, Callable[[Any], Any]],
    columns: Sequence[str] = COLUMNS,
) -> tuple[list[str], list[Row]]:
    """The table as the permits show it: a row if any permit admits it; a cell if a
    permit that covers its column admits the row (else NULL); masks inside."""
    shown = [c for c in columns if any(p.covers(c) for p in permits)]
    out = []
    for raw in rows:
        admitted = [p for p in permits if p.admits(raw)]
        if not admitted:
            continue
        out.append(
            {
                c: (masked[c](raw[c]) if c in masked else raw[c])
                if any(p.covers(c) for p in admitted)
                else None
                for c in shown
            }
        )
    return shown, out


# --------------------------------------------------------------------------- shapes


@dataclass(frozen=True)
class Shape:
    """A user holding one policy shape, and what it must see of hr.core.people."""

    user: str
    permits: tuple[Permit, ...]
    #: Columns shown raw despite a mask (UNMASK).
    unmasked: frozenset[str] = frozenset()

    def expect(self, rows: Sequence[Row], key: bytes) -> tuple[list[str], list[Row]]:
        m = {c: f for c, f in masks(key).items() if c not in self.unmasked}
        return governed(rows, self.permits, m)


ALL = frozenset(COLUMNS)
SHAPES = {
    "no filter": Shape("all@hr", (permit(),)),
    "row filter": Shape("filt@hr", (permit(where=EU),)),
    "or filter with nulls": Shape("orf@hr", (permit(where=US_OR_NEGATIVE),)),
    "filter on raw masked values": Shape("rawf@hr", (permit(where=RAW_SSN),)),
    "two filtered grants, cell union": Shape(
        "union@hr",
        (permit("id,name,region,ssn", EU), permit("id,score,card,t_hash", HIGH)),
    ),
    "unfiltered and filtered grants": Shape(
        "half@hr", (permit("id,name"), permit("id,ssn,score,nick", EU))
    ),
    "include list": Shape("incl@hr", (permit("id,name,ssn,t_hash,t_redact"),)),
    "exclude list": Shape("excl@hr", (Permit(exclude("ssn,card,phone,email")),)),
    "unmask": Shape("unmask@hr", (permit(),), unmasked=ALL),
    "unmask some columns": Shape(
        "unmaskc@hr", (permit(),), unmasked=frozenset({"ssn", "t_hash", "t_over"})
    ),
    "filtered unmask unmasks nothing": Shape("unmaskf@hr", (permit(),)),
    # the user's grant (delegated: its filter ANDed with the domain's) meets each of the
    # domain's three grants on the table (the ceiling), cell by cell
    "delegated": Shape(
        "ann@analytics",
        (
            Permit(exclude("email,nick"), _and(EU[1], POSITIVE[1])),
            Permit(frozenset({"id", "name", "region", "ssn"}), _and(EU[1], POSITIVE[1])),
            Permit(
                frozenset({"id", "score", "card", "t_hash"}),
                _and(_and(EU[1], POSITIVE[1]), HIGH[1]),
            ),
        ),
    ),
    # a whole-table grant to a user whose domain holds three: the domain's cells only
    "ceiling of several grants": Shape(
        "cel@analytics",
        (
            Permit(exclude("email,nick"), POSITIVE[1]),
            permit("id,name,region,ssn", EU),
            permit("id,score,card,t_hash", HIGH),
        ),
    ),
    "database grant": Shape("db@hr", (permit(),)),
    "tag expression grant": Shape("tag@hr", (Permit(exclude("email")),)),
}


@dataclass(frozen=True)
class World:
    mesh: Mesh
    people: Path
    accounts: Path
    key: bytes


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("differential")
    hr, ops = base / "hr", base / "ops"
    people = write_parquet(hr / "core" / "people" / "p.parquet", SCHEMA.empty_table())
    accounts = write_parquet(hr / "core" / "accounts" / "a.parquet", ACCOUNTS_SCHEMA.empty_table())
    write_parquet(ops / "core" / "sites" / "s.parquet", pa.Table.from_pylist(SITE_ROWS))
    mesh = Mesh.init(base / "home")
    mesh.domains.create("hr", str(hr), create=True)
    mesh.domains.create("ops", str(ops), create=True)
    mesh.domains.create("analytics", str(base / "analytics"), kind="consumer", create=True)
    mesh.domains.crawl("hr")
    mesh.domains.crawl("ops")
    mesh.domains.sync()
    for user in {s.user for s in SHAPES.values()} | {"steward@hr", "steward@ops"}:
        mesh.access.create_user(user, "steward" if user.startswith("steward") else "member")
    mesh.access.create_user("admin@analytics", "admin")

    def grant(as_: str = "steward@hr", **kw: object) -> None:
        mesh.access.grant(govmesh.request(kw), as_=as_)

    grant(grant="SELECT", on=PEOPLE, to="all@hr")
    grant(grant="SELECT", on=PEOPLE, to="filt@hr", row_filter=EU[0])
    grant(grant="SELECT", on=PEOPLE, to="orf@hr", row_filter=US_OR_NEGATIVE[0])
    grant(grant="SELECT", on=PEOPLE, to="rawf@hr", row_filter=RAW_SSN[0])
    grant(grant="SELECT", on=PEOPLE, to="union@hr", columns="id,name,region,ssn", row_filter=EU[0])
    grant(
        grant="SELECT", on=PEOPLE, to="union@hr", columns="id,score,card,t_hash", row_filter=HIGH[0]
    )
    grant(grant="SELECT", on=PEOPLE, to="half@hr", columns="id,name")
    grant(grant="SELECT", on=PEOPLE, to="half@hr", columns="id,ssn,score,nick", row_filter=EU[0])
    grant(grant="SELECT", on=PEOPLE, to="incl@hr", columns="id,name,ssn,t_hash,t_redact")
    grant(grant="SELECT", on=PEOPLE, to="excl@hr", exclude_columns="ssn,card,phone,email")
    grant(grant="SELECT,UNMASK", on=PEOPLE, to="unmask@hr")
    grant(grant="SELECT", on=PEOPLE, to="unmaskc@hr")
    grant(grant="UNMASK", on=PEOPLE, to="unmaskc@hr", columns="ssn,t_hash,t_over")
    grant(grant="SELECT", on=PEOPLE, to="unmaskf@hr")
    grant(grant="UNMASK", on=PEOPLE, to="unmaskf@hr", row_filter=EU[0])
    grant(grant="SELECT", on="hr.core", to="db@hr")
    # two levels: the domain's grant (filter, columns), then its admin's, ANDed
    grant(
        grant="SELECT",
        on=PEOPLE,
        to="analytics",
        row_filter=POSITIVE[0],
        exclude_columns="email,nick",
        grantable=True,
    )
    grant("admin@analytics", grant="SELECT", on=PEOPLE, to="ann@analytics", row_filter=EU[0])
    grant(grant="SELECT", on=PEOPLE, to="analytics", columns="id,name,region,ssn", row_filter=EU[0])
    grant(
        grant="SELECT",
        on=PEOPLE,
        to="analytics",
        columns="id,score,card,t_hash",
        row_filter=HIGH[0],
    )
    grant(grant="SELECT", on=PEOPLE, to="cel@analytics")
    grant("steward@ops", grant="SELECT", on=SITES, to="analytics", grantable=True)
    grant("admin@analytics", grant="SELECT", on=SITES, to="ann@analytics")
    # tags: a tag-expression grant covers the table's columns but the one tagged otherwise
    mesh.access.define_tag("tier", ["gold", "silver"])
    mesh.access.define_tag("cls", ["h", "r", "n", "l", "c", "g"])
    mesh.access.assign_tag(PEOPLE, "tier=gold", as_="steward@hr")
    mesh.access.assign_tag(f"{PEOPLE}.email", "tier=silver", as_="steward@hr")
    grant(grant="SELECT", tags="tier=gold", to="tag@hr")
    # masks: one per method on column rules, one per method on tag rules, and removals
    for column, spec in (
        ("ssn", "hash"),
        ("card", "last4"),
        ("phone", "redact"),
        ("email", "null"),
        ("nick", "left(value, 2) || '~'"),
        ("plain", "hash"),
        ("plain", "none"),
        ("t_over", "last4"),
        ("t_pin", "last4"),
        ("t_pin", "none"),
    ):
        mesh.access.mask(column=f"{PEOPLE}.{column}", spec=spec, as_="steward@hr")
    mesh.access.mask(column=f"{ACCOUNTS}.owner_ssn", spec="hash", as_="steward@hr")
    for column, tag in (
        ("t_hash", "h"),
        ("t_redact", "r"),
        ("t_null", "n"),
        ("t_last4", "l"),
        ("t_custom", "c"),
        ("t_gone", "g"),
        ("t_over", "h"),
        ("t_pin", "h"),
    ):
        mesh.access.assign_tag(f"{PEOPLE}.{column}", f"cls={tag}", as_="steward@hr")
    for tag, spec in (
        ("h", "hash"),
        ("r", "redact"),
        ("n", "null"),
        ("l", "last4"),
        ("c", "value * 2 + 1"),
        ("g", "hash"),
        ("g", "none"),
    ):
        mesh.access.mask(tag=f"cls={tag}", spec=spec)
    yield World(mesh, people, accounts, _key(mesh.home))
    mesh.close()


# --------------------------------------------------------------------------- checks


def _norm(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _bag(rows: Sequence[Row]) -> Counter[str]:
    return Counter(repr(sorted((k, _norm(v)) for k, v in r.items())) for r in rows)


def query(world: World, engine: str, user: str, sql: str) -> pa.Table:
    return world.mesh.query(sql, as_=user, engine=engine)


def check_shape(world: World, engine: str, name: str, rows: Sequence[Row]) -> None:
    shape = SHAPES[name]
    columns, expected = shape.expect(rows, world.key)
    result = query(world, engine, shape.user, f"SELECT * FROM {PEOPLE}")
    assert result.column_names == columns, name
    assert _bag(result.to_pylist()) == _bag(expected), name
    # the consumer's own predicates and grouping see the governed values only
    group = "region" if "region" in columns else "'all'"
    probe = next((r["ssn"] for r in rows if r["ssn"] is not None), "none")
    literal = "'" + probe.replace("'", "''") + "'"
    hits = f"sum(CASE WHEN ssn = {literal} THEN 1 ELSE 0 END)" if "ssn" in columns else "0"
    sql = f"SELECT {group} AS g, count(*) AS n, {hits} AS h FROM {PEOPLE} GROUP BY 1"
    got = {
        r["g"]: (r["n"], _norm(r["h"])) for r in query(world, engine, shape.user, sql).to_pylist()
    }
    want: dict[Any, tuple[int, int]] = {}
    for r in expected:
        g = r["region"] if "region" in columns else "all"
        n, h = want.get(g, (0, 0))
        want[g] = (n + 1, h + ("ssn" in columns and r["ssn"] == probe))
    assert got == want, name


def check_constructs(world: World, engine: str, name: str, rows: Sequence[Row]) -> None:
    """The syntax the function policy opened (issue 9) over every policy shape: each
    answer is computed from the reference's governed rows, so masks and row filters keep
    their meaning through DISTINCT ON, ROLLUP, unnest, COLUMNS, PIVOT and LATERAL."""
    shape = SHAPES[name]
    columns, expected = shape.expect(rows, world.key)

    def run(sql: str) -> list[Row]:
        return list(query(world, engine, shape.user, sql).to_pylist())

    if "region" in columns:
        got = run(f"SELECT region, count(*) AS n FROM {PEOPLE} GROUP BY ROLLUP (region)")
        want = Counter(r["region"] for r in expected)
        assert _bag(got) == _bag(
            [{"region": k, "n": v} for k, v in want.items()]
            + [{"region": None, "n": len(expected)}]
        ), name
        got = run(
            f"SELECT * FROM (SELECT region, 1 AS one FROM {PEOPLE}) "
            "PIVOT (count(one) FOR region IN ('eu', 'us'))"
        )
        # an empty pivot cell is NULL on DuckDB and 0 on Spark: both mean "no rows"
        cells = [{k: v or 0 for k, v in r.items()} for r in got]
        assert cells == [{"eu": want["eu"], "us": want["us"]}], name
    if "id" in columns:
        got = run(f"SELECT unnest([id, id]) AS x FROM {PEOPLE}")
        assert _bag(got) == _bag([{"x": r["id"]} for r in expected for _ in range(2)]), name
        got = run(f"SELECT p.id, x.twice FROM {PEOPLE} p, LATERAL (SELECT p.id * 2 AS twice) x")
        assert _bag(got) == _bag(
            [{"id": r["id"], "twice": None if r["id"] is None else r["id"] * 2} for r in expected]
        ), name
    if "region" in columns and "id" in columns:
        got = run(
            f"SELECT DISTINCT ON (region) region, id FROM {PEOPLE} ORDER BY region, id NULLS LAST"
        )
        first: dict[Any, Any] = {}
        for r in expected:
            k, v = r["region"], r["id"]
            if k not in first or (v is not None and (first[k] is None or v < first[k])):
                first[k] = v
        assert _bag(got) == _bag([{"region": k, "id": v} for k, v in first.items()]), name
    if engine == "duckdb":  # COLUMNS(...) has no Spark equivalent (refused by name there)
        wanted = [c for c in columns if c in ("id", "name", "ssn")]
        if wanted:
            got = run(f"SELECT COLUMNS('^(id|name|ssn)$') FROM {PEOPLE}")
            assert _bag(got) == _bag([{c: r[c] for c in wanted} for r in expected]), name


def check_joins(world: World, engine: str, people: Sequence[Row], accounts: Sequence[Row]) -> None:
    """A cross-domain join under two policies, and a join on a hashed key."""
    _, mine = SHAPES["delegated"].expect(people, world.key)
    sql = f"SELECT p.id, p.ssn, s.site FROM {PEOPLE} p JOIN {SITES} s ON p.region = s.region"
    got = query(world, engine, "ann@analytics", sql).to_pylist()
    expected = [
        {"id": p["id"], "ssn": p["ssn"], "site": s["site"]}
        for p in mine
        for s in SITE_ROWS
        if p["region"] is not None and p["region"] == s["region"]
    ]
    assert _bag(got) == _bag(expected)
    # hashed keys still join (one key per mesh); hidden and masked values never do
    key = world.key
    hash_ = parse_mask("hash")
    sql = f"SELECT a.acct_id, p.id FROM {ACCOUNTS} a JOIN {PEOPLE} p ON a.owner_ssn = p.ssn"
    got = query(world, engine, "db@hr", sql).to_pylist()
    expected = [
        {"acct_id": a["acct_id"], "id": p["id"]}
        for a in accounts
        for p in people
        if a["owner_ssn"] is not None
        and apply_mask(hash_, a["owner_ssn"], hash_key=key)
        == apply_mask(hash_, p["ssn"], hash_key=key)
    ]
    assert _bag(got) == _bag(expected)
    got = query(world, engine, "db@hr", f"SELECT * FROM {ACCOUNTS}").to_pylist()
    assert _bag(got) == _bag(
        [{**a, "owner_ssn": apply_mask(hash_, a["owner_ssn"], hash_key=key)} for a in accounts]
    )


def load(world: World, people: Sequence[Row], accounts: Sequence[Row]) -> None:
    """Replace the tables' data in place (same files, same schema): every query reads
    the files anew."""
    pq.write_table(pa.Table.from_pylist(list(people), schema=SCHEMA), world.people)
    pq.write_table(pa.Table.from_pylist(list(accounts), schema=ACCOUNTS_SCHEMA), world.accounts)


def check_all(world: World, engine: str, people: Sequence[Row], accounts: Sequence[Row]) -> None:
    load(world, people, accounts)
    for name in SHAPES:
        check_shape(world, engine, name, people)
        check_constructs(world, engine, name, people)
    check_joins(world, engine, people, accounts)


# --------------------------------------------------------------------------- data

_text = st.text(st.characters(codec="utf-8"), max_size=8)  # any character but surrogates
_ssn = st.one_of(st.from_regex(r"1?[0-9]", fullmatch=True), _text)
_big = st.integers(-(10**12), 10**12)


def _nullable(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


_person = st.fixed_dictionaries(
    {
        "id": st.integers(-(2**40), 2**40),
        "name": _nullable(_text),
        "region": st.sampled_from(["eu", "us", "EU", "eu ", "é", "", None]),
        "score": _nullable(st.integers(-100, 200)),
        "ssn": _nullable(_ssn),
        "card": _nullable(_text),
        "phone": _nullable(_text),
        "email": _nullable(_text),
        "nick": _nullable(_text),
        "plain": _nullable(_text),
        "t_hash": _nullable(_big),
        "t_redact": _nullable(st.dates()),
        "t_null": _nullable(_big),
        "t_last4": _nullable(_big),
        "t_custom": _nullable(_big),
        "t_gone": _nullable(_text),
        "t_over": _nullable(_text),
        "t_pin": _nullable(_text),
    }
)
_account = st.fixed_dictionaries(
    {
        "acct_id": st.integers(0, 10**6),
        "people_id": _nullable(st.integers(0, 10)),
        "owner_ssn": _nullable(_ssn),
    }
)

#: A fixed data set with every edge the shapes care about (also run on Spark).
FIXED_PEOPLE: list[Row] = [
    dict(zip(COLUMNS, values, strict=True))
    for values in (
        (1, "ann", "eu", 10, "123-45-6789", "4111111111111111", "+1 555 0101", "a@x.io", "annie",
         "p1", 123456789, date(1990, 1, 2), 7, 98765, 21, "g1", "over-1", "pin-1"),
        (2, "bob", "us", 60, "1", "12", None, "b@x.io", "b", None,
         -5, date(2000, 2, 29), None, -12345, -3, None, "ov", "pin"),
        (3, "Ünïcødé 🙂", "eu", 90, "987", None, "x", None, "éé🙂", "p3",
         None, None, 1, 5, None, "g3", None, "🙂🙂🙂🙂🙂"),
        (4, None, None, None, None, "card\x00nul", "", "", "", "",
         0, date(1, 1, 1), 0, 0, 0, "", "", ""),
        (5, "eve", "EU", -7, "1x", "abcd", "p", "e", "e", "e",
         10**12, date(9999, 12, 31), -(10**12), -(10**12), 10**12, "e", "12345", "e"),
        (6, "fay", "eu", 51, "123-45-6789", "9999", "+44", "f@x", "fa", "f",
         42, date(2024, 6, 1), 42, 42, 42, "f", "f", "f"),
    )
]  # fmt: skip
FIXED_ACCOUNTS: list[Row] = [
    {"acct_id": 100, "people_id": 1, "owner_ssn": "123-45-6789"},
    {"acct_id": 101, "people_id": 2, "owner_ssn": "1"},
    {"acct_id": 102, "people_id": None, "owner_ssn": None},
    {"acct_id": 103, "people_id": 9, "owner_ssn": "not-a-customer"},
]


# --------------------------------------------------------------------------- engines


@functools.cache
def _engine_unavailable(name: str) -> str | None:
    try:
        load_engine(name)
    except Exception as e:  # an engine the suite covers must load (conftest starts Spark)
        return f"the {name} engine cannot load ({type(e).__name__}: {e})"
    return None


ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    reason = _engine_unavailable(name)
    if reason is not None:
        pytest.fail(reason, pytrace=False)
    return name


# --------------------------------------------------------------------------- tests


def test_every_shape_on_fixed_data(world: World, engine: str) -> None:
    check_all(world, engine, FIXED_PEOPLE, FIXED_ACCOUNTS)


def test_cell_level_union_spelled_out(world: World, engine: str) -> None:
    """``rewrite.governed_relation``'s semantics, by hand: grant 1 shows id, name, region,
    ssn where region = 'eu'; grant 2 shows id, score, card, t_hash where score > 50. A row
    is there if either admits it; each cell only if a grant covering its column admits it."""
    load(world, FIXED_PEOPLE, FIXED_ACCOUNTS)
    m = masks(world.key)
    got = query(world, engine, "union@hr", f"SELECT * FROM {PEOPLE} ORDER BY id")
    assert got.column_names == ["id", "name", "region", "score", "ssn", "card", "t_hash"]
    assert got.to_pylist() == [
        # eu, score 10: grant 1 only
        {"id": 1, "name": "ann", "region": "eu", "score": None, "ssn": m["ssn"]("123-45-6789"),
         "card": None, "t_hash": None},
        # us, score 60: grant 2 only
        {"id": 2, "name": None, "region": None, "score": 60, "ssn": None,
         "card": m["card"]("12"), "t_hash": m["t_hash"](-5)},
        # eu, score 90: both (its card and t_hash are NULL in the data)
        {"id": 3, "name": "Ünïcødé 🙂", "region": "eu", "score": 90, "ssn": m["ssn"]("987"),
         "card": None, "t_hash": None},
        # rows 4 (NULL region and score) and 5 ('EU', -7): neither grant admits them
        # row 6: both; last4 of a four-character card hides it all
        {"id": 6, "name": "fay", "region": "eu", "score": 51, "ssn": m["ssn"]("123-45-6789"),
         "card": "****", "t_hash": m["t_hash"](42)},
    ]  # fmt: skip


def test_empty_tables(world: World) -> None:
    check_all(world, "duckdb", [], [])


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    people=st.lists(_person, max_size=8),
    accounts=st.lists(_account, max_size=4),
)
@example(people=FIXED_PEOPLE, accounts=FIXED_ACCOUNTS)
def test_every_shape_on_random_data(world: World, people: list[Row], accounts: list[Row]) -> None:
    check_all(world, "duckdb", people, accounts)


def test_policy_shapes_are_what_the_gate_decides(world: World) -> None:
    """The reference's shapes mirror the gate's decisions (so a wrong mirror cannot make
    a wrong result pass): the same columns, masks and number of permits."""
    mesh = world.mesh
    for name, shape in SHAPES.items():
        decision = mesh.access.decide(PEOPLE, as_=shape.user)
        columns, _ = shape.expect([], world.key)
        assert list(decision.columns) == columns, name
        assert len(decision.permits) == len(shape.permits), name
        expected_masks = {c for c in masks(world.key) if c in columns} - shape.unmasked
        assert set(decision.masks) == expected_masks, name
