"""SQL tree helpers shared by the query planner, the engines' final checks and the data
contracts' SQL rules.

What a function call is named in an engine's dialect (the name the function policy is
looked up by) and which tables a tree references with the CTE names in scope. Pure
functions of sqlglot trees, kept at the root because the planner, the engines (which
import nothing from the planner) and ``products`` (which imports no engine) all need
them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlglot import exp
from sqlglot.errors import SqlglotError

_CALL = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")

#: Nodes that are syntax rather than calls, though sqlglot models them as functions.
SYNTAX_CALLS: frozenset[type[exp.Expr]] = frozenset(
    {exp.Cast, exp.TryCast, exp.Extract, exp.Case, exp.If, exp.Exists, exp.Columns, exp.Unnest}
)
#: Names a rendered call may start with that are keywords, not engine functions.
SYNTAX_NAMES = frozenset(
    {
        "cast",
        "try_cast",
        "extract",
        "exists",
        "columns",
        "interval",
        "coalesce",
        "grouping",
        "grouping_id",
        "unnest",
        "unpack",
        "try",
    }
)


def call_name(node: exp.Expr, engine: str, *, shallow: bool = True) -> str | None:
    """The lower-case name ``engine`` will call for ``node``, or None when the node is
    rendered as an operator or a keyword (``a ~ b``, ``x[1]``, ``CAST``).

    An unknown function keeps the name it was written with; a function sqlglot knows is
    rendered in the engine's dialect, so the name checked is the one the engine binds
    (``percentile_cont`` may become ``quantile_cont``; ``any_value`` stays itself).
    ``shallow`` renders the node over stand-ins for its non-literal arguments: each call
    then costs the same however large its arguments are. The engines check the final
    text again in full (DuckDB with its own parser, Spark on the generated SQL)."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if not isinstance(node, exp.Func):
        return None
    try:
        target = _shallow(node) if shallow else node
        rendered = target.sql(dialect=engine, comments=False)
    except SqlglotError:
        return function_name(node)
    match = _CALL.match(rendered)
    if match is None:
        return None
    name = match.group(1).lower()
    return None if name in SYNTAX_NAMES else name


#: Arguments kept as they are when a call is rendered shallow: generators look at them.
_LEAVES = (exp.Literal, exp.Var, exp.DataType, exp.Boolean, exp.Null, exp.Star)


def _shallow(node: exp.Func) -> exp.Expr:
    def stand_in(value: object) -> object:
        if isinstance(value, _LEAVES):
            return value.copy()
        if isinstance(value, exp.Expr):
            return exp.column("x")
        if isinstance(value, list):
            return [stand_in(v) for v in value]
        return value

    return type(node)(**{k: stand_in(v) for k, v in node.args.items()})


def function_name(node: exp.Expr) -> str:
    """The lower-case name a function was called by (an Anonymous keeps what was written)."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return node.key.lower()


def scoped_tables(
    node: exp.Expr, scope: frozenset[str] = frozenset()
) -> Iterator[tuple[exp.Table, frozenset[str]]]:
    """Every table node under ``node`` (not looking inside tables), in query order, with
    the CTE names in scope where it appears: a CTE is in scope for the later CTEs of its
    WITH, for itself only if RECURSIVE, and for the query the WITH belongs to (and that
    query's subqueries)."""
    if isinstance(node, exp.Table):
        yield node, scope
        return
    inner = scope
    with_ = node.args.get("with_")
    if isinstance(with_, exp.With):
        recursive = bool(with_.args.get("recursive"))
        for cte in with_.expressions:
            name = str(cte.alias_or_name).lower()
            yield from scoped_tables(cte.this, inner | {name} if recursive else inner)
            inner = inner | {name}
    for key, value in node.args.items():
        if key == "with_":
            continue
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, exp.Expr):
                yield from scoped_tables(child, inner)
