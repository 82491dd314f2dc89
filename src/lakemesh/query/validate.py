"""Parse and validate a consumer's query before any policy is looked at.

Validation is an allowlist: every node of the parsed tree must be of a class named here
(matched exactly, not by isinstance: sqlglot subclasses allowed nodes freely), structural
nodes may only carry the arguments listed here, and every function must be allowlisted
by class *and* by name. A small table of known refusals runs first, so that the common
bypasses (table functions, file paths, EXPLAIN, parameters...) get a precise reason for
the audit log. The stages are a tuple of small rules (``RULES``), run in order.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.tokenizer_core import TokenType

from lakemesh.errors import InvalidInput
from lakemesh.filters import CAST_TYPES, EXTRACT_UNITS, FUNCTIONS, NODES

#: Longest query text accepted, in UTF-8 bytes.
MAX_QUERY_BYTES = 100_000
#: Names starting with this prefix belong to the rewriter (relation aliases, the source).
RESERVED_PREFIX = "__lm_"
#: A relation name part: what a central catalog name can be (quoted or not).
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,127}")


class QueryRefused(InvalidInput):
    """The consumer's query was refused; the message is a one-line reason for the audit
    log (consumers are shown a generic message and a correlation id)."""


Rule = Callable[[exp.Expr], None]

# --------------------------------------------------------------------------- allowlists

#: Query structure, with the arguments each node may carry (None: any argument).
STRUCTURE: dict[type[exp.Expr], frozenset[str] | None] = {
    exp.Select: frozenset(
        {
            "with_",
            "expressions",
            "distinct",
            "from_",
            "joins",
            "where",
            "group",
            "having",
            "qualify",
            "windows",
            "order",
            "limit",
            "offset",
        }
    ),
    exp.Union: frozenset(
        {"with_", "this", "expression", "distinct", "by_name", "order", "limit", "offset"}
    ),
    exp.Intersect: frozenset(
        {"with_", "this", "expression", "distinct", "by_name", "order", "limit", "offset"}
    ),
    exp.Except: frozenset(
        {"with_", "this", "expression", "distinct", "by_name", "order", "limit", "offset"}
    ),
    exp.Subquery: frozenset({"this", "alias"}),
    exp.With: frozenset({"expressions", "recursive"}),
    exp.CTE: frozenset({"this", "alias", "materialized"}),
    exp.From: frozenset({"this"}),
    exp.Join: frozenset({"this", "on", "side", "kind", "using", "method"}),
    exp.Table: frozenset({"this", "alias", "db", "catalog"}),
    exp.TableAlias: frozenset({"this", "columns"}),
    exp.Column: frozenset({"this", "table", "db", "catalog"}),
    exp.Star: frozenset({"except_", "replace", "rename"}),
    exp.Alias: frozenset({"this", "alias"}),
    exp.Where: frozenset({"this"}),
    exp.Group: frozenset({"expressions", "all"}),
    exp.Having: frozenset({"this"}),
    exp.Qualify: frozenset({"this"}),
    exp.Order: frozenset({"this", "expressions"}),  # this: string_agg(x, ',' ORDER BY x)
    exp.Ordered: None,
    exp.Limit: frozenset({"expression"}),
    exp.Offset: frozenset({"expression"}),
    exp.Distinct: frozenset({"expressions"}),
    exp.Window: None,
    exp.WindowSpec: None,
    exp.Exists: frozenset({"this"}),
    exp.Tuple: frozenset({"expressions"}),
    exp.Filter: frozenset({"this", "expression"}),
    exp.Interval: frozenset({"this", "unit"}),
    exp.IntDiv: frozenset({"this", "expression"}),
}

#: Aggregate functions (also usable as window functions).
AGGREGATES: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Count,
        exp.Sum,
        exp.Avg,
        exp.Min,
        exp.Max,
        exp.Stddev,
        exp.StddevPop,
        exp.StddevSamp,
        exp.Variance,
        exp.VariancePop,
        exp.Median,
        exp.ApproxDistinct,
        exp.GroupConcat,
        exp.LogicalAnd,
        exp.LogicalOr,
    }
)

#: Functions only valid with OVER.
WINDOW_FUNCTIONS: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.RowNumber,
        exp.Rank,
        exp.DenseRank,
        exp.Lag,
        exp.Lead,
        exp.FirstValue,
        exp.LastValue,
        exp.Ntile,
    }
)

#: Deterministic scalar functions beyond the row filters' own (``filters.FUNCTIONS``).
SCALARS: frozenset[type[exp.Expr]] = frozenset(
    {
        *FUNCTIONS,
        exp.Greatest,
        exp.Least,
        exp.Sqrt,
        exp.Ln,
        exp.Exp,
        exp.Pow,
        exp.Sign,
        exp.StrPosition,
        exp.Replace,
        exp.DateTrunc,
        exp.TimestampTrunc,
        exp.Coalesce,
        exp.Nullif,
    }
)

#: Functions sqlglot does not model (``exp.Anonymous``) that may still be called, by name.
ANONYMOUS_FUNCTIONS: frozenset[str] = frozenset()

#: Names refused wherever they appear as a function (belt and braces over the allowlist:
#: these read files, settings, engine state or raise on purpose).
DENIED_FUNCTION_NAMES = frozenset(
    {
        "stats",
        "current_setting",
        "getvariable",
        "getenv",
        "query",
        "query_table",
        "glob",
        "error",
        "nextval",
        "currval",
        "setseed",
        "random",
    }
)
DENIED_FUNCTION_PREFIXES = ("read_", "duckdb_", "pragma_", "sqlite_", "parquet_", "iceberg_")

#: Types a CAST may target.
QUERY_CAST_TYPES = CAST_TYPES | {
    exp.DataType.Type.TIMESTAMPTZ,
    exp.DataType.Type.TIME,
    exp.DataType.Type.INT128,
    exp.DataType.Type.UTINYINT,
    exp.DataType.Type.USMALLINT,
    exp.DataType.Type.UINT,
    exp.DataType.Type.UBIGINT,
}
#: Units INTERVAL, EXTRACT and DATE_TRUNC may take.
UNITS = EXTRACT_UNITS | {"MILLISECOND", "MICROSECOND", "DECADE", "CENTURY", "MILLENNIUM"}

FUNCTION_CLASSES: frozenset[type[exp.Expr]] = AGGREGATES | WINDOW_FUNCTIONS | SCALARS
ALLOWED: frozenset[type[exp.Expr]] = frozenset(
    {*STRUCTURE, *NODES, *FUNCTION_CLASSES, exp.Anonymous}
)

#: Refusals worth a precise reason, checked over the whole tree before the allowlist.
_KNOWN: tuple[tuple[tuple[type[exp.Expr], ...], str], ...] = (
    ((exp.Command,), "only SELECT queries are allowed"),
    (
        (exp.Placeholder, exp.Parameter, exp.SessionParameter),
        "parameters and placeholders are not allowed",
    ),
    ((exp.Into,), "SELECT INTO is not allowed"),
    ((exp.Lock,), "locking clauses are not allowed"),
    ((exp.TableSample,), "TABLESAMPLE is not allowed"),
    ((exp.Pivot,), "PIVOT and UNPIVOT are not allowed"),
    ((exp.Lateral,), "LATERAL is not allowed"),
    ((exp.Unnest,), "UNNEST is not allowed"),
    ((exp.Values,), "VALUES is not allowed"),
    ((exp.Columns,), "COLUMNS(...) is not allowed"),
    ((exp.HistoricalData,), "time travel is not allowed"),
)

# --------------------------------------------------------------------------- parse


def parse_query(sql: str, dialect: str = "duckdb") -> exp.Expr:
    """Exactly one statement, parsed with ``dialect``; a single trailing ';' is tolerated."""
    if not isinstance(sql, str):
        raise QueryRefused("query: expected SQL text")
    if len(sql.encode("utf-8", "surrogatepass")) > MAX_QUERY_BYTES:
        raise QueryRefused(f"query: longer than {MAX_QUERY_BYTES} bytes")
    if not sql.strip():
        raise QueryRefused("query: empty")
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
        semis = [i for i, t in enumerate(tokens) if t.token_type == TokenType.SEMICOLON]
        if semis and semis != [len(tokens) - 1]:
            raise QueryRefused("query: multiple statements are not allowed")
        trees = sqlglot.parse(sql, read=dialect)
    except ParseError as e:
        first = e.errors[0] if e.errors else {}
        reason = " ".join(str(first.get("description") or "cannot parse").split())
        raise QueryRefused(f"query: syntax error: {reason}") from None
    except SqlglotError:
        raise QueryRefused("query: syntax error") from None
    except RecursionError:
        raise QueryRefused("query: nested too deeply") from None
    statements = [t for t in trees if t is not None]
    if len(statements) != 1:
        raise QueryRefused("query: exactly one statement is allowed")
    return statements[0]


# --------------------------------------------------------------------------- rules


def only_queries(tree: exp.Expr) -> None:
    """The root is a SELECT or a set operation (possibly parenthesised)."""
    root = tree
    while isinstance(root, exp.Subquery):
        root = root.this
    if type(root) not in (exp.Select, exp.Union, exp.Intersect, exp.Except):
        kind = root.key.upper() if isinstance(root, exp.Expr) else "statement"
        raise QueryRefused(f"only SELECT queries are allowed, not {kind}")


def known_refusals(tree: exp.Expr) -> None:
    for node in tree.dfs():
        for kinds, reason in _KNOWN:
            if isinstance(node, kinds):
                raise QueryRefused(reason)


def relations(tree: exp.Expr) -> None:
    """Every relation is a plain name: no table function, no file path, no reserved name."""
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            name = table.this.sql_name() if isinstance(table.this, exp.Func) else "expression"
            raise QueryRefused(
                f"table functions are not allowed ({function_name(table.this) or name})"
            )
        for part in table.parts:
            text = str(part.this)
            if not _NAME.fullmatch(text.lower()):
                raise QueryRefused(f"{text!r} is not a table name (files and paths cannot be read)")


def functions(tree: exp.Expr) -> None:
    """Every function allowlisted by class and by name; windows only over allowed ones."""
    for node in tree.find_all(exp.Func):
        name = function_name(node)
        if name in DENIED_FUNCTION_NAMES or name.startswith(DENIED_FUNCTION_PREFIXES):
            raise QueryRefused(f"function {name} is not allowed")
        if isinstance(node, exp.Anonymous):
            if name not in ANONYMOUS_FUNCTIONS:
                raise QueryRefused(f"function {name} is not allowed")
        elif not (
            type(node) in FUNCTION_CLASSES or type(node) in NODES or type(node) is exp.Exists
        ):
            raise QueryRefused(f"function {name} is not allowed")
        if type(node) in WINDOW_FUNCTIONS and not isinstance(node.parent, exp.Window):
            raise QueryRefused(f"function {name} needs OVER (...)")
    for window in tree.find_all(exp.Window):
        if window.arg_key == "windows":  # a named window definition: WINDOW w AS (...)
            continue
        inner = window.this
        if isinstance(inner, exp.Filter):
            inner = inner.this
        if type(inner) not in WINDOW_FUNCTIONS and type(inner) not in AGGREGATES:
            raise QueryRefused(f"function {function_name(inner)} cannot be used with OVER")


def allowlisted_nodes(tree: exp.Expr) -> None:
    """Every node of an allowlisted class, carrying only allowlisted arguments."""
    for node in tree.dfs():
        node.comments = None
        kind = type(node)
        if kind not in ALLOWED:
            raise QueryRefused(f"{node.key.upper()} is not allowed")
        allowed = STRUCTURE.get(kind)
        if allowed is not None:
            for key, value in node.args.items():
                if key not in allowed and _present(value):
                    raise QueryRefused(f"{node.key.upper()} with {key.rstrip('_')} is not allowed")
        _placement(node)


def reserved_names(tree: exp.Expr) -> None:
    for ident in tree.find_all(exp.Identifier):
        if str(ident.this).lower().startswith(RESERVED_PREFIX):
            raise QueryRefused(f"names starting with {RESERVED_PREFIX} are reserved")


#: The validation pipeline, in order.
RULES: tuple[Rule, ...] = (
    only_queries,
    known_refusals,
    relations,
    functions,
    allowlisted_nodes,
    reserved_names,
)


def validate(tree: exp.Expr) -> exp.Expr:
    """Run every rule; refusals are ``QueryRefused`` with a one-line reason."""
    try:
        for rule in RULES:
            rule(tree)
    except RecursionError:
        raise QueryRefused("query: nested too deeply") from None
    return tree


# --------------------------------------------------------------------------- helpers


def function_name(node: exp.Expr) -> str:
    """The lower-case name a function was called by (an Anonymous keeps what was written)."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return node.key.lower()


def _placement(node: exp.Expr) -> None:
    """Helper nodes are only harmless in their expected places."""
    parent = node.parent
    if isinstance(node, exp.Var):
        unit = isinstance(parent, exp.Extract | exp.Interval | exp.DateTrunc | exp.TimestampTrunc)
        ok = (unit and node.name.upper() in UNITS) or (
            isinstance(parent, exp.Ordered) and node.name.upper() == "ALL"  # ORDER BY ALL
        )
        if not ok:
            raise QueryRefused(f"{node.name!r} is not allowed here")
    elif isinstance(node, exp.DataType):
        if not (isinstance(parent, exp.Cast | exp.TryCast) and node.this in QUERY_CAST_TYPES):
            raise QueryRefused(f"type {node.sql(comments=False)} is not allowed here")
    elif isinstance(node, exp.DataTypeParam) and not (
        isinstance(parent, exp.DataType) and isinstance(node.this, exp.Literal)
    ):
        raise QueryRefused("type parameters must be numbers")


def _present(value: object) -> bool:
    return value is not None and value is not False and value != []
