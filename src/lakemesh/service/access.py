"""``mesh.access``: principals, tags, grants, masks, and the decisions they lead to."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from lakemesh.access import principals
from lakemesh.access import tags as tagmod
from lakemesh.access.actions import DATA_ACTIONS, MESH, Target
from lakemesh.access.authorizer import Decision
from lakemesh.access.principals import MESH_ADMIN, User
from lakemesh.errors import InvalidInput, NotFound
from lakemesh.typedef import TableName

if TYPE_CHECKING:
    from lakemesh.access import grants as grantmod
    from lakemesh.mesh import Mesh


class Access:
    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh

    # ------------------------------------------------------------------ principals

    def create_user(
        self,
        name: str,
        role: str = "member",
        *,
        email: str | None = None,
        as_: str = MESH_ADMIN,
    ) -> tuple[User, str]:
        """A new user and its API token (shown once). The mesh admin creates anyone; a
        domain admin creates users of its own domain."""
        from lakemesh.service import commands  # pydantic models: not for a query

        command = commands.CreateUser(name=name, role=role, email=email)
        return self._mesh.gate.session(as_).execute(command)

    def set_email(self, name: str, email: str | None, *, as_: str = MESH_ADMIN) -> dict[str, Any]:
        """Set (or clear) where ``name``'s workflow mail goes."""
        from lakemesh.service import commands

        return self._mesh.gate.session(as_).execute(commands.SetEmail(name=name, email=email))

    def new_token(self, name: str, *, as_: str = MESH_ADMIN) -> str:
        """Replace ``name``'s API token; returns the new one (shown once)."""
        from lakemesh.service import commands

        return self._mesh.gate.session(as_).execute(commands.IssueToken(name=name))

    def users(self, *, as_: str = MESH_ADMIN) -> builtins.list[principals.UserInfo]:
        """Users ``as_`` may see: every user for the mesh admin, else its domain's."""
        session = self._mesh.gate.session(as_)
        domain: str | None = None
        decision = session.check("principal.list", MESH)
        if not decision.allowed:  # then the users of its own domain
            domain = session.actor.domain
            target = Target("domain", domain, domain)
            decision = session.require("principal.list", target, audit_as="principal.list")
        return session.audited(
            "principal.list",
            domain,
            lambda conn: principals.list_users(conn, domain),
            lambda rows: {"results": len(rows)},
            decision,
        )

    def authenticate(self, token: str) -> User | None:
        """The user a bearer token belongs to, or None (never says which part was wrong)."""
        with self._mesh.store.read() as conn:
            return principals.authenticate(conn, token)

    def authenticate_digest(self, digest: str) -> User | None:
        """The user whose token hashes to ``digest`` (what a signed web session carries),
        or None once the user has a new token."""
        with self._mesh.store.read() as conn:
            return principals.authenticate_digest(conn, digest)

    # ------------------------------------------------------------------ tags

    def define_tag(
        self, key: str, values: builtins.list[str], *, as_: str = MESH_ADMIN
    ) -> dict[str, Any]:
        from lakemesh.service import commands  # pydantic models: not for a query

        command = commands.DefineTag(key=key, values=tuple(values))
        return self._mesh.gate.session(as_).execute(command)

    def tags(self, *, as_: str = MESH_ADMIN) -> builtins.list[tagmod.TagInfo]:
        """Tag keys and allowed values: the governance vocabulary, visible to every user."""
        session = self._mesh.gate.session(as_)
        decision = session.require("tag.list", MESH, audit_as="tag.list")
        return session.audited(
            "tag.list", None, tagmod.list_tags, lambda rows: {"results": len(rows)}, decision
        )

    def assign_tag(
        self, resource: str, assignment: str, *, as_: str = MESH_ADMIN
    ) -> dict[str, Any]:
        """``KEY=VALUE`` on a database, table or column, by a steward of its domain."""
        session = self._mesh.gate.session(as_)
        res = tagmod.Resource.parse(resource)
        key, sep, value = assignment.partition("=")
        if not sep:
            raise InvalidInput(f"invalid tag assignment {assignment!r}: expected KEY=VALUE")
        from lakemesh.service import commands  # pydantic models: not for a query

        command = commands.AssignTag(
            on=str(res), key=tagmod.check_key(key.strip()), value=tagmod.check_value(value.strip())
        )
        return session.execute(command)

    # ------------------------------------------------------------------ grants and masks

    def grant(self, request: grantmod.GrantRequest, *, as_: str = MESH_ADMIN) -> dict[str, Any]:
        from lakemesh.service import commands  # pydantic models: not for a query

        command = commands.CreateGrant(
            actions=tuple(request.actions),
            principal=request.principal,
            table=request.table,
            database=request.database,
            tags=request.tags,
            columns=None if request.columns is None else tuple(request.columns),
            exclude_columns=(
                None if request.exclude_columns is None else tuple(request.exclude_columns)
            ),
            row_filter=request.row_filter,
            grantable=request.grantable,
            expires=request.expires,
        )
        return self._mesh.gate.session(as_).execute(command)

    def grants(
        self,
        *,
        on: str | None = None,
        to: str | None = None,
        include_inactive: bool = False,
        as_: str = MESH_ADMIN,
    ) -> builtins.list[dict[str, Any]]:
        """Grants ``as_`` may see (made, revocable, or applying to it), newest first."""
        from lakemesh.access import grants as grantmod  # not for a query

        session = self._mesh.gate.session(as_)
        return session.audited(
            "grant.list",
            on,
            lambda conn: grantmod.list_grants(
                conn,
                lambda target: session.allowed("grant.read", target),
                on=on,
                to=to,
                include_inactive=include_inactive,
            ),
            lambda rows: {"to": to, "results": len(rows)},
        )

    def revoke(self, grant_id: str, *, as_: str = MESH_ADMIN) -> builtins.list[str]:
        """Revoke a grant and what was delegated from it; returns their ids."""
        from lakemesh.service import commands  # pydantic models: not for a query

        return self._mesh.gate.session(as_).execute(commands.RevokeGrant(grant_id=grant_id))

    def mask(
        self, *, column: str | None = None, tag: str | None = None, spec: str, as_: str = MESH_ADMIN
    ) -> dict[str, Any]:
        from lakemesh.service import commands  # pydantic models: not for a query

        command = commands.SetMask(column=column, tag=tag, spec=spec)
        return self._mesh.gate.session(as_).execute(command)

    # ------------------------------------------------------------------ decisions

    def decide(self, table: str, action: str = "SELECT", *, as_: str) -> Decision:
        """The gate's decision for ``as_`` (audited): what query engines ask."""
        session = self._mesh.gate.session(as_)
        decision = session.check(data_action(action), str(TableName.parse(table)))
        session.decided(decision, "access.decide")
        return decision

    def explain(self, table: str, *, as_: str, action: str = "SELECT") -> dict[str, Any]:
        """Why ``as_`` can or cannot take ``action`` on ``table``: the decision, traced."""
        from lakemesh.access.explain import explain

        action = data_action(action)
        session = self._mesh.gate.session(as_)
        name = str(TableName.parse(table))
        authz, actor = session.authz, session.actor.name
        unknown = NotFound(f"table {name} is not in the central catalog")
        if name not in authz.snapshot.tables:
            raise unknown
        describe = authz.decide(actor, "DESCRIBE", name)
        if not describe.allowed:  # reads exactly like a table that does not exist
            session.decided(describe, "access.explain")
            raise unknown
        trace: dict[str, str] = {}
        decision = authz.decide(actor, action, name, trace=trace)
        session.decided(decision, "access.explain")
        return _seen(explain(authz, decision, trace), set(describe.columns))


def data_action(text: str) -> str:
    """A data action named by a caller (case-insensitive), or a plain input error."""
    action = text.strip().upper()
    if action not in DATA_ACTIONS:
        raise InvalidInput(f"invalid action {text!r}: expected one of {', '.join(DATA_ACTIONS)}")
    return action


def _seen(explained: dict[str, Any], visible: set[str]) -> dict[str, Any]:
    """An explanation limited to the columns its principal may describe."""
    return explained | {
        "hidden_columns": [c for c in explained["hidden_columns"] if c in visible],
        "column_tags": {c: t for c, t in explained["column_tags"].items() if c in visible},
        "masks": {c: m for c, m in explained["masks"].items() if c in visible},
    }
