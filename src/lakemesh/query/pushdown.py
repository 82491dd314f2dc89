"""Push the consumer's harmless predicates into the governed relations they filter.

An engine that puts an optimisation barrier between a relation's policy and the
consumer's query (Spark: otherwise its partition pruning evaluates consumer predicates
on the partition values of hidden rows, and a failing cast there is an error side
channel) also stops the consumer's filters from pruning files and row groups. This stage
gives that back for the predicates that cannot tell anyone anything: a conjunct of a
WHERE clause is copied into the relation it filters (after the policy filter, below the
barrier) only when

* it compares plain, unmasked, whole-row columns of that one relation with literals of
  the same kind (string columns with string literals, integer columns with integer
  literals, floating-point columns with numbers) by ``= <> < <= > >=``,
  ``IN (literals)``, ``BETWEEN`` or ``IS [NOT] NULL``, joined by AND/OR/NOT: such a
  predicate cannot fail on any row (no cast of a column value, no pattern to compile, no
  decimal to overflow), so evaluating it on hidden rows or hidden partitions changes
  nothing anyone can observe but the work done;
* the relation is read in that SELECT's FROM or through an inner or cross join (never
  on the nullable side of an outer join, where filtering early changes the answer).

The conjunct also stays where the consumer wrote it. Each reference that receives
predicates gets its own relation (``__lm_rel_<n>_<k>``), so a self-join's two sides are
filtered independently. Everything else is left alone: pushing is an optimisation, and
when in doubt it does not happen.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from sqlglot import exp

from lakemesh.query.rewrite import RELATION_PREFIX, SOURCE, GovernedRelation

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_STRING_TYPES = frozenset({"string", "large_string", "utf8", "large_utf8"})
_INTEGER_PREFIXES = ("int", "uint")
_FLOAT_PREFIXES = ("float", "double", "halffloat")


def push_predicates(
    tree: exp.Expr,
    relations: Sequence[GovernedRelation],
    column_types: Mapping[str, Mapping[str, str]],
) -> tuple[GovernedRelation, ...]:
    """Rewrite ``tree`` in place to read per-reference relations carrying its harmless
    predicates; returns the relations the tree now reads. ``column_types`` is keyed by
    central table name."""
    by_alias = {r.alias: r for r in relations}
    counter = itertools.count()
    added: list[GovernedRelation] = []
    for select in list(tree.find_all(exp.Select)):
        where = select.args.get("where")
        if not isinstance(where, exp.Where):
            continue
        sources, single = _sources(select, by_alias)
        if not sources:
            continue
        projected = _aliases(select)
        pushed: dict[str, list[exp.Expr]] = {}
        for conjunct in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
            visible = _target(conjunct, sources, single, projected)
            if visible is None:
                continue
            relation = by_alias[sources[visible].name]
            if _harmless(conjunct, relation, column_types[relation.table]):
                pushed.setdefault(visible, []).append(conjunct)
        for visible, conjuncts in pushed.items():
            node = sources[visible]
            relation = by_alias[node.name]
            alias = f"{relation.alias}_{next(counter)}"
            select_ = relation.select.copy()
            policy = select_.args.get("where")
            terms = [policy.this] if isinstance(policy, exp.Where) else []
            terms.extend(_bound(c) for c in conjuncts)
            select_.set("where", exp.Where(this=exp.and_(*terms, copy=False)))
            added.append(GovernedRelation(alias, relation.table, relation.columns, select_))
            node.set("this", exp.to_identifier(alias, quoted=True))
    used = {t.name for t in tree.find_all(exp.Table)}
    return tuple(r for r in (*relations, *added) if r.alias in used)


def _sources(
    select: exp.Select, by_alias: Mapping[str, GovernedRelation]
) -> tuple[dict[str, exp.Table], bool]:
    """Governed relations of this SELECT that a WHERE conjunct may filter early, by the
    name the query uses for them; and whether the FROM clause is the only source."""
    from_ = select.args.get("from_")
    joins = select.args.get("joins") or []
    candidates: list[exp.Expr] = []
    if isinstance(from_, exp.From) and not any(
        j.side in ("RIGHT", "FULL") or j.kind not in ("", "INNER", "CROSS") for j in joins
    ):
        candidates.append(from_.this)
    candidates.extend(j.this for j in joins if not j.side and j.kind in ("", "INNER", "CROSS"))
    out: dict[str, exp.Table] = {}
    seen: set[str] = set()
    for node in candidates:
        if not (isinstance(node, exp.Table) and node.name.startswith(RELATION_PREFIX)):
            continue
        if node.name not in by_alias or node.args.get("db") or node.args.get("catalog"):
            continue
        visible = str(node.alias_or_name).lower()
        if visible in seen:  # the same visible name twice: ambiguous, push nothing
            out.pop(visible, None)
            continue
        seen.add(visible)
        out[visible] = node
    return out, not joins and len(out) == 1


def _aliases(select: exp.Select) -> set[str]:
    """Names this SELECT defines for expressions other than the same-named column (some
    dialects let WHERE use them, so an unqualified name might mean the alias)."""
    out = set()
    for projection in select.expressions:
        if isinstance(projection, exp.Alias):
            value = projection.this
            name = str(projection.alias).lower()
            if not (isinstance(value, exp.Column) and str(value.name).lower() == name):
                out.add(name)
    return out


def _target(
    conjunct: exp.Expr, sources: Mapping[str, exp.Table], single: bool, projected: set[str]
) -> str | None:
    """The one relation every column of ``conjunct`` belongs to, if that is certain."""
    targets: set[str] = set()
    for column in conjunct.find_all(exp.Column):
        qualifier = str(column.table).lower()
        if column.args.get("db") or column.args.get("catalog"):
            return None
        if qualifier:
            if qualifier not in sources:
                return None
            targets.add(qualifier)
        elif single and str(column.name).lower() not in projected:
            targets.add(next(iter(sources)))
        else:
            return None
    return targets.pop() if len(targets) == 1 else None


def _harmless(conjunct: exp.Expr, relation: GovernedRelation, types: Mapping[str, str]) -> bool:
    passthrough = _passthrough_columns(relation)
    for node in conjunct.walk():
        if isinstance(node, exp.And | exp.Or | exp.Not | exp.Paren):
            continue
        if isinstance(node, exp.Column | exp.Literal | exp.Null | exp.Identifier):
            continue  # checked as operands of their comparison
        if isinstance(node, exp.Is):
            if not (isinstance(node.this, exp.Column) and isinstance(node.expression, exp.Null)):
                return False
            if str(node.this.name).lower() not in passthrough:
                return False
            continue
        if isinstance(node, _COMPARISONS):
            operands = [node.this, node.expression]
        elif isinstance(node, exp.In):
            if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
                return False
            operands = [node.this, *node.expressions]
        elif isinstance(node, exp.Between):
            operands = [node.this, node.args.get("low"), node.args.get("high")]
        else:
            return False
        if not _column_vs_literals(node, operands, passthrough, types):
            return False
    return True


def _column_vs_literals(
    node: exp.Expr, operands: list[exp.Expr | None], passthrough: set[str], types: Mapping[str, str]
) -> bool:
    columns = [o for o in operands if isinstance(o, exp.Column)]
    literals = [o for o in operands if isinstance(o, exp.Literal)]
    if len(columns) != 1 or len(columns) + len(literals) != len(operands):
        return False
    if isinstance(node, exp.In | exp.Between) and operands[0] is not columns[0]:
        return False
    name = str(columns[0].name).lower()
    if name not in passthrough:
        return False
    kind = types.get(name, "")
    if kind in _STRING_TYPES:
        return all(lit.is_string for lit in literals)
    if kind.startswith(_INTEGER_PREFIXES):
        return all(lit.is_int and abs(int(lit.this)) < 2**63 for lit in literals)
    if kind.startswith(_FLOAT_PREFIXES):
        return all(lit.is_number for lit in literals)
    return False


def _passthrough_columns(relation: GovernedRelation) -> set[str]:
    """Columns the relation shows as they are (not masked, not cell-filtered)."""
    out = set()
    for projection in relation.select.expressions:
        value = projection.this if isinstance(projection, exp.Alias) else projection
        if (
            isinstance(value, exp.Column)
            and value.table == SOURCE
            and str(value.name) == str(projection.alias_or_name)
        ):
            out.add(str(value.name).lower())
    return out


def _bound(conjunct: exp.Expr) -> exp.Expr:
    """A copy of ``conjunct`` whose columns name the relation's own source columns."""

    def bind(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column):
            return exp.column(str(node.name).lower(), table=SOURCE, quoted=True)
        return node

    return conjunct.copy().transform(bind, copy=False)
