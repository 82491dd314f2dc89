"""Data contracts: a product's promise in the Open Data Contract Standard (ODCS v3).

A contract is ODCS v3 YAML, validated by the standard's own pydantic models (package
``open-data-contract-standard``), completed by what those models leave to the standard's
JSON schema, which ships in the same package and is read from there: the required
top-level fields, ``kind``, the ``apiVersion`` values, the logical types, the closed
shape of schema objects, properties, quality rules and SLA properties (the models
silently drop unknown keys there; a misspelt ``mustBeLessThen`` would lose its rule).

lakemesh reads one table's contract: at most one schema object, whose properties are
the table's columns (a property's ``physicalName`` when given, else its ``name``). From
it come the columns, the quality rules (``library``, ``sql``, ``text``, ``custom``; the
first two are measured by ``quality.py``) and the freshness SLA (``latency`` or
``freshness``, with a value and a unit, on the column named by ``element``).

A rule's id is its ``id`` or ``name`` (unique in the contract), else made from where it
sits (``email.nullValues``, ``table.rowCount``, ``age.sql``, then ``-2``, ``-3``...); a
property declared ``unique`` adds the rule ``<column>.unique`` (no duplicate values). A
sql rule must be one SELECT that reads only its own table, written ``{object}`` (its
property ``{property}``); it runs as the central node, so it may not name another table.

Every refusal is one ``InvalidInput`` line: ``"{source}: line N: what is wrong"``, the
line when the YAML tells it. Parsing writes nothing, so a refused contract leaves no trace.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import math
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pydantic
import sqlglot
import yaml
from open_data_contract_standard.model import (
    DataQuality,
    OpenDataContractStandard,
    SchemaObject,
    SchemaProperty,
    ServiceLevelAgreementProperty,
)
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from lakemesh.errors import InvalidInput, first_line
from lakemesh.sqltree import scoped_tables

#: Library metrics lakemesh measures (all that ODCS v3 defines).
LIBRARY_METRICS = ("nullValues", "missingValues", "invalidValues", "duplicateValues", "rowCount")
#: Each library metric's arguments, by the level it is attached to (property, table).
_ARGUMENTS: dict[tuple[str, bool], frozenset[str]] = {
    ("nullValues", True): frozenset(),
    ("missingValues", True): frozenset({"missingValues"}),
    ("invalidValues", True): frozenset({"validValues", "pattern"}),
    ("duplicateValues", True): frozenset(),
    ("duplicateValues", False): frozenset({"properties"}),
    ("rowCount", False): frozenset(),
}
#: ODCS threshold operators, in the standard's order.
OPERATORS = (
    "mustBe",
    "mustNotBe",
    "mustBeGreaterThan",
    "mustBeGreaterOrEqualTo",
    "mustBeLessThan",
    "mustBeLessOrEqualTo",
    "mustBeBetween",
    "mustNotBeBetween",
)
#: SLA properties that bound the age of the data (``ly`` is the standard's synonym).
FRESHNESS_PROPERTIES = frozenset({"latency", "ly", "freshness"})
_DAY = 86_400
#: SLA units, lower case, in seconds ("m" is refused: minutes or months?).
SLA_UNITS: dict[str, int] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3_600),
    **dict.fromkeys(("d", "day", "days"), _DAY),
    **dict.fromkeys(("w", "wk", "week", "weeks"), 7 * _DAY),
    **dict.fromkeys(("mo", "month", "months"), 30 * _DAY),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), 365 * _DAY),
}
#: Contracts larger than this are refused before YAML sees them.
MAX_CONTRACT_CHARS = 1_000_000
#: YAML nodes a contract may expand to, aliases counted each time they are used.
MAX_NODES = 200_000

#: What the placeholders of a sql rule become before parsing; swapped back on the AST.
OBJECT_PLACEHOLDER = "__lakemesh_object__"
PROPERTY_PLACEHOLDER = "__lakemesh_property__"
#: ``{object}``/``{property}`` (ODCS v3 text), ``${table}``/``${column}`` (its schema's
#: example), with or without the ``$``.
_PLACEHOLDER = re.compile(r"\$?\{\s*(object|table|property|column)\s*\}")
_VARIABLE = re.compile(r"\$\{[^}]*\}")
#: Statements a sql rule may not contain anywhere, even nested.
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Command)

Scalar = str | int | float | bool | None
_Path = tuple[str | int, ...]


# --------------------------------------------------------------------------- the nouns


@dataclass(frozen=True)
class ContractColumn:
    """One property of the contract's schema object: a column of the table."""

    name: str  # the column in the table: the property's physicalName, else its name
    logical_type: str | None
    physical_type: str | None
    required: bool
    unique: bool
    classification: str | None
    description: str | None
    property_name: str = ""  # the ODCS property name (differs when physicalName is set)
    primary_key: bool = False
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Condition:
    """One ODCS threshold operator and its value (a pair for the two between operators).

    ``mustBeBetween`` is exclusive, as the standard defines it ("the equivalent to
    mustBeGreaterThan and mustBeLessThan"); ``mustNotBeBetween`` is its negation.
    """

    operator: str
    value: float | tuple[float, float]

    def holds(self, measured: float) -> bool:
        if isinstance(self.value, tuple):
            low, high = self.value
            inside = low < measured < high
            return inside if self.operator == "mustBeBetween" else not inside
        value = self.value
        equal = math.isclose(measured, value, rel_tol=1e-9, abs_tol=1e-12)
        match self.operator:
            case "mustBe":
                return equal
            case "mustNotBe":
                return not equal
            case "mustBeGreaterThan":
                return measured > value and not equal
            case "mustBeGreaterOrEqualTo":
                return measured >= value or equal
            case "mustBeLessThan":
                return measured < value and not equal
            case _:  # mustBeLessOrEqualTo
                return measured <= value or equal

    def __str__(self) -> str:
        return self.text()

    def text(self, unit: str = "") -> str:
        """The condition in words, ``unit`` after each number ("%")."""
        if isinstance(self.value, tuple):
            low, high = (number_text(v) + unit for v in self.value)
            negation = "not " if self.operator == "mustNotBeBetween" else ""
            return f"must {negation}be between {low} and {high}"
        words = {
            "mustBe": "must be",
            "mustNotBe": "must not be",
            "mustBeGreaterThan": "must be greater than",
            "mustBeGreaterOrEqualTo": "must be at least",
            "mustBeLessThan": "must be less than",
            "mustBeLessOrEqualTo": "must be at most",
        }
        return f"{words[self.operator]} {number_text(self.value)}{unit}"


@dataclass(frozen=True)
class QualityRule:
    """One ODCS quality rule, at a property (``column``) or at the table (None)."""

    id: str  # the rule's id or name, else generated: "email.nullValues", "table.rowCount"
    column: str | None
    kind: str  # "library" | "sql" | "text" | "custom"
    rule: str | None  # the library metric
    query: str | None  # the sql rule's query, as written (placeholders unresolved)
    threshold: tuple[Condition, ...]  # all must hold; empty: measured, never judged
    description: str | None
    unit: str | None = None  # library: "rows" (a count) or "percent" (0..100); sql: as written
    missing_values: tuple[Scalar, ...] = ()  # missingValues: what counts as missing
    valid_values: tuple[Scalar, ...] | None = None  # invalidValues: the allowed values
    pattern: str | None = None  # invalidValues: a regular expression valid values match
    properties: tuple[str, ...] = ()  # table-level duplicateValues: the key columns
    severity: str | None = None

    @property
    def measurable(self) -> bool:
        return self.kind in ("library", "sql")

    def passes(self, value: float) -> bool:
        return all(condition.holds(value) for condition in self.threshold)

    def threshold_text(self) -> str:
        unit = "%" if self.unit == "percent" else ""
        return " and ".join(c.text(unit) for c in self.threshold) or "no threshold"


@dataclass(frozen=True)
class Freshness:
    """The contract's bound on the data's age: of the newest value of ``column``, or of
    the table's last update when the SLA names no column."""

    column: str | None
    max_age: timedelta
    text: str  # the bound as the contract writes it: "1 d", "6 hours"


@dataclass(frozen=True)
class Contract:
    """A parsed, validated contract; build it with ``parse_contract``."""

    text: str
    id: str
    version: str
    name: str | None
    status: str | None
    object_name: str | None
    columns: tuple[ContractColumn, ...]
    rules: tuple[QualityRule, ...]
    freshness: Freshness | None
    model: Any = field(compare=False, repr=False)  # the OpenDataContractStandard
    api_version: str = ""

    def column(self, name: str) -> ContractColumn | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class ContractViolation:
    """A way the table breaks its contract. The message names columns and rules, never
    a value from the data."""

    kind: str  # "missing_column" | "type_mismatch" | "quality" | "freshness"
    column: str | None
    rule: str | None
    message: str


# --------------------------------------------------------------------------- parsing


def parse_contract(text: str, source: str = "contract") -> Contract:
    """The contract in ``text``; ``InvalidInput`` with one line naming ``source`` when it
    is not YAML, not ODCS v3, or not a contract lakemesh can check."""
    if len(text) > MAX_CONTRACT_CHARS:
        raise InvalidInput(f"{source}: the contract is larger than {MAX_CONTRACT_CHARS} characters")
    try:
        data, root = _load_yaml(text, source)
        return _Reader(source, root).contract(text, data)
    except RecursionError:
        raise InvalidInput(f"{source}: the contract is nested too deeply") from None


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML as JSON sees it: a date stays a string, as ODCS types every date."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load_yaml(text: str, source: str) -> tuple[Any, Any]:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise InvalidInput(f"{source}: the contract is empty")
        _check_nodes(root, source)
        return loader.construct_document(root), root
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = _one_line(e.problem or e.context or "unreadable")
        raise InvalidInput(f"{source}: {where}not valid YAML: {problem}") from e
    except yaml.YAMLError as e:
        raise InvalidInput(f"{source}: not valid YAML: {_one_line(first_line(e))}") from e
    finally:
        loader.dispose()


def _check_nodes(root: Any, source: str) -> None:
    """Refuse what YAML allows but a contract must not have: two equal keys in one
    mapping (YAML keeps the last: ambiguous), an alias inside itself, and aliases that
    expand to more than ``MAX_NODES`` nodes (a few lines of anchors can stand for
    billions; validation would walk every one)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            line = node.start_mark.line + 1
            raise InvalidInput(f"{source}: line {line}: a YAML alias refers to its own anchor")
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for k, value in node.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.value in keys:
                        line = k.start_mark.line + 1
                        raise InvalidInput(f"{source}: line {line}: duplicate key {k.value!r}")
                    keys.add(k.value)
                total += size(k) + size(value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        open_nodes.discard(key)
        if total > MAX_NODES:
            raise InvalidInput(f"{source}: the contract expands to more than {MAX_NODES} elements")
        sizes[key] = total
        return total

    size(root)


@functools.cache
def _standard() -> dict[str, Any]:
    """The ODCS JSON schema the package ships (read for what its models leave open)."""
    files = importlib.resources.files("open_data_contract_standard")
    schema: dict[str, Any] = json.loads(files.joinpath("schema.json").read_text("utf-8"))
    return schema


def _enum(*path: str) -> tuple[str, ...]:
    node: Any = _standard()
    for key in path:
        node = node[key]
    return tuple(node["enum"])


def api_versions() -> tuple[str, ...]:
    """The ODCS versions lakemesh reads: every v3 the installed standard knows."""
    return tuple(v for v in _enum("properties", "apiVersion") if v.startswith("v3."))


def logical_types() -> tuple[str, ...]:
    return _enum("$defs", "SchemaBaseProperty", "properties", "logicalType")


#: The ODCS classes whose JSON schema allows no other keys (the models ignore them).
_CLOSED = (SchemaObject, SchemaProperty, DataQuality, ServiceLevelAgreementProperty)


class _Reader:
    """Builds a ``Contract`` from validated data, refusing with the YAML line of the
    element at fault."""

    def __init__(self, source: str, root: Any) -> None:
        self.source = source
        self.root = root

    def refuse(self, path: _Path, message: str) -> InvalidInput:
        line, _ = _locate(self.root, path)
        where = f"line {line}: " if line is not None else ""
        return InvalidInput(f"{self.source}: {where}{_one_line(message)}")

    def contract(self, text: str, data: Any) -> Contract:
        model = self.validate(data)
        objects = model.schema_ or []
        if len(objects) > 1:
            raise self.refuse(
                ("schema", 1),
                f"the contract describes {len(objects)} schema objects; "
                "a data product's contract describes one table",
            )
        obj = objects[0] if objects else None
        if obj is not None and not obj.name:
            raise self.refuse(("schema", 0), "the schema object has no name")
        columns = self.columns(obj)
        return Contract(
            text=text,
            id=model.id,
            version=model.version,
            name=model.name,
            status=model.status,
            object_name=obj.name if obj is not None else None,
            columns=columns,
            rules=self.rules(obj, columns),
            freshness=self.freshness(model, columns),
            model=model,
            api_version=model.apiVersion,
        )

    # ------------------------------------------------------------------ the standard

    def validate(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise self.refuse((), f"a contract is a YAML mapping, not {_kind_of(data)}")
        for key in _standard()["required"]:
            if data.get(key) is None:
                raise self.refuse((), f"not valid ODCS v3: the required field {key} is missing")
        if data["kind"] not in _enum("properties", "kind"):
            raise self.refuse(("kind",), f"kind must be DataContract, not {shown(data['kind'])}")
        if data["apiVersion"] not in api_versions():
            raise self.refuse(
                ("apiVersion",),
                f"unsupported apiVersion {shown(data['apiVersion'])}: "
                f"lakemesh reads ODCS {', '.join(api_versions())}",
            )
        try:
            model = OpenDataContractStandard.model_validate(data)
        except pydantic.ValidationError as e:
            error = e.errors(include_url=False, include_input=False)[0]
            loc = tuple(error["loc"])
            raise self.refuse(loc, f"not valid ODCS v3 at {self.where(loc)}: {error['msg']}") from e
        unknown = _unknown_key(model, data, ())
        if unknown is not None:
            raise self.refuse(
                unknown,
                f"not valid ODCS v3 at {self.where(unknown[:-1]) or 'the top'}: "
                f"unknown field {shown(unknown[-1])}",
            )
        return model

    def where(self, path: _Path) -> str:
        """``path`` as text, without the union member names pydantic puts in a location."""
        return _path_text(_locate(self.root, path)[1])

    # ------------------------------------------------------------------ columns

    def columns(self, obj: Any) -> tuple[ContractColumn, ...]:
        if obj is None:
            return ()
        columns: list[ContractColumn] = []
        seen: dict[str, str] = {}
        for j, prop in enumerate(obj.properties or []):
            path: _Path = ("schema", 0, "properties", j)
            if not prop.name:
                raise self.refuse(path, "a property of the schema has no name")
            name = prop.physicalName or prop.name
            if name.casefold() in seen:
                raise self.refuse(
                    path,
                    f"column {named(name)} appears twice (names are compared ignoring case)",
                )
            seen[name.casefold()] = name
            if prop.logicalType is not None and prop.logicalType not in logical_types():
                raise self.refuse(
                    (*path, "logicalType"),
                    f"unknown logicalType {shown(prop.logicalType)} of {named(name)}: "
                    f"ODCS has {', '.join(logical_types())}",
                )
            if _nested_quality(prop):
                raise self.refuse(
                    path,
                    f"quality rules inside {named(name)} are not supported: attach them "
                    "to a top-level property or to the table",
                )
            columns.append(
                ContractColumn(
                    name=name,
                    logical_type=prop.logicalType,
                    physical_type=prop.physicalType,
                    required=bool(prop.required),
                    unique=bool(prop.unique),
                    classification=prop.classification,
                    description=prop.description,
                    property_name=prop.name,
                    primary_key=bool(prop.primaryKey),
                    tags=tuple(prop.tags or ()),
                )
            )
        return tuple(columns)

    def resolve(self, element: str, columns: tuple[ContractColumn, ...]) -> str | None:
        """The column an element names: ``column`` or ``object.column``, by its table
        name or its ODCS property name."""
        for candidate in (element, element.rsplit(".", 1)[-1]):
            for column in columns:
                if candidate in (column.name, column.property_name):
                    return column.name
        return None

    # ------------------------------------------------------------------ quality rules

    def rules(self, obj: Any, columns: tuple[ContractColumn, ...]) -> tuple[QualityRule, ...]:
        if obj is None:
            return ()
        found: list[tuple[Any, str | None, _Path]] = []
        for j, prop in enumerate(obj.properties or []):
            for k, dq in enumerate(prop.quality or []):
                found.append((dq, columns[j].name, ("schema", 0, "properties", j, "quality", k)))
        for k, dq in enumerate(obj.quality or []):
            found.append((dq, None, ("schema", 0, "quality", k)))
        explicit: set[str] = set()
        for dq, _, path in found:
            rule_name = dq.id or dq.name
            if rule_name is not None:
                if rule_name in explicit:
                    raise self.refuse(path, f"two quality rules are named {shown(rule_name)}")
                explicit.add(rule_name)
        ids = _Ids(explicit)
        rules = [self.rule(dq, column, path, ids, columns) for dq, column, path in found]
        for column in columns:
            if column.unique:
                rules.append(
                    QualityRule(
                        id=ids.new(f"{column.name}.unique"),
                        column=column.name,
                        kind="library",
                        rule="duplicateValues",
                        query=None,
                        threshold=(Condition("mustBe", 0.0),),
                        description=f"{column.name} is declared unique",
                        unit="rows",
                    )
                )
        return tuple(rules)

    def rule(
        self,
        dq: Any,
        column: str | None,
        path: _Path,
        ids: _Ids,
        columns: tuple[ContractColumn, ...],
    ) -> QualityRule:
        metric = dq.metric or dq.rule
        kind = dq.type or ("library" if metric else "sql" if dq.query else "text")
        if kind not in _enum("$defs", "DataQuality", "properties", "type"):
            raise self.refuse((*path, "type"), f"unknown quality rule type {shown(kind)}")
        prefix = column if column is not None else "table"
        suffix = metric if kind == "library" and metric else kind
        rule_id = dq.id or dq.name or ids.new(f"{prefix}.{suffix}")
        common: dict[str, Any] = {
            "id": rule_id,
            "column": column,
            "kind": kind,
            "description": dq.description,
            "severity": dq.severity,
        }
        if kind == "library":
            return self.library_rule(dq, path, common, columns)
        if kind == "sql":
            if not dq.query:
                raise self.refuse(path, f"quality rule {shown(rule_id)} is sql but has no query")
            try:
                rule_query(QualityRule(**common, rule=None, query=dq.query, threshold=()), _PROBE)
            except InvalidInput as e:
                raise self.refuse((*path, "query"), str(e)) from e
            threshold = self.threshold(dq, path)
            return QualityRule(
                **common, rule=None, query=dq.query, threshold=threshold, unit=dq.unit
            )
        return QualityRule(**common, rule=None, query=None, threshold=())

    def library_rule(
        self, dq: Any, path: _Path, common: dict[str, Any], columns: tuple[ContractColumn, ...]
    ) -> QualityRule:
        metric = dq.metric or dq.rule
        rule_id, at_property = common["id"], common["column"] is not None
        if metric is None:
            raise self.refuse(
                path,
                f"quality rule {shown(rule_id)}: a library rule needs a metric: "
                f"{', '.join(LIBRARY_METRICS)}",
            )
        if metric not in LIBRARY_METRICS:
            raise self.refuse(
                (*path, "metric"),
                f"quality rule {shown(rule_id)}: unknown library metric {shown(metric)}: "
                f"lakemesh measures {', '.join(LIBRARY_METRICS)}",
            )
        allowed = _ARGUMENTS.get((metric, at_property))
        if allowed is None:
            level = "table" if at_property else "property"
            raise self.refuse(
                path, f"quality rule {shown(rule_id)}: {metric} is a {level}-level metric"
            )
        arguments = dq.arguments or {}
        for key in arguments:
            if key not in allowed:
                raise self.refuse(
                    (*path, "arguments", key),
                    f"quality rule {shown(rule_id)}: {metric} takes no argument {shown(key)}",
                )
        unit = dq.unit or "rows"
        if unit not in ("rows", "percent") or (unit == "percent" and metric == "rowCount"):
            raise self.refuse(
                (*path, "unit"),
                f"quality rule {shown(rule_id)}: unit {shown(unit)} does not apply to "
                f"{metric} (rows{'' if metric == 'rowCount' else ' or percent'})",
            )
        extra: dict[str, Any] = {}
        if metric == "missingValues":
            values = arguments.get("missingValues", [None, ""])
            extra["missing_values"] = self.scalars(values, (*path, "arguments", "missingValues"))
        elif metric == "invalidValues":
            extra.update(self.validity(arguments, (*path, "arguments"), rule_id))
        elif metric == "duplicateValues" and not at_property:
            extra["properties"] = self.key_columns(arguments, (*path, "arguments"), columns)
        return QualityRule(
            **common,
            rule=metric,
            query=None,
            threshold=self.threshold(dq, path),
            unit=unit,
            **extra,
        )

    def validity(self, arguments: dict[str, Any], path: _Path, rule_id: str) -> dict[str, Any]:
        valid, pattern = arguments.get("validValues"), arguments.get("pattern")
        if valid is None and pattern is None:
            raise self.refuse(
                path,
                f"quality rule {shown(rule_id)}: invalidValues needs arguments.validValues "
                "or arguments.pattern",
            )
        out: dict[str, Any] = {}
        if valid is not None:
            out["valid_values"] = self.scalars(valid, (*path, "validValues"))
        if pattern is not None:
            if not isinstance(pattern, str) or not pattern:
                raise self.refuse((*path, "pattern"), "the pattern must be a non-empty string")
            try:
                re.compile(pattern)
            except re.error as e:
                raise self.refuse((*path, "pattern"), f"the pattern is not valid: {e}") from e
            out["pattern"] = pattern
        return out

    def key_columns(
        self, arguments: dict[str, Any], path: _Path, columns: tuple[ContractColumn, ...]
    ) -> tuple[str, ...]:
        names = arguments.get("properties")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise self.refuse(
                path, "a table-level duplicateValues needs arguments.properties: a list of names"
            )
        resolved: list[str] = []
        for name in names:
            column = self.resolve(name, columns)
            if column is None:
                raise self.refuse(
                    (*path, "properties"),
                    f"duplicateValues names unknown property {named(name)}",
                )
            resolved.append(column)
        return tuple(resolved)

    def scalars(self, values: Any, path: _Path) -> tuple[Scalar, ...]:
        if not isinstance(values, list) or not values:
            raise self.refuse(path, "expected a non-empty list of values")
        for value in values:
            if value is not None and not isinstance(value, str | int | float | bool):
                raise self.refuse(path, f"expected plain values, not {_kind_of(value)}")
        return tuple(values)

    def threshold(self, dq: Any, path: _Path) -> tuple[Condition, ...]:
        conditions: list[Condition] = []
        for operator in OPERATORS:
            value = getattr(dq, operator)
            if value is None:
                continue
            where = (*path, operator)
            if operator in ("mustBeBetween", "mustNotBeBetween"):
                low, high = (float(v) for v in value)
                if not low < high:
                    raise self.refuse(where, f"{operator} takes the smaller number first")
                conditions.append(Condition(operator, (low, high)))
            elif isinstance(value, bool | int | float):
                conditions.append(Condition(operator, float(value)))
            else:
                raise self.refuse(where, f"{operator} must be a number, not {_kind_of(value)}")
        return tuple(conditions)

    # ------------------------------------------------------------------ freshness

    def freshness(self, model: Any, columns: tuple[ContractColumn, ...]) -> Freshness | None:
        found = [
            (i, sla)
            for i, sla in enumerate(model.slaProperties or [])
            if str(sla.property or "").strip().lower() in FRESHNESS_PROPERTIES
        ]
        if not found:
            return None
        if len(found) > 1:
            raise self.refuse(
                ("slaProperties", found[1][0]), "the contract has more than one freshness SLA"
            )
        i, sla = found[0]
        path: _Path = ("slaProperties", i)
        kind = sla.property.strip()
        value = sla.value
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                value = None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e12:
            raise self.refuse((*path, "value"), f"SLA {kind} needs a positive number as its value")
        unit = (sla.unit or "").strip()
        seconds = SLA_UNITS.get(unit.lower())
        if seconds is None:
            hint = " (minutes or months? write min or mo)" if unit.lower() == "m" else ""
            raise self.refuse(
                (*path, "unit") if unit else path,
                f"SLA {kind} needs a unit of time: s, min, h, d, w, mo or y, "
                f"not {shown(unit) if unit else 'none'}{hint}",
            )
        try:
            max_age = timedelta(seconds=float(value) * seconds)
        except OverflowError:
            raise self.refuse((*path, "value"), f"SLA {kind} is too long") from None
        element = sla.element or model.slaDefaultElement
        column = None
        if element is not None:
            column = self.freshness_column(element, kind, (*path, "element"), columns)
        return Freshness(column=column, max_age=max_age, text=f"{number_text(value)} {unit}")

    def freshness_column(
        self, element: str, kind: str, path: _Path, columns: tuple[ContractColumn, ...]
    ) -> str:
        if "," in element:
            raise self.refuse(path, f"SLA {kind} names several elements; it is measured on one")
        column = self.resolve(element.strip(), columns)
        if column is None:
            raise self.refuse(
                path,
                f"SLA {kind} names {named(element)}, which is not a column of the contract",
            )
        logical = next(c.logical_type for c in columns if c.name == column)
        if logical not in (None, "date", "timestamp"):
            raise self.refuse(
                path,
                f"SLA {kind} is measured on {named(column)}, which is {logical}, "
                "not a date or timestamp",
            )
        return column


class _Ids:
    """Generated rule ids: the first is the base, the next ``base-2``, ``base-3``..."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = set(taken)

    def new(self, base: str) -> str:
        candidate, n = base, 1
        while candidate in self.taken:
            n += 1
            candidate = f"{base}-{n}"
        self.taken.add(candidate)
        return candidate


def _nested_quality(prop: Any) -> bool:
    children = [*(prop.properties or []), prop.items]
    if prop.map is not None:
        children += [prop.map.key, prop.map.value]
    return any(c is not None and (c.quality or _nested_quality(c)) for c in children)


def _unknown_key(model: Any, raw: Any, path: _Path) -> _Path | None:
    """The path of the first key the standard does not allow where its models would have
    dropped it silently (the closed ODCS objects), or None."""
    if not isinstance(raw, dict):
        return None
    keys = {f.alias or name: name for name, f in type(model).model_fields.items()}
    if isinstance(model, _CLOSED):
        for key in raw:
            if key not in keys:
                return (*path, str(key))
    for key, name in keys.items():
        value, sub = getattr(model, name), raw.get(key)
        if isinstance(value, pydantic.BaseModel):
            found = _unknown_key(value, sub, (*path, key))
            if found is not None:
                return found
        elif isinstance(value, list) and isinstance(sub, list):
            for i, (item, raw_item) in enumerate(zip(value, sub, strict=False)):
                if isinstance(item, pydantic.BaseModel):
                    found = _unknown_key(item, raw_item, (*path, key, i))
                    if found is not None:
                        return found
    return None


def _locate(root: Any, path: _Path) -> tuple[int | None, _Path]:
    """The YAML line of the deepest node ``path`` reaches, and the parts that matched
    (pydantic adds union member names to a location; they match nothing and are skipped;
    every other part is in the YAML: the models have no required fields)."""
    node: Any = root
    matched: _Path = ()
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    node, matched = value, (*matched, part)
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            node, matched = node.value[part], (*matched, part)
    line = node.start_mark.line + 1 if node is not None else None
    return line, matched


def _path_text(path: _Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


# --------------------------------------------------------------------------- sql rules

#: The table a sql rule is checked against when the contract is parsed.
_PROBE = exp.table_("t", db="db", catalog="domain", quoted=True)


def rule_query(rule: QualityRule, table: exp.Table) -> exp.Query:
    """A sql rule's query over ``table`` (a quoted three-part name), its ``{property}`` the
    rule's quoted column. The placeholders become identifiers before parsing and are
    swapped on the tree, so no name is ever pasted into SQL text. ``InvalidInput`` when the
    query is not one SELECT that reads only its own table."""
    if rule.query is None:
        raise InvalidInput(f"quality rule {shown(rule.id)} has no query")
    tree = _template(rule)
    column = rule.column

    def bind(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and node.name == OBJECT_PLACEHOLDER and not node.db:
            bound = table.copy()
            alias = node.args.get("alias")
            if alias is not None:
                bound.set("alias", alias.copy())
            return bound
        if isinstance(node, exp.Identifier) and node.this == PROPERTY_PLACEHOLDER and column:
            return exp.to_identifier(column, quoted=True)
        return node

    bound = tree.transform(bind)
    text = bound.sql(dialect="duckdb")
    if OBJECT_PLACEHOLDER in text or PROPERTY_PLACEHOLDER in text:
        raise InvalidInput(
            f"quality rule {shown(rule.id)}: {{object}} may stand only for a table "
            "and {property} only for a column"
        )
    assert isinstance(bound, exp.Query)
    return bound


def _template(rule: QualityRule) -> exp.Query:
    name = shown(rule.id)
    text = _PLACEHOLDER.sub(
        lambda m: OBJECT_PLACEHOLDER if m[1] in ("object", "table") else PROPERTY_PLACEHOLDER,
        rule.query or "",
    )
    variable = _VARIABLE.search(text)
    if variable is not None:
        raise InvalidInput(
            f"quality rule {name}: the query uses {shown(variable[0])}; lakemesh resolves "
            "only {object} and {property}"
        )
    try:
        statements = [s for s in sqlglot.parse(text, read="duckdb") if s is not None]
    except SqlglotError as e:
        raise InvalidInput(f"quality rule {name}: the query does not parse: {_sql_error(e)}") from e
    if len(statements) != 1:
        raise InvalidInput(f"quality rule {name}: the query must be one SELECT statement")
    tree = statements[0]
    if not isinstance(tree, exp.Query) or tree.find(*_WRITES, exp.Into) is not None:
        raise InvalidInput(f"quality rule {name}: the query must be a SELECT")
    for table, scope in scoped_tables(tree):
        if table.name == OBJECT_PLACEHOLDER and not table.db:
            continue
        if isinstance(table.this, exp.Identifier) and not table.db and table.name.lower() in scope:
            continue  # a CTE of the query
        raise InvalidInput(
            f"quality rule {name}: the query may read only its own table, written {{object}}"
        )
    if rule.column is None and any(
        i.this == PROPERTY_PLACEHOLDER for i in tree.find_all(exp.Identifier)
    ):
        raise InvalidInput(
            f"quality rule {name}: the query uses {{property}}, but the rule is not "
            "attached to a property"
        )
    return tree


_TOKEN = re.compile(r"<Token token_type: [^,]+, text: (.*?), line: .*?>")


def _sql_error(error: SqlglotError) -> str:
    if isinstance(error, ParseError) and error.errors:
        text = str(error.errors[0].get("description") or "")
        return _one_line(_TOKEN.sub(r"'\1'", text))
    return _one_line(first_line(error))


# --------------------------------------------------------------------------- text


def number_text(value: float) -> str:
    """A number as a person writes it: 5, 0.25, 1e+06 only when huge."""
    return f"{value:.12g}" if not float(value).is_integer() else f"{int(value)}"


def named(name: str) -> str:
    """A name fit for a one-line message (quoted when it holds odd characters)."""
    return name if name.isprintable() and name.strip() == name and name else repr(name)


def shown(value: Any, limit: int = 80) -> str:
    text = repr(value) if not isinstance(value, str) else named(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _kind_of(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}
    return names.get(type(value), f"a {type(value).__name__}")
