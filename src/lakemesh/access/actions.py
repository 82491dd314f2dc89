"""Every action a principal can take, registered as data, and the rule that decides each.

One registry for reading data and for administering the mesh (SPEC 2: one gate on every
path). Each ``Action`` names the kind of resource it applies to and how it is decided:

* **data actions** (``SELECT``, ``DESCRIBE``, ``ALTER``, ``DROP``, ``UNMASK`` on a table)
  are decided by the grants, in ``Authorizer.decide``;
* **administrative actions** (create a domain, define a tag, grant, revoke, set a mask,
  crawl, sync, read the audit log...) are decided by a *rule* over the acting user's
  role and domain and the target's owning domain. The rules below are the only place in
  lakemesh where a role is compared with anything, apart from the authorizer's own
  implicit metadata rights.

Both kinds answer with the same ``Decision``, whose ``determined_by`` holds typed
``Reason``s, so the audit log and ``access explain`` say why an administrative action was
allowed or refused exactly as they do for a read. The CLI, the Python API and the HTTP
API reach these rules only through ``Authorizer.check`` (see ``lakemesh.service``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from lakemesh.access.principals import CENTRAL, User
from lakemesh.errors import InvalidInput

if TYPE_CHECKING:
    from lakemesh.access.snapshot import Snapshot


class Reason(str):
    """Why a decision went as it did: a kind, the id of what decided it (a grant, a mask,
    a domain) and a detail, typed for code; its text is the label the audit log and
    ``access explain`` show (``grant:g12ab``, ``owner:steward``, ``mesh-admin``).

    A ``str`` so that a decision's ``determined_by`` is written, compared and filtered as
    the labels always were; without a ``__dict__`` (the parts are read back from the
    label), so that the snapshot's one reason per grant costs what its label did: at
    100k grants an attribute dict each was 50 MiB."""

    __slots__ = ()

    def __new__(
        cls, kind: str, id: str | None = None, detail: str | None = None, *, label: str = ""
    ) -> Reason:
        return super().__new__(cls, label or ":".join(p for p in (kind, id, detail) if p))

    @property
    def kind(self) -> str:
        return self.partition(":")[0]

    @property
    def id(self) -> str | None:
        return self._parts()[0]

    @property
    def detail(self) -> str | None:
        return self._parts()[1]

    def _parts(self) -> tuple[str | None, str | None]:
        kind, _, rest = self.partition(":")
        if kind == "ceiling":
            return Reason(rest)._parts()  # the label of the grant that bounded
        if kind == "grant":
            gid, _, tags = rest.partition(":")
            return gid, (tags.removeprefix("tags[").removesuffix("]") or None)
        if kind == "mask":
            mask_id, _, column = rest.partition(":")
            return mask_id, column or None
        if kind in _DETAIL_ONLY:
            return None, rest or None
        return rest or None, None

    def as_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "id": self.id, "detail": self.detail, "label": str(self)}


#: Kinds whose label's second part is a detail (a role, "product"), not an id.
_DETAIL_ONLY = frozenset({"owner", "discovery"})


def grant_reason(grant_id: str, expression: str | None = None) -> Reason:
    """A grant that gave (part of) what was decided."""
    label = f"grant:{grant_id}:tags[{expression}]" if expression else f"grant:{grant_id}"
    return Reason("grant", grant_id, expression, label=label)


@functools.lru_cache(maxsize=65536)
def ceiling_reason(grant: Reason) -> Reason:
    """A grant of the user's domain that bounded what the user's own grants give."""
    return Reason("ceiling", grant.id, grant.detail, label=f"ceiling:{grant}")


@functools.lru_cache(maxsize=65536)
def mask_reason(mask_id: str, column: str) -> Reason:
    return Reason("mask", mask_id, column)


MESH_ADMIN = Reason("mesh-admin")
DISCOVERY = Reason("discovery", None, "product")
OWNING_DOMAIN = Reason("owner", None, "domain")
EVERYONE = Reason("everyone")
GRANTOR = Reason("grantor")
GRANTEE = Reason("grantee")
#: The central node reading on its own behalf (``principals.SYSTEM``).
SYSTEM_READ = Reason("system")


@functools.lru_cache(maxsize=64)
def owner_reason(role: str) -> Reason:
    """A steward or admin of the domain that owns the resource."""
    return Reason("owner", None, role)


@functools.lru_cache(maxsize=4096)
def domain_admin_reason(domain: str) -> Reason:
    """The admin of a domain acting for its domain (delegating, or on its own users)."""
    return Reason("domain-admin", domain)


@functools.lru_cache(maxsize=4096)
def delegation_reason(domain: str) -> Reason:
    """A consumer domain's admin passing on what its domain holds with grant option."""
    return Reason("delegation", domain)


# --------------------------------------------------------------------------- targets

TargetKind = Literal[
    "mesh",
    "domain",
    "database",
    "table",
    "column",
    "tag",
    "tags",
    "grant",
    "user",
    "alert",
    "term",
    "request",
    "webhook",
]


@dataclass(frozen=True, slots=True)
class Target:
    """The resource an administrative action applies to.

    ``domain`` is the domain that owns it (None: the mesh itself, or a tag expression that
    spans domains). A grant also carries who made it and to whom it was given, which is
    what decides who may see and revoke it."""

    kind: TargetKind
    name: str | None = None
    domain: str | None = None
    granted_by: str | None = None
    grantee: str | None = None

    def __str__(self) -> str:
        return self.name or self.kind

    @property
    def grantee_domain(self) -> str:
        """The domain of a grant's grantee (``u@d``, ``d:role`` or ``d``)."""
        g = self.grantee or ""
        return g.partition("@")[2] or g.partition(":")[0]


MESH = Target("mesh")


# --------------------------------------------------------------------------- rules

#: A rule: the reason ``user`` may act on the target, or None when it may not.
Rule = Callable[[User, Target, "Snapshot"], "Reason | None"]

#: What owning a domain's tables gives its stewards and admins without any grant.
OWNER_IMPLICIT: Mapping[str, frozenset[str]] = MappingProxyType(
    {"admin": frozenset({"DESCRIBE", "ALTER"}), "steward": frozenset({"DESCRIBE", "ALTER"})}
)
#: Roles that run a domain: crawl, sync, tag and mask its resources, grant on them.
OPERATORS = frozenset({"steward", "admin"})


def is_mesh_admin(user: User) -> bool:
    """The admin of the central node: administers the mesh itself."""
    return user.domain == CENTRAL and user.role == "admin"


def is_operator(user: User, domain: str | None) -> bool:
    """A steward or admin of ``domain``."""
    return domain is not None and user.domain == domain and user.role in OPERATORS


def delegates(user: User) -> bool:
    """A consumer domain's admin: it may pass on what its domain holds (two levels)."""
    return user.role == "admin" and user.domain != CENTRAL


def mesh_admin(user: User, target: Target, s: Snapshot) -> Reason | None:
    return MESH_ADMIN if is_mesh_admin(user) else None


def anyone(user: User, target: Target, s: Snapshot) -> Reason | None:
    return EVERYONE


def domain_operator(user: User, target: Target, s: Snapshot) -> Reason | None:
    if is_mesh_admin(user):
        return MESH_ADMIN
    return owner_reason(user.role) if is_operator(user, target.domain) else None


def domain_steward(user: User, target: Target, s: Snapshot) -> Reason | None:
    """Tags classify data: its stewards decide them, not its admins (SPEC 1, "Steward")."""
    if is_mesh_admin(user):
        return MESH_ADMIN
    ok = user.domain == target.domain and user.role == "steward"
    return owner_reason(user.role) if ok else None


def domain_admin(user: User, target: Target, s: Snapshot) -> Reason | None:
    if is_mesh_admin(user):
        return MESH_ADMIN
    ok = user.role == "admin" and user.domain == target.domain
    return domain_admin_reason(user.domain) if ok else None


def domain_member(user: User, target: Target, s: Snapshot) -> Reason | None:
    if is_mesh_admin(user):
        return MESH_ADMIN
    return Reason("member", user.domain) if user.domain == target.domain else None


def grant_create(user: User, target: Target, s: Snapshot) -> Reason | None:
    """The mesh admin grants on anything; a domain's stewards and admins on its own
    resources (and by tag expression, scoped to their domain); a consumer domain's admin
    delegates what its domain holds with grant option (which grant it fits inside is
    checked when the grant is made: ``grants.create``)."""
    if is_mesh_admin(user):
        return MESH_ADMIN
    if target.kind == "tags":
        held = any(
            g.grantable and str(g.expr) == target.name for g in s.tagged.get(user.domain, ())
        )
        if held and delegates(user):
            return delegation_reason(user.domain)
        return owner_reason(user.role) if user.role in OPERATORS else None
    if is_operator(user, target.domain):
        return owner_reason(user.role)
    if delegates(user) and target.domain != user.domain:
        return delegation_reason(user.domain)
    return None


def grant_revoke(user: User, target: Target, s: Snapshot) -> Reason | None:
    """Who made a grant, the owner of what it is on, and the admin of the domain it was
    given to (for grants to its users and roles, not to the domain itself)."""
    if is_mesh_admin(user):
        return MESH_ADMIN
    if target.granted_by == user.name:
        return GRANTOR
    if is_operator(user, target.domain):
        return owner_reason(user.role)
    if (
        user.role == "admin"
        and target.grantee_domain == user.domain
        and target.grantee != user.domain
    ):
        return domain_admin_reason(user.domain)
    return None


def grant_read(user: User, target: Target, s: Snapshot) -> Reason | None:
    """A grant is visible to whoever may revoke it and to whoever it applies to."""
    if target.grantee in (*user.principals, user.domain):
        return GRANTEE
    return grant_revoke(user, target, s)


def mask_set(user: User, target: Target, s: Snapshot) -> Reason | None:
    """Column masks by the owning domain's stewards and admins; tag masks span domains,
    so only the mesh admin sets them."""
    if target.kind == "tag":
        return mesh_admin(user, target, s)
    return domain_operator(user, target, s)


def alert_read(user: User, target: Target, s: Snapshot) -> Reason | None:
    """A domain's alerts by the people who run it; mesh-wide alerts by the mesh admin."""
    if target.domain is None:
        return mesh_admin(user, target, s)
    return domain_operator(user, target, s)


def term_define(user: User, target: Target, s: Snapshot) -> Reason | None:
    """A glossary term is defined by the mesh admin or by the people who run a domain; once
    it exists, only its owner (or the mesh admin) redefines it (``granted_by`` carries the
    owner of an existing term)."""
    if is_mesh_admin(user):
        return MESH_ADMIN
    if target.granted_by is not None:
        return Reason("term-owner") if target.granted_by == user.name else None
    return owner_reason(user.role) if user.role in OPERATORS else None


def request_create(user: User, target: Target, s: Snapshot) -> Reason | None:
    """Anyone asks for themselves; a domain's admin also for the domain (``grantee`` is
    who would get the access)."""
    if target.grantee == user.name:
        return Reason("requester")
    if target.grantee == user.domain and user.role == "admin" and user.domain != CENTRAL:
        return domain_admin_reason(user.domain)
    return None


def request_read(user: User, target: Target, s: Snapshot) -> Reason | None:
    """A ticket is seen by who asked, the admin of the domain it was asked for, the
    people who run the owning domain (who decide it), and the mesh admin: nobody else."""
    if is_mesh_admin(user):
        return MESH_ADMIN
    if user.name in (target.grantee, target.granted_by):
        return Reason("requester")
    if user.role == "admin" and target.grantee_domain == user.domain:
        return domain_admin_reason(user.domain)
    return owner_reason(user.role) if is_operator(user, target.domain) else None


def request_decide(user: User, target: Target, s: Snapshot) -> Reason | None:
    """The owning domain's stewards and admins (the request's route narrows it: see
    ``service.commands.requests``) and the mesh admin; never who asked, nor for whom."""
    if user.name in (target.grantee, target.granted_by):
        return None
    if is_mesh_admin(user):
        return MESH_ADMIN
    return owner_reason(user.role) if is_operator(user, target.domain) else None


def request_revoke(user: User, target: Target, s: Snapshot) -> Reason | None:
    """Access given by a request is given up by who asked, taken back by the admin of
    the domain it went to, or by the owning domain's stewards and admins."""
    if is_mesh_admin(user):
        return MESH_ADMIN
    if user.name in (target.grantee, target.granted_by):
        return Reason("requester")
    if user.role == "admin" and target.grantee_domain == user.domain:
        return domain_admin_reason(user.domain)
    return owner_reason(user.role) if is_operator(user, target.domain) else None


def inbox_read(user: User, target: Target, s: Snapshot) -> Reason | None:
    """A user's own inbox, its domain's inbox (every member of a domain reads what the
    domain is told), and any inbox for the mesh admin."""
    if is_mesh_admin(user):
        return MESH_ADMIN
    if target.name == user.name:
        return Reason("inbox-owner")
    return Reason("member", user.domain) if target.name == user.domain else None


def deciders(users: Mapping[str, User], domain: str, route: str | tuple[str, ...]) -> list[str]:
    """Who decides a request for ``domain``'s data routed to ``route`` (``stewards``,
    ``admins`` or named people): named people only if they run the domain (or administer
    the mesh), so a rule file cannot hand a domain's data to an outsider's decision."""
    if isinstance(route, tuple):
        return [
            name
            for name in route
            if (u := users.get(name)) is not None and (is_operator(u, domain) or is_mesh_admin(u))
        ]
    role = "admin" if route == "admins" else "steward"
    return sorted(u.name for u in users.values() if u.domain == domain and u.role == role)


def decides(user: User, domain: str, route: str | tuple[str, ...]) -> bool:
    """Whether ``user`` is one of the deciders of such a route (the mesh admin always)."""
    if is_mesh_admin(user):
        return True
    if isinstance(route, tuple):
        return user.name in route and is_operator(user, domain)
    return user.domain == domain and user.role == ("admin" if route == "admins" else "steward")


def domain_admins(users: Mapping[str, User], domain: str) -> list[str]:
    """Who speaks for a domain (its admins): told of the requests made for it."""
    return sorted(u.name for u in users.values() if u.domain == domain and u.role == "admin")


def webhook_manage(user: User, target: Target, s: Snapshot) -> Reason | None:
    """The mesh admin adds webhooks for any events; a domain's stewards and admins for
    their domain's events only (the bus narrows their pattern to the domain); a webhook
    is removed by whoever may add it for its owner's domain, or by its owner."""
    if is_mesh_admin(user):
        return MESH_ADMIN
    if target.granted_by == user.name:
        return Reason("webhook-owner")
    return owner_reason(user.role) if is_operator(user, target.domain) else None


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    #: The kinds of resource the action applies to.
    resources: tuple[TargetKind, ...]
    description: str
    #: None for a data action: the grants decide (``Authorizer.decide``).
    rule: Rule | None = None
    #: The refusal, formatted with ``actor``, ``domain`` and ``name`` (the target's);
    #: ``refusals`` overrides it for some kinds of target.
    refusal: str = "{actor} may not {description}"
    refusals: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_data(self) -> bool:
        return self.rule is None

    def refused(self, user: User, target: Target) -> str:
        return self.refusals.get(target.kind, self.refusal).format(
            actor=user.name,
            domain=target.domain,
            name=target.name,
            description=self.description,
        )


def _data(name: str, description: str) -> Action:
    return Action(name, ("table",), description)


#: Every action, by name. Data actions are upper case (as in grants), the rest dotted.
ACTIONS: Mapping[str, Action] = MappingProxyType(
    {
        a.name: a
        for a in (
            _data("DESCRIBE", "see a table's metadata"),
            _data("SELECT", "read a table's rows"),
            _data("ALTER", "change a table's metadata"),
            _data("DROP", "drop a table"),
            _data("UNMASK", "see masked columns unmasked"),
            Action(
                "domain.create",
                ("mesh",),
                "create domains",
                mesh_admin,
                "only the mesh admin may create domains",
            ),
            Action("domain.read", ("domain",), "see a domain", anyone),
            Action(
                "domain.crawl",
                ("domain",),
                "crawl a domain",
                domain_operator,
                "{actor} may not crawl domain {domain}",
            ),
            Action(
                "domain.sync",
                ("domain",),
                "sync a domain",
                domain_operator,
                "{actor} may not sync domain {domain}",
            ),
            Action(
                "domain.status",
                ("domain",),
                "see a domain's sync status",
                domain_operator,
                "{actor} may not see the sync status of domain {domain}",
            ),
            Action("catalog.search", ("mesh",), "search the catalog", anyone),
            Action("catalog.list", ("mesh", "domain"), "list tables", anyone),
            Action(
                "principal.create",
                ("domain",),
                "create users",
                domain_admin,
                "{actor} may not create users of domain {domain}",
            ),
            Action(
                "principal.list",
                ("mesh", "domain"),
                "list users",
                domain_member,
                "{actor} may not list the users of domain {domain}",
            ),
            Action(
                "tag.define",
                ("mesh",),
                "define tags",
                mesh_admin,
                "only the mesh admin may define tags",
            ),
            Action("tag.list", ("mesh",), "list tags", anyone),
            Action(
                "tag.assign",
                ("database", "table", "column"),
                "tag resources",
                domain_steward,
                "{actor} may not tag resources of domain {domain}",
            ),
            Action(
                "grant.create",
                ("database", "table", "tags"),
                "grant",
                grant_create,
                "{actor} may not grant on {name}",
            ),
            Action(
                "grant.read",
                ("grant",),
                "see a grant",
                grant_read,
                "{actor} may not see grant {name}",
            ),
            Action(
                "grant.revoke",
                ("grant",),
                "revoke a grant",
                grant_revoke,
                "{actor} may not revoke grant {name}",
            ),
            Action(
                "mask.set",
                ("column", "tag"),
                "set masks",
                mask_set,
                "{actor} may not mask columns of domain {domain}",
                MappingProxyType({"tag": "only the mesh admin may mask by tag"}),
            ),
            Action(
                "alert.read",
                ("mesh", "domain"),
                "see alerts",
                alert_read,
                "{actor} may not see the alerts of {name}",
            ),
            Action(
                "alert.ack",
                ("mesh", "domain"),
                "acknowledge alerts",
                alert_read,
                "{actor} may not acknowledge the alerts of {name}",
            ),
            Action(
                "audit.read",
                ("mesh",),
                "read the audit log",
                mesh_admin,
                "only the mesh admin may read the audit log",
            ),
            Action(
                "audit.verify",
                ("mesh",),
                "verify the audit chain",
                mesh_admin,
                "only the mesh admin may verify the audit chain",
            ),
            Action(
                "audit.checkpoint",
                ("mesh",),
                "sign an audit checkpoint",
                mesh_admin,
                "only the mesh admin may sign audit checkpoints",
            ),
            Action(
                "classify.run",
                ("table",),
                "classify tables",
                domain_operator,
                "{actor} may not classify tables of domain {domain}",
            ),
            Action(
                "classify.read",
                ("mesh", "domain"),
                "see classification recommendations",
                domain_steward,
                "{actor} may not see the classification queue of {name}",
            ),
            Action(
                "classify.decide",
                ("column",),
                "accept or reject classification recommendations",
                domain_steward,
                "{actor} may not decide classifications of domain {domain}",
            ),
            Action(
                "product.register",
                ("table",),
                "register data products",
                domain_operator,
                "{actor} may not register products of domain {domain}",
            ),
            Action(
                "quality.check",
                ("table",),
                "check a product's contract and quality",
                domain_operator,
                "{actor} may not check the quality of products of domain {domain}",
            ),
            Action(
                "lineage.ingest",
                ("mesh", "domain"),
                "ingest lineage",
                domain_operator,
                "{actor} may not ingest lineage for {name}",
                MappingProxyType(
                    {
                        "mesh": "only the mesh admin may ingest lineage that spans "
                        "domains or leaves the mesh"
                    }
                ),
            ),
            Action(
                "glossary.define",
                ("term",),
                "define glossary terms",
                term_define,
                "{actor} may not define glossary term {name}",
            ),
            Action(
                "glossary.link",
                ("table", "column"),
                "link glossary terms",
                domain_operator,
                "{actor} may not link glossary terms to resources of domain {domain}",
            ),
            Action("glossary.read", ("mesh",), "read the glossary", anyone),
            Action(
                "events.read",
                ("mesh",),
                "read the event outbox",
                mesh_admin,
                "only the mesh admin may read the event outbox",
            ),
            Action(
                "events.redrive",
                ("mesh",),
                "re-send dead-lettered events",
                mesh_admin,
                "only the mesh admin may redrive the dead-letter queue",
            ),
            Action(
                "webhook.manage",
                ("mesh", "domain", "webhook"),
                "manage webhooks",
                webhook_manage,
                "{actor} may not manage webhooks of domain {domain}",
                refusals={"mesh": "only the mesh admin may add webhooks for every event"},
            ),
            Action(
                "inbox.read",
                ("domain", "user"),
                "read an inbox",
                inbox_read,
                "unknown inbox {name}",
            ),
            Action(
                "request.create",
                ("table",),
                "request access",
                request_create,
                "{actor} may not request access for a domain: only the domain's admin may",
            ),
            Action(
                "request.read",
                ("request",),
                "read access requests",
                request_read,
                "unknown request {name}",
            ),
            Action(
                "request.decide",
                ("request",),
                "decide access requests",
                request_decide,
                "{actor} may not decide request {name}",
            ),
            Action(
                "request.revoke",
                ("request",),
                "revoke access given by a request",
                request_revoke,
                "{actor} may not revoke request {name}",
            ),
        )
    }
)
#: The data actions, in grant order (``ALL`` in a grant is the first four).
DATA_ACTIONS: tuple[str, ...] = tuple(a.name for a in ACTIONS.values() if a.is_data)


def action(name: str) -> Action:
    """A registered action; anything else is a programming error or bad input."""
    found = ACTIONS.get(name)
    if found is None:
        raise InvalidInput(f"unknown action {name!r}")
    return found
