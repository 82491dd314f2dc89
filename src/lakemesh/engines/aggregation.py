"""Aggregates a reading engine may compute itself, below the consumer's query.

An engine that streams a governed relation into the consumer's connection (DuckDB's
reading instance) pays for every row it moves: a ``GROUP BY`` over a whole table moves
the whole table to produce a handful of rows. This module recognises the one shape where
the aggregation can move instead: a single SELECT over one relation, grouped by plain
columns, whose every output is a grouping column or ``count``/``sum``/``min``/``max``/
``avg`` of a plain column (or ``count(*)``), with no WHERE the relation does not already
apply. It splits such a query in two:

* the *aggregate*, built from the consumer's tree but holding nothing of it except
  quoted column names and those five aggregate kinds: run by the reading engine over the
  relation (policy inside, so it aggregates only what the principal may see);
* the *rest* (``SELECT * FROM <aggregate> ORDER BY ... LIMIT ...``), ordering by output
  names or positions only: run by the consumer's connection as usual.

Nothing the consumer wrote beyond that reaches the reading engine; anything else, and
the query stays whole in the consumer's connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from lakemesh.engines import SOURCE_PLACEHOLDER, GovernedRelationLike

_AGGREGATES = (exp.Count, exp.Sum, exp.Min, exp.Max, exp.Avg)
#: SELECT parts that keep a query whole (beyond FROM, GROUP BY, WHERE, ORDER, LIMIT).
_WHOLE = (
    "with_",
    "with",
    "joins",
    "laterals",
    "having",
    "qualify",
    "distinct",
    "windows",
    "pivots",
    "kind",
    "into",
    "sample",
    "settings",
    "format",
    "locks",
    "prewhere",
    "connect",
    "match",
    "options",
    "operation_modifiers",
)


@dataclass(frozen=True)
class Split:
    """A query split between the reading engine and the consumer's connection."""

    #: The relation the aggregate reads.
    relation: GovernedRelationLike
    #: ``SELECT <groups and aggregates> FROM "__lm_source" AS <name> GROUP BY ...``.
    aggregate: exp.Select
    #: ``SELECT * FROM <alias> [ORDER BY ...] [LIMIT ...]``.
    rest: exp.Select


def split(
    tree: exp.Expr, relations: Mapping[str, GovernedRelationLike], alias: str
) -> Split | None:
    """``tree`` split for the reading engine (the aggregate becomes relation ``alias``),
    or None when it does not have the one shape (module docstring)."""
    if not isinstance(tree, exp.Select) or any(tree.args.get(k) for k in _WHOLE):
        return None
    if any(node is not tree for node in tree.find_all(exp.Select, exp.Subquery)):
        return None
    from_ = tree.args.get("from_")
    table = from_.this if isinstance(from_, exp.From) else None
    if not isinstance(table, exp.Table) or table.args.get("db") or table.args.get("catalog"):
        return None
    relation = relations.get(table.name)
    named = table.args.get("alias")
    if relation is None or (isinstance(named, exp.TableAlias) and named.args.get("columns")):
        return None
    visible = str(table.alias_or_name)
    group = tree.args.get("group")
    if not isinstance(group, exp.Group) or _set(group) - {"expressions"}:
        return None
    if not group.expressions or not all(_plain(e, visible) for e in group.expressions):
        return None
    outputs: list[str] = []
    for item in tree.expressions:
        value = item.this if isinstance(item, exp.Alias) else item
        if not (_plain(value, visible) or _aggregate(value, visible)):
            return None
        outputs.append(item.alias_or_name)
    if not _redundant(tree.args.get("where"), relation, visible):
        return None
    order = tree.args.get("order")
    if order is not None and not all(_orders_output(o, outputs) for o in order.expressions):
        return None
    for part in ("limit", "offset"):
        bound = tree.args.get(part)
        if bound is not None and not isinstance(bound.expression, exp.Literal):
            return None
    aggregate = exp.Select(
        expressions=[e.copy() for e in tree.expressions],
        group=group.copy(),
    ).from_(
        exp.Table(
            this=exp.to_identifier(SOURCE_PLACEHOLDER, quoted=True),
            alias=exp.TableAlias(this=exp.to_identifier(visible, quoted=True)),
        ),
        copy=False,
    )
    rest = exp.select(exp.Star()).from_(exp.Table(this=exp.to_identifier(alias, quoted=True)))
    for part in ("order", "limit", "offset"):
        if tree.args.get(part) is not None:
            rest.set(part, tree.args[part].copy())
    return Split(relation, aggregate, rest)


def _plain(node: exp.Expr, visible: str) -> bool:
    """A column of the relation by name (qualified by its visible name or not)."""
    if not isinstance(node, exp.Column) or node.args.get("db") or node.args.get("catalog"):
        return False
    return not node.table or node.table == visible


def _aggregate(node: exp.Expr, visible: str) -> bool:
    if type(node) not in _AGGREGATES or _set(node) - {"this", "big_int"}:
        return False
    arg = node.this
    if isinstance(node, exp.Count) and isinstance(arg, exp.Star):
        return True
    if isinstance(arg, exp.Distinct):
        values = arg.expressions
        return len(values) == 1 and _plain(values[0], visible) and _set(arg) == {"expressions"}
    return _plain(arg, visible)


def _set(node: exp.Expr) -> set[str]:
    """The parts ``node`` has (sqlglot keeps empty ones as empty lists or None)."""
    return {k for k, v in node.args.items() if v not in (None, [], False)}


def _redundant(where: exp.Expr | None, relation: GovernedRelationLike, visible: str) -> bool:
    """Whether every conjunct of ``where`` is one the relation applies already (the
    planner copies the consumer's harmless predicates into it, and leaves them)."""
    if where is None:
        return True
    applied = relation.select.args.get("where")
    if not isinstance(applied, exp.Where):
        return False
    condition = applied.this
    have = {
        c.sql("duckdb")
        for c in (condition.flatten() if isinstance(condition, exp.And) else [condition])
    }
    consumer = where.this
    for conjunct in consumer.flatten() if isinstance(consumer, exp.And) else [consumer]:
        if any(not _plain(c, visible) for c in conjunct.find_all(exp.Column)):
            return False
        bound = conjunct.copy().transform(
            lambda n: (
                exp.column(str(n.name).lower(), table=SOURCE_PLACEHOLDER, quoted=True)
                if isinstance(n, exp.Column)
                else n
            ),
            copy=False,
        )
        if bound.sql("duckdb") not in have:
            return False
    return True


def _orders_output(ordered: exp.Expr, outputs: list[str]) -> bool:
    """An ORDER BY item naming an output column, or a position."""
    value = ordered.this if isinstance(ordered, exp.Ordered) else ordered
    if isinstance(value, exp.Literal):
        return value.is_int
    return isinstance(value, exp.Column) and not value.table and value.name in outputs
