"""Rewrite a validated query so that every table is read only through its policy.

Each governed table reference becomes a reference to an internal relation
(``"__lm_rel_<n>"``) whose SELECT already applies the principal's column set, masks and
row filter over the table's own scan (``"__lm_source"``): view semantics, so WHERE, JOIN,
GROUP BY, ORDER BY, aggregates and errors of the consumer's query only ever see permitted,
masked values (SPEC invariant 2). Policy expressions are bound to the source's quoted,
qualified columns, so no name of the consumer's SQL can shadow them. A policy that cannot
be applied refuses the query (invariant 3). Names reach SQL only as AST identifiers
(invariant 4).

The stages are small functions run in order by ``lakemesh.query.plan``:
``table_references`` (scope-aware: CTE names shadow tables) -> ``resolve_references``
-> ``check_columns`` -> ``governed_relation`` per table -> ``replace_references``
-> ``quote_identifiers``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlglot import exp

from lakemesh.access.authorizer import Decision
from lakemesh.access.filters import RowFilter, any_of, from_canonical
from lakemesh.access.masks import Mask, mask_expression
from lakemesh.errors import InvalidInput
from lakemesh.query.validate import QueryRefused
from lakemesh.sqltree import scoped_tables

#: The name the relation's SELECT reads from; the engine puts the table's scan there.
SOURCE = "__lm_source"
#: Relation aliases are this prefix and a number.
RELATION_PREFIX = "__lm_rel_"


@dataclass(frozen=True)
class GovernedRelation:
    """One table as the principal may see it."""

    #: Internal relation name the rewritten SQL references, e.g. ``__lm_rel_0``.
    alias: str
    #: Central name ``domain.db.table``.
    table: str
    #: Output columns in order (permitted ones only).
    columns: tuple[str, ...]
    #: ``SELECT <masked/passthrough columns> FROM "__lm_source" WHERE <policy filter>``.
    select: exp.Select

    def over(self, source: exp.Expr) -> exp.Select:
        """A copy of ``select`` reading ``source`` (a table or subquery expression),
        aliased ``__lm_source`` so that the policy's qualified columns bind to it."""
        scan = source.copy()
        alias = exp.TableAlias(this=exp.to_identifier(SOURCE, quoted=True))
        if isinstance(scan, exp.Table | exp.Subquery):
            scan.set("alias", alias)
        else:
            scan = exp.Subquery(this=scan, alias=alias)

        def swap(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Table) and node.name == SOURCE and not node.args.get("db"):
                return scan.copy()
            return node

        result = self.select.copy().transform(swap, copy=False)
        assert isinstance(result, exp.Select)
        return result


@dataclass(frozen=True)
class Reference:
    """A table reference of the consumer's query that is not a CTE name."""

    node: exp.Table
    #: The name as written, lower case, 1 to 3 parts.
    parts: tuple[str, ...]
    #: The name the rest of the query uses for it: its alias, else its last part.
    visible: str


def unavailable(name: str) -> QueryRefused:
    """Unknown and not permitted look the same (SPEC invariant 8)."""
    message = f"table {name} does not exist or you may not read it"
    return QueryRefused(message, public=message)


def _no_column(name: str, reason: str) -> QueryRefused:
    """A hidden column and an absent one look the same to the consumer (SPEC 2.8)."""
    return QueryRefused(reason, public=f"column {name} does not exist or you may not read it")


# --------------------------------------------------------------------------- stages


def table_references(tree: exp.Expr) -> list[Reference]:
    """Every table reference that is not a CTE name in scope, in query order.

    Scoping errs towards governing: a CTE is in scope for later CTEs of its WITH, for
    itself only if RECURSIVE, and for the query the WITH belongs to (and its subqueries).
    A name treated as a table is resolved and governed (or refused), never read raw.
    """
    out: list[Reference] = []
    _collect(tree, frozenset(), out)
    return out


def _collect(node: exp.Expr, scope: frozenset[str], out: list[Reference]) -> None:
    for table, ctes in scoped_tables(node, scope):
        parts = tuple(str(p.this).lower() for p in table.parts)
        if len(parts) == 1 and parts[0] in ctes:
            continue
        if not 1 <= len(parts) <= 3:
            raise unavailable(".".join(parts))
        alias = table.args.get("alias")
        visible = str(alias.this.this).lower() if alias is not None and alias.this else parts[-1]
        out.append(Reference(table, parts, visible))


def resolve_references(
    refs: Sequence[Reference], resolve: Callable[[list[str]], str | None]
) -> list[str]:
    """The central name of each reference (unknown -> refused like not permitted)."""
    names = []
    for ref in refs:
        central = resolve(list(ref.parts))
        if not central:
            raise unavailable(".".join(ref.parts))
        names.append(central)
    return names


def check_columns(
    tree: exp.Expr,
    refs: Sequence[Reference],
    tables: Sequence[str],
    decisions: Mapping[str, Decision],
    types: Mapping[str, Mapping[str, str]],
) -> None:
    """Refuse references to columns the principal may not read, with a precise reason.

    The relations only have permitted columns, so a hidden column could never bind; this
    check names the problem instead of leaving it to an engine error. Qualified columns
    are checked against the table their qualifier names; unqualified ones are refused if
    some referenced table hides that name and none permits it (conservative).
    """
    by_visible: dict[str, set[str]] = {}
    by_path: dict[tuple[str, ...], Reference] = {}
    for ref, table in zip(refs, tables, strict=True):
        by_visible.setdefault(ref.visible, set()).add(table)
        if ref.node.args.get("alias") is None:
            by_path[ref.parts] = ref
    permitted_any = {c for t in set(tables) for c in decisions[t].columns}
    hidden_any = {c for t in set(tables) for c in types[t] if c not in set(decisions[t].columns)}
    defined = permitted_any | _defined_names(tree)
    for column in tree.find_all(exp.Column):
        qualifier = [str(p.this).lower() for p in column.parts[:-1]]
        if isinstance(column.this, exp.Star):
            if len(qualifier) > 1:
                column.set("catalog", None)
                column.set("db", None)
                column.set("table", exp.to_identifier(_visible(qualifier, by_path)))
            continue
        name = str(column.this.this).lower() if column.this is not None else ""
        if len(qualifier) > 1 and qualifier[0] in by_visible:
            # alias.column.field: a struct field of the aliased table's column.
            owners = by_visible[qualifier[0]]
            if len(owners) == 1:
                (table,) = owners
                if qualifier[1] not in decisions[table].columns:
                    raise _no_column(qualifier[1], f"column {qualifier[1]} is not available")
            continue
        if len(qualifier) > 1:
            # db.table.column naming an unaliased reference: keep only its visible name.
            qualifier = [_visible(qualifier, by_path)]
            column.set("catalog", None)
            column.set("db", None)
        if qualifier:
            owners = by_visible.get(qualifier[0], set())
            if len(owners) == 1:
                (table,) = owners
                if name not in decisions[table].columns:
                    raise _no_column(name, f"column {name} is not available")
            continue
        if name == "rowid" and name not in permitted_any:
            raise _no_column(name, "column rowid is not available")
        if name in hidden_any and name not in permitted_any:
            raise _no_column(name, f"column {name} is not available")
        if name not in defined:
            # Not a column of any table, nor a name the query defines: engines would run
            # it as a zero-argument function (``user``, ``current_schema``) and return
            # their own state.
            raise _no_column(name, f"unknown column {name}")


def _visible(qualifier: Sequence[str], by_path: Mapping[tuple[str, ...], Reference]) -> str:
    q = tuple(qualifier)
    matches = {r.visible for p, r in by_path.items() if p[-len(q) :] == q}
    if len(matches) != 1:
        message = "qualify columns with a table name or alias only (not db.table.column)"
        raise QueryRefused(message, public=message)
    (visible,) = matches
    return visible


def _defined_names(tree: exp.Expr) -> set[str]:
    """Every column name the query itself defines: output names of each SELECT (aliases
    included), column lists of table aliases and CTEs, the names of its tables and
    aliases (a row used as a value), and lambda parameters."""
    names: set[str] = set()
    for select in tree.find_all(exp.Select):
        # Output names, but not a bare column's own name: ``SELECT nosuch FROM t`` would
        # otherwise define ``nosuch`` and fail in the engine, unlike a hidden column.
        names.update(
            str(e.output_name).lower()
            for e in select.expressions
            if e.output_name and not isinstance(e, exp.Column)
        )
    for alias in tree.find_all(exp.Alias):
        names.add(str(alias.alias).lower())
    for table_alias in tree.find_all(exp.TableAlias):
        names.update(str(c.name).lower() for c in table_alias.columns)
        names.add(str(table_alias.name).lower())  # a row as a value: ``SELECT t FROM x t``
    for table in tree.find_all(exp.Table):
        names.add(str(table.name).lower())
    for pivot in tree.find_all(exp.Pivot):
        # PIVOT names columns after its values; UNPIVOT after its NAME and VALUE columns.
        for node in pivot.find_all(exp.Identifier, exp.Literal):
            if isinstance(node, exp.Identifier) or node.is_string:
                names.add(str(node.this).lower())
    for lam in tree.find_all(exp.Lambda):
        names.update(str(p.name).lower() for p in lam.expressions)
    return names


def governed_relation(
    alias: str,
    decision: Decision,
    column_types: Mapping[str, str],
    *,
    hash_key: bytes,
    dialect: str,
) -> GovernedRelation:
    """The relation that shows ``decision.table`` as the principal may see it.

    Rows: visible if any permit's filter admits them (no filter when some permit is
    unfiltered). Cells: a column is shown in a row only if a permit that includes it
    admits the row, else NULL; masked columns are masked inside that choice.

    Building the SELECT (parsing filters, rendering masks) dominates planning time and
    depends only on the policy, so it is memoised on everything it reads. The SELECT is
    therefore shared between plans: engines treat it as read-only and bind their scan into
    a copy (``GovernedRelation.over``), and a test holds them to it.
    """
    table = decision.table
    if not decision.allowed or not decision.permits or not decision.columns:
        raise unavailable(table)
    used = (*decision.columns, *decision.masks)
    missing = [c for c in used if c not in column_types]
    if missing:
        raise QueryRefused(f"policy of {table} names missing column {missing[0]}")
    key = (
        table,
        decision.columns,
        decision.permits,
        tuple(sorted(decision.masks.items())),
        tuple(sorted((c, column_types[c]) for c in set(used))),
        hash_key,
        dialect,
    )
    select = _policy_select(key, decision, column_types, hash_key, dialect)
    return GovernedRelation(alias, table, tuple(decision.columns), select)


_POLICY_SELECTS: dict[tuple[object, ...], exp.Select] = {}
_POLICY_SELECTS_MAX = 512


def _policy_select(
    key: tuple[object, ...],
    decision: Decision,
    column_types: Mapping[str, str],
    hash_key: bytes,
    dialect: str,
) -> exp.Select:
    cached = _POLICY_SELECTS.get(key)
    if cached is not None:
        return cached
    select = _build_policy_select(decision, column_types, hash_key=hash_key, dialect=dialect)
    if len(_POLICY_SELECTS) >= _POLICY_SELECTS_MAX:
        _POLICY_SELECTS.pop(next(iter(_POLICY_SELECTS)))
    _POLICY_SELECTS[key] = select
    return select


def _build_policy_select(
    decision: Decision, column_types: Mapping[str, str], *, hash_key: bytes, dialect: str
) -> exp.Select:
    table = decision.table
    filters = {
        p.row_filter: _row_filter(table, p.row_filter, column_types) for p in decision.permits
    }
    rows = any_of(filters[p.row_filter] for p in decision.permits)
    projections = []
    for column in decision.columns:
        value = _column_value(table, column, decision, column_types[column], hash_key, dialect)
        cell = any_of(filters[p.row_filter] for p in decision.permits if column in p.columns)
        if cell is not None and (rows is None or cell.sql != rows.sql):
            value = exp.Case(ifs=[exp.If(this=cell.bind(SOURCE), true=value)], default=exp.Null())
        projections.append(exp.alias_(value, column, quoted=True))
    select = exp.Select(expressions=projections).from_(
        exp.Table(this=exp.to_identifier(SOURCE, quoted=True)), copy=False
    )
    if rows is not None:
        select = select.where(rows.bind(SOURCE), copy=False)
    return select


def replace_references(
    refs: Sequence[Reference], tables: Sequence[str], aliases: Mapping[str, str]
) -> None:
    """Point every reference at its relation, keeping the name the query uses for it."""
    for ref, table in zip(refs, tables, strict=True):
        old_alias = ref.node.args.get("alias")
        columns = old_alias.args.get("columns") if old_alias is not None else None
        new_alias = exp.TableAlias(this=exp.to_identifier(ref.visible, quoted=True))
        if columns:
            new_alias.set("columns", [c.copy() for c in columns])
        ref.node.replace(
            exp.Table(this=exp.to_identifier(aliases[table], quoted=True), alias=new_alias)
        )


def quote_identifiers(tree: exp.Expr) -> None:
    """Every name of the consumer's query is rendered quoted, whatever the dialect's
    keywords (names reach SQL only as quoted identifiers)."""
    for ident in tree.find_all(exp.Identifier):
        ident.set("quoted", True)


# --------------------------------------------------------------------------- helpers


def _row_filter(table: str, text: str | None, column_types: Mapping[str, str]) -> RowFilter | None:
    if text is None:
        return None
    try:
        parsed = from_canonical(text)
    except (InvalidInput, ValueError):
        raise QueryRefused(f"row filter of {table} cannot be applied") from None
    if not parsed.columns <= column_types.keys():
        raise QueryRefused(f"row filter of {table} names a missing column")
    return parsed


def _column_value(
    table: str,
    column: str,
    decision: Decision,
    column_type: str,
    hash_key: bytes,
    dialect: str,
) -> exp.Expr:
    rule = decision.masks.get(column)
    if rule is None:
        return exp.column(column, table=SOURCE, quoted=True)
    try:
        mask = Mask.model_validate(
            {"method": rule.method, "sql": rule.expression if rule.method == "custom" else None}
        )
        aliased = mask_expression(
            mask, column, column_type, hash_key=hash_key, dialect=dialect, table=SOURCE
        )
    except (InvalidInput, ValueError):
        raise QueryRefused(f"mask on {table}.{column} cannot be applied") from None
    return aliased.this if isinstance(aliased, exp.Alias) else aliased
