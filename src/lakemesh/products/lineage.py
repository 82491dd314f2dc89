"""OpenLineage run events: read them, write them with the openlineage client, and name our
tables as OpenLineage datasets.

Only run events carry lineage here. A JobEvent's inputs and outputs are design-time claims
with no run and no time, and a DatasetEvent has no job: both are refused, so every edge
the mesh keeps came from a run. The openlineage client is imported only to write events
(it costs about 0.4 s to import); reading follows the spec it encodes (2-0-2: ``eventTime``,
``producer``, ``run.runId``, ``job.namespace``, ``job.name`` required, ``eventType``
optional) with limits of our own, so nothing a producer sends can exhaust the reader.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

from lakemesh import __version__
from lakemesh.errors import InvalidInput, first_line
from lakemesh.typedef import TableName, now

if TYPE_CHECKING:
    from openlineage.client.client import OpenLineageClient

#: What a lineage file may hold, in characters (the caller reads the file).
MAX_TEXT_CHARS = 50 * 1024 * 1024
#: Inputs and outputs of one event together.
MAX_DATASETS = 10_000
#: Inputs times outputs of one event: each pair is an edge of the lineage graph.
MAX_PAIRS = 100_000
#: A namespace, name, job name or column name.
MAX_NAME_CHARS = 1_000
#: A dataset's or job's ``namespace/name``: the store keeps edges in 1,100 characters.
MAX_KEY_CHARS = 1_100
#: Objects and lists inside objects and lists; the spec's own events stay below 12.
MAX_DEPTH = 50
#: The client's ``RunState`` values (``openlineage.client.event_v2``), written down so that
#: reading needs no client import; a test keeps the two equal.
EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
#: The ``producer`` of the events lakemesh itself emits.
PRODUCER = f"https://github.com/lakemesh/lakemesh/tree/{__version__}"
#: Our tables as datasets: namespace ``lakemesh://<domain>``, name ``<database>.<table>``.
NAMESPACE_SCHEME = "lakemesh://"
#: Namespaces whose dataset names are paths in a file system or object store (the
#: OpenLineage naming spec); ``s3a``/``s3n`` are Hadoop's names for ``s3``.
FILE_SCHEMES = frozenset({"s3", "s3a", "s3n", "gs", "hdfs", "abfs", "abfss", "wasb", "wasbs"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Dataset:
    """An OpenLineage dataset: a name within a namespace (a data source)."""

    namespace: str
    name: str

    @property
    def key(self) -> str:
        """``namespace/name``: how an edge names a dataset outside the mesh."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class ColumnLineage:
    """One column of an output computed from one column of an input (the
    ``columnLineage`` facet; its dataset-wide entries, such as filters, are not kept)."""

    output_dataset: Dataset
    output_field: str
    input_dataset: Dataset
    input_field: str


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One OpenLineage run event, as far as lineage needs it."""

    run_id: str  #: canonical lower-case UUID text
    event_type: str  #: one of ``EVENT_TYPES``; an event without one is ``OTHER``
    event_time: datetime  #: timezone-aware UTC
    job_namespace: str
    job_name: str
    inputs: tuple[Dataset, ...]  #: in the event's order, each once
    outputs: tuple[Dataset, ...]
    producer: str
    schema_url: str | None
    column_lineage: tuple[ColumnLineage, ...] = ()
    #: SHA-256 of the whole event's canonical JSON (facets included): the same event sent
    #: twice, in any key order or spacing, has the same digest. Empty when built by hand.
    digest: str = ""

    @property
    def job_key(self) -> str:
        return f"{self.job_namespace}/{self.job_name}"


# --------------------------------------------------------------------------- reading


def parse_events(text: str, source: str) -> list[RunEvent]:
    """Every event of a lineage file, or ``InvalidInput`` naming the first bad one.

    The text may hold one event, a JSON array of events, or events one after another (the
    client's ``FileTransport`` appends one JSON line per event; without ``append`` it
    writes one file per event, each read by its own call). Errors name ``source`` and the
    event's number in an array or its first line in a sequence.
    """
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(f"{source}: larger than {MAX_TEXT_CHARS // 2**20} MiB")
    values = _decode(text.removeprefix("\ufeff"), source)
    if len(values) == 1 and isinstance(values[0][1], list):
        items = [(f"{source} event {n}", value) for n, value in enumerate(values[0][1], 1)]
    elif len(values) == 1:
        items = [(source, values[0][1])]
    else:
        items = [(f"{source} line {line}", value) for line, value in values]
    if not items:
        raise InvalidInput(f"{source}: holds no lineage events")
    return [parse_event(value, where) for where, value in items]


def _decode(text: str, source: str) -> list[tuple[int, Any]]:
    """The JSON values of ``text`` one after another, each with the line it starts on."""
    decoder = json.JSONDecoder()
    values: list[tuple[int, Any]] = []
    pos, line, counted = 0, 1, 0
    while True:
        match = _WHITESPACE.match(text, pos)
        pos = match.end() if match else pos
        if pos == len(text):
            return values
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"{source}: not JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})"
            ) from None
        except RecursionError:
            where = source if not values else f"{source} line {line}"
            raise InvalidInput(f"{where}: nested deeper than {MAX_DEPTH} levels") from None
        values.append((line, value))


def parse_event(data: Any, where: str = "event") -> RunEvent:
    """One run event from its decoded JSON (a dict), or from the client's own event object.

    Raises ``InvalidInput`` with one line naming ``where`` and the field at fault, e.g.
    ``lineage.json event 3: run.runId is not a UUID ('42')``.
    """
    reader = _Reader(where)
    if _is_client_event(data):
        from openlineage.client.serde import Serde

        data = Serde.to_dict(data)
    if not isinstance(data, dict):
        reader.refuse(f"an event must be a JSON object, not {_kind(data)}")
    reader.check_shape(data)
    kind = _event_kind(data)
    if kind != "RunEvent":
        reader.refuse(f"is a {kind}: only run events (with a run) carry lineage")

    event_time = _event_time(reader, data)
    event_type = reader.want(data, "eventType", "eventType", str)
    if event_type is not None and event_type not in EVENT_TYPES:
        reader.fail("eventType", f"{_show(event_type)} is not one of {', '.join(EVENT_TYPES)}")
    producer = _uri(reader, reader.text(data, "producer", "producer"), "producer")
    schema_url = None
    if data.get("schemaURL") is not None:
        schema_url = _uri(reader, reader.text(data, "schemaURL", "schemaURL"), "schemaURL")

    run = reader.need(data, "run", "run", dict)
    run_id = reader.text(run, "runId", "run.runId", limit=64)
    try:
        run_id = str(UUID(run_id))
    except ValueError:
        reader.fail("run.runId", f"is not a UUID ({_show(run_id)})")
    reader.want(run, "facets", "run.facets", dict)
    job = reader.need(data, "job", "job", dict)
    job_namespace = reader.name(job, "namespace", "job.namespace")
    job_name = reader.name(job, "name", "job.name")
    reader.key(job_namespace, job_name, "job")
    reader.want(job, "facets", "job.facets", dict)

    inputs = reader.want(data, "inputs", "inputs", list) or []
    outputs = reader.want(data, "outputs", "outputs", list) or []
    if len(inputs) + len(outputs) > MAX_DATASETS:
        count = len(inputs) + len(outputs)
        reader.refuse(f"names {count:,} datasets: at most {MAX_DATASETS:,} an event")
    if len(inputs) * len(outputs) > MAX_PAIRS:
        reader.refuse(
            f"names {len(inputs):,} inputs and {len(outputs):,} outputs:"
            f" at most {MAX_PAIRS:,} input-output pairs an event"
        )
    input_datasets = [
        _dataset(reader, item, f"inputs[{n}]", "inputFacets")[0] for n, item in enumerate(inputs)
    ]
    output_datasets, column_lineage = [], []
    for n, item in enumerate(outputs):
        dataset, facets = _dataset(reader, item, f"outputs[{n}]", "outputFacets")
        output_datasets.append(dataset)
        column_lineage += _column_lineage(reader, dataset, facets, f"outputs[{n}].facets")
    return RunEvent(
        run_id=run_id,
        event_type=event_type or "OTHER",
        event_time=event_time,
        job_namespace=job_namespace,
        job_name=job_name,
        inputs=_unique(input_datasets),
        outputs=_unique(output_datasets),
        producer=producer,
        schema_url=schema_url,
        column_lineage=_unique(column_lineage),
        digest=_digest(data),
    )


class _Reader:
    """Reads one event's members, naming the path of whatever is wrong."""

    def __init__(self, where: str) -> None:
        self.where = where

    def refuse(self, problem: str) -> NoReturn:
        raise InvalidInput(f"{self.where}: {problem}")

    def fail(self, path: str, problem: str) -> NoReturn:
        self.refuse(f"{path} {problem}")

    def want(self, obj: Mapping[str, Any], key: str, path: str, kind: type[_T]) -> _T | None:
        """An optional member (absent and null are the same) of the given JSON kind."""
        value = obj.get(key)
        if value is not None and not isinstance(value, kind):
            self.fail(path, f"must be {_KINDS[kind]}, not {_kind(value)}")
        return value

    def need(self, obj: Mapping[str, Any], key: str, path: str, kind: type[_T]) -> _T:
        if key not in obj:
            self.fail(path, "is missing")
        value = self.want(obj, key, path, kind)
        if value is None:
            self.fail(path, "is null")
        return value

    def text(self, obj: Mapping[str, Any], key: str, path: str, limit: int = 2_000) -> str:
        value = self.need(obj, key, path, str)
        if len(value) > limit:
            self.fail(path, f"is longer than {limit:,} characters")
        return value

    def name(self, obj: Mapping[str, Any], key: str, path: str) -> str:
        """A namespace, name or field: what the store keeps and error messages show."""
        value = self.text(obj, key, path, MAX_NAME_CHARS)
        if not value.strip():
            self.fail(path, "is empty")
        if _CONTROL.search(value):
            self.fail(path, f"holds a control character ({_show(value)})")
        return value

    def key(self, namespace: str, name: str, path: str) -> None:
        if len(namespace) + 1 + len(name) > MAX_KEY_CHARS:
            self.fail(path, f"namespace and name together exceed {MAX_KEY_CHARS:,} characters")

    def check_shape(self, data: dict[str, Any]) -> None:
        """JSON values only, nested at most ``MAX_DEPTH`` deep; walked without recursion."""
        stack: list[tuple[Any, int]] = [(data, 1)]
        while stack:
            value, depth = stack.pop()
            if depth > MAX_DEPTH:
                self.refuse(f"is nested deeper than {MAX_DEPTH} levels")
            children = value.values() if isinstance(value, dict) else value
            if isinstance(value, dict) and not all(isinstance(k, str) for k in value):
                self.refuse("has an object member whose name is not text")
            for child in children:
                if isinstance(child, dict | list):
                    stack.append((child, depth + 1))
                elif isinstance(child, float) and not math.isfinite(child):
                    self.refuse(f"holds {child}, which is not a JSON number")
                elif not isinstance(child, str | int | float | bool | None):
                    self.refuse(f"holds {_kind(child)}, which is not a JSON value")


_KINDS: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    for kind, text in _KINDS.items():
        if isinstance(value, kind):
            return text
    return f"a {type(value).__name__}"


def _show(value: str, limit: int = 60) -> str:
    """A value for a one-line message: quoted, escaped, cut short."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _is_client_event(data: Any) -> bool:
    """An ``openlineage.client`` event object (an attrs class), handed over by Python code."""
    cls = type(data)
    return cls.__module__.startswith("openlineage.client.") and hasattr(cls, "__attrs_attrs__")


def _event_kind(data: Mapping[str, Any]) -> str:
    """RunEvent, JobEvent or DatasetEvent: by the schema URL's fragment, else by shape."""
    schema = data.get("schemaURL")
    if isinstance(schema, str):
        for kind in ("JobEvent", "DatasetEvent"):
            if schema.endswith(f"/{kind}"):
                return kind
    if "run" not in data and "dataset" in data:
        return "DatasetEvent"
    if "run" not in data and "job" in data and "eventType" not in data:
        return "JobEvent"
    return "RunEvent"


def _event_time(reader: _Reader, data: Mapping[str, Any]) -> datetime:
    text = reader.text(data, "eventTime", "eventTime", limit=64)
    try:
        # the spec's date-time has a 'T' (the client checks it too); fromisoformat is laxer
        value = datetime.fromisoformat(text) if "t" in text.lower() else None
    except ValueError:
        value = None
    if value is None:
        reader.fail("eventTime", f"is not an ISO 8601 date-time ({_show(text)})")
    if value.utcoffset() is None:
        reader.fail("eventTime", f"has no time zone offset ({_show(text)})")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        reader.fail("eventTime", f"is out of range ({_show(text)})")


def _uri(reader: _Reader, value: str, path: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or not parts.scheme or not (parts.netloc or parts.path):
        reader.fail(path, f"is not a URI ({_show(value)})")
    return value


def _dataset(
    reader: _Reader, item: Any, path: str, own_facets: str
) -> tuple[Dataset, dict[str, Any]]:
    """An input or output and its facets (``{}`` without)."""
    if not isinstance(item, dict):
        reader.fail(path, f"must be an object, not {_kind(item)}")
    namespace = reader.name(item, "namespace", f"{path}.namespace")
    name = reader.name(item, "name", f"{path}.name")
    reader.key(namespace, name, path)
    reader.want(item, own_facets, f"{path}.{own_facets}", dict)
    return Dataset(namespace, name), reader.want(item, "facets", f"{path}.facets", dict) or {}


def _column_lineage(
    reader: _Reader, output: Dataset, facets: Mapping[str, Any], path: str
) -> list[ColumnLineage]:
    facet = reader.want(facets, "columnLineage", f"{path}.columnLineage", dict)
    if facet is None:
        return []
    path = f"{path}.columnLineage.fields"
    edges = []
    for field, spec in reader.need(facet, "fields", path, dict).items():
        if len(field) > MAX_NAME_CHARS or _CONTROL.search(field) or not field.strip():
            reader.fail(path, f"names an output field that is not a column name ({_show(field)})")
        here = f"{path}[{field!r}]"
        if not isinstance(spec, dict):
            reader.fail(here, f"must be an object, not {_kind(spec)}")
        for n, source in enumerate(reader.need(spec, "inputFields", f"{here}.inputFields", list)):
            at = f"{here}.inputFields[{n}]"
            if not isinstance(source, dict):
                reader.fail(at, f"must be an object, not {_kind(source)}")
            dataset = Dataset(
                reader.name(source, "namespace", f"{at}.namespace"),
                reader.name(source, "name", f"{at}.name"),
            )
            edges.append(
                ColumnLineage(output, field, dataset, reader.name(source, "field", f"{at}.field"))
            )
    return edges


def _unique(items: Iterable[_T]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(items))


def _digest(data: Mapping[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --------------------------------------------------------------------------- writing


def emit_run(
    path: Path,
    *,
    job_namespace: str,
    job_name: str,
    inputs: Sequence[Dataset],
    outputs: Sequence[Dataset],
    producer: str = PRODUCER,
    column_lineage: Sequence[ColumnLineage] = (),
    run_id: str | None = None,
    started_at: datetime | None = None,
) -> str:
    """Record one finished run: its START and COMPLETE events, appended as two JSON lines
    to the file ``path`` (created, with its folder, if missing) by the openlineage client
    and its ``FileTransport``. Returns the run id (a new UUIDv7 unless given).

    Both events are checked with ``parse_event`` before anything is written, so a file
    this writes always reads back. The client used here reads no configuration file and no
    ``OPENLINEAGE_*`` variable: the events go to ``path`` and nowhere else.
    """
    from openlineage.client.event_v2 import Job, Run, RunState
    from openlineage.client.event_v2 import RunEvent as ClientRunEvent
    from openlineage.client.serde import Serde
    from openlineage.client.transport.file import FileConfig, FileTransport
    from openlineage.client.uuid import generate_new_uuid

    if path.is_dir():
        raise InvalidInput(f"lineage file {path} is a folder")
    if started_at is not None and started_at.utcoffset() is None:
        raise InvalidInput("started_at must be timezone-aware")
    try:
        run_id = str(UUID(run_id)) if run_id is not None else str(generate_new_uuid())
    except ValueError:
        raise InvalidInput(f"run id {_show(run_id or '')} is not a UUID") from None
    events = [
        ClientRunEvent(
            eventType=state,
            eventTime=at.astimezone(UTC).isoformat(),
            run=Run(runId=run_id),
            job=Job(namespace=job_namespace, name=job_name),
            producer=producer,
            inputs=_client_inputs(inputs),
            outputs=_client_outputs(outputs, column_lineage),
        )
        for state, at in ((RunState.START, started_at or now()), (RunState.COMPLETE, now()))
    ]
    for event in events:
        parse_event(Serde.to_dict(event), f"lineage of job {_show(job_name)}")

    path.parent.mkdir(parents=True, exist_ok=True)
    transport = FileTransport(FileConfig(log_file_path=str(path), append=True))
    client = _client_type()(transport=transport)
    try:
        for event in events:
            client.emit(event)
    except RuntimeError as exc:  # the transport's wording for any failed write
        raise InvalidInput(f"cannot write lineage file {path}: {first_line(exc)}") from exc
    finally:
        client.close()
    return run_id


def _client_inputs(inputs: Sequence[Dataset]) -> list[Any]:
    from openlineage.client.event_v2 import InputDataset

    return [InputDataset(namespace=d.namespace, name=d.name) for d in inputs]


def _client_outputs(outputs: Sequence[Dataset], edges: Sequence[ColumnLineage]) -> list[Any]:
    """The outputs, each with a ``columnLineage`` facet when ``edges`` name it."""
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import column_lineage_dataset as cl

    fields: dict[Dataset, dict[str, list[Any]]] = {}
    for edge in edges:
        if edge.output_dataset not in outputs:
            raise InvalidInput(f"column lineage names {edge.output_dataset.key}: not an output")
        source = cl.InputField(
            namespace=edge.input_dataset.namespace,
            name=edge.input_dataset.name,
            field=edge.input_field,
        )
        fields.setdefault(edge.output_dataset, {}).setdefault(edge.output_field, []).append(source)
    return [
        OutputDataset(
            namespace=d.namespace,
            name=d.name,
            facets=(
                {
                    "columnLineage": cl.ColumnLineageDatasetFacet(
                        fields={f: cl.Fields(inputFields=s) for f, s in fields[d].items()}
                    )
                }
                if d in fields
                else {}
            ),
        )
        for d in outputs
    ]


@functools.cache
def _client_type() -> type[OpenLineageClient]:
    """The client with its environment lookups switched off.

    ``OpenLineageClient`` reads ``openlineage.yml`` (working directory, home,
    ``OPENLINEAGE_CONFIG``) and ``OPENLINEAGE__*`` variables for filters that may drop
    events and facets that copy environment variables or probe git; ``OPENLINEAGE_DISABLED``
    swaps the transport for a no-op; and ``OPENLINEAGE_URL`` is copied into ``os.environ``.
    The demo's lineage must land in the file it names whatever the machine says.
    """
    from openlineage.client.client import OpenLineageClient, OpenLineageConfig
    from openlineage.client.transport import Transport

    defaults = OpenLineageConfig()

    class FileOnlyClient(OpenLineageClient):
        def _alias_env_vars(self) -> None:
            return None

        def _resolve_transport(self, **kwargs: Any) -> Transport:
            transport: Transport = kwargs["transport"]
            return transport

        @property
        def config(self) -> OpenLineageConfig:
            return defaults

    return FileOnlyClient


# --------------------------------------------------------------------------- naming


def table_dataset(table: str) -> Dataset:
    """Our table ``domain.database.table`` as a dataset: namespace ``lakemesh://domain``,
    name ``database.table`` (the naming spec's ``scheme://authority`` + ``schema.table``)."""
    name = TableName.parse(table)
    return Dataset(f"{NAMESPACE_SCHEME}{name.domain}", f"{name.database}.{name.table}")


def dataset_table(
    dataset: Dataset,
    *,
    known: Callable[[str], bool],
    by_location: Callable[[str], str | None],
) -> str | None:
    """Our table name for a dataset, or None for a dataset outside the mesh.

    A ``lakemesh://`` dataset names its table (if ``known`` says it exists); a file-like
    one (``file``, ``file://host``, ``s3://bucket``, ``hdfs://host:port``, ...) names a
    path, and ``by_location`` is asked which table's location holds it: with an absolute
    path for ``file`` and a URI (``s3a``/``s3n`` read as ``s3``) for the others.
    """
    namespace, name = dataset.namespace, dataset.name
    if namespace.startswith(NAMESPACE_SCHEME):
        try:
            table = str(TableName.parse(f"{namespace.removeprefix(NAMESPACE_SCHEME)}.{name}"))
        except InvalidInput:
            return None
        return table if known(table) else None
    location = _location(namespace, name)
    return by_location(location) if location is not None else None


def _location(namespace: str, name: str) -> str | None:
    """The path or URI a file-like dataset names; None for any other dataset."""
    if namespace == "file" or namespace.startswith("file://"):
        return name if name.startswith("/") else None
    scheme, sep, authority = namespace.partition("://")
    if not sep or scheme.lower() not in FILE_SCHEMES or not authority.strip("/"):
        return None
    scheme = "s3" if scheme.lower() in ("s3a", "s3n") else scheme.lower()
    return f"{scheme}://{authority.strip('/')}/{name.lstrip('/')}"
