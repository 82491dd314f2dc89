"""The governed query pipeline's front half: parse -> validate -> rewrite.

``plan_query`` turns a consumer's SQL into a ``Plan``: the query with every table
reference replaced by an internal relation, and those relations, each a SELECT that
applies the principal's policy to the table's scan. The engine generates both for its
dialect, puts each table's scan in place of ``"__lm_source"`` and runs the result under
its own limits. Every refusal is ``QueryRefused`` with a one-line reason for the audit
log; consumers are shown a generic message (SPEC invariant 8).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from lakemesh.access.authorizer import Decision
from lakemesh.query import projection, pushdown, rewrite, validate
from lakemesh.query.rewrite import RELATION_PREFIX, GovernedRelation
from lakemesh.query.validate import QueryRefused

__all__ = ["GovernedRelation", "Plan", "QueryRefused", "plan_query"]


@dataclass(frozen=True)
class Plan:
    """A validated, rewritten query and the relations it reads."""

    #: The consumer's query, every table reference replaced by its relation alias.
    sql: exp.Expr
    relations: tuple[GovernedRelation, ...]
    #: Central names referenced, in order of first reference.
    tables: tuple[str, ...]
    #: Per relation alias, the columns the query may read (``lakemesh.query.projection``);
    #: an engine that ships relations to the query produces only these.
    reads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def plan_query(
    sql: str,
    *,
    principal: str,
    decide: Callable[[str], Decision],
    resolve: Callable[[list[str]], str | None],
    column_types: Callable[[str], Mapping[str, str]],
    hash_key: bytes,
    dialect: str = "duckdb",
    push_predicates: bool = False,
) -> Plan:
    """Plan ``sql`` for ``principal``: ``resolve`` maps a name as written (1 to 3 lower
    case parts) to a central table name or None; ``decide`` is the gate's SELECT decision
    for a central table; ``column_types`` gives every column of a table with its Arrow
    type. ``push_predicates`` copies the consumer's harmless WHERE conjuncts into the
    relations they filter (``lakemesh.query.pushdown``), for engines that put a barrier
    between policy and query. Raises ``QueryRefused``."""
    tree = validate.validate(validate.parse_query(sql, dialect), dialect)
    try:
        refs = rewrite.table_references(tree)
    except RecursionError:
        raise QueryRefused("query: nested too deeply") from None
    tables = rewrite.resolve_references(refs, resolve)
    distinct = tuple(dict.fromkeys(tables))
    decisions: dict[str, Decision] = {}
    types: dict[str, dict[str, str]] = {}
    for ref, table in zip(refs, tables, strict=True):
        if table in decisions:
            continue
        decision = decide(table)
        if not decision.allowed or decision.table != table or decision.principal != principal:
            raise rewrite.unavailable(".".join(ref.parts))
        decisions[table] = decision
        types[table] = {str(k).lower(): v for k, v in column_types(table).items()}
    rewrite.check_columns(tree, refs, tables, decisions, types)
    aliases = {table: f"{RELATION_PREFIX}{i}" for i, table in enumerate(distinct)}
    relations = tuple(
        rewrite.governed_relation(
            aliases[t], decisions[t], types[t], hash_key=hash_key, dialect=dialect
        )
        for t in distinct
    )
    rewrite.replace_references(refs, tables, aliases)
    rewrite.quote_identifiers(tree)
    if push_predicates:
        relations = pushdown.push_predicates(tree, relations, types)
    reads = projection.columns_read(tree, relations)
    return Plan(sql=tree, relations=relations, tables=distinct, reads=reads)
