"""Parse and validate a consumer's query before any policy is looked at.

Validation has two halves:

* **Structure** is an allowlist: every node that is not a function call must be of a
  class named here (matched exactly, not by isinstance: sqlglot subclasses allowed nodes
  freely), and structural nodes may only carry the arguments listed here. A small table
  of known refusals runs first, so that the common bypasses (file paths, EXPLAIN,
  parameters...) get a precise reason.
* **Functions** follow the engine's classification (``lakemesh.engines.functions``): each
  call is named the way the target engine will see it (sqlglot renders the node in that
  engine's dialect) and looked up there; a function the engine does not offer, or one
  that reaches past the row, is refused with its reason. On Spark, a construct sqlglot
  cannot translate is refused by name.

The consumer's SQL is DuckDB's dialect on every engine (one query language for the
mesh, translated to Spark by sqlglot); on Spark, SQL that only Spark's dialect parses is
accepted too. Every refusal here depends only on the query text, so its reason can be
shown to the consumer; what depends on hidden state (tables, columns) is decided later
and stays generic (SPEC 2.8).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError, UnsupportedError
from sqlglot.tokenizer_core import TokenType

from lakemesh.access.filters import EXTRACT_UNITS, NODES
from lakemesh.engines.functions import ENGINES, FunctionPolicy, FunctionRefused, policy
from lakemesh.errors import QueryRefused as QueryRefused
from lakemesh.errors import first_line
from lakemesh.sqltree import SYNTAX_CALLS, call_name

# sqlglot logs a warning when it falls back to parsing a statement as a Command (EXPLAIN,
# PRAGMA...); the validator refuses those with its own one-line reason. Without a handler
# of its own, Python's last-resort handler would print the warning as a second stderr line.
logging.getLogger("sqlglot").addHandler(logging.NullHandler())

#: Longest query text accepted, in UTF-8 bytes.
MAX_QUERY_BYTES = 100_000
#: Names starting with this prefix belong to the rewriter (relation aliases, the source).
RESERVED_PREFIX = "__lm_"
#: A relation name part: what a central catalog name can be (quoted or not).
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,127}")
_CLASS = re.compile(r"<class '(?:[\w]+\.)*(\w+)'>")
#: The name a function call is rendered with: ``NAME(`` at the start of its SQL.


Rule = Callable[[exp.Expr, FunctionPolicy], None]

# --------------------------------------------------------------------------- allowlists

_SET_OPERATION = frozenset(
    {"with_", "this", "expression", "distinct", "by_name", "order", "limit", "offset"}
)

#: Query structure, with the arguments each node may carry (None: any argument).
STRUCTURE: dict[type[exp.Expr], frozenset[str] | None] = {
    exp.Select: frozenset(
        {
            "with_",
            "expressions",
            "distinct",
            "from_",
            "joins",
            "laterals",
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
    exp.Union: _SET_OPERATION,
    exp.Intersect: _SET_OPERATION,
    exp.Except: _SET_OPERATION,
    exp.Subquery: frozenset({"this", "alias", "pivots"}),
    exp.With: frozenset({"expressions", "recursive"}),
    exp.CTE: frozenset({"this", "alias", "materialized"}),
    exp.From: frozenset({"this"}),
    exp.Join: frozenset({"this", "on", "side", "kind", "using", "method"}),
    exp.Table: frozenset({"this", "alias", "db", "catalog", "pivots", "joins"}),
    exp.TableAlias: frozenset({"this", "columns"}),
    exp.Column: frozenset({"this", "table", "db", "catalog"}),
    exp.Star: frozenset({"except_", "replace", "rename"}),
    exp.Alias: frozenset({"this", "alias"}),
    exp.Aliases: frozenset({"this", "expressions"}),
    exp.Where: frozenset({"this"}),
    exp.Group: frozenset({"expressions", "all", "grouping_sets", "cube", "rollup"}),
    exp.Cube: frozenset({"expressions"}),
    exp.Rollup: frozenset({"expressions"}),
    exp.GroupingSets: frozenset({"expressions"}),
    exp.Having: frozenset({"this"}),
    exp.Qualify: frozenset({"this"}),
    exp.Order: frozenset({"this", "expressions"}),  # this: string_agg(x, ',' ORDER BY x)
    exp.Ordered: None,
    exp.Limit: frozenset({"expression"}),
    exp.Offset: frozenset({"expression"}),
    exp.Fetch: frozenset({"direction", "count"}),
    exp.Distinct: frozenset({"expressions", "on"}),
    exp.Window: None,
    exp.WindowSpec: None,
    exp.Exists: frozenset({"this"}),
    exp.Any: frozenset({"this"}),
    exp.All: frozenset({"this"}),
    exp.Tuple: frozenset({"expressions"}),
    exp.Filter: frozenset({"this", "expression"}),
    exp.Interval: frozenset({"this", "unit"}),
    exp.IntDiv: frozenset({"this", "expression"}),
    exp.Values: frozenset({"expressions", "alias"}),
    exp.Lateral: frozenset({"this", "view", "outer", "alias", "cross_apply", "ordinality"}),
    exp.Pivot: None,  # its parts are expressions and names, checked like any other
    exp.UnpivotColumns: frozenset({"this", "expressions"}),
    exp.PivotAlias: frozenset({"this", "alias"}),
    exp.Unnest: frozenset({"expressions", "alias", "offset", "explode_array"}),
    exp.Columns: frozenset({"this", "unpack"}),
    exp.Lambda: frozenset({"this", "expressions", "colon"}),
    exp.WithinGroup: frozenset({"this", "expression"}),
}

#: Expression nodes that only compute from their children: operators, literals, nested
#: access (``tags[1]``, ``o.addr.street``, ``addr['zip']``), list and struct literals.
EXPRESSIONS: frozenset[type[exp.Expr]] = frozenset(
    {
        *NODES,
        exp.Bracket,
        exp.Dot,
        exp.Slice,
        exp.Array,
        exp.Struct,
        exp.PropertyEQ,
        exp.Kwarg,
        exp.ColumnDef,
        exp.SimilarTo,
        exp.Glob,
        exp.Escape,
        exp.Collate,
        exp.BitwiseAnd,
        exp.BitwiseOr,
        exp.BitwiseXor,
        exp.BitwiseNot,
        exp.BitwiseLeftShift,
        exp.BitwiseRightShift,
        exp.IgnoreNulls,
        exp.RespectNulls,
        exp.RawString,
        exp.ByteString,
        exp.HexString,
        exp.BitString,
        exp.National,
        exp.JSONPath,
        exp.JSONPathKey,
        exp.JSONPathRoot,
        exp.JSONPathSubscript,
        exp.JSONPathWildcard,
        exp.JSONPathSlice,
        exp.JSONPathUnion,
        exp.JSONPathFilter,
        exp.JSONPathScript,
        exp.JSONPathSelector,
        exp.JSONPathRecursive,
    }
)

#: Units INTERVAL, EXTRACT, DATE_TRUNC, DATE_DIFF and friends may take.
UNITS = EXTRACT_UNITS | {
    "MILLISECOND",
    "MICROSECOND",
    "NANOSECOND",
    "DECADE",
    "CENTURY",
    "MILLENNIUM",
    "DOW",
    "DOY",
    "ISODOW",
    "ISOYEAR",
    "YEARWEEK",
    "EPOCH",
    "WEEKDAY",
    "DAYOFWEEK",
    "DAYOFYEAR",
    "ERA",
    "TIMEZONE",
    "TIMEZONE_HOUR",
    "TIMEZONE_MINUTE",
    "YEARS",
    "MONTHS",
    "DAYS",
    "HOURS",
    "MINUTES",
    "SECONDS",
    "WEEKS",
    "QUARTERS",
    "MILLISECONDS",
    "MICROSECONDS",
}

ALLOWED: frozenset[type[exp.Expr]] = frozenset({*STRUCTURE, *EXPRESSIONS})

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
    ((exp.HistoricalData,), "time travel is not allowed"),
)

#: What has no Spark equivalent sqlglot can produce; refused by name on Spark.
_NOT_ON_SPARK: tuple[tuple[Callable[[exp.Expr], bool], str], ...] = (
    (lambda n: isinstance(n, exp.Columns), "COLUMNS(...)"),
    (lambda n: isinstance(n, exp.SimilarTo), "SIMILAR TO (use regexp_full_match)"),
    (
        lambda n: isinstance(n, exp.Star) and bool(n.args.get("replace") or n.args.get("rename")),
        "* REPLACE and * RENAME",
    ),
    (lambda n: isinstance(n, exp.Pivot) and n.args.get("using") is not None, "PIVOT ... USING"),
    (lambda n: isinstance(n, exp.Pivot) and n.args.get("into") is not None, "UNPIVOT ... INTO"),
    (
        # Spark runs a lateral subquery only over deterministic relations, and a governed
        # relation ends in an optimisation barrier that Spark counts as non-deterministic.
        lambda n: isinstance(n, exp.Lateral) and n.find(exp.Table) is not None,
        "a LATERAL subquery that reads a table",
    ),
)

# --------------------------------------------------------------------------- parse


def parse_query(sql: str, dialect: str = "duckdb") -> exp.Expr:
    """Exactly one statement in DuckDB's dialect; on Spark (``dialect="spark"``), SQL
    only Spark's dialect parses is accepted too. A single trailing ';' is tolerated."""
    try:
        return _parse_text(sql, dialect)
    except QueryRefused as e:
        e.public = str(e)  # parsing reads the query text only
        raise


def _parse_text(sql: str, dialect: str) -> exp.Expr:
    if not isinstance(sql, str):
        raise QueryRefused("query: expected SQL text")
    if len(sql.encode("utf-8", "surrogatepass")) > MAX_QUERY_BYTES:
        raise QueryRefused(f"query: longer than {MAX_QUERY_BYTES} bytes")
    if not sql.strip():
        raise QueryRefused("query: empty")
    try:
        return _parse(sql, "duckdb")
    except QueryRefused:
        if dialect == "duckdb":
            raise
        try:
            return _parse(sql, dialect)
        except QueryRefused:
            pass
        raise


def _parse(sql: str, dialect: str) -> exp.Expr:
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
        semis = [i for i, t in enumerate(tokens) if t.token_type == TokenType.SEMICOLON]
        if semis and semis != [len(tokens) - 1]:
            raise QueryRefused("query: multiple statements are not allowed")
        trees = sqlglot.parse(sql, read=dialect)
    except ParseError as e:
        first = e.errors[0] if e.errors else {}
        reason = " ".join(str(first.get("description") or "cannot parse").split())
        reason = _CLASS.sub(lambda m: m.group(1), reason)  # sqlglot's class names, bare
        # Where, not what: the text near an error may be a path or a value someone typed.
        where = ""
        if first.get("line") and first.get("col"):
            where = f" at line {first['line']}, column {first['col']}"
        raise QueryRefused(f"query: syntax error{where}: {reason}") from None
    except SqlglotError:
        raise QueryRefused("query: syntax error") from None
    except RecursionError:
        raise QueryRefused("query: nested too deeply") from None
    statements = [t for t in trees if t is not None]
    if len(statements) != 1:
        raise QueryRefused("query: exactly one statement is allowed")
    return statements[0]


# --------------------------------------------------------------------------- rules


def only_queries(tree: exp.Expr, functions: FunctionPolicy) -> None:
    """The root is a SELECT, a set operation or DuckDB's PIVOT/UNPIVOT statement over a
    table (possibly parenthesised)."""
    root = tree
    while isinstance(root, exp.Subquery):
        root = root.this
    if type(root) in (exp.Select, exp.Union, exp.Intersect, exp.Except):
        return
    if type(root) is exp.Pivot and isinstance(root.this, exp.Table | exp.Subquery):
        return
    if isinstance(root, exp.Condition):  # 'SELEC 1', 'foo': an expression, not a statement
        raise QueryRefused("syntax error: expected a query (SELECT ...)")
    kind = root.key.upper() if isinstance(root, exp.Expr) else "statement"
    if isinstance(root, exp.Command) and isinstance(root.this, str) and root.this.isalpha():
        kind = root.this.upper()[:20]  # EXPLAIN, not COMMAND: the statement the user typed
    raise QueryRefused(f"only SELECT queries are allowed, not {kind}")


def known_refusals(tree: exp.Expr, functions: FunctionPolicy) -> None:
    for node in tree.dfs():
        for kinds, reason in _KNOWN:
            if isinstance(node, kinds):
                raise QueryRefused(reason)


def relations(tree: exp.Expr, functions: FunctionPolicy) -> None:
    """Every relation is a plain name (no table function, file path or reserved name),
    a subquery, VALUES, or UNNEST of a value."""
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            name = call_name(table.this, functions.engine) or table.this.key.lower()
            try:
                functions.check_table(name)
            except FunctionRefused as e:
                raise QueryRefused(str(e)) from None
            raise QueryRefused(f"table function {name} is not allowed here")
        for part in table.parts:
            text = str(part.this)
            if not _NAME.fullmatch(text.lower()):
                raise QueryRefused(
                    "a quoted path or file name is not a table name (files cannot be read)"
                )


def pivots(tree: exp.Expr, functions: FunctionPolicy) -> None:
    """A PIVOT lists the values it turns into columns: without them DuckDB first runs a
    query of its own to find them, and the whole is no longer one SELECT."""
    for pivot in tree.find_all(exp.Pivot):
        if pivot.args.get("unpivot"):
            continue
        spec = pivot.args.get("fields") or pivot.expressions
        if not spec or not all(isinstance(f, exp.In) and f.expressions for f in spec):
            raise QueryRefused("PIVOT needs the values it turns into columns: ON col IN ('a', 'b')")


def calls(tree: exp.Expr, functions: FunctionPolicy) -> None:
    """Every function call is one the engine offers and the classification allows."""
    for node in tree.find_all(exp.Func):
        if type(node) in SYNTAX_CALLS:
            continue
        name = call_name(node, functions.engine)
        if name is None:
            continue
        if isinstance(node.parent, exp.Dot) and node.arg_key == "expression":
            raise QueryRefused(f"function {name}: qualified function names are not allowed")
        try:
            functions.check(name)
        except FunctionRefused as e:
            raise QueryRefused(str(e)) from None


def spark_translation(tree: exp.Expr, functions: FunctionPolicy) -> None:
    """On Spark, what sqlglot cannot translate is refused by name."""
    if functions.engine != "spark":
        return
    for node in tree.walk():
        for matches, what in _NOT_ON_SPARK:
            if matches(node):
                raise QueryRefused(f"{what} is not available on the spark engine")
    try:
        tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as e:
        reason = first_line(e) if str(e).strip() else "a construct"
        raise QueryRefused(f"not available on the spark engine: {reason}") from None


def allowlisted_nodes(tree: exp.Expr, functions: FunctionPolicy) -> None:
    """Every node of an allowlisted class (or a function call, checked by ``calls``),
    carrying only allowlisted arguments."""
    for node in tree.dfs():
        node.comments = None
        kind = type(node)
        if kind not in ALLOWED and not isinstance(node, exp.Func):
            raise QueryRefused(f"{node.key.upper()} is not allowed")
        allowed = STRUCTURE.get(kind)
        if allowed is not None:
            for key, value in node.args.items():
                if key not in allowed and _present(value):
                    raise QueryRefused(f"{node.key.upper()} with {key.rstrip('_')} is not allowed")
        _placement(node)


def reserved_names(tree: exp.Expr, functions: FunctionPolicy) -> None:
    for ident in tree.find_all(exp.Identifier):
        if str(ident.this).lower().startswith(RESERVED_PREFIX):
            raise QueryRefused(f"names starting with {RESERVED_PREFIX} are reserved")


#: The validation pipeline, in order.
RULES: tuple[Rule, ...] = (
    only_queries,
    known_refusals,
    relations,
    pivots,
    calls,
    allowlisted_nodes,
    reserved_names,
    spark_translation,
)


def validate(tree: exp.Expr, engine: str = "duckdb") -> exp.Expr:
    """Run every rule for ``engine``; refusals are ``QueryRefused`` with a one-line
    reason that depends only on the query text."""
    if engine not in ENGINES:
        raise QueryRefused(f"unknown engine {engine!r}")
    functions = policy(engine)
    try:
        for rule in RULES:
            rule(tree, functions)
    except RecursionError:
        raise QueryRefused("query: nested too deeply", public="query: nested too deeply") from None
    except QueryRefused as e:
        e.public = str(e)  # every rule here reads the query text only
        raise
    return tree


# --------------------------------------------------------------------------- helpers


def _placement(node: exp.Expr) -> None:
    """Helper nodes are only harmless in their expected places."""
    parent = node.parent
    if isinstance(node, exp.Var):
        unit = isinstance(parent, exp.Func | exp.Interval) and node.name.upper() in UNITS
        ok = (
            unit
            or (isinstance(parent, exp.Ordered) and node.name.upper() == "ALL")  # ORDER BY ALL
            or (isinstance(parent, exp.Collate) and node.arg_key == "expression")
        )
        if not ok:
            raise QueryRefused(f"{node.name!r} is not allowed here")
    elif isinstance(node, exp.DataType):
        if not isinstance(parent, exp.Cast | exp.TryCast | exp.DataType | exp.ColumnDef):
            raise QueryRefused(f"type {node.sql(comments=False)} is not allowed here")
        if node.this in (exp.DataType.Type.USERDEFINED, exp.DataType.Type.UNKNOWN):
            raise QueryRefused(f"type {node.sql(comments=False)} is not allowed")
    elif isinstance(node, exp.DataTypeParam) and not (
        isinstance(parent, exp.DataType) and isinstance(node.this, exp.Literal | exp.DataType)
    ):
        raise QueryRefused("type parameters must be numbers or types")
    elif isinstance(node, exp.ColumnDef) and not isinstance(parent, exp.DataType):
        raise QueryRefused("column definitions are not allowed here")


def _present(value: object) -> bool:
    return value is not None and value is not False and value != []
