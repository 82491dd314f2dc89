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
    read: never empty (a count over no column still needs the rows). One walk of the
    tree: this runs on every query."""
    everything = {r.alias: r.columns for r in relations}
    named: set[str] = set()
    whole: set[str] = set()  # relations whose columns are renamed by position
    visible: dict[str, str] = {}  # name the query uses -> relation alias
    bare: list[str] = []  # unqualified column names (a whole-row reference?)
    for node in tree.walk():
        if isinstance(node, exp.Column):
            for part in node.parts:
                named.add(str(part.name).lower())
            if not node.table:
                bare.append(str(node.name).lower())
        elif isinstance(node, exp.Table):
            alias = node.args.get("alias")
            visible[str(node.alias_or_name).lower()] = node.name
            if isinstance(alias, exp.TableAlias) and alias.args.get("columns"):
                whole.add(node.name)
        elif isinstance(node, exp.Join):
            if node.method and node.method.upper() == "NATURAL":
                return everything
            for ident in node.args.get("using") or []:
                named.add(str(getattr(ident, "name", ident)).lower())
        elif isinstance(node, exp.Star):
            if not isinstance(node.parent, exp.Count):
                return everything  # *, t.*, COLUMNS(*), struct_pack(*): unnamed columns
        elif isinstance(node, exp.Pivot | exp.Columns):
            return everything  # PIVOT groups by the columns it does not name
        elif isinstance(node, exp.Anonymous) and str(node.name).lower() == "columns":
            return everything
    whole.update(visible[name] for name in bare if name in visible)  # SELECT t FROM t
    out: dict[str, tuple[str, ...]] = {}
    for relation in relations:
        if relation.alias in whole:
            out[relation.alias] = relation.columns
            continue
        kept = tuple(c for c in relation.columns if c.lower() in named)
        out[relation.alias] = kept or relation.columns[:1]
    return out
