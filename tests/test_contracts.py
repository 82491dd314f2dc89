"""Data contracts (ODCS v3): parsing, every refusal as one line, the schema check."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import yaml
from open_data_contract_standard.model import OpenDataContractStandard
from sqlglot import exp

from lakemesh.errors import InvalidInput
from lakemesh.products.conformance import check_schema, unknown_columns
from lakemesh.products.contracts import (
    Condition,
    ContractColumn,
    QualityRule,
    parse_contract,
    rule_query,
)
from lakemesh.products.quality import measure, metric_queries

FIXTURES = Path(__file__).parent / "fixtures" / "contracts"
CREDIT = (FIXTURES / "credit_profile.odcs.yaml").read_text()

#: The credit profile's columns as a crawl reports them (Arrow type text).
CREDIT_COLUMNS = {
    "customer_id": "string",
    "iban": "large_string",
    "email": "string",
    "age_in_years": "int32",
    "credit_amount": "decimal128(12, 2)",
    "purpose": "string",
    "creditability": "int8",
    "booked_at": "timestamp[us, tz=UTC]",
}


def minimal(**changes: Any) -> dict[str, Any]:
    """A small valid contract as data; ``changes`` replace top-level keys."""
    data: dict[str, Any] = {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "minimal",
        "version": "1.0.0",
        "schema": [
            {
                "name": "orders",
                "properties": [
                    {"name": "order_id", "logicalType": "string", "required": True},
                    {"name": "amount", "logicalType": "number"},
                    {"name": "placed_at", "logicalType": "timestamp"},
                ],
            }
        ],
    }
    data.update(changes)
    return data


def with_rule(rule: dict[str, Any], *, at: str | None = "amount") -> str:
    """The minimal contract with one quality rule on property ``at`` (None: the table)."""
    data = minimal()
    obj = data["schema"][0]
    if at is None:
        obj["quality"] = [rule]
    else:
        next(p for p in obj["properties"] if p["name"] == at)["quality"] = [rule]
    return yaml.safe_dump(data, sort_keys=False)


def refusal(text: str) -> str:
    with pytest.raises(InvalidInput) as info:
        parse_contract(text, "orders.yaml")
    message = str(info.value)
    assert message.startswith("orders.yaml: "), message
    assert "\n" not in message, message
    assert "Traceback" not in message
    return message


# --------------------------------------------------------------------------- parsing


def test_the_credit_profile_contract_parses() -> None:
    contract = parse_contract(CREDIT, "credit.yaml")
    assert contract.id == "2f3c8d4e-consumer-credit-profile"
    assert contract.version == "1.2.0"
    assert contract.api_version == "v3.1.0"
    assert contract.name == "Consumer credit profile"
    assert contract.status == "active"
    assert contract.object_name == "consumer_credit_profile"
    assert isinstance(contract.model, OpenDataContractStandard)
    assert [c.name for c in contract.columns] == list(CREDIT_COLUMNS)
    customer = contract.columns[0]
    assert customer == ContractColumn(
        name="customer_id",
        logical_type="string",
        physical_type="varchar(16)",
        required=True,
        unique=True,
        classification="restricted",
        description="Deterministic customer identifier.",
        property_name="customer_id",
        primary_key=True,
        tags=("pii",),
    )
    assert {r.id: (r.column, r.kind, r.rule) for r in contract.rules} == {
        "iban.invalidValues": ("iban", "library", "invalidValues"),
        "email.nullValues": ("email", "library", "nullValues"),
        "email.missingValues": ("email", "library", "missingValues"),
        "adults_only": ("age_in_years", "sql", None),
        "credit_amount.sql": ("credit_amount", "sql", None),
        "purpose.invalidValues": ("purpose", "library", "invalidValues"),
        "creditability.invalidValues": ("creditability", "library", "invalidValues"),
        "table.rowCount": (None, "library", "rowCount"),
        "one_booking_per_customer": (None, "library", "duplicateValues"),
        "table.sql": (None, "sql", None),
        "table.text": (None, "text", None),
        "customer_id.unique": ("customer_id", "library", "duplicateValues"),
    }
    rules = {r.id: r for r in contract.rules}
    assert rules["email.nullValues"].unit == "percent"
    assert rules["email.nullValues"].threshold == (Condition("mustBeLessThan", 10.0),)
    assert rules["email.missingValues"].missing_values == (None, "", "n/a")
    assert rules["creditability.invalidValues"].valid_values == (0, 1)
    assert rules["iban.invalidValues"].pattern == "^[A-Z]{2}[0-9]{2}[A-Z0-9]{4,30}$"
    assert rules["one_booking_per_customer"].properties == ("customer_id", "booked_at")
    assert rules["table.sql"].threshold == (Condition("mustBeBetween", (0.5, 1.0)),)
    assert not rules["table.text"].measurable
    assert contract.freshness is not None
    assert contract.freshness.column == "booked_at"
    assert contract.freshness.max_age == timedelta(days=1)
    assert contract.freshness.text == "1 d"


def test_a_contract_round_trips_through_the_standard_model() -> None:
    contract = parse_contract(CREDIT, "credit.yaml")
    again = parse_contract(contract.model.to_yaml(), "again.yaml")
    assert again.columns == contract.columns
    assert again.rules == contract.rules
    assert again.freshness == contract.freshness
    assert (again.id, again.version, again.object_name) == (
        contract.id,
        contract.version,
        contract.object_name,
    )


def test_a_contract_without_a_schema_or_sla_is_accepted() -> None:
    data = minimal()
    del data["schema"]
    contract = parse_contract(yaml.safe_dump(data))
    assert contract.columns == ()
    assert contract.rules == ()
    assert contract.freshness is None
    assert contract.object_name is None


def test_unquoted_dates_stay_strings_as_the_standard_types_them() -> None:
    text = yaml.safe_dump(minimal()) + "contractCreatedTs: 2024-11-15T02:59:43+00:00\n"
    contract = parse_contract(text)
    assert contract.model.contractCreatedTs == "2024-11-15T02:59:43+00:00"


def test_physical_names_are_the_table_columns_and_elements_resolve_either_name() -> None:
    data = minimal(
        slaProperties=[
            {"property": "freshness", "value": 6, "unit": "hours", "element": "orders.Placed"}
        ]
    )
    data["schema"][0]["properties"][2] = {
        "name": "Placed",
        "physicalName": "placed_at",
        "logicalType": "timestamp",
    }
    contract = parse_contract(yaml.safe_dump(data))
    assert contract.columns[2].name == "placed_at"
    assert contract.columns[2].property_name == "Placed"
    assert contract.freshness is not None
    assert contract.freshness.column == "placed_at"
    assert contract.freshness.max_age == timedelta(hours=6)


@pytest.mark.parametrize(
    ("value", "unit", "age"),
    [
        (30, "min", timedelta(minutes=30)),
        ("2", "D", timedelta(days=2)),
        (1.5, "h", timedelta(hours=1.5)),
        (1, "week", timedelta(weeks=1)),
        (45, "seconds", timedelta(seconds=45)),
    ],
)
def test_sla_latency_units(value: Any, unit: str, age: timedelta) -> None:
    sla = {"property": "latency", "value": value, "unit": unit}
    contract = parse_contract(yaml.safe_dump(minimal(slaProperties=[sla])))
    assert contract.freshness is not None
    assert contract.freshness.max_age == age
    assert contract.freshness.column is None  # no element: the table's update time


def test_generated_rule_ids_are_unique_and_avoid_explicit_names() -> None:
    data = minimal()
    data["schema"][0]["properties"][1]["quality"] = [
        {"metric": "nullValues", "mustBe": 0},
        {"metric": "nullValues", "mustBeLessThan": 5},
        {"name": "amount.nullValues-3", "metric": "nullValues", "mustBeLessThan": 9},
        {"metric": "nullValues"},
    ]
    contract = parse_contract(yaml.safe_dump(data))
    assert [r.id for r in contract.rules] == [
        "amount.nullValues",
        "amount.nullValues-2",
        "amount.nullValues-3",
        "amount.nullValues-4",
    ]
    assert contract.rules[3].threshold == ()
    assert contract.rules[3].passes(123)  # no threshold: nothing to fail


@pytest.mark.parametrize(
    ("operator", "value", "passing", "failing"),
    [
        ("mustBe", 0, [0], [1, -1]),
        ("mustNotBe", 3, [2, 4], [3]),
        ("mustBeGreaterThan", 10, [10.5], [10, 9]),
        ("mustBeGreaterOrEqualTo", 10, [10, 11], [9.99]),
        ("mustBeLessThan", 5, [4.9], [5, 6]),
        ("mustBeLessOrEqualTo", 5, [5, 0], [5.01]),
        ("mustBeBetween", [0, 100], [1, 99.9], [0, 100, 101]),  # exclusive, per the standard
        ("mustNotBeBetween", [0, 100], [0, 100, -1], [50]),
        ("mustBe", True, [1], [0]),
    ],
)
def test_thresholds(operator: str, value: Any, passing: list[float], failing: list[float]) -> None:
    contract = parse_contract(with_rule({"metric": "nullValues", operator: value}))
    rule = contract.rules[0]
    assert all(rule.passes(v) for v in passing)
    assert not any(rule.passes(v) for v in failing)


# --------------------------------------------------------------------------- refusals


def test_not_yaml_names_the_line() -> None:
    text = "apiVersion: v3.1.0\nkind: DataContract\nschema: [\n  - name: x\n  bad: : :\n"
    assert "line " in refusal(text)
    assert "not valid YAML" in refusal(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("- a\n- b\n", "a YAML mapping, not a list"),
        ("just text\n", "a YAML mapping, not a string"),
        (yaml.safe_dump(minimal(apiVersion="v2.2.2")), "unsupported apiVersion v2.2.2"),
        (yaml.safe_dump(minimal(apiVersion="v4.0.0")), "unsupported apiVersion v4.0.0"),
        (yaml.safe_dump(minimal(kind="DataProduct")), "kind must be DataContract"),
        (yaml.safe_dump(minimal(id=None)), "the required field id is missing"),
        (yaml.safe_dump(minimal(version=None)), "the required field version is missing"),
        (yaml.safe_dump(minimal(version=1.0)), "version: Input should be a valid string"),
        (yaml.safe_dump(minimal(owner="me")), "owner: Extra inputs are not permitted"),
        (
            yaml.safe_dump(minimal(schema=[{"name": "a"}, {"name": "b"}])),
            "describes 2 schema objects",
        ),
        (yaml.safe_dump(minimal(schema=[{"properties": []}])), "the schema object has no name"),
        ("a: 1\na: 2\n", "line 2: duplicate key 'a'"),
    ],
)
def test_a_bad_document_is_one_line(text: str, expected: str) -> None:
    assert expected in refusal(text)


def test_an_odcs_type_error_names_its_place_and_line() -> None:
    data = minimal()
    data["schema"][0]["properties"][0]["required"] = "perhaps"
    message = refusal(yaml.safe_dump(data, sort_keys=False))
    assert "schema[0].properties[0].required: Input should be a valid boolean" in message
    assert "line 10:" in message


def test_a_misspelt_key_the_models_would_drop_is_refused_with_its_line() -> None:
    text = with_rule({"metric": "nullValues", "mustBeLessThen": 3})
    message = refusal(text)
    assert "unknown field mustBeLessThen" in message
    assert "schema[0].properties[1].quality[0]" in message
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "mustBeLessThen" in s)
    assert f"line {line}:" in message


def test_duplicate_columns_are_refused_ignoring_case() -> None:
    data = minimal()
    data["schema"][0]["properties"].append({"name": "amount"})
    assert "column amount appears twice" in refusal(yaml.safe_dump(data))
    data["schema"][0]["properties"][-1] = {"name": "Order_ID"}
    assert "column Order_ID appears twice" in refusal(yaml.safe_dump(data))


@pytest.mark.parametrize(
    ("rule", "at", "expected"),
    [
        ({"type": "sql", "query": "DELETE FROM {object}"}, None, "must be a SELECT"),
        ({"type": "sql", "query": "DROP TABLE {object}"}, None, "must be a SELECT"),
        ({"type": "sql", "query": "SELECT count(* FROM {object}"}, None, "does not parse"),
        ({"type": "sql", "query": "SELECT 1; SELECT 2"}, None, "one SELECT statement"),
        ({"type": "sql", "query": "SELECT count(*) FROM other.db.t"}, None, "only its own table"),
        (
            {"type": "sql", "query": "SELECT count(*) FROM read_parquet('/etc/x.parquet')"},
            None,
            "only its own table",
        ),
        (
            {"type": "sql", "query": "SELECT count(*) FROM {object} WHERE {property} > 0"},
            None,
            "not attached to a property",
        ),
        (
            {"type": "sql", "query": "SELECT count(*) FROM {object} WHERE x = '{object}'"},
            None,
            "{object} may stand only for a table",
        ),
        ({"type": "sql", "query": "SELECT count(*) FROM ${TARGET}"}, None, "uses ${TARGET}"),
        ({"type": "sql"}, "amount", "is sql but has no query"),
        ({"metric": "nullValue", "mustBe": 0}, "amount", "unknown library metric nullValue"),
        ({"type": "library", "mustBe": 0}, "amount", "a library rule needs a metric"),
        ({"metric": "invalidValues", "mustBe": 0}, "amount", "needs arguments.validValues"),
        (
            {"metric": "invalidValues", "arguments": {"pattern": "(unclosed"}},
            "amount",
            "the pattern is not valid",
        ),
        ({"metric": "rowCount", "mustBe": 0}, "amount", "rowCount is a table-level metric"),
        ({"metric": "nullValues", "mustBe": 0}, None, "nullValues is a property-level metric"),
        (
            {"metric": "duplicateValues", "mustBe": 0},
            None,
            "needs arguments.properties",
        ),
        (
            {"metric": "duplicateValues", "arguments": {"properties": ["nope"]}},
            None,
            "unknown property nope",
        ),
        (
            {"metric": "nullValues", "arguments": {"values": [1]}},
            "amount",
            "takes no argument values",
        ),
        ({"metric": "nullValues", "unit": "bytes"}, "amount", "unit bytes does not apply"),
        ({"metric": "rowCount", "unit": "percent"}, None, "unit percent does not apply"),
        ({"metric": "nullValues", "mustBe": "zero"}, "amount", "mustBe must be a number"),
        (
            {"metric": "nullValues", "mustBeBetween": [5, 1]},
            "amount",
            "takes the smaller number first",
        ),
        ({"type": "magic"}, "amount", "unknown quality rule type magic"),
    ],
)
def test_a_bad_quality_rule_is_one_line(
    rule: dict[str, Any], at: str | None, expected: str
) -> None:
    message = refusal(with_rule(rule, at=at))
    assert expected in message
    assert "line " in message


def test_two_rules_with_one_name_are_refused() -> None:
    data = minimal()
    data["schema"][0]["quality"] = [
        {"name": "volume", "metric": "rowCount", "mustBeGreaterThan": 0},
        {"name": "volume", "metric": "rowCount", "mustBeLessThan": 10},
    ]
    assert "two quality rules are named volume" in refusal(yaml.safe_dump(data))


def test_rules_inside_nested_properties_are_refused() -> None:
    data = minimal()
    data["schema"][0]["properties"].append(
        {
            "name": "address",
            "logicalType": "object",
            "properties": [{"name": "zip", "quality": [{"metric": "nullValues", "mustBe": 0}]}],
        }
    )
    assert "quality rules inside address are not supported" in refusal(yaml.safe_dump(data))


def test_an_unknown_logical_type_is_refused() -> None:
    data = minimal()
    data["schema"][0]["properties"][1]["logicalType"] = "money"
    assert "unknown logicalType money of amount" in refusal(yaml.safe_dump(data))


@pytest.mark.parametrize(
    ("sla", "expected"),
    [
        ({"property": "latency", "value": 1, "unit": "fortnights"}, "not fortnights"),
        ({"property": "latency", "value": 1, "unit": "m"}, "minutes or months?"),
        ({"property": "latency", "value": 1}, "needs a unit of time"),
        ({"property": "latency", "value": -1, "unit": "d"}, "needs a positive number"),
        ({"property": "latency", "value": "soon", "unit": "d"}, "needs a positive number"),
        ({"property": "latency", "value": True, "unit": "d"}, "needs a positive number"),
        ({"property": "latency", "value": 1e11, "unit": "y"}, "is too long"),
        (
            {"property": "latency", "value": 1, "unit": "d", "element": "orders.nope"},
            "names orders.nope, which is not a column",
        ),
        (
            {"property": "latency", "value": 1, "unit": "d", "element": "placed_at,amount"},
            "names several elements",
        ),
        (
            {"property": "latency", "value": 1, "unit": "d", "element": "amount"},
            "which is number, not a date or timestamp",
        ),
        ({"property": "latency", "value": 1, "unit": "d", "elements": "x"}, "unknown field"),
    ],
)
def test_a_bad_sla_is_one_line(sla: dict[str, Any], expected: str) -> None:
    assert expected in refusal(yaml.safe_dump(minimal(slaProperties=[sla])))


def test_two_freshness_slas_are_refused() -> None:
    slas = [
        {"property": "latency", "value": 1, "unit": "d"},
        {"property": "freshness", "value": 2, "unit": "d"},
    ]
    assert "more than one freshness SLA" in refusal(yaml.safe_dump(minimal(slaProperties=slas)))


def test_other_sla_properties_are_kept_but_not_checked() -> None:
    slas = [{"property": "retention", "value": 3, "unit": "y"}]
    contract = parse_contract(yaml.safe_dump(minimal(slaProperties=slas)))
    assert contract.freshness is None
    assert contract.model.slaProperties[0].property == "retention"


def test_a_huge_contract_is_refused_before_parsing() -> None:
    assert "larger than" in refusal("a: " + "x" * 1_000_001)


# --------------------------------------------------------------------------- sql templates


def test_placeholders_are_swapped_on_the_tree() -> None:
    table = exp.table_("profile", db="credit", catalog="bank", quoted=True)
    rule = QualityRule(
        id="r",
        column='we"ird',
        kind="sql",
        rule=None,
        query="SELECT count(*) FROM ${object} AS t WHERE t.{property} IS NULL",
        threshold=(),
        description=None,
    )
    assert rule_query(rule, table).sql("duckdb") == (
        'SELECT COUNT(*) FROM "bank"."credit"."profile" AS t WHERE t."we""ird" IS NULL'
    )


# --------------------------------------------------------------------------- schema check


def test_the_credit_profile_fits_its_table() -> None:
    contract = parse_contract(CREDIT, "credit.yaml")
    assert check_schema(contract, CREDIT_COLUMNS) == []
    assert unknown_columns(contract, CREDIT_COLUMNS) == []


def test_a_column_that_disappeared_is_a_breaking_change() -> None:
    contract = parse_contract(CREDIT, "credit.yaml")
    columns = {k: v for k, v in CREDIT_COLUMNS.items() if k not in ("iban", "purpose")}
    assert unknown_columns(contract, columns) == ["iban", "purpose"]
    violations = check_schema(contract, columns)
    assert [(v.kind, v.column) for v in violations] == [
        ("missing_column", "iban"),
        ("missing_column", "purpose"),
    ]
    assert violations[0].message == "column iban is in the contract but not in the table"


def test_a_type_that_does_not_fit_is_a_violation() -> None:
    contract = parse_contract(CREDIT, "credit.yaml")
    columns = {**CREDIT_COLUMNS, "age_in_years": "string", "credit_amount": "double"}
    violations = check_schema(contract, columns)
    assert [(v.kind, v.column) for v in violations] == [
        ("type_mismatch", "age_in_years"),
        ("type_mismatch", "credit_amount"),
    ]
    assert "does not fit the contract's logicalType integer" in violations[0].message
    assert "does not fit the contract's physicalType decimal(12, 2)" in violations[1].message


@pytest.mark.parametrize(
    ("logical", "actual", "fits"),
    [
        ("string", "string", True),
        ("string", "large_string", True),
        ("string", "string_view", True),
        ("string", "dictionary<values=string, indices=int32, ordered=0>", True),
        ("string", "int64", False),
        ("integer", "int32", True),
        ("integer", "uint8", True),
        ("integer", "double", False),
        ("integer", "decimal128(12, 0)", False),
        ("number", "int64", True),
        ("number", "double", True),
        ("number", "decimal128(12, 2)", True),
        ("number", "string", False),
        ("boolean", "bool", True),
        ("boolean", "int8", False),
        ("date", "date32[day]", True),
        ("date", "timestamp[ns]", True),
        ("date", "string", False),
        ("timestamp", "timestamp[us]", True),
        ("timestamp", "timestamp[us, tz=UTC]", True),
        ("timestamp", "date32[day]", False),
        ("time", "time64[us]", True),
        ("time", "timestamp[us]", False),
        ("object", "struct<a: int64, b: string>", True),
        ("object", "map<string, int64>", True),
        ("object", "list<item: int64>", False),
        ("array", "list<item: int64>", True),
        ("array", "large_list<item: string>", True),
        ("array", "string", False),
        ("map", "map<string, int64>", True),
        ("string", "null", True),  # an all-null column fits anything
        ("string", "extension<my.uuid>", True),  # unknown types are not judged
    ],
)
def test_logical_type_fits(logical: str, actual: str, fits: bool) -> None:
    column = ContractColumn("c", logical, None, False, False, None, None)
    contract = _contract_with(column)
    assert (check_schema(contract, {"c": actual}) == []) is fits


@pytest.mark.parametrize(
    ("physical", "actual", "fits"),
    [
        ("varchar(18)", "string", True),
        ("VARCHAR", "large_string", True),
        ("varchar(18)", "int64", False),
        ("INT", "int32", True),
        ("bigint", "int64", True),
        ("int64", "int16", True),
        ("INT", "double", False),
        ("DECIMAL(12,2)", "decimal128(12, 2)", True),
        ("NUMBER(38,0)", "int64", True),
        ("DECIMAL(12,2)", "double", False),
        ("DOUBLE", "int64", True),
        ("float64", "decimal128(10, 2)", True),
        ("DOUBLE", "string", False),
        ("TIMESTAMP WITH TIME ZONE", "timestamp[us, tz=UTC]", True),
        ("timestamp", "date32[day]", False),
        ("DATE", "date32[day]", True),
        ("boolean", "bool", True),
        ("array<int>", "list<item: int32>", True),
        ("json", "string", True),  # not judged
        ("some vendor type", "int64", True),  # not judged
    ],
)
def test_physical_type_fits(physical: str, actual: str, fits: bool) -> None:
    column = ContractColumn("c", None, physical, False, False, None, None)
    contract = _contract_with(column)
    assert (check_schema(contract, {"c": actual}) == []) is fits


def _contract_with(column: ContractColumn) -> Any:
    contract = parse_contract(yaml.safe_dump(minimal()))
    return replace(contract, columns=(column,), rules=())


# --------------------------------------------------------------------------- hostile names


def test_a_hostile_column_name_is_only_ever_a_quoted_identifier() -> None:
    """Names in a contract reach SQL only as quoted identifiers: measured on DuckDB, the
    column is read and nothing else happens."""
    name = 'a"; DROP TABLE x; --'
    data = minimal(
        slaProperties=[{"property": "latency", "value": 1, "unit": "d", "element": name}]
    )
    data["schema"][0]["properties"] = [
        {
            "name": name,
            "logicalType": "timestamp",
            "required": True,
            "unique": True,
            "quality": [
                {"metric": "nullValues", "mustBe": 0},
                {"metric": "missingValues", "arguments": {"missingValues": ["x'); --"]}},
                {"metric": "invalidValues", "arguments": {"pattern": "^2024"}, "mustBe": 0},
                {"type": "sql", "query": "SELECT count({property}) FROM {object}", "mustBe": 2},
            ],
        }
    ]
    data["schema"][0]["quality"] = [
        {"metric": "duplicateValues", "arguments": {"properties": [name]}, "mustBe": 0}
    ]
    contract = parse_contract(yaml.safe_dump(data), "hostile.yaml")
    con = duckdb.connect()
    try:
        con.execute("ATTACH ':memory:' AS bank")
        con.execute("CREATE SCHEMA bank.credit")
        con.execute("CREATE TABLE x (id INTEGER)")
        con.execute("CREATE TABLE bank.credit.x (id INTEGER)")
        moments = pa.array([datetime(2024, 5, 1), datetime(2024, 5, 2)], pa.timestamp("us"))
        con.register("staging", pa.table({name: moments}))
        con.execute("CREATE TABLE bank.credit.profile AS SELECT * FROM staging")
        con.unregister("staging")
        columns = {name: "timestamp[us]"}

        def run_sql(sql: str) -> pa.Table:
            return con.sql(sql).to_arrow_table()

        queries = metric_queries(contract, "bank.credit.profile", columns)
        metrics = measure(
            contract,
            "bank.credit.profile",
            columns,
            run_sql,
            updated_at=None,
            now=datetime(2024, 5, 2, 12, tzinfo=UTC),
        )
        assert len(queries) == 3
        assert [(m.kind, m.value, m.passed) for m in metrics] == [
            ("row_count", 2.0, None),
            ("completeness", 1.0, True),
            ("validity", 0.0, True),  # nullValues
            ("validity", 0.0, None),  # missingValues
            ("validity", 0.0, True),  # invalidValues
            ("validity", 0.0, True),  # table-level duplicateValues
            ("validity", 0.0, True),  # unique
            ("validity", 2.0, True),  # the sql rule
            ("freshness", 12 * 3600.0, True),
        ]
        tables = con.sql("SELECT database_name, table_name FROM duckdb_tables()").fetchall()
        assert sorted(tables) == [
            ("bank", "profile"),
            ("bank", "x"),
            ("memory", "x"),
        ]
    finally:
        con.close()


def test_yaml_alias_bombs_and_cycles_are_refused() -> None:
    lines = ["apiVersion: v3.1.0", "kind: DataContract", "id: x", "version: '1'"]
    lines.append("p0: &p0 {name: a}")
    for i in range(1, 9):
        lines.append(f"p{i}: &p{i} {{name: a, properties: [{', '.join([f'*p{i - 1}'] * 10)}]}}")
    lines.append("schema: [{name: t, properties: [*p8]}]")
    assert "expands to more than 200000 elements" in refusal("\n".join(lines))
    assert "refers to its own anchor" in refusal("a: &a [1, *a]\n")
