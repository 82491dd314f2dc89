"""Which columns of each governed relation a rewritten query can read.

An engine that hands relations to the consumer's query from outside (DuckDB's sealed
connection reads each relation as an Arrow stream) would otherwise read, mask and ship
every permitted column of every table, even for ``SELECT count(*)``. This stage gives it
the columns to produce per relation.

It over-approximates on purpose: a column is kept when *any* name in the query could
mean it (every column, qualifier and USING name, whatever relation it is written
against), and everything is kept when the query can reach columns without naming them
(``*`` outside ``count(*)``, ``COLUMNS(...)``, a whole-row reference such as
``SELECT t FROM t``, a NATURAL join, PIVOT, or an alias list that renames columns by
position). Keeping one column too many costs a little work; dropping one the query
uses would fail it, so when in doubt a column stays.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from lakemesh.query.rewrite import GovernedRelation


def columns_read(
    tree: exp.Expr, relations: Sequence[GovernedRelation]
) -> dict[str, tuple[str, ...]]:
    """For each relation alias, the relation's columns (in its order) the query may
    read: never empty (a count over no column still needs the rows)."""
    everything = {r.alias: r.columns for r in relations}
    if _reads_unnamed(tree):
        return everything
    named: set[str] = set()
    whole: set[str] = set()  # relations whose columns are renamed by position
    visible: dict[str, str] = {}  # name the query uses -> relation alias
    for table in tree.find_all(exp.Table):
        alias = table.args.get("alias")
        visible[str(table.alias_or_name).lower()] = table.name
        if isinstance(alias, exp.TableAlias) and alias.args.get("columns"):
            whole.add(table.name)
    for column in tree.find_all(exp.Column):
        for part in column.parts:
            named.add(str(part.name).lower())
        name = str(column.name).lower()
        if not column.table and name in visible:  # SELECT t FROM t: the whole row
            whole.add(visible[name])
    for join in tree.find_all(exp.Join):
        for ident in join.args.get("using") or []:
            named.add(str(getattr(ident, "name", ident)).lower())
    out: dict[str, tuple[str, ...]] = {}
    for relation in relations:
        if relation.alias in whole:
            out[relation.alias] = relation.columns
            continue
        kept = tuple(c for c in relation.columns if c.lower() in named)
        out[relation.alias] = kept or relation.columns[:1]
    return out


def _reads_unnamed(tree: exp.Expr) -> bool:
    """Whether the query can read columns it does not name."""
    for star in tree.find_all(exp.Star):
        if not isinstance(star.parent, exp.Count):
            return True
    for join in tree.find_all(exp.Join):
        if join.method and join.method.upper() == "NATURAL":
            return True
    if any(True for _ in tree.find_all(exp.Pivot)):
        return True
    return any(
        str(f.name).lower() in ("columns", "unpack") for f in tree.find_all(exp.Anonymous)
    ) or any(True for _ in tree.find_all(exp.Columns))
