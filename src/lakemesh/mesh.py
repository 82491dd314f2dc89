"""``Mesh``: the Python API of a central governance node, and what the CLI calls.

One object per mesh home. Every operation the CLI offers is a method here, and each one
goes through the ``Gate``: the acting principal is resolved, the policy snapshot is
refreshed, the authorizer decides, and the change or decision is audited. The CLI, the
Python API and (later) the HTTP API therefore share one code path and one policy.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakemesh import audit, events, keys, policy, principals
from lakemesh import tags as tagmod
from lakemesh.authz import Decision
from lakemesh.catalog import Partition
from lakemesh.central import CentralCatalog, TableDetail
from lakemesh.domains import Domain, create_domain, get_domain, list_domains
from lakemesh.errors import InvalidInput, NotFound, PermissionDenied
from lakemesh.gate import Gate
from lakemesh.home import (
    Settings,
    create_home,
    load_settings,
    remove_home,
    resolve_home,
    write_settings,
)
from lakemesh.principals import MESH_ADMIN, User
from lakemesh.store import Store
from lakemesh.typedef import TableName

if TYPE_CHECKING:  # imported where used: a query needs none of them (CLI start-up time)
    from lakemesh import grants as grantmod
    from lakemesh.crawler import CrawlReport
    from lakemesh.crawler import Progress as CrawlProgress
    from lakemesh.schema import SchemaChange
    from lakemesh.sync import Progress as SyncProgress
    from lakemesh.sync import SyncResult


class Mesh:
    def __init__(self, home: Path, settings: Settings, store: Store) -> None:
        self.home, self.settings, self.store = home, settings, store
        #: The raw central catalog: internal. Everything public goes through the gate.
        self._catalog = CentralCatalog(store)
        self.gate = Gate(store, home)
        #: Set by ``init`` only: the mesh admin's API token, shown once.
        self.admin_token: str | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def init(cls, home: str | os.PathLike[str] | None = None, db_url: str | None = None) -> Mesh:
        path = resolve_home(home)
        settings, made = create_home(path, db_url)
        try:
            store = Store(settings.store_url(path), check=False)
            store.migrate()
            store.check()
            keys.ensure_keys(path)
            with store.write() as conn:
                _, token = principals.create_user(conn, MESH_ADMIN, "admin", MESH_ADMIN)
                policy.changed(conn, "user", MESH_ADMIN)
                audit.record(
                    conn,
                    principal=MESH_ADMIN,
                    action="mesh.init",
                    resource=None,
                    outcome="ok",
                    details={"store": store.dialect},
                )
            write_settings(path, settings)
        except BaseException:
            remove_home(path, made)
            raise
        mesh = cls(path, settings, store)
        mesh.admin_token = token
        audit.checkpoint(store, path)
        return mesh

    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None) -> Mesh:
        path = resolve_home(home)
        settings = load_settings(path)
        return cls(path, settings, Store(settings.store_url(path)))

    def close(self) -> None:
        self.store.dispose()

    def __enter__(self) -> Mesh:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ domains

    def create_domain(self, name: str, storage: str, *, as_: str = MESH_ADMIN, **kw: Any) -> Domain:
        def change(conn: Any) -> Domain:
            self._require_admin(as_, "create domains")
            domain = create_domain(conn, name, storage, **kw)
            policy.changed(conn, "domain", name)
            return domain

        return self.gate.mutate(
            as_, "domain.create", name, change, lambda d: {"storage": d.storage_uri, "kind": d.kind}
        )

    def domain(self, name: str) -> Domain:
        with self.store.read() as conn:
            return get_domain(conn, name)

    def domains(self) -> list[Domain]:
        with self.store.read() as conn:
            return list_domains(conn)

    # ------------------------------------------------------------------ crawl and sync

    def crawl(
        self,
        domain: str,
        path: str = "",
        database: str | None = None,
        progress: CrawlProgress | None = None,
        *,
        as_: str = MESH_ADMIN,
    ) -> CrawlReport:
        d = self.domain(domain)
        self._require_domain_operator(as_, domain, "crawl")
        if d.catalog_kind != "builtin":
            raise InvalidInput(
                f"domain {domain!r} uses a {d.catalog_kind} catalog: its tables are "
                "registered by its own tools; run 'lakemesh sync' to pick them up"
            )
        storage = d.storage()
        from lakemesh.catalog.builtin import BuiltinCatalog
        from lakemesh.crawler import Crawler

        report = Crawler(storage, BuiltinCatalog(storage), progress=progress).crawl(path, database)
        self.gate.mutate(
            as_,
            "domain.crawl",
            domain,
            lambda conn: report,
            lambda r: {
                "added": len(r.added),
                "updated": len(r.updated),
                "removed": len(r.removed),
                "warnings": len(r.warnings),
            },
        )
        return report

    def sync(
        self,
        domains: list[str] | None = None,
        *,
        full: bool = False,
        force: bool = False,
        progress: SyncProgress | None = None,
        stop: threading.Event | None = None,
        as_: str = MESH_ADMIN,
    ) -> list[SyncResult]:
        """Sync the named domains (all by default); one result per domain, never raising
        for one domain's failure so the others still sync."""
        targets = [self.domain(n) for n in domains] if domains else self.domains()
        for d in targets:
            self._require_domain_operator(as_, d.name, "sync")
        from lakemesh.sync import Syncer, SyncOptions

        options = SyncOptions(max_removal_ratio=self.settings.sync.max_removal_ratio, force=force)
        syncer = Syncer(
            self.store,
            options,
            progress=progress,
            should_stop=stop.is_set if stop else None,
            actor=as_,
        )
        results = []
        for d in targets:
            if stop is not None and stop.is_set():
                break
            results.append(syncer.sync(d, full=full))
        self.gate.checkpoint_if_due()
        return results

    def sync_status(self) -> list[dict[str, Any]]:
        from lakemesh.sync import sync_status

        return sync_status(self.store)

    # ------------------------------------------------------------------ alerts

    def alerts(
        self, *, include_resolved: bool = False, as_: str = MESH_ADMIN
    ) -> list[dict[str, Any]]:
        """Alerts ``as_`` may see (mesh admin: all; a domain's stewards and admins: the
        domain's), newest first. Listings of governance state are audited like search."""
        from lakemesh import alerts

        actor = self.gate.actor(as_)
        return self.gate.mutate(
            actor.name,
            "alert.list",
            None,
            lambda conn: alerts.list_alerts(conn, actor, include_resolved=include_resolved),
            lambda rows: {"results": len(rows)},
        )

    def acknowledge_alert(self, alert_id: int, *, as_: str = MESH_ADMIN) -> dict[str, Any]:
        from lakemesh import alerts

        actor = self.gate.actor(as_)

        def change(conn: Any) -> dict[str, Any]:
            alert = alerts.acknowledge(conn, actor, alert_id)
            events.emit(
                conn,
                events.AlertAcknowledged(
                    domain=alert["domain"], alert_id=alert_id, kind=alert["kind"], by=actor.name
                ),
            )
            return alert

        return self.gate.mutate(
            actor.name, "alert.ack", str(alert_id), change, lambda a: {"kind": a["kind"]}
        )

    # ------------------------------------------------------------------ discovery

    def search(self, text: str, *, as_: str = MESH_ADMIN, limit: int = 50) -> list[dict[str, Any]]:
        """Tables matching ``text`` that ``as_`` may describe (SPEC 2.1: products are
        listed to everyone, other tables only with DESCRIBE)."""
        from lakemesh import search as fulltext

        actor = self.gate.actor(as_)
        with self.store.read() as conn:
            hits = fulltext.search(conn, text, limit=None)
        authz = self.gate.authz()
        visible = set(authz.filter_allowed(actor.name, "DESCRIBE", [h["table"] for h in hits]))
        found = []
        for hit in (h for h in hits if h["table"] in visible):
            decision = authz.decide(actor.name, "DESCRIBE", hit["table"])
            detail = self._catalog.table(hit["table"])
            seen = detail.schema.model_copy(
                update={
                    "columns": tuple(c for c in detail.schema.columns if c.name in decision.columns)
                }
            )
            if not fulltext.matches(text, hit["table"], detail.description, seen):
                continue  # it matched only through what the caller may not see
            hit["columns"] = fulltext.matching_columns(hit["table"], seen, text)
            found.append(hit)
            if len(found) == limit:
                break
        hits = found
        self.gate.mutate(
            actor.name,
            "catalog.search",
            None,
            lambda conn: hits,
            lambda h: {"query": text[:200], "results": len(h)},
        )
        return hits

    def describe(self, name: str, *, as_: str = MESH_ADMIN) -> tuple[TableDetail, Decision]:
        """A table's details as ``as_`` may see them; unknown and invisible look alike."""
        actor = self.gate.actor(as_)
        table = str(TableName.parse(name))
        decision = self.gate.authz().decide(actor.name, "DESCRIBE", table)
        self.gate.decided(decision, "catalog.describe")
        if not decision.allowed:
            raise NotFound(f"table {table} is not in the central catalog")
        detail = self._catalog.table(table)
        visible = set(decision.columns)
        detail.schema = detail.schema.model_copy(
            update={"columns": tuple(c for c in detail.schema.columns if c.name in visible)}
        )
        return detail, decision

    def table(self, name: str, *, as_: str = MESH_ADMIN) -> TableDetail:
        return self.describe(name, as_=as_)[0]

    def tables(self, domain: str | None = None, *, as_: str = MESH_ADMIN) -> list[dict[str, Any]]:
        """Central-catalog tables ``as_`` may describe (optionally of one domain)."""
        actor = self.gate.actor(as_)
        rows = self._catalog.tables(domain)
        visible = set(
            self.gate.authz().filter_allowed(actor.name, "DESCRIBE", [r["full_name"] for r in rows])
        )
        return [r for r in rows if r["full_name"] in visible]

    def partitions(
        self, name: str, *, as_: str = MESH_ADMIN, limit: int | None = None, offset: int = 0
    ) -> list[Partition]:
        self.describe(name, as_=as_)
        return self._catalog.partitions(name, limit=limit, offset=offset)

    def partition(
        self, name: str, key: str | dict[str, str | None], *, as_: str = MESH_ADMIN
    ) -> Partition | None:
        self.describe(name, as_=as_)
        return self._catalog.partition(name, key)

    def schema_history(self, name: str, *, as_: str = MESH_ADMIN) -> list[dict[str, Any]]:
        """Every schema version, columns limited to what ``as_`` may see."""
        _, decision = self.describe(name, as_=as_)
        return self._history(name, decision)

    def _history(self, name: str, decision: Decision) -> list[dict[str, Any]]:
        """Who sees the whole table sees its whole history (dropped columns included);
        a column-limited principal sees only its columns."""
        history = self._catalog.schema_history(name)
        if set(decision.columns) == self.gate.authz().snapshot.tables[decision.table].colset:
            return history
        visible = set(decision.columns)
        return [
            {
                **v,
                "columns": [c for c in v["columns"] if c["name"] in visible],
                "changes": [
                    c for c in v["changes"] if c.get("column") in visible or c.get("column") is None
                ],
            }
            for v in history
        ]

    def schema_diff(
        self, name: str, old: int, new: int, *, as_: str = MESH_ADMIN
    ) -> list[SchemaChange]:
        _, decision = self.describe(name, as_=as_)
        whole = set(decision.columns) == self.gate.authz().snapshot.tables[decision.table].colset
        return [
            c
            for c in self._catalog.schema_diff(name, old, new)
            if whole or c.column is None or c.column in decision.columns
        ]

    def show(self, name: str, *, as_: str = MESH_ADMIN, partitions: int = 20) -> dict[str, Any]:
        """Everything ``lakemesh show`` prints: details, columns, tags, masks, partitions,
        schema history (columns limited to what ``as_`` may see)."""
        detail, decision = self.describe(name, as_=as_)
        tm = self.gate.authz().snapshot.tables[detail.name]
        out = detail.as_dict()
        for col in out["columns"]:
            col["tags"] = tm.column_tags.get(col["name"], {})
            rule = tm.masks.get(col["name"])
            col["mask"] = rule.method if rule else None
        out["tags"] = tm.table_tags
        out["product"] = tm.product
        out["partitions"] = [p._asdict() for p in self._catalog.partitions(name, limit=partitions)]
        out["history"] = self._history(name, decision)
        return out

    # ------------------------------------------------------------------ identities

    def create_user(
        self, name: str, role: str = "member", *, as_: str = MESH_ADMIN
    ) -> tuple[User, str]:
        """A new user and its API token (shown once). The mesh admin creates anyone; a
        domain admin creates users of its own domain."""
        actor = self.gate.actor(as_)
        domain = name.partition("@")[2]

        def change(conn: Any) -> tuple[User, str]:
            if not (actor.is_mesh_admin or (actor.role == "admin" and actor.domain == domain)):
                raise PermissionDenied(f"{actor.name} may not create users of domain {domain}")
            user, token = principals.create_user(conn, name, role, actor.name)
            policy.changed(conn, "user", name)
            events.emit(conn, events.UserCreated(domain=user.domain, user=name, role=role))
            return user, token

        return self.gate.mutate(
            actor.name, "principal.create", name, change, lambda r: {"role": r[0].role}
        )

    def users(self, *, as_: str = MESH_ADMIN) -> list[dict[str, str]]:
        """Users ``as_`` may see: every user for the mesh admin, else its domain's."""
        actor = self.gate.actor(as_)
        domain = None if actor.is_mesh_admin else actor.domain
        return self.gate.mutate(
            actor.name,
            "principal.list",
            domain,
            lambda conn: principals.list_users(conn, domain),
            lambda rows: {"results": len(rows)},
        )

    def authenticate(self, token: str) -> User | None:
        with self.store.read() as conn:
            return principals.authenticate(conn, token)

    # ------------------------------------------------------------------ tags

    def define_tag(self, key: str, values: list[str], *, as_: str = MESH_ADMIN) -> dict[str, Any]:
        actor = self.gate.actor(as_)

        def change(conn: Any) -> dict[str, Any]:
            self._require_admin(actor.name, "define tags")
            created, allowed = tagmod.define(conn, key, values, actor.name)
            policy.changed(conn, "tag", key)
            events.emit(conn, events.TagDefined(key=key, values=allowed))
            return {"key": key, "values": allowed, "created": created}

        return self.gate.mutate(actor.name, "tag.define", key, change, lambda r: r)

    def tags(self, *, as_: str = MESH_ADMIN) -> list[dict[str, Any]]:
        """Tag keys and allowed values: the governance vocabulary, visible to every user."""
        actor = self.gate.actor(as_)
        return self.gate.mutate(
            actor.name, "tag.list", None, tagmod.list_tags, lambda rows: {"results": len(rows)}
        )

    def assign_tag(
        self, resource: str, assignment: str, *, as_: str = MESH_ADMIN
    ) -> dict[str, Any]:
        """``KEY=VALUE`` on a database, table or column, by a steward of its domain."""
        actor = self.gate.actor(as_)
        res = tagmod.Resource.parse(resource)
        key, sep, value = assignment.partition("=")
        if not sep:
            raise InvalidInput(f"invalid tag assignment {assignment!r}: expected KEY=VALUE")
        key, value = tagmod.check_key(key.strip()), tagmod.check_value(value.strip())

        def change(conn: Any) -> dict[str, Any]:
            if not (
                actor.is_mesh_admin or (actor.domain == res.domain and actor.role == "steward")
            ):
                raise PermissionDenied(f"{actor.name} may not tag resources of domain {res.domain}")
            old = tagmod.assign(conn, res, key, value, actor.name)
            policy.changed(conn, "tag_assignment", str(res))
            events.emit(
                conn,
                events.TagAssigned(
                    domain=res.domain, resource=str(res), key=key, value=value, previous=old
                ),
            )
            return {"resource": str(res), "key": key, "value": value, "previous": old}

        return self.gate.mutate(actor.name, "tag.assign", str(res), change, lambda r: r)

    # ------------------------------------------------------------------ grants and masks

    def grant(self, request: grantmod.GrantRequest, *, as_: str = MESH_ADMIN) -> dict[str, Any]:
        from lakemesh import grants as grantmod

        actor = self.gate.actor(as_)
        authz = self.gate.authz()
        resource = request.table or request.database or f"tags[{request.tags}]"

        def change(conn: Any) -> dict[str, Any]:
            g = grantmod.create(conn, authz, actor, request)
            if g.get("existing"):  # the principal already holds exactly this
                return g
            policy.changed(conn, "grant", g["id"])
            events.emit(
                conn,
                events.GrantCreated(
                    domain=actor.domain,
                    grant_id=g["id"],
                    principal=g["principal"],
                    actions=g["actions"],
                    resource=g["resource"],
                    parent_id=g["parent_id"],
                ),
            )
            return g

        return self.gate.mutate(actor.name, "grant.create", resource, change, lambda g: g)

    def grants(
        self,
        *,
        on: str | None = None,
        to: str | None = None,
        include_inactive: bool = False,
        as_: str = MESH_ADMIN,
    ) -> list[dict[str, Any]]:
        """Grants ``as_`` may see (made, revocable, or applying to it), newest first."""
        from lakemesh import grants as grantmod

        actor = self.gate.actor(as_)
        return self.gate.mutate(
            actor.name,
            "grant.list",
            on,
            lambda conn: grantmod.list_grants(
                conn, actor, on=on, to=to, include_inactive=include_inactive
            ),
            lambda rows: {"to": to, "results": len(rows)},
        )

    def revoke(self, grant_id: str, *, as_: str = MESH_ADMIN) -> list[str]:
        from lakemesh import grants as grantmod

        actor = self.gate.actor(as_)

        def change(conn: Any) -> list[str]:
            revoked = grantmod.revoke(conn, actor, grant_id)
            for gid in revoked:
                policy.changed(conn, "grant", gid)
            events.emit(
                conn,
                events.GrantRevoked(domain=actor.domain, grant_id=grant_id, cascaded=revoked[1:]),
            )
            return revoked

        return self.gate.mutate(
            actor.name, "grant.revoke", grant_id, change, lambda r: {"revoked": r}
        )

    def mask(
        self, *, column: str | None = None, tag: str | None = None, spec: str, as_: str = MESH_ADMIN
    ) -> dict[str, Any]:
        from lakemesh import masking

        actor = self.gate.actor(as_)

        def change(conn: Any) -> dict[str, Any]:
            rule = masking.set_mask(conn, actor, column=column, tag=tag, spec=spec)
            policy.changed(conn, "mask", rule["target"])
            events.emit(conn, events.MaskSet(target=rule["target"], method=rule["method"]))
            return rule

        return self.gate.mutate(actor.name, "mask.set", column or tag, change, lambda r: r)

    # ------------------------------------------------------------------ decisions

    def decide(self, table: str, action: str = "SELECT", *, as_: str) -> Decision:
        """The gate's decision for ``as_`` (audited): what query engines ask."""
        actor = self.gate.actor(as_)
        decision = self.gate.authz().decide(
            actor.name, _action(action), str(TableName.parse(table))
        )
        self.gate.decided(decision, "access.decide")
        return decision

    def explain(self, table: str, *, as_: str, action: str = "SELECT") -> dict[str, Any]:
        from lakemesh.explain import explain

        action = _action(action)
        actor = self.gate.actor(as_)
        name = str(TableName.parse(table))
        authz = self.gate.authz()
        unknown = NotFound(f"table {name} is not in the central catalog")
        if name not in authz.snapshot.tables:
            raise unknown
        describe = authz.decide(actor.name, "DESCRIBE", name)
        if not describe.allowed:  # reads exactly like a table that does not exist
            self.gate.decided(describe, "access.explain")
            raise unknown
        decision = authz.decide(actor.name, action, name)
        self.gate.decided(decision, "access.explain")
        return _seen(explain(authz, decision), set(describe.columns))

    # ------------------------------------------------------------------ queries

    def query(self, sql: str, *, as_: str, engine: str = "duckdb", limits: Any = None) -> Any:
        """Run a consumer's SQL over shared data in place, under the gate's policy;
        returns a pyarrow Table (``.to_pandas()`` for pandas)."""
        from lakemesh.query.governed import run_query

        return run_query(self, sql, principal=as_, engine=engine, limits=limits)

    # ------------------------------------------------------------------ audit

    def audit_list(self, **filters: Any) -> list[audit.AuditRecord]:
        return audit.list_records(self.store, **filters)

    def audit_verify(self) -> audit.VerifyReport:
        return audit.verify(self.store, self.home)

    def audit_checkpoint(self) -> audit.Checkpoint:
        return audit.checkpoint(self.store, self.home)

    # ------------------------------------------------------------------ authority

    def _require_admin(self, name: str, what: str) -> None:
        if not self.gate.actor(name).is_mesh_admin:
            raise PermissionDenied(f"only the mesh admin may {what}")

    def _require_domain_operator(self, name: str, domain: str, what: str) -> None:
        actor = self.gate.actor(name)
        if not (
            actor.is_mesh_admin or (actor.domain == domain and actor.role in ("steward", "admin"))
        ):
            raise PermissionDenied(f"{actor.name} may not {what} domain {domain}")


def _action(text: str) -> str:
    """A data action named by a caller (case-insensitive), or a plain input error."""
    action = text.strip().upper()
    if action not in policy.ACTIONS:
        raise InvalidInput(f"invalid action {text!r}: expected one of {', '.join(policy.ACTIONS)}")
    return action


def _seen(explained: dict[str, Any], visible: set[str]) -> dict[str, Any]:
    """An explanation limited to the columns its principal may describe."""
    return explained | {
        "hidden_columns": [c for c in explained["hidden_columns"] if c in visible],
        "column_tags": {c: t for c, t in explained["column_tags"].items() if c in visible},
        "masks": {c: m for c, m in explained["masks"].items() if c in visible},
    }
