"""The metadata store's tables (SQLAlchemy Core), at the newest migration revision.

Queries use these objects; the Alembic migrations in ``migrations/versions`` create them.
``tests/test_store_behaviour.py`` checks the two agree on both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the metadata store")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TS = UTCDateTime()
ID = BigInteger().with_variant(Integer, "sqlite")  # INTEGER PRIMARY KEY is the rowid on SQLite

domains = Table(
    "domains",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("storage_uri", Text, nullable=False),
    Column("storage_options", Text, nullable=False, server_default="{}"),
    Column("catalog_kind", String(16), nullable=False),
    Column("catalog_uri", Text),
    Column("kind", String(16), nullable=False),
    Column("owners", Text, nullable=False, server_default="[]"),
    Column("description", Text),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("domain_id", ID, ForeignKey("domains.id", ondelete="CASCADE"), primary_key=True),
    Column("cursor", Text),
    Column("status", String(16), nullable=False, server_default="never"),
    Column("last_attempt_at", TS),
    Column("last_success_at", TS),
    Column("last_full_at", TS),
    Column("last_error", Text),
    Column("last_error_at", TS),
    Column("drift", Text),
)

databases = Table(
    "databases",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("domain_id", ID, ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", Text),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("domain_id", "name", name="uq_databases_domain_name"),
)

catalog_tables = Table(
    "catalog_tables",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("domain_id", ID, ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("database_id", ID, ForeignKey("databases.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("full_name", String(320), nullable=False, unique=True),
    Column("format", String(16), nullable=False),
    Column("location", Text, nullable=False),
    Column("description", Text),
    Column("owner", String(200)),
    Column("schema_version", Integer, nullable=False),
    Column("schema_fingerprint", String(64), nullable=False),
    Column("partition_keys", Text, nullable=False, server_default="[]"),
    Column("properties", Text, nullable=False, server_default="{}"),
    Column("source_version", Text, nullable=False),
    Column("file_count", BigInteger, nullable=False, server_default="0"),
    Column("size_bytes", BigInteger, nullable=False, server_default="0"),
    Column("row_count", BigInteger),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    #: What was last classified: ``<schema_version>:<source_version>``, and when.
    Column("classified_version", Text),
    Column("classified_at", TS),
    Index("ix_catalog_tables_domain", "domain_id"),
)

columns = Table(
    "columns",
    metadata,
    Column("table_id", ID, ForeignKey("catalog_tables.id", ondelete="CASCADE"), primary_key=True),
    Column("ordinal", Integer, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("type", Text, nullable=False),
    Column("nullable", Boolean, nullable=False),
    Column("is_partition", Boolean, nullable=False),
    Column("description", Text),
    #: The files' spelling when ``name`` is its normalised form (``schema.Column``).
    Column("source_name", Text),
)

partitions = Table(
    "partitions",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("table_id", ID, ForeignKey("catalog_tables.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),
    Column("values", Text, nullable=False),
    Column("location", Text, nullable=False),
    Column("file_count", BigInteger, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("row_count", BigInteger),
    Column("modified_at", BigInteger),
    UniqueConstraint("table_id", "key", name="uq_partitions_table_key"),
)

schema_versions = Table(
    "schema_versions",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("table_id", ID, ForeignKey("catalog_tables.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("schema", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("changes", Text, nullable=False, server_default="[]"),
    Column("breaking", Boolean, nullable=False, server_default="0"),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("table_id", "version", name="uq_schema_versions_table_version"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("domain", String(63)),
    Column("subject", Text),
    Column("payload", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("delivered_at", TS),
    Column("attempts", Integer, nullable=False, server_default="0"),
    #: ``delivered_at`` is when the bus routed the event; the unrouted ones are found by
    #: an ordered scan of this partial index.
    Index(
        "ix_outbox_unrouted",
        "id",
        postgresql_where=text("delivered_at IS NULL"),
        sqlite_where=text("delivered_at IS NULL"),
    ),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("domain_id", ID, ForeignKey("domains.id", ondelete="CASCADE")),
    Column("severity", String(16), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("resolved_at", TS),
    #: Who acknowledged it; NULL when a later sync resolved it by itself.
    Column("resolved_by", String(200)),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("domain_id", ID, ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", TS, nullable=False),
    Column("finished_at", TS),
    Column("summary", Text, nullable=False, server_default="{}"),
    Column("error", Text),
    Index("ix_sync_runs_domain", "domain_id", "id"),
)

# --------------------------------------------------------------------------- governance (0002)

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("domain", String(63), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(128), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
    #: Where approval requests and decisions are mailed (None: inbox only).
    Column("email", String(254)),
    Index("ix_users_domain", "domain"),
    Index("ix_users_token", "token_hash"),
)

tags = Table(
    "tags",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("allowed", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
)

tag_assignments = Table(
    "tag_assignments",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("resource_kind", String(16), nullable=False),
    Column("resource", String(450), nullable=False),
    Column("key", String(128), ForeignKey("tags.key"), nullable=False),
    Column("value", String(256), nullable=False),
    Column("assigned_by", String(200), nullable=False),
    Column("assigned_at", TS, nullable=False),
    UniqueConstraint("resource", "key", name="uq_tag_assignments_resource_key"),
)

grants = Table(
    "grants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("principal", String(200), nullable=False),
    Column("actions", Text, nullable=False),
    Column("resource_kind", String(16), nullable=False),
    Column("resource", Text, nullable=False),
    Column("scope_domain", String(63)),
    Column("columns", Text),
    Column("exclude_columns", Text),
    Column("row_filter", Text),
    Column("grantable", Boolean, nullable=False),
    Column("expires_at", TS),
    Column("parent_id", String(32)),
    Column("granted_by", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
    Column("revoked_by", String(200)),
    Index("ix_grants_principal", "principal"),
    Index("ix_grants_parent", "parent_id"),
)

masks = Table(
    "masks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("target_kind", String(16), nullable=False),
    Column("target", String(450), nullable=False),
    Column("method", String(16), nullable=False),
    Column("expression", Text),
    Column("created_by", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("removed_at", TS),
)

data_products = Table(
    "data_products",
    metadata,
    Column("table_id", ID, ForeignKey("catalog_tables.id", ondelete="CASCADE"), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("description", Text),
    Column("registered_by", String(200), nullable=False),
    Column("registered_at", TS, nullable=False),
    Column("classification", String(64)),
    Column("sensitivity", String(64)),
    #: The product_contracts version in force (NULL: no contract).
    Column("contract_version", Integer),
    Column("updated_at", TS),
    #: The table's ``source_version`` its contract was last checked against.
    Column("checked_version", Text),
)

#: Every policy change appends a row; its version is the policy version.
policy_log = Table(
    "policy_log",
    metadata,
    Column("version", ID, primary_key=True, autoincrement=True),
    Column("entity", String(32), nullable=False),
    Column("entity_id", String(450), nullable=False),
    Column("changed_at", TS, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", TS, nullable=False),
    Column("principal", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("resource", Text),
    Column("outcome", String(16), nullable=False),
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_principal", "principal", "seq"),
    Index("ix_audit_ts", "ts"),
)

#: One row (id = 1): the chain's last seq and hash. Writers lock it, so appends serialise.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# --------------------------------------------------------------------------- products (0005)

#: The classifier's recommendations: pending for the owning domain's stewards, then
#: accepted or rejected (a rejection is remembered). Counts and reasons, never values.
classifications = Table(
    "classifications",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("table_id", ID, ForeignKey("catalog_tables.id", ondelete="CASCADE"), nullable=False),
    Column("column", String(128), nullable=False),
    Column("recogniser", String(64), nullable=False),
    Column("tag_key", String(128), nullable=False),
    Column("tag_value", String(256), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("sampled", Integer, nullable=False),
    Column("matched", Integer, nullable=False),
    Column("column_type", Text, nullable=False),
    #: pending | accepted | rejected | superseded
    Column("status", String(16), nullable=False),
    #: Compared and set by a decision: one steward's accept or reject wins.
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", TS, nullable=False),
    Column("decided_by", String(200)),
    Column("decided_at", TS),
    Column("comment", Text),
    Index("ix_classifications_column", "table_id", "column"),
    Index("ix_classifications_status", "status", "table_id"),
)

#: Every contract a product was registered with, newest = highest version.
product_contracts = Table(
    "product_contracts",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("table_id", ID, ForeignKey("catalog_tables.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("contract_id", String(200), nullable=False),
    Column("contract_version", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("registered_by", String(200), nullable=False),
    Column("registered_at", TS, nullable=False),
    UniqueConstraint("table_id", "version", name="uq_product_contracts_table_version"),
)

#: Quality measurements, a time series per product: one ``run`` per measurement.
quality_metrics = Table(
    "quality_metrics",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("table_id", ID, ForeignKey("catalog_tables.id", ondelete="CASCADE"), nullable=False),
    Column("run", String(32), nullable=False),
    Column("measured_at", TS, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("column", String(128)),
    Column("rule", String(200)),
    Column("value", Float),
    Column("unit", String(16), nullable=False),
    Column("passed", Boolean),
    Column("detail", Text, nullable=False),
    Index("ix_quality_metrics_table", "table_id", "measured_at"),
)

#: OpenLineage run events as ingested (``event_hash`` makes a re-ingest a no-op).
lineage_runs = Table(
    "lineage_runs",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("event_hash", String(64), nullable=False, unique=True),
    Column("run_id", String(64), nullable=False),
    Column("event_type", String(16), nullable=False),
    Column("event_time", TS, nullable=False),
    Column("job", Text, nullable=False),
    Column("producer", Text, nullable=False),
    Column("inputs", Text, nullable=False),
    Column("outputs", Text, nullable=False),
    Column("ingested_by", String(200), nullable=False),
    Column("ingested_at", TS, nullable=False),
)

#: The lineage graph: a job read ``source`` and wrote ``target`` (a central table name,
#: or ``namespace/name`` for a dataset outside the mesh).
lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    #: SHA-256 of source, target and job: names may be long (a btree entry may not).
    Column("edge_hash", String(64), nullable=False, unique=True),
    Column("source", Text, nullable=False),
    Column("source_hash", String(64), nullable=False),
    Column("target", Text, nullable=False),
    Column("target_hash", String(64), nullable=False),
    Column("job", Text, nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("first_seen", TS, nullable=False),
    Column("last_seen", TS, nullable=False),
    Index("ix_lineage_edges_source", "source_hash"),
    Index("ix_lineage_edges_target", "target_hash"),
)

glossary_terms = Table(
    "glossary_terms",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    #: The name case-folded: "Customer" and "customer" are one term.
    Column("name_key", String(200), nullable=False, unique=True),
    Column("definition", Text, nullable=False),
    Column("owner", String(200), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

glossary_links = Table(
    "glossary_links",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("term_id", ID, ForeignKey("glossary_terms.id", ondelete="CASCADE"), nullable=False),
    Column("resource_kind", String(16), nullable=False),
    Column("resource", String(450), nullable=False),
    Column("linked_by", String(200), nullable=False),
    Column("linked_at", TS, nullable=False),
    UniqueConstraint("term_id", "resource", name="uq_glossary_links_term_resource"),
    Index("ix_glossary_links_resource", "resource"),
)


# --------------------------------------------------------------------------- workflow

#: Access requests, each a ticket: ``version`` is compared and set by every decision.
access_requests = Table(
    "access_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("resource", String(450), nullable=False),
    #: The owning domain (whose stewards decide).
    Column("domain", String(63), nullable=False),
    #: Who gets access: a user, or a domain when its admin asked for the domain.
    Column("requester", String(200), nullable=False),
    Column("requester_domain", String(63), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("columns", Text),  #: JSON list; NULL: every column
    Column("reason", Text, nullable=False),
    Column("duration", String(32)),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("rule", String(64)),
    Column("route", Text),  #: JSON: who decides, how many approvals, what is offered
    Column("approvals", Text, nullable=False),  #: JSON list of approvers so far
    Column("exclude_columns", Text),  #: JSON: what the approval left out
    Column("row_filter", Text),
    Column("grant_ids", Text, nullable=False),  #: JSON: the grants the approval made
    Column("expires_at", TS),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("decided_by", String(200)),
    Column("decided_at", TS),
    Index("ix_access_requests_status", "status", "expires_at"),
    Index("ix_access_requests_requester", "requester"),
    Index("ix_access_requests_domain", "domain", "status"),
    Index("ix_access_requests_resource", "resource", "status"),
)

#: A ticket's history: every state change and comment, who, when and why.
request_history = Table(
    "request_history",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column(
        "request_id",
        String(32),
        ForeignKey("access_requests.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("at", TS, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("comment", Text),
    Column("details", Text, nullable=False),
    Index("ix_request_history_request", "request_id", "id"),
)

#: Single-use approval links: the hash of each link's nonce, consumed by compare-and-set.
approval_links = Table(
    "approval_links",
    metadata,
    Column("nonce_hash", String(64), primary_key=True),
    Column(
        "request_id",
        String(32),
        ForeignKey("access_requests.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("approver", String(200), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("issued_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("used_at", TS),
)

#: Every approval rule file that validated, newest in force (a bad file keeps the last).
approval_rules = Table(
    "approval_rules",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("source", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("loaded_at", TS, nullable=False),
)

# --------------------------------------------------------------------------- event bus

#: Where events go besides the built-in handlers: webhooks and subscriptions.
event_targets = Table(
    "event_targets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),  #: webhook | inbox | email
    Column("owner", String(200), nullable=False),
    Column("pattern", Text, nullable=False),
    Column("url", Text),
    Column("secret", Text),
    Column("address", String(254)),
    #: A subscription's table: delivery checks the owner may still see it.
    Column("resource", String(450)),
    Column("created_at", TS, nullable=False),
    Column("removed_at", TS),
)

#: Per-target delivery state of each routed event; ``dead`` is the dead-letter queue.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("outbox_id", ID, nullable=False),
    Column("target", String(64), nullable=False),
    Column("state", String(12), nullable=False),  #: pending | delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("next_at", TS, nullable=False),
    #: When the retry window opened (routing, or the last redrive).
    Column("first_at", TS, nullable=False),
    Column("last_error", Text),
    Column("delivered_at", TS),
    UniqueConstraint("outbox_id", "target", name="uq_deliveries_event_target"),
    Index("ix_deliveries_due", "state", "next_at"),
)

#: Domain and user inboxes: an event at most once per owner (idempotent by event id).
inbox = Table(
    "inbox",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("owner", String(200), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("type", String(64), nullable=False),
    Column("subject", Text),
    Column("payload", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("owner", "event_id", name="uq_inbox_owner_event"),
    Index("ix_inbox_owner", "owner", "id"),
)
