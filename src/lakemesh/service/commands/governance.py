"""Commands that govern the mesh: domains, alerts, principals, tags, grants, masks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import PrivateAttr
from sqlalchemy import Connection

from lakemesh import events
from lakemesh.access import grants, principals
from lakemesh.access import tags as tagmod
from lakemesh.access.actions import MESH, Target
from lakemesh.access.authorizer import Decision
from lakemesh.access.principals import User
from lakemesh.errors import Conflict, NotFound
from lakemesh.events import alerts
from lakemesh.metadata.domains import Domain, create_domain
from lakemesh.service.commands.base import Applied, Command, R
from lakemesh.typedef import check_principal

if TYPE_CHECKING:
    from lakemesh.service.session import Session


# --------------------------------------------------------------------------- domains


class CreateDomain(Command[Domain]):
    command: Literal["domain.create"] = "domain.create"
    action = "domain.create"
    name: str
    storage: str
    catalog: str = "builtin"
    kind: str = "producer"
    owners: tuple[str, ...] = ()
    endpoint: str | None = None
    region: str | None = None
    create: bool = False

    @property
    def resource(self) -> str:
        return self.name

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[Domain]:
        d = create_domain(
            conn,
            self.name,
            self.storage,
            catalog=self.catalog,
            kind=self.kind,
            owners=self.owners,
            endpoint=self.endpoint,
            region=self.region,
            create=self.create,
        )
        shown = d.public()  # the event and its audit record carry no catalog password
        event = events.DomainCreated(
            domain=d.name, storage=shown["storage"], catalog=shown["catalog"], kind=d.kind
        )
        return Applied(d, event, (("domain", d.name),))


class AcknowledgeAlert(Command[alerts.Alert]):
    command: Literal["alert.ack"] = "alert.ack"
    action = "alert.ack"
    alert_id: int

    @property
    def resource(self) -> str:
        return str(self.alert_id)

    def target(self, session: Session, conn: Connection) -> Target:
        domain = alerts.get(conn, self.alert_id).domain
        target = Target("domain", domain, domain) if domain else MESH
        if not session.allowed("alert.read", target):  # reads like an unknown alert
            raise NotFound(f"unknown alert {self.alert_id}")
        return target

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[alerts.Alert]:
        alert = alerts.acknowledge(conn, session.actor.name, self.alert_id)
        event = events.AlertAcknowledged(
            domain=alert.domain, alert_id=self.alert_id, kind=alert.kind, by=session.actor.name
        )
        return Applied(alert, event)


# --------------------------------------------------------------------------- principals


class CreateUser(Command[tuple[User, str]]):
    command: Literal["principal.create"] = "principal.create"
    action = "principal.create"
    name: str
    role: str = "member"
    email: str | None = None

    @property
    def resource(self) -> str:
        return self.name

    def target(self, session: Session, conn: Connection) -> Target:
        domain = self.name.partition("@")[2]
        return Target("domain", domain, domain)

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[tuple[User, str]]:
        user, token = principals.create_user(
            conn, self.name, self.role, session.actor.name, self.email
        )
        event = events.UserCreated(domain=user.domain, user=user.name, role=user.role)
        return Applied((user, token), event, (("user", user.name),))


class _OnUser(Command[R]):
    """A change to an existing user, decided like creating it (the mesh admin, the
    user's domain admin): the target is the user's domain."""

    action = "principal.create"
    name: str

    @property
    def resource(self) -> str:
        return self.name

    def target(self, session: Session, conn: Connection) -> Target:
        check_principal(self.name)
        if self.name not in session.snapshot.users:
            raise NotFound(f"unknown principal {self.name!r}")
        domain = self.name.partition("@")[2]
        return Target("domain", domain, domain)


class SetEmail(_OnUser[dict[str, Any]]):
    """Where a user's approval requests and decisions are mailed."""

    command: Literal["principal.email"] = "principal.email"
    email: str | None

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        principals.set_email(conn, self.name, self.email)
        result = {"name": self.name, "email": self.email}
        return Applied(result, details={"user": self.name, "email_set": self.email is not None})


class IssueToken(_OnUser[str]):
    """A new API token for a user: the old one stops working, and the web sessions
    signed in with it."""

    command: Literal["principal.token"] = "principal.token"

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[str]:
        token = principals.new_user_token(conn, self.name)
        return Applied(token, details={"user": self.name, "token": "replaced"})


# --------------------------------------------------------------------------- tags


class DefineTag(Command[dict[str, Any]]):
    command: Literal["tag.define"] = "tag.define"
    action = "tag.define"
    key: str
    values: tuple[str, ...]

    @property
    def resource(self) -> str:
        return self.key

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        created, allowed = tagmod.define(conn, self.key, list(self.values), session.actor.name)
        result = {"key": self.key, "values": allowed, "created": created}
        event = events.TagDefined(key=self.key, values=allowed, created=created)
        return Applied(result, event, (("tag", self.key),))


class AssignTag(Command[dict[str, Any]]):
    command: Literal["tag.assign"] = "tag.assign"
    action = "tag.assign"
    on: str
    key: str
    value: str

    @property
    def resource(self) -> str:
        return self.on

    def target(self, session: Session, conn: Connection) -> Target:
        res = tagmod.Resource.parse(self.on)
        return Target(res.kind, str(res), res.domain)

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        res = tagmod.Resource.parse(self.on)
        old = tagmod.assign(conn, res, self.key, self.value, session.actor.name)
        result = {"resource": str(res), "key": self.key, "value": self.value, "previous": old}
        event = events.TagAssigned(
            domain=res.domain, resource=str(res), key=self.key, value=self.value, previous=old
        )
        return Applied(result, event, (("tag_assignment", str(res)),))


# --------------------------------------------------------------------------- grants


class CreateGrant(Command[dict[str, Any]]):
    command: Literal["grant.create"] = "grant.create"
    action = "grant.create"
    actions: tuple[str, ...]
    principal: str
    table: str | None = None
    database: str | None = None
    tags: str | None = None
    columns: tuple[str, ...] | None = None
    exclude_columns: tuple[str, ...] | None = None
    row_filter: str | None = None
    grantable: bool = False
    expires: str | None = None

    @property
    def resource(self) -> str:
        return self.table or self.database or f"tags[{self.tags}]"

    def request(self) -> grants.GrantRequest:
        return grants.GrantRequest(
            actions=self.actions,
            principal=self.principal,
            table=self.table,
            database=self.database,
            tags=self.tags,
            columns=_listed(self.columns),
            exclude_columns=list(self.exclude_columns)
            if self.exclude_columns is not None
            else None,
            row_filter=self.row_filter,
            grantable=self.grantable,
            expires=self.expires,
        )

    _resolved: grants.Resolved | None = PrivateAttr(default=None)

    def target(self, session: Session, conn: Connection) -> Target:
        self._resolved = grants.resolve(conn, session.snapshot, self.request())
        return self._resolved.target

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        assert self._resolved is not None
        authority = decision.determined_by[0]
        g = grants.create(conn, session.snapshot, session.actor, self._resolved, authority)
        if g.get("existing"):  # the principal already holds exactly this: nothing changes
            return Applied(g, details=g)
        event = events.GrantCreated.of(g, session.actor.domain)
        return Applied(g, event, (("grant", g["id"]),))


def _listed(names: tuple[str, ...] | None) -> list[str] | None:
    return None if names is None else list(names)


class RevokeGrant(Command[list[str]]):
    """Revoke a grant (and what was delegated from it). ``revoked_at`` is the version
    compared and set: an active grant is revoked by exactly one of several concurrent
    revokers; the others get ``Conflict`` and change nothing."""

    command: Literal["grant.revoke"] = "grant.revoke"
    action = "grant.revoke"
    grant_id: str

    @property
    def resource(self) -> str:
        return self.grant_id

    #: The grant's row, read in the command's transaction by ``target``.
    _row: Any = PrivateAttr(default=None)

    def target(self, session: Session, conn: Connection) -> Target:
        self._row = grants.get(conn, self.grant_id)
        return grants.target(self._row)

    def precondition(self, session: Session, conn: Connection, target: Target) -> None:
        if self._row.revoked_at is not None:
            raise Conflict(f"grant {self.grant_id} is already revoked")

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[list[str]]:
        revoked = grants.revoke(conn, session.actor.name, self.grant_id)
        event = events.GrantRevoked(
            domain=session.actor.domain, grant_id=self.grant_id, cascaded=revoked[1:]
        )
        return Applied(revoked, event, tuple(("grant", gid) for gid in revoked))


# --------------------------------------------------------------------------- masks


class SetMask(Command[dict[str, Any]]):
    command: Literal["mask.set"] = "mask.set"
    action = "mask.set"
    column: str | None = None
    tag: str | None = None
    spec: str

    @property
    def resource(self) -> str | None:
        return self.column or self.tag

    def target(self, session: Session, conn: Connection) -> Target:
        from lakemesh.access.masks import mask_target  # sqlglot: only when masking

        return mask_target(self.column, self.tag)

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[dict[str, Any]]:
        from lakemesh.access.masks import set_mask

        rule = set_mask(conn, session.actor.name, target, self.spec)
        event = events.MaskSet(
            target=rule["target"],
            method=rule["method"],
            target_kind=rule["target_kind"],
            mask_id=rule.get("id"),
            expression=rule.get("expression"),
            domain=target.domain,
        )
        return Applied(rule, event, (("mask", rule["target"]),))
