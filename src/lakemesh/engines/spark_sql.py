"""The consumer's SQL as the Spark engine runs it: generated once, re-parsed and checked.

Spark has no sandbox behind the query: whatever the session can name or call, the SQL
can reach. The planner already refuses all of this; the engine checks again on the very
text Spark will parse (defence in depth): exactly one query, reading only the plan's
relations and its own CTEs in scope, and only functions Spark's classification allows
(``lakemesh.engines.functions``: no Java reflection, file names, XML parsers, settings or
the OS user).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from lakemesh.engines import EngineError, GovernedRelationLike, PlanLike
from lakemesh.engines.functions import FunctionRefused, policy
from lakemesh.sqltree import SYNTAX_CALLS, call_name, scoped_tables

#: Names Spark resolves to ``current_user()`` when no column of that name exists, even
#: quoted (``SELECT `user` FROM t``).
_USER_NAMES = frozenset({"user", "current_user", "session_user"})
#: What a query's consumer SQL may be, at its root.
_QUERY_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except)


def consumer_sql(plan: PlanLike, relations: Sequence[GovernedRelationLike]) -> str:
    """``plan.sql`` in Spark SQL, once, after checking it reads nothing but ``relations``
    and its own CTEs and calls nothing that reaches outside the row."""
    if not isinstance(plan.sql, exp.Expr):
        raise EngineError(detail="plan.sql is not a sqlglot expression")
    try:
        sql = spark_equivalents(plan.sql).sql(dialect="spark", comments=False)
        trees = [t for t in sqlglot.parse(sql, read="spark") if t is not None]
    except (SqlglotError, RecursionError) as e:
        raise EngineError(detail=f"consumer SQL: {type(e).__name__}: {e}") from None
    if len(trees) != 1:
        raise EngineError(detail=f"consumer SQL must be exactly one query, got {len(trees)}")
    root = trees[0]
    while isinstance(root, exp.Subquery):
        root = root.this
    if not isinstance(root, _QUERY_ROOTS):
        raise EngineError(detail=f"consumer SQL must be exactly one query, not {root.key}")
    try:
        _check_reads(trees[0], relations)
    except RecursionError:
        raise EngineError(detail="consumer SQL: nested too deeply") from None
    return sql


def spark_equivalents(tree: exp.Expr) -> exp.Expr:
    """A copy of ``tree`` with DuckDB functions whose Spark rendering by sqlglot would
    mean something else replaced by Spark's exact equivalent: ``quantile_cont(x, q)`` and
    ``percentile_cont(q) WITHIN GROUP (ORDER BY x)`` are exact on DuckDB, and sqlglot
    renders the first as a call Spark rejects and the second as an approximation;
    ``dayname`` and ``monthname`` are full names on DuckDB and abbreviations on Spark;
    ``tags[1]`` past a list's end is NULL on DuckDB and an error under Spark's ANSI mode
    (``try_element_at`` is NULL there too)."""

    def exact(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.WithinGroup) and isinstance(
            node.this, exp.PercentileCont | exp.PercentileDisc
        ):
            name = (
                "PERCENTILE_CONT"
                if isinstance(node.this, exp.PercentileCont)
                else "PERCENTILE_DISC"
            )
            return exp.WithinGroup(
                this=exp.Anonymous(this=name, expressions=[node.this.this]),
                expression=node.expression,
            )
        if (
            isinstance(node, exp.PercentileCont | exp.PercentileDisc)
            and not isinstance(node.parent, exp.WithinGroup)
            and node.expression is not None
        ):
            name = "PERCENTILE_CONT" if isinstance(node, exp.PercentileCont) else "PERCENTILE_DISC"
            return exp.WithinGroup(
                this=exp.Anonymous(this=name, expressions=[node.expression]),
                expression=exp.Order(expressions=[exp.Ordered(this=node.this)]),
            )
        if isinstance(node, exp.Bracket) and len(node.expressions) == 1:
            index = node.expressions[0]
            literal = _int_literal(index)
            if literal is not None:
                # sqlglot stores a literal index 0-based (DuckDB's ``[1]`` is 0, ``[-1]``
                # is -2); try_element_at counts like DuckDB, from 1 or from the end.
                if literal + 1 != 0:
                    return _element_at(node.this, exp.Literal.number(literal + 1))
            elif not isinstance(index, exp.Literal | exp.Slice):
                # an expression index is kept as written, i.e. 1-based like DuckDB's
                return _element_at(node.this, index)
        if isinstance(node, exp.Dayname | exp.Monthname):
            pattern = "EEEE" if isinstance(node, exp.Dayname) else "MMMM"
            return exp.Anonymous(
                this="DATE_FORMAT", expressions=[node.this, exp.Literal.string(pattern)]
            )
        return node

    return tree.copy().transform(exact, copy=False)


def _int_literal(node: exp.Expr) -> int | None:
    if isinstance(node, exp.Neg):
        inner = _int_literal(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Literal) and not node.is_string and node.is_int:
        return int(node.this)
    return None


def _element_at(value: exp.Expr, position: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this="TRY_ELEMENT_AT", expressions=[value, position])


def _check_reads(tree: exp.Expr, relations: Sequence[GovernedRelationLike]) -> None:
    """Only governed relations and CTEs in scope are read; no Spark function that reaches
    outside the row is called."""
    _check_tables(tree, frozenset(r.alias for r in relations))
    functions = policy("spark")
    for func in tree.find_all(exp.Func):
        if type(func) in SYNTAX_CALLS:
            continue
        name = call_name(func, "spark", shallow=False)
        if name is None:
            continue
        try:
            functions.check(name)
        except FunctionRefused as e:
            raise EngineError(detail=f"consumer SQL: {e}") from None
    named = {c.lower() for r in relations for c in r.columns}
    named.update(str(a.alias).lower() for a in tree.find_all(exp.Alias))
    named.update(
        str(c.name).lower() for t in tree.find_all(exp.TableAlias) for c in t.columns or ()
    )
    for column in tree.find_all(exp.Column):
        name = column.name.lower()
        if not column.table and name in _USER_NAMES and name not in named:
            raise EngineError(detail=f"{name} would read the engine's OS user")


def _check_tables(tree: exp.Expr, aliases: frozenset[str]) -> None:
    """Every table is a relation alias or a CTE in scope (``scoped_tables``). The
    process's catalog is shared by every session, so a name that is neither (say, a
    non-recursive CTE's body naming the CTE) could reach a table someone else created."""
    for node, ctes in scoped_tables(tree):
        name = node.name.lower()
        if (
            not isinstance(node.this, exp.Identifier)
            or node.args.get("db")
            or node.args.get("catalog")
            or (name not in aliases and name not in ctes)
        ):
            raise EngineError(
                detail=f"consumer SQL reads {node.sql(dialect='spark')!r}, "
                "which is not a governed relation"
            )
