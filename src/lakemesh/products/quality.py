"""Data-quality metrics: a contract's rules measured on the data where it lies.

``measure`` asks the caller's ``run_sql`` (the governed engine, as a system principal:
SPEC 2.9) a few aggregate SELECTs and keeps only what they return: counts, ratios, ages,
a sql rule's scalar. No row is ever read back. The SQL is built as sqlglot trees over the
quoted three-part table name; a name never becomes SQL text by interpolation (SPEC 2.4).

The queries: one aggregate for the row count, every column's completeness and every
library rule; one per sql rule; one ``max()`` for freshness. When the aggregate fails
(an engine refusing one function, one rule's bad pattern), the completeness part and each
library rule run alone, so one bad rule fails only its own metric. A table that cannot
be read at all raises what ``run_sql`` raised.

Library metrics, per ODCS v3: ``nullValues``, ``missingValues`` (default missing values:
null and the empty string), ``invalidValues`` (non-null values outside ``validValues``
or not matching ``pattern``, a regular expression searched in the value's text),
``duplicateValues`` (non-null values beyond each first; at table level, rows beyond the
first of each combination of ``properties``), ``rowCount``. Counts are ``rows``; with
``unit: percent`` they are a percentage of the table's rows (0 on an empty table).

Judging: completeness passes when every row has a ``required`` column (not judged
otherwise, nor on an empty table); a rule passes when all its operators hold (not judged
without one); freshness passes when the age is within the SLA: the age of the newest
value of the SLA's column (a date counts until its day ends; a naive timestamp is UTC),
else of the table's last update. What cannot be measured where a promise was made (a
rule whose query fails, freshness of an empty table or an unknown update time) fails.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlglot import exp

from lakemesh.errors import InvalidInput, LakemeshError, first_line
from lakemesh.products.conformance import arrow_family
from lakemesh.products.contracts import (
    Contract,
    ContractColumn,
    ContractViolation,
    Freshness,
    QualityRule,
    Scalar,
    number_text,
    rule_query,
)
from lakemesh.typedef import TableName

#: Runs one SELECT through the governed engine; returns a ``pyarrow.Table``.
RunSql = Callable[[str], Any]

_NUMERIC = frozenset({"integer", "decimal", "floating"})
_WORDS = {
    "nullValues": "null",
    "missingValues": "missing",
    "invalidValues": "invalid",
    "duplicateValues": "duplicate",
}


@dataclass(frozen=True)
class Metric:
    """One measurement, kept in the product's quality time series."""

    kind: str  # "row_count" | "completeness" | "validity" | "freshness"
    column: str | None
    rule: str | None  # the QualityRule.id of a validity metric
    value: float | None  # None: not measurable (no rows, a failed query)
    unit: str  # "ratio" | "rows" | "percent" | "seconds" | "value"
    passed: bool | None  # None: nothing to judge it by
    detail: str  # one line for people; never a value from the data


def metric_queries(contract: Contract, table: str, columns: Mapping[str, str]) -> list[str]:
    """The SELECTs ``measure`` runs, in the DuckDB dialect (for review and for tests)."""
    plan = _Plan(contract, table, columns)
    queries = [_select(plan.target, [plan.rows, *plan.aggregate_expressions()])]
    queries += [q for _, q in plan.sql_rules if isinstance(q, str)]
    if plan.freshness_query is not None:
        queries.append(plan.freshness_query)
    return queries


def measure(
    contract: Contract,
    table: str,
    columns: Mapping[str, str],
    run_sql: RunSql,
    *,
    updated_at: datetime | None,
    now: datetime,
) -> list[Metric]:
    """Every metric of the contract on ``table`` (whose columns, name -> Arrow type text,
    are ``columns``): the row count, each contract column's completeness, each library
    and sql rule's validity, freshness. Columns missing from the table get no metric
    (``check_schema`` reports them); a rule that cannot be evaluated is a failed metric."""
    plan = _Plan(contract, table, columns)
    metrics = plan.aggregate(run_sql)
    metrics += [_sql_metric(rule, query, run_sql) for rule, query in plan.sql_rules]
    if contract.freshness is not None:
        metric = plan.freshness(run_sql, updated_at=updated_at, now=_utc(now))
        if metric is not None:
            metrics.append(metric)
    return metrics


def violations(metrics: Sequence[Metric]) -> list[ContractViolation]:
    """The failed metrics as violations (each is an event for the caller)."""
    return [
        ContractViolation(
            "freshness" if m.kind == "freshness" else "quality", m.column, m.rule, m.detail
        )
        for m in metrics
        if m.passed is False
    ]


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class _Part:
    """A library rule's share of the aggregate: its expressions and how their values
    (after ``count(*)``) become the rule's count."""

    rule: QualityRule
    expressions: tuple[exp.Expr, ...]
    count: Callable[[int, list[Any]], int]


class _Plan:
    """What to ask the engine for one contract on one table."""

    def __init__(self, contract: Contract, table: str, columns: Mapping[str, str]) -> None:
        name = TableName.parse(table)
        self.contract = contract
        self.columns = columns
        self.target = exp.table_(name.table, db=name.database, catalog=name.domain, quoted=True)
        self.rows: exp.Expr = exp.Count(this=exp.Star())
        self.present = [c for c in contract.columns if c.name in columns]
        self.parts = [self.part(r) for r in contract.rules if r.kind == "library" and self.has(r)]
        self.sql_rules: list[tuple[QualityRule, str | InvalidInput]] = []
        for rule in contract.rules:
            if rule.kind == "sql" and (rule.column is None or rule.column in columns):
                try:
                    query: str | InvalidInput = rule_query(rule, self.target).sql("duckdb")
                except InvalidInput as e:
                    query = e
                self.sql_rules.append((rule, query))
        self.freshness_query: str | None = None
        fresh = contract.freshness
        if fresh is not None and fresh.column is not None and self.temporal(fresh.column):
            newest = exp.Max(this=_column(fresh.column))
            self.freshness_query = _select(self.target, [newest])

    def has(self, rule: QualityRule) -> bool:
        needed = (rule.column,) if rule.column is not None else rule.properties
        return all(c in self.columns for c in needed)

    def temporal(self, column: str) -> bool:
        actual = self.columns.get(column)
        return actual is not None and arrow_family(actual) in ("date", "timestamp")

    def aggregate_expressions(self) -> list[exp.Expr]:
        counts: list[exp.Expr] = [exp.Count(this=_column(c.name)) for c in self.present]
        return counts + [e for part in self.parts for e in part.expressions]

    # ------------------------------------------------------------------ library rules

    def part(self, rule: QualityRule) -> _Part:
        if rule.rule == "rowCount":
            return _Part(rule, (), lambda rows, _: rows)
        if rule.column is None:  # duplicateValues over a combination of columns
            key = exp.Tuple(expressions=[_column(c) for c in rule.properties])
            distinct = exp.Count(this=exp.Distinct(expressions=[key]))
            return _Part(rule, (distinct,), lambda rows, v: rows - int(v[0] or 0))
        column = _column(rule.column)
        family = arrow_family(self.columns[rule.column])
        if rule.rule == "nullValues":
            return _Part(rule, (exp.Count(this=column),), lambda rows, v: rows - int(v[0] or 0))
        if rule.rule == "duplicateValues":
            distinct = exp.Count(this=exp.Distinct(expressions=[column.copy()]))
            return _Part(
                rule,
                (exp.Count(this=column), distinct),
                lambda _, v: int(v[0] or 0) - int(v[1] or 0),
            )
        if rule.rule == "missingValues":
            missing = _matches(column, rule.missing_values, family)
            return _Part(rule, (_count_if(missing),), lambda _, v: int(v[0] or 0))
        tests: list[exp.Expr] = []
        if rule.valid_values is not None:
            tests.append(_matches(column, rule.valid_values, family))
        if rule.pattern is not None:
            text = column.copy() if family == "string" else _text(column)
            tests.append(exp.RegexpLike(this=text, expression=exp.Literal.string(rule.pattern)))
        valid = exp.and_(*tests) if len(tests) > 1 else tests[0]
        invalid = exp.and_(
            exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())),
            exp.Not(this=exp.Paren(this=valid)),
        )
        return _Part(rule, (_count_if(invalid),), lambda _, v: int(v[0] or 0))

    def aggregate(self, run_sql: RunSql) -> list[Metric]:
        """Row count, completeness and library metrics: one query, else one per part."""
        expressions = self.aggregate_expressions()
        try:
            values = _first_row(run_sql(_select(self.target, [self.rows, *expressions])))
        except Exception:
            values = None
        if values is not None:
            rows, rest = int(values[0] or 0), values[1:]
            metrics = self.base_metrics(rows, rest[: len(self.present)])
            rest = rest[len(self.present) :]
            for part in self.parts:
                size = len(part.expressions)
                metrics.append(_library_metric(part, rows, rest[:size]))
                rest = rest[size:]
            return metrics
        base = [exp.Count(this=_column(c.name)) for c in self.present]
        values = _first_row(run_sql(_select(self.target, [self.rows, *base])))
        rows = int(values[0] or 0)
        metrics = self.base_metrics(rows, values[1:])
        for part in self.parts:
            try:
                part_values = _first_row(
                    run_sql(_select(self.target, [self.rows, *part.expressions]))
                )
                metrics.append(_library_metric(part, rows, part_values[1:]))
            except Exception as e:
                metrics.append(_unevaluated(part.rule, e))
        return metrics

    def base_metrics(self, rows: int, counts: Sequence[Any]) -> list[Metric]:
        metrics = [Metric("row_count", None, None, float(rows), "rows", None, f"{rows} rows")]
        for column, count in zip(self.present, counts, strict=True):
            metrics.append(_completeness(column, rows, int(count or 0)))
        return metrics

    # ------------------------------------------------------------------ freshness

    def freshness(
        self, run_sql: RunSql, *, updated_at: datetime | None, now: datetime
    ) -> Metric | None:
        fresh = self.contract.freshness
        assert fresh is not None
        allows = f"the contract allows {fresh.text}"
        if fresh.column is None:
            if updated_at is None:
                return _freshness(fresh, None, f"the table's last update time is unknown; {allows}")
            age = (now - _utc(updated_at)).total_seconds()
            return _freshness(
                fresh, age, f"the table was updated {duration_text(age)} ago; {allows}"
            )
        column = fresh.column
        if column not in self.columns:
            return None  # check_schema reports the missing column
        if self.freshness_query is None:
            return _freshness(
                fresh,
                None,
                f"{column} is {self.columns[column]} in the table, not a date or timestamp; "
                f"{allows}",
            )
        try:
            newest = _first_row(run_sql(self.freshness_query))[0]
        except Exception as e:
            return _freshness(fresh, None, f"freshness could not be measured: {_reason(e)}")
        moment = _moment(newest)
        if moment is None:
            return _freshness(fresh, None, f"{column} has no values, so no age; {allows}")
        age = (now - moment).total_seconds()
        when = "in the future" if age < 0 else f"{duration_text(age)} old"
        return _freshness(fresh, age, f"the newest {column} is {when}; {allows}")


# --------------------------------------------------------------------------- metrics


def _completeness(column: ContractColumn, rows: int, present: int) -> Metric:
    if rows == 0:
        return Metric(
            "completeness", column.name, None, None, "ratio", None, "the table has no rows"
        )
    passed = present == rows if column.required else None
    detail = f"{present} of {rows} rows have {column.name}"
    if passed is False:
        detail += ", which the contract requires"
    return Metric("completeness", column.name, None, present / rows, "ratio", passed, detail)


def _library_metric(part: _Part, rows: int, values: Sequence[Any]) -> Metric:
    rule = part.rule
    count = part.count(rows, list(values))
    if rule.unit == "percent":
        value, unit = (100.0 * count / rows if rows else 0.0), "percent"
        shown = f"{number_text(round(value, 4))}%"
    else:
        value, shown, unit = float(count), str(count), "rows"
    plural = "" if unit == "rows" and count == 1 else "s"
    if rule.rule == "rowCount":
        subject = f"the table has {shown} row{plural}"
    elif rule.column is None:
        subject = f"{', '.join(rule.properties)} repeat in {shown} row{plural}"
    else:
        word = _WORDS[rule.rule or ""]
        subject = f"{rule.column} has {shown} {word} value{plural}"
    return _judged(rule, value, unit, subject)


def _sql_metric(rule: QualityRule, query: str | InvalidInput, run_sql: RunSql) -> Metric:
    if isinstance(query, InvalidInput):
        return _unevaluated(rule, query)
    try:
        result = run_sql(query)
        if result.num_rows != 1 or result.num_columns != 1:
            raise InvalidInput(
                f"the query returned {result.num_rows} rows of {result.num_columns} columns, "
                "not one value"
            )
        raw = result.column(0)[0].as_py()
    except Exception as e:
        return _unevaluated(rule, e)
    value = _number(raw)
    if value is None:
        what = "no value" if raw is None else "a value that is not a number"
        return Metric(
            "validity", rule.column, rule.id, None, "value", False, f"the query returned {what}"
        )
    return _judged(rule, value, "value", f"the query returned {number_text(value)}")


def _judged(rule: QualityRule, value: float, unit: str, subject: str) -> Metric:
    if not rule.threshold:
        return Metric("validity", rule.column, rule.id, value, unit, None, subject)
    passed = rule.passes(value)
    detail = f"{subject}, {rule.threshold_text()}"
    return Metric("validity", rule.column, rule.id, value, unit, passed, detail)


def _unevaluated(rule: QualityRule, error: BaseException) -> Metric:
    unit = "value" if rule.kind == "sql" else (rule.unit or "rows")
    detail = f"rule {rule.id} could not be evaluated: {_reason(error)}"
    return Metric("validity", rule.column, rule.id, None, unit, False, detail)


def _freshness(fresh: Freshness, age: float | None, detail: str) -> Metric:
    passed = age is not None and age <= fresh.max_age.total_seconds()
    return Metric("freshness", fresh.column, None, age, "seconds", passed, detail)


# --------------------------------------------------------------------------- SQL trees


def _column(name: str) -> exp.Column:
    return exp.Column(this=exp.to_identifier(name, quoted=True))


def _select(target: exp.Table, expressions: Sequence[exp.Expr]) -> str:
    aliased = [exp.alias_(e, f"m{i}", quoted=True) for i, e in enumerate(expressions)]
    return exp.select(*aliased).from_(target.copy()).sql(dialect="duckdb")


def _count_if(condition: exp.Expr) -> exp.Expr:
    """``coalesce(sum(CASE WHEN condition THEN 1 ELSE 0 END), 0)``: counts rows the
    condition holds for, 0 on an empty table."""
    case = exp.Case(
        ifs=[exp.If(this=condition, true=exp.Literal.number(1))],
        default=exp.Literal.number(0),
    )
    return exp.Coalesce(this=exp.Sum(this=case), expressions=[exp.Literal.number(0)])


def _text(column: exp.Expr) -> exp.Expr:
    return exp.cast(column.copy(), exp.DataType.build("VARCHAR"))


def _matches(column: exp.Column, values: Sequence[Scalar], family: str | None) -> exp.Expr:
    """The column equals one of ``values``: natively when the value's kind is the
    column's (numbers for a numeric column, strings for a string one, booleans for a
    boolean one), else by the value's text against the column's text."""
    native: list[exp.Expr] = []
    textual: list[exp.Expr] = []
    tests: list[exp.Expr] = []
    for value in values:
        if value is None:
            tests.append(exp.Is(this=column.copy(), expression=exp.Null()))
        elif isinstance(value, bool):
            if family == "boolean":
                native.append(exp.Boolean(this=value))
            else:
                textual.append(exp.Literal.string("true" if value else "false"))
        elif isinstance(value, int | float):
            if family in _NUMERIC:
                native.append(exp.Literal.number(number_text(value)))
            else:
                textual.append(exp.Literal.string(number_text(value)))
        elif family == "string":
            native.append(exp.Literal.string(value))
        else:
            textual.append(exp.Literal.string(value))
    if native:
        tests.append(exp.In(this=column.copy(), expressions=native))
    if textual:
        tests.append(exp.In(this=_text(column), expressions=textual))
    return exp.or_(*tests) if len(tests) > 1 else tests[0]


# --------------------------------------------------------------------------- values


def _first_row(result: Any) -> list[Any]:
    if result.num_rows < 1:
        raise InvalidInput("the aggregate query returned no row")
    return [result.column(i)[0].as_py() for i in range(result.num_columns)]


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float | Decimal):
        value = float(raw)
        return value if math.isfinite(value) else None
    return None


def _moment(raw: Any) -> datetime | None:
    """The instant a newest value stands for; a date counts until its day ends."""
    if isinstance(raw, datetime):
        return _utc(raw)
    if isinstance(raw, date):
        return datetime.combine(raw + timedelta(days=1), time(), tzinfo=UTC)
    return None


def _utc(moment: datetime) -> datetime:
    """A naive timestamp is UTC (what the catalog and the engines store)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def duration_text(seconds: float) -> str:
    """An age as people say it: 45s, 12min, 3h, 1.5d."""
    s = abs(seconds)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if s >= size:
            return f"{number_text(round(s / size, 1))}{unit}"
    return f"{number_text(round(s))}s"


_QUOTED = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")


def _reason(error: BaseException) -> str:
    """Why a query failed, in one line, fit to keep beside a metric that every mesh user
    may read: an engine's message can quote a value it choked on, so quoted literals
    and free-standing numbers are blanked (lakemesh's own errors are already safe)."""
    if isinstance(error, LakemeshError):
        return first_line(error, 300)
    text = _NUMBER.sub("#", _QUOTED.sub("'…'", first_line(error)))
    return text[:300]
