"""OpenLineage run events: written by the real openlineage client, read back exactly;
hand-written events as the spec shows them; every malformed input one line that names
where; our tables as datasets and back."""

from __future__ import annotations

import copy
import functools
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openlineage.client.event_v2 import InputDataset, Job, Run, RunState
from openlineage.client.event_v2 import RunEvent as ClientRunEvent
from openlineage.client.transport.file import FileConfig, FileTransport

from lakemesh.errors import InvalidInput
from lakemesh.products.lineage import (
    EVENT_TYPES,
    MAX_DATASETS,
    MAX_DEPTH,
    MAX_KEY_CHARS,
    MAX_NAME_CHARS,
    MAX_PAIRS,
    MAX_TEXT_CHARS,
    PRODUCER,
    ColumnLineage,
    Dataset,
    RunEvent,
    dataset_table,
    emit_run,
    parse_event,
    parse_events,
    table_dataset,
)

FIXTURES = Path(__file__).parent / "fixtures" / "lineage"
RAW = Dataset("file", "/srv/mesh/consumer_banking/raw/kredit/kredit_raw.csv")
CURATED = table_dataset("consumer_banking.credit.profile")
RUN_ID = "5f2c1e0a-3b7d-4c8e-9a61-0d2b7e4f8a11"


def refused(call: Callable[[], object]) -> str:
    """The one-line message ``call`` is refused with."""
    with pytest.raises(InvalidInput) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    return message


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def event(**changes: Any) -> dict[str, Any]:
    """A small valid run event; ``changes`` replace top-level members (None removes)."""
    data: dict[str, Any] = {
        "eventType": "COMPLETE",
        "eventTime": "2026-03-02T08:01:12Z",
        "run": {"runId": RUN_ID},
        "job": {"namespace": "airflow-prod", "name": "credit_daily.extract"},
        "inputs": [{"namespace": "postgres://core-db:5432", "name": "banking.public.loans"}],
        "outputs": [{"namespace": "s3://landing", "name": "loans/2026-03-02.parquet"}],
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.24.0/integration/airflow",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return data


# --------------------------------------------------------------------------- the client


def test_emitted_run_reads_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "lineage" / "curation.jsonl"
    started = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    edges = [
        ColumnLineage(CURATED, "checking_status", RAW, "laufkont"),
        ColumnLineage(CURATED, "duration_months", RAW, "laufzeit"),
    ]
    run_id = emit_run(
        path,
        job_namespace="lakemesh://consumer_banking",
        job_name="demo.curate_credit",
        inputs=[RAW],
        outputs=[CURATED],
        column_lineage=edges,
        started_at=started,
    )
    start, complete = parse_events(path.read_text(encoding="utf-8"), path.name)
    assert [start.event_type, complete.event_type] == ["START", "COMPLETE"]
    assert start.event_time == started
    assert started < complete.event_time <= datetime.now(UTC)
    assert complete.event_time.tzinfo is UTC
    for parsed in (start, complete):
        assert parsed.run_id == run_id
        assert (parsed.job_namespace, parsed.job_name) == (
            "lakemesh://consumer_banking",
            "demo.curate_credit",
        )
        assert parsed.inputs == (RAW,)
        assert parsed.outputs == (CURATED,)
        assert parsed.column_lineage == tuple(edges)
        assert parsed.producer == PRODUCER
        assert parsed.producer.endswith("/tree/0.1.0")
        assert parsed.schema_url == (
            "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
        )
    assert start.digest != complete.digest
    # one JSON line per event, the client's FileTransport in append mode
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2


def test_a_second_run_appends_to_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "lineage.jsonl"
    first = emit_run(path, job_namespace="ns", job_name="job", inputs=[RAW], outputs=[CURATED])
    given = "0190b7e2-0000-7000-8000-000000000001"
    second = emit_run(
        path, job_namespace="ns", job_name="job", inputs=[], outputs=[CURATED], run_id=given
    )
    assert second == given != first
    events = parse_events(path.read_text(encoding="utf-8"), "lineage.jsonl")
    assert [e.run_id for e in events] == [first, first, given, given]
    assert events[2].inputs == ()


def test_emitting_ignores_the_machines_openlineage_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever openlineage.yml or OPENLINEAGE_* say, the events go to the file and
    nowhere else (port 9 is discard: a client that tried HTTP would fail or hang)."""
    (tmp_path / "openlineage.yml").write_text("transport: [this is: not, a config\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", "http://127.0.0.1:9")
    monkeypatch.setenv("OPENLINEAGE__FILTERS", '[{"type": "exact", "match": "job"}]')
    monkeypatch.setenv("OPENLINEAGE__FACETS__ENVIRONMENT_VARIABLES", '["HOME"]')
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(tmp_path / "openlineage.yml"))
    before = dict(os.environ)
    path = tmp_path / "out.jsonl"
    run_id = emit_run(path, job_namespace="ns", job_name="job", inputs=[RAW], outputs=[CURATED])
    assert dict(os.environ) == before
    text = path.read_text(encoding="utf-8")
    assert [e.run_id for e in parse_events(text, "out.jsonl")] == [run_id, run_id]
    assert "environmentVariables" not in text and "sourceCodeLocation" not in text


def test_one_file_per_event_as_the_file_transport_writes_without_append(
    tmp_path: Path,
) -> None:
    """Without ``append`` the transport writes ``<log_file_path>-<YYYYmmdd-HHMMSS.ffffff>.json``
    for each event (pretty-printed in debug mode); each file reads on its own."""
    for debug in (False, True):
        folder = tmp_path / f"debug-{debug}"
        folder.mkdir()
        transport = FileTransport(
            FileConfig(log_file_path=str(folder / "ol"), append=False, debug_mode=debug)
        )
        for state in (RunState.START, RunState.COMPLETE):
            transport.emit(
                ClientRunEvent(
                    eventType=state,
                    eventTime=datetime.now(UTC).isoformat(),
                    run=Run(runId=RUN_ID),
                    job=Job(namespace="ns", name="job"),
                    inputs=[InputDataset(namespace="file", name="/tmp/in.csv")],
                )
            )
        files = sorted(folder.glob("ol-*.json"))
        assert len(files) == 2
        events = [e for f in files for e in parse_events(f.read_text(encoding="utf-8"), f.name)]
        assert [e.event_type for e in events] == ["START", "COMPLETE"]
        assert all(e.inputs == (Dataset("file", "/tmp/in.csv"),) for e in events)


def test_the_clients_event_object_is_accepted_from_python() -> None:
    client_event = ClientRunEvent(
        eventType=RunState.RUNNING,
        eventTime="2026-03-02T08:00:00+02:00",
        run=Run(runId=RUN_ID),
        job=Job(namespace="ns", name="job"),
        producer="https://example.com/producer",
    )
    parsed = parse_event(client_event)
    assert parsed.event_type == "RUNNING"
    assert parsed.event_time == datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def test_event_types_are_the_clients() -> None:
    assert set(EVENT_TYPES) == {state.value for state in RunState}


def test_emitting_refuses_what_would_not_read_back(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    common: dict[str, Any] = {"job_namespace": "ns", "inputs": [RAW], "outputs": [CURATED]}
    assert "job.name is empty" in refused(lambda: emit_run(path, job_name=" ", **common))
    assert "inputs[0].name holds a control character" in refused(
        lambda: emit_run(
            path, job_name="j", job_namespace="ns", inputs=[Dataset("file", "/a\0")], outputs=[]
        )
    )
    assert "is not a UUID" in refused(lambda: emit_run(path, job_name="j", run_id="7", **common))
    assert "not an output" in refused(
        lambda: emit_run(
            path, job_name="j", column_lineage=[ColumnLineage(RAW, "a", RAW, "b")], **common
        )
    )
    assert "timezone-aware" in refused(
        lambda: emit_run(path, job_name="j", started_at=datetime(2026, 1, 1), **common)
    )
    assert not path.exists()
    assert "is a folder" in refused(lambda: emit_run(tmp_path, job_name="j", **common))


# --------------------------------------------------------------------------- fixtures


def test_a_spark_event_with_facets_and_column_lineage() -> None:
    (parsed,) = parse_events(fixture("spark_complete.json"), "spark_complete.json")
    profile = Dataset("lakemesh://consumer_banking", "credit.profile")
    ratings = Dataset("s3a://ratings-bucket", "ratings/2026/03")
    enriched = Dataset("file", "/srv/mesh/investment_banking/risk/profile_enriched")
    assert parsed == RunEvent(
        run_id="0176a8c2-fe01-7439-87e6-56a1a1b4c1e9",  # upper case in the file
        event_type="COMPLETE",
        # nine fractional digits, +01:00: read to the microsecond, in UTC
        event_time=datetime(2026, 3, 2, 8, 15, 42, 123456, tzinfo=UTC),
        job_namespace="spark-prod",
        job_name="credit_daily.enrich_profiles",
        inputs=(profile, ratings),
        outputs=(enriched,),
        producer="https://github.com/OpenLineage/OpenLineage/tree/1.24.0/integration/spark",
        schema_url="https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        column_lineage=(
            ColumnLineage(enriched, "customer_id", profile, "customer_id"),
            ColumnLineage(enriched, "rating", ratings, "rating"),
            ColumnLineage(enriched, "rating", ratings, "customer_id"),
        ),
        digest=parsed.digest,
    )
    # the digest is the event's, not its spelling
    data = json.loads(fixture("spark_complete.json"))
    assert parse_event(dict(reversed(data.items()))).digest == parsed.digest
    data["job"]["facets"]["sql"]["query"] += " -- changed"
    assert parse_event(data).digest != parsed.digest


def test_json_lines_with_a_blank_line_and_an_event_without_datasets() -> None:
    events = parse_events(fixture("airflow_run.jsonl"), "airflow_run.jsonl")
    assert [e.event_type for e in events] == ["START", "RUNNING", "COMPLETE"]
    assert events[1].inputs == events[1].outputs == ()
    assert events[2].event_time == datetime(2026, 3, 2, 8, 1, 12, 500000, tzinfo=UTC)
    assert events[2].outputs == (Dataset("s3://landing", "loans/2026-03-02.parquet"),)
    assert events[2].outputs[0].key == "s3://landing/loans/2026-03-02.parquet"


def test_a_json_array_of_events() -> None:
    start, fail = parse_events(fixture("two_events.json"), "two_events.json")
    assert (start.event_type, fail.event_type) == ("START", "FAIL")
    assert start.event_time == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert start.inputs == (CURATED,)


def test_a_file_with_one_bad_line_returns_nothing() -> None:
    message = refused(lambda: parse_events(fixture("bad_second_line.jsonl"), "bad.jsonl"))
    assert message == "bad.jsonl line 2: run.runId is not a UUID ('run-42')"


def test_an_event_without_type_or_schema_url_is_other() -> None:
    parsed = parse_event(event(eventType=None, schemaURL=None))
    assert (parsed.event_type, parsed.schema_url) == ("OTHER", None)


def test_repeated_datasets_count_once() -> None:
    item = {"namespace": "file", "name": "/a"}
    parsed = parse_event(event(inputs=[item, item, {"namespace": "file", "name": "/b"}]))
    assert parsed.inputs == (Dataset("file", "/a"), Dataset("file", "/b"))


# --------------------------------------------------------------------------- malformed


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change at a dotted path (``inputs.0.namespace``); ``...`` deletes."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        key = int(last) if isinstance(target, list) else last
        if value is ...:
            del target[key]
        else:
            target[key] = value

    return change


COLUMN_LINEAGE = {
    "columnLineage": {"fields": {"rating": {"inputFields": [{"namespace": "s3://r", "name": "x"}]}}}
}

MALFORMED: list[tuple[str, Any, str]] = [
    ("eventTime", ..., "eventTime is missing"),
    ("eventTime", None, "eventTime is null"),
    ("eventTime", 1772438472, "eventTime must be a string, not a number"),
    ("eventTime", "2026-03-02T08:01:12", "eventTime has no time zone offset"),
    ("eventTime", "yesterday at noon", "eventTime is not an ISO 8601 date-time"),
    ("eventTime", "2026-03-02", "eventTime is not an ISO 8601 date-time"),
    ("eventTime", "2026-02-30T08:00:00Z", "eventTime is not an ISO 8601 date-time"),
    ("eventTime", "0001-01-01T00:00:00+01:00", "eventTime is out of range"),
    ("run.runId", "42", "run.runId is not a UUID ('42')"),
    ("run.runId", 42, "run.runId must be a string, not a number"),
    ("run", ..., "run is missing"),
    ("run", [], "run must be an object, not a list"),
    ("run.facets", "x", "run.facets must be an object, not a string"),
    ("eventType", "DONE", "eventType 'DONE' is not one of START, RUNNING, COMPLETE, ABORT"),
    ("eventType", "complete", "eventType 'complete' is not one of"),
    ("job.name", ..., "job.name is missing"),
    ("job.name", "", "job.name is empty"),
    ("job.namespace", "a\nb", "job.namespace holds a control character ('a\\nb')"),
    ("job", ..., "job is missing"),
    ("producer", ..., "producer is missing"),
    ("producer", "not a uri", "producer is not a URI ('not a uri')"),
    ("schemaURL", 5, "schemaURL must be a string, not a number"),
    ("inputs", {"namespace": "file", "name": "/a"}, "inputs must be a list, not an object"),
    ("inputs.0.namespace", ..., "inputs[0].namespace is missing"),
    ("inputs.0.name", True, "inputs[0].name must be a string, not a boolean"),
    ("inputs.0.facets", [], "inputs[0].facets must be an object, not a list"),
    ("inputs.0.inputFacets", 1, "inputs[0].inputFacets must be an object, not a number"),
    ("outputs.0", "s3://landing/x", "outputs[0] must be an object, not a string"),
    ("outputs.0.name", "x" * (MAX_NAME_CHARS + 1), "outputs[0].name is longer than 1,000"),
    (
        "outputs.0",
        {"namespace": "n" * 100, "name": "x" * MAX_NAME_CHARS},
        "outputs[0] namespace and name together exceed 1,100 characters",
    ),
    ("outputs.0.facets", COLUMN_LINEAGE, "['rating'].inputFields[0].field is missing"),
    ("outputs.0.facets", {"columnLineage": {"fields": []}}, "fields must be an object, not a"),
    ("outputs.0.facets", {"columnLineage": {"fields": {"a": 1}}}, "['a'] must be an object"),
    ("run.facets", {"x": {"v": float("nan")}}, "holds nan, which is not a JSON number"),
    ("run.facets", {"x": datetime(2026, 1, 1)}, "holds a datetime, which is not a JSON value"),
]


@pytest.mark.parametrize(("path", "value", "expected"), MALFORMED)
def test_a_malformed_event_is_one_line_naming_where(path: str, value: Any, expected: str) -> None:
    data = event()
    _set(path, value)(data)
    message = refused(lambda: parse_event(data, "lineage.json event 3"))
    assert message.startswith("lineage.json event 3: "), message
    assert expected in message, message
    try:
        line = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError):
        return  # not JSON: only Python code can hand it over
    # the same event inside a file: named by its line
    message = refused(lambda: parse_events(json.dumps(event()) + "\n" + line, "runs.jsonl"))
    assert message.startswith("runs.jsonl line 2: ") and expected in message, message


def test_job_and_dataset_events_are_refused() -> None:
    job_event = {
        "eventTime": "2026-03-02T08:00:00Z",
        "job": {"namespace": "ns", "name": "job"},
        "inputs": [],
        "producer": "https://example.com/p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
    }
    assert "is a JobEvent: only run events" in refused(lambda: parse_event(job_event))
    del job_event["schemaURL"]
    assert "is a JobEvent" in refused(lambda: parse_event(job_event))
    dataset_event = {
        "eventTime": "2026-03-02T08:00:00Z",
        "dataset": {"namespace": "ns", "name": "t"},
        "producer": "https://example.com/p",
    }
    assert "is a DatasetEvent" in refused(lambda: parse_event(dataset_event))


def test_too_many_datasets_or_pairs() -> None:
    many = [{"namespace": "file", "name": f"/d/{n}"} for n in range(MAX_DATASETS + 1)]
    message = refused(lambda: parse_event(event(inputs=many, outputs=[]), "e"))
    assert message == "e: names 10,001 datasets: at most 10,000 an event"
    side = int(MAX_PAIRS**0.5) + 1
    message = refused(lambda: parse_event(event(inputs=many[:side], outputs=many[:side]), "e"))
    assert "at most 100,000 input-output pairs an event" in message


def test_deep_nesting_is_refused_without_recursion() -> None:
    deep: dict[str, Any] = {}
    for _ in range(100_000):
        deep = {"x": deep}
    message = refused(lambda: parse_event(event(run={"runId": RUN_ID, "facets": deep}), "e"))
    assert message == f"e: is nested deeper than {MAX_DEPTH} levels"
    # within the limit is fine
    shallow: dict[str, Any] = {}
    for _ in range(MAX_DEPTH - 4):
        shallow = {"x": shallow}
    parse_event(event(run={"runId": RUN_ID, "facets": {"f": shallow}}))
    # as text: too deep for the JSON decoder itself, or only for our limit
    assert "nested deeper than" in refused(lambda: parse_events("[" * 100_000, "deep.json"))
    text = json.dumps(event(run={"runId": RUN_ID, "facets": {"f": shallow}}))
    text = text.replace('{"x": {}}', '{"x": {"x": {"x": {"x": {"x": {}}}}}}')
    assert "nested deeper than" in refused(lambda: parse_events(text, "deep.json"))


def test_a_file_that_is_not_events() -> None:
    cases = {
        '{"eventType": "START",\n "eventTime": }': (
            "x.json: not JSON at line 2, column 15 (Expecting value)"
        ),
        json.dumps(event()) + " trailing": "x.json: not JSON at line 1, column",
        "42": "x.json: an event must be a JSON object, not a number",
        '"an event"': "x.json: an event must be a JSON object, not a string",
        "null": "x.json: an event must be a JSON object, not null",
        f"[{json.dumps(event())}, 7]": "x.json event 2: an event must be a JSON object, not a",
        f"{json.dumps(event())}\n[]": "x.json line 2: an event must be a JSON object, not a list",
        "": "x.json: holds no lineage events",
        " \n\n ": "x.json: holds no lineage events",
        "[]": "x.json: holds no lineage events",
    }
    for text, expected in cases.items():
        assert refused(functools.partial(parse_events, text, "x.json")).startswith(expected)


def test_a_file_too_large() -> None:
    text = " " * (MAX_TEXT_CHARS + 1)
    assert refused(lambda: parse_events(text, "big.json")) == "big.json: larger than 50 MiB"


def test_a_byte_order_mark_and_crlf_lines_are_read() -> None:
    text = "\ufeff" + json.dumps(event()) + "\r\n" + json.dumps(event(eventType="START"))
    assert [e.event_type for e in parse_events(text, "w.jsonl")] == ["COMPLETE", "START"]


def test_long_key_limit_matches_the_names() -> None:
    # a maximal name still leaves a namespace of a hundred characters
    assert MAX_KEY_CHARS - MAX_NAME_CHARS - 1 == 99
    parse_event(event(outputs=[{"namespace": "n" * 99, "name": "x" * MAX_NAME_CHARS}]))


def test_event_time_is_utc() -> None:
    parsed = parse_event(event(eventTime="2026-03-02T08:01:12.5-05:30"))
    assert parsed.event_time == datetime(2026, 3, 2, 13, 31, 12, 500000, tzinfo=UTC)
    assert parsed.event_time.utcoffset() == timedelta(0)


def test_the_input_is_not_changed() -> None:
    data = json.loads(fixture("spark_complete.json"))
    before = copy.deepcopy(data)
    parse_event(data)
    assert data == before


# --------------------------------------------------------------------------- naming


def test_our_tables_as_datasets() -> None:
    assert table_dataset("Consumer_Banking.Credit.Profile") == Dataset(
        "lakemesh://consumer_banking", "credit.profile"
    )
    assert CURATED.key == "lakemesh://consumer_banking/credit.profile"
    assert "invalid table name" in refused(lambda: table_dataset("credit.profile"))


def test_dataset_table() -> None:
    tables = {"consumer_banking.credit.profile"}
    locations = {
        "/srv/mesh/consumer_banking/credit/profile": "consumer_banking.credit.profile",
        "s3://cb-data/credit/profile": "consumer_banking.credit.profile",
        "hdfs://nn:8020/warehouse/loans": "investment_banking.risk.loans",
    }
    asked: list[str] = []

    def by_location(location: str) -> str | None:
        asked.append(location)
        return next((t for prefix, t in locations.items() if location.startswith(prefix)), None)

    def table(namespace: str, name: str) -> str | None:
        return dataset_table(
            Dataset(namespace, name), known=tables.__contains__, by_location=by_location
        )

    assert table("lakemesh://consumer_banking", "credit.profile") == (
        "consumer_banking.credit.profile"
    )
    assert table("lakemesh://Consumer_Banking", "Credit.Profile") == (
        "consumer_banking.credit.profile"
    )
    assert table("lakemesh://consumer_banking", "credit.gone") is None
    assert table("lakemesh://consumer_banking", "no_database") is None
    assert asked == []
    profile = "consumer_banking.credit.profile"
    assert table("file", "/srv/mesh/consumer_banking/credit/profile/p.parquet") == profile
    assert table("file://worker-3", "/srv/mesh/consumer_banking/credit/profile") == profile
    assert table("s3://cb-data", "credit/profile/year=2026/p.parquet") == profile
    assert table("s3a://cb-data/", "/credit/profile") == profile
    assert table("hdfs://nn:8020", "/warehouse/loans") == "investment_banking.risk.loans"
    assert table("file", "/srv/elsewhere/x.csv") is None
    assert asked[-1] == "/srv/elsewhere/x.csv"
    assert asked[3] == "s3://cb-data/credit/profile"
    count = len(asked)
    assert table("file", "relative/path.csv") is None
    assert table("postgres://core-db:5432", "banking.public.loans") is None
    assert table("s3://", "x") is None
    assert table("kafka://broker:9092", "credit.events") is None
    assert len(asked) == count
