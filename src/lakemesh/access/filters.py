"""Row filters: a grant's boolean SQL condition, validated and bound to the table's columns.

A filter is policy, not a query. It may only compare the row's own columns with constants
through deterministic scalar functions, so that it means the same thing on every engine
and on every run, reads nothing but the row, and cannot be shadowed by names in the
consumer's SQL. Validation is an allowlist over sqlglot node classes and their arguments;
only the canonical text that sqlglot regenerates from the validated AST is ever stored
(SPEC invariant 4: nothing the user typed reaches SQL verbatim). Custom masks reuse the
same validator (``lakemesh.access.masks``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping

import sqlglot
from pydantic import model_validator
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.tokenizer_core import TokenType

from lakemesh.errors import InvalidFilter as InvalidFilter
from lakemesh.errors import InvalidInput
from lakemesh.typedef import Frozen

#: Longest policy text accepted from a user, in UTF-8 bytes.
MAX_LENGTH = 4096


_UNARY = frozenset({"this"})
_BINARY = frozenset({"this", "expression"})

#: Every node class a policy expression may contain, with the arguments it may carry.
#: Classes are matched exactly (not by isinstance): sqlglot subclasses allowed nodes freely.
NODES: dict[type[exp.Expr], frozenset[str]] = {
    exp.Column: _UNARY,
    exp.Identifier: frozenset({"this", "quoted"}),
    exp.Literal: frozenset({"this", "is_string"}),
    exp.Null: frozenset(),
    exp.Boolean: _UNARY,
    exp.Paren: _UNARY,
    exp.And: _BINARY,
    exp.Or: _BINARY,
    exp.Not: _UNARY,
    exp.EQ: _BINARY,
    exp.NEQ: _BINARY,
    exp.GT: _BINARY,
    exp.GTE: _BINARY,
    exp.LT: _BINARY,
    exp.LTE: _BINARY,
    exp.NullSafeEQ: _BINARY,
    exp.NullSafeNEQ: _BINARY,
    exp.Is: _BINARY,
    exp.Like: _BINARY,
    exp.ILike: _BINARY,
    exp.In: frozenset({"this", "expressions"}),
    exp.Between: frozenset({"this", "low", "high"}),
    exp.Add: _BINARY,
    exp.Sub: _BINARY,
    exp.Mul: _BINARY,
    exp.Div: _BINARY,
    exp.Mod: _BINARY,
    exp.Neg: _UNARY,
    exp.DPipe: frozenset({"this", "expression", "safe"}),
    exp.Case: frozenset({"this", "ifs", "default"}),
    exp.If: frozenset({"this", "true", "false"}),
    exp.Coalesce: frozenset({"this", "expressions"}),
    exp.Nullif: _BINARY,
    exp.Cast: frozenset({"this", "to"}),
    exp.TryCast: frozenset({"this", "to", "safe"}),
    exp.DataType: frozenset({"this", "expressions"}),
    exp.DataTypeParam: _UNARY,
    exp.Var: _UNARY,
}

#: The scalar functions: deterministic, and spelled alike (after sqlglot) on DuckDB and Spark.
FUNCTIONS: dict[type[exp.Expr], frozenset[str]] = {
    exp.Lower: _UNARY,
    exp.Upper: _UNARY,
    exp.Trim: _UNARY,
    exp.Length: _UNARY,
    exp.Substring: frozenset({"this", "start", "length"}),
    exp.Left: _BINARY,
    exp.Right: _BINARY,
    exp.Concat: frozenset({"expressions", "safe"}),
    exp.Abs: _UNARY,
    exp.Round: frozenset({"this", "decimals"}),
    exp.Floor: _UNARY,
    exp.Ceil: _UNARY,
    exp.Year: _UNARY,
    exp.Month: _UNARY,
    exp.Day: _UNARY,
    exp.Extract: _BINARY,
}

_T = exp.DataType.Type
#: Types a CAST may target.
CAST_TYPES = frozenset(
    {
        _T.BOOLEAN,
        _T.TINYINT,
        _T.SMALLINT,
        _T.INT,
        _T.BIGINT,
        _T.FLOAT,
        _T.DOUBLE,
        _T.DECIMAL,
        _T.VARCHAR,
        _T.TEXT,
        _T.DATE,
        _T.TIMESTAMP,
    }
)
#: Units EXTRACT may take.
EXTRACT_UNITS = frozenset({"YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND"})

#: Refusals worth a precise reason, checked over the whole tree before the allowlist.
_REFUSED: tuple[tuple[tuple[type[exp.Expr], ...], str], ...] = (
    ((exp.Query, exp.Subquery, exp.Exists, exp.Any, exp.All), "subqueries are not allowed"),
    ((exp.Window,), "window functions are not allowed"),
    ((exp.AggFunc,), "aggregate functions are not allowed"),
    ((exp.Table,), "table references are not allowed"),
    ((exp.Star,), "* is not allowed"),
    (
        (exp.Placeholder, exp.Parameter, exp.SessionParameter),
        "parameters and placeholders are not allowed",
    ),
)

#: Roots that are (or are refused as) expressions; any other root is a statement.
_EXPRESSION_ROOTS = (exp.Condition, exp.Subquery, exp.Star, exp.Table, exp.Alias)

_PREDICATES = (
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.NullSafeEQ,
    exp.NullSafeNEQ,
    exp.Is,
    exp.Like,
    exp.ILike,
    exp.In,
    exp.Between,
    exp.Boolean,
)
_BOOL_TYPES = frozenset({"bool", "boolean"})


def parse_expression(
    text: str,
    columns: Mapping[str, str] | None,
    *,
    what: str = "row filter",
    error: type[InvalidInput] = InvalidFilter,
    predicate: bool = False,
    max_length: int | None = MAX_LENGTH,
) -> tuple[exp.Expr, frozenset[str]]:
    """Parse and validate one policy expression; return its canonical AST and its columns.

    ``columns`` maps the allowed column names to their Arrow type strings (None: any
    unqualified name, for re-checking stored canonical text). Column references come
    back lower case and quoted. Every refusal is ``error`` with a one-line reason
    prefixed by ``what``.
    """
    tree = _parse(text, what, error, max_length)
    types = None if columns is None else {k.lower(): v for k, v in columns.items()}
    try:
        _refuse_known(tree, what, error)
        used = _check(tree, types, what, error)
        if predicate and not _is_predicate(tree, types):
            raise error(f"{what}: must be a boolean condition")
    except RecursionError:
        raise error(f"{what}: nested too deeply") from None
    return tree, used


def canonical_sql(tree: exp.Expr, *, error: type[InvalidInput] = InvalidFilter) -> str:
    """The dialect-neutral text of a validated AST; the only form that is ever stored."""
    try:
        return tree.sql(comments=False)
    except (SqlglotError, RecursionError):
        raise error("policy expression: cannot be rendered as SQL") from None


def replace_columns(tree: exp.Expr, make: Callable[[str], exp.Expr]) -> exp.Expr:
    """Replace every column reference (by its canonical name) with ``make(name)``, in place."""

    def swap(node: exp.Expr) -> exp.Expr:
        return make(node.name) if isinstance(node, exp.Column) else node

    return tree.transform(swap, copy=False)


class RowFilter(Frozen):
    """A validated row filter; construct it with ``parse_row_filter`` (also when loading
    stored text, so that it is re-bound to the table's current schema)."""

    #: Canonical, dialect-neutral SQL regenerated by sqlglot from the validated AST.
    sql: str
    #: The column names it reads, lower case.
    columns: frozenset[str]

    @model_validator(mode="after")
    def _still_valid(self) -> RowFilter:
        # Whatever built this instance (a store row, JSON), it must hold canonical text.
        if _structural(self.sql)[1] != self.columns:
            raise InvalidFilter("row filter: column list does not match its text")
        return self

    def expression(self) -> exp.Expr:
        """A fresh AST, re-validated from the stored text (it is the only source of truth)."""
        return _structural(self.sql)[0]

    def bind(self, table: str | None = None) -> exp.Expr:
        """The AST with every column quoted and, given ``table``, qualified by that alias,
        so that no CTE, alias or outer column of the consumer's SQL can shadow it."""
        return _bound(self.sql, table).copy()


@functools.lru_cache(maxsize=4096)
def _bound(sql: str, table: str | None) -> exp.Expr:
    """``RowFilter.bind`` once per (text, alias); callers copy the cached tree."""
    return replace_columns(
        _structural(sql)[0], lambda name: exp.column(name, table=table, quoted=True)
    )


def parse_row_filter(text: str, columns: Mapping[str, str]) -> RowFilter:
    """Validate ``text`` as a boolean condition over ``columns`` (name -> Arrow type)."""
    tree, _ = parse_expression(text, columns, predicate=True)
    return _make(tree)


def from_canonical(sql: str) -> RowFilter:
    """A filter stored earlier (already validated against its table), re-checked
    structurally; use ``parse_row_filter`` instead when the table's columns are at hand."""
    return _make(_structural(sql)[0])


def any_of(filters: Iterable[RowFilter | None]) -> RowFilter | None:
    """Union (OR): a row is visible if any grant's filter admits it. ``None`` means
    unfiltered, so one unfiltered grant makes the union unfiltered; no filter at all
    admits nothing (FALSE), failing closed."""
    items = list(filters)
    if any(f is None for f in items):
        return None
    return _any_of_texts(tuple(sorted({f.sql for f in items if f is not None})))


@functools.lru_cache(maxsize=4096)
def _any_of_texts(texts: tuple[str, ...]) -> RowFilter | None:
    """The union of canonical filters, once per distinct set (a rewrite asks per column)."""
    return _combine([from_canonical(t) for t in texts], exp.or_, exp.false())


def all_of(filters: Iterable[RowFilter | None]) -> RowFilter | None:
    """Intersection (AND), e.g. a delegated grant bounded by its parent; ``None``
    (unfiltered) inputs are ignored, and all-``None`` stays unfiltered."""
    conjuncts = [c for f in filters if f is not None for c in _conjuncts(f)]
    return _combine(conjuncts, exp.and_, None)


def _conjuncts(f: RowFilter) -> list[RowFilter]:
    """``a AND (b AND c)`` -> a, b, c: so that bounding a filter by one it already
    contains (a delegated grant by its parent) does not repeat it."""
    tree = f.expression()
    while isinstance(tree, exp.Paren):
        tree = tree.this
    if not isinstance(tree, exp.And):
        return [f]
    parts = []
    for part in tree.flatten():
        while isinstance(part, exp.Paren):
            part = part.this
        parts.append(_make(part))
    return parts


# --------------------------------------------------------------------------- internals


def _combine(
    items: list[RowFilter],
    join: Callable[..., exp.Expr],
    empty: exp.Expr | None,
) -> RowFilter | None:
    unique = sorted({f.sql: f for f in items}.values(), key=lambda f: f.sql)
    if not unique:
        return None if empty is None else _make(empty)
    if len(unique) == 1:
        return unique[0]
    return _make(join(*(f.expression() for f in unique), copy=False))


def _make(tree: exp.Expr) -> RowFilter:
    sql = canonical_sql(tree)
    _, used = _structural(sql)
    return RowFilter.model_construct(sql=sql, columns=used)


def _structural(sql: str) -> tuple[exp.Expr, frozenset[str]]:
    """Re-validate canonical text without a schema; it must regenerate to itself. The
    check is a pure function of the text, so it runs once per text; callers get their
    own copy of the tree (trees are mutable)."""
    tree, used = _structural_once(sql)
    return tree.copy(), used


@functools.lru_cache(maxsize=4096)
def _structural_once(sql: str) -> tuple[exp.Expr, frozenset[str]]:
    tree, used = parse_expression(sql, None, predicate=True, max_length=None)
    if canonical_sql(tree) != sql:
        raise InvalidFilter("row filter: text is not in canonical form")
    return tree, used


def _parse(text: str, what: str, error: type[InvalidInput], max_length: int | None) -> exp.Expr:
    if not isinstance(text, str):
        raise error(f"{what}: expected SQL text")
    if max_length is not None and len(text.encode("utf-8", "surrogatepass")) > max_length:
        raise error(f"{what}: longer than {max_length} bytes")
    if not text.strip():
        raise error(f"{what}: empty")
    try:
        if any(t.token_type == TokenType.SEMICOLON for t in sqlglot.tokenize(text)):
            raise error(f"{what}: ';' and multiple statements are not allowed")
        trees = sqlglot.parse(text)
    except ParseError as e:
        first = e.errors[0] if e.errors else {}
        reason = " ".join(str(first.get("description") or "cannot parse").split())
        where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
        raise error(f"{what}: syntax error{where}: {reason}") from None
    except SqlglotError:
        raise error(f"{what}: syntax error") from None
    except RecursionError:
        raise error(f"{what}: nested too deeply") from None
    if len(trees) != 1 or trees[0] is None:
        raise error(f"{what}: expected exactly one expression")
    return trees[0]


def _refuse_known(tree: exp.Expr, what: str, error: type[InvalidInput]) -> None:
    if isinstance(tree, exp.Query) or not isinstance(tree, _EXPRESSION_ROOTS):
        raise error(f"{what}: statements are not allowed, only one expression")
    for node in tree.dfs():
        for kinds, reason in _REFUSED:
            if isinstance(node, kinds):
                raise error(f"{what}: {reason}")
        if isinstance(node, exp.Anonymous):
            raise error(f"{what}: function {node.name.lower()} is not allowed")


def _check(
    tree: exp.Expr,
    types: Mapping[str, str] | None,
    what: str,
    error: type[InvalidInput],
) -> frozenset[str]:
    """The allowlist walk; canonicalises column identifiers in place as it goes."""
    used: set[str] = set()
    for node in tree.dfs():
        node.comments = None
        kind = type(node)
        allowed = NODES.get(kind, FUNCTIONS.get(kind))
        if allowed is None:
            name = node.sql_name() if isinstance(node, exp.Func) else node.key
            noun = "function " if isinstance(node, exp.Func) else ""
            raise error(f"{what}: {noun}{name.lower()} is not allowed")
        if isinstance(node, exp.Column):
            used.add(_column(node, types, what, error))
            continue
        for key, value in node.args.items():
            if key not in allowed and _present(value):
                raise error(f"{what}: {node.key.upper()} with {key} is not allowed")
        _check_placement(node, what, error)
    return frozenset(used)


def _column(
    node: exp.Column, types: Mapping[str, str] | None, what: str, error: type[InvalidInput]
) -> str:
    if any(_present(v) for k, v in node.args.items() if k != "this"):
        raise error(f"{what}: qualified column references are not allowed (use the bare name)")
    ident = node.this
    if not isinstance(ident, exp.Identifier):
        raise error(f"{what}: invalid column reference")
    name = str(ident.this).lower()
    if types is not None and name not in types:
        raise error(f"{what}: unknown column {name!r}")
    ident.set("this", name)
    ident.set("quoted", True)
    return name


def _check_placement(node: exp.Expr, what: str, error: type[InvalidInput]) -> None:
    """Helper nodes are only harmless in their one expected place."""
    parent, key = node.parent, node.arg_key
    if isinstance(node, exp.Identifier):
        ok = isinstance(parent, exp.Column)
    elif isinstance(node, exp.Var):
        ok = (
            isinstance(parent, exp.Extract) and key == "this" and node.name.upper() in EXTRACT_UNITS
        )
    elif isinstance(node, exp.DataType):
        ok = isinstance(parent, exp.Cast) and key == "to" and node.this in CAST_TYPES
    elif isinstance(node, exp.DataTypeParam):
        ok = isinstance(parent, exp.DataType) and _is_number(node.this)
    elif isinstance(node, exp.Is):
        if not isinstance(node.expression, exp.Null | exp.Boolean):
            raise error(f"{what}: IS only takes NULL, TRUE or FALSE")
        return
    else:
        return
    if not ok:
        raise error(f"{what}: {node.sql(comments=False)!r} is not allowed here")


def _is_predicate(root: exp.Expr, types: Mapping[str, str] | None) -> bool:
    """Best effort, from the top: does this evaluate to a boolean? Iterative, because
    combined grants make long AND/OR chains."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.Paren | exp.Not):
            stack.append(node.this)
        elif isinstance(node, exp.And | exp.Or):
            stack.extend((node.this, node.expression))
        elif isinstance(node, exp.Case):
            branches = [i.args.get("true") for i in node.args.get("ifs") or []]
            branches.append(node.args.get("default"))
            stack.extend(b for b in branches if b is not None and not isinstance(b, exp.Null))
        elif isinstance(node, exp.Column):
            if types is not None and types.get(node.name) not in _BOOL_TYPES:
                return False
        elif isinstance(node, exp.Cast):
            if node.to.this != _T.BOOLEAN:
                return False
        elif not isinstance(node, _PREDICATES):
            return False
    return True


def _is_number(node: object) -> bool:
    return isinstance(node, exp.Literal) and not node.is_string


def _present(value: object) -> bool:
    return value is not None and value is not False and value != []
