"""The peers of the decision benchmark: the same grants as Cedar policies and as Casbin rules.

Both are built once from the fixture's rows (never from lakemesh's snapshot) and answer
table-level allow/deny for (user, action, table): column lists and row filters shape what
an allowed decision shows, not whether it is allowed, so neither peer models them.

Cedar (cedarpy, the Rust engine):

* Entities: ``User`` (attribute ``domain``; parents its ``Role::"dom:role"`` and its
  ``Domain``), ``Table`` (attributes ``domain`` and ``tags``, the set of ``key=value`` a tag
  expression can match on it: inherited database and table tags plus its columns' own
  tags; parent its ``Database``), ``Database``, and ``Ceiling::"dom/ACTION"`` groups.
* One ``permit`` per grant: ``principal == User::..`` / ``principal in Role::..`` /
  ``principal == Domain::..``; ``resource == Table::..`` / ``resource in Database::..``,
  or for a tag expression a ``when`` over ``resource.tags`` (``containsAny`` per clause)
  and, when scoped, ``resource.domain``; the action set (any action implies DESCRIBE);
  ``context.now < expiry`` for expiring grants.
* The domain ceiling: one ``forbid`` per (domain, action), ``forbid(principal in
  Domain::"d", action == Action::"A", resource) unless { resource.domain == "d" ||
  resource in Ceiling::"d/A" || ... }``. The domain's non-expiring table and database
  grants are entity edges (the table or database is a child of ``Ceiling::"d/A"``: the
  usual Cedar way to express relationships); its expiring grants and its tag-expression
  grants are spelled out in the ``unless`` clause. Users of ``central`` have no ceiling.
* Built once: ``PolicySet.from_str`` and ``Entities.from_json_str`` handles; a decision is
  one ``is_authorized`` call with ``context = {"now": int(time.time())}``.

Casbin (pycasbin, pure Python), an RBAC model with resource roles:

* ``p = sub, obj, act, exp``: one rule per grant (sub = user, ``dom:role`` or domain; obj =
  table, database, or ``tags:<expression>@<scope>``; act = SELECT when the grant has it,
  else DESCRIBE; exp = expiry as 12-digit epoch seconds, or 999999999999);
* ``g``: user -> its ``dom:role``; ``g2``: table -> its database, and table -> every
  ``tags:...`` object whose expression (and scope) it matches, materialised once;
* matcher ``g(r.sub, p.sub) && g2(r.obj, p.obj) && (r.act == p.act || r.act ==
  "DESCRIBE") && r.now < p.exp``;
* the ceiling is a second ``enforce`` with the user's domain as subject, made only when
  the first allows and the table belongs to another domain (domains are not in ``g``, so
  their rules never reach users directly).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._authz_fixture import World
from lakemesh.access.principals import CENTRAL
from lakemesh.access.tags import TagExpression

NEVER = 999_999_999_999


def _actions(row: dict[str, Any]) -> tuple[str, ...]:
    """The actions a grant allows: its own, and DESCRIBE (any action implies it)."""
    listed = json.loads(row["actions"])
    return tuple(dict.fromkeys([*listed, "DESCRIBE"]))


def _expiry(row: dict[str, Any]) -> int | None:
    return None if row["expires_at"] is None else int(row["expires_at"].timestamp())


def _clauses(row: dict[str, Any]) -> list[list[str]]:
    expr = TagExpression.parse(row["resource"])
    return [sorted(f"{k}={v}" for v in values) for k, values in expr.clauses]


def _is_domain(principal: str) -> bool:
    return "@" not in principal and ":" not in principal


# --------------------------------------------------------------------------- Cedar


def _q(s: str) -> str:
    return json.dumps(s)


def cedar_texts(world: World) -> tuple[str, str]:
    """(policies, entities JSON) for ``world``."""
    policies: list[str] = []
    edges: dict[str, set[str]] = defaultdict(set)  # table or database -> Ceiling ids
    inline: dict[tuple[str, str], list[str]] = defaultdict(list)
    for g in world.grants:
        p, kind, res = g["principal"], g["resource_kind"], g["resource"]
        if "@" in p:
            head = f"principal == User::{_q(p)}"
        elif ":" in p:
            head = f"principal in Role::{_q(p)}"
        else:
            head = f"principal == Domain::{_q(p)}"
        acts = _actions(g)
        if len(acts) == 1:
            act = f"action == Action::{_q(acts[0])}"
        else:
            act = "action in [" + ", ".join(f"Action::{_q(a)}" for a in acts) + "]"
        conds: list[str] = []
        if kind == "table":
            resource = f"resource == Table::{_q(res)}"
        elif kind == "database":
            resource = f"resource in Database::{_q(res)}"
        else:
            resource = "resource"
            for values in _clauses(g):
                if len(values) == 1:
                    conds.append(f"resource.tags.contains({_q(values[0])})")
                else:
                    conds.append("resource.tags.containsAny([" + ", ".join(map(_q, values)) + "])")
            if g["scope_domain"]:
                conds.append(f"resource.domain == {_q(g['scope_domain'])}")
        exp = _expiry(g)
        if exp is not None:
            conds.append(f"context.now < {exp}")
        when = f" when {{ {' && '.join(conds)} }}" if conds else ""
        policies.append(f"permit({head}, {act}, {resource}){when};")
        if not _is_domain(p):
            continue
        for a in acts:
            if kind != "tags" and exp is None:
                edges[res].add(f"{p}/{a}")
            elif kind == "table":
                inline[(p, a)].append(f"(resource == Table::{_q(res)} && context.now < {exp})")
            elif kind == "database":
                inline[(p, a)].append(f"(resource in Database::{_q(res)} && context.now < {exp})")
            else:
                inline[(p, a)].append("(" + " && ".join(conds) + ")")
    domains = [d for d in world.domains if d != CENTRAL]
    for d in domains:
        for a in ("SELECT", "DESCRIBE"):
            terms = [f"resource.domain == {_q(d)}", f"resource in Ceiling::{_q(f'{d}/{a}')}"]
            terms += inline.get((d, a), [])
            policies.append(
                f"forbid(principal in Domain::{_q(d)}, action == Action::{_q(a)}, resource) "
                f"unless {{ {' || '.join(terms)} }};"
            )

    def uid(kind: str, name: str) -> dict[str, str]:
        return {"type": kind, "id": name}

    entities: list[dict[str, Any]] = []
    for name, (d, role) in world.users.items():
        entities.append(
            {
                "uid": uid("User", name),
                "attrs": {"domain": d},
                "parents": [uid("Role", f"{d}:{role}"), uid("Domain", d)],
            }
        )
    roles = {f"{d}:{r}" for d, r in world.users.values()}
    for d in [*domains, CENTRAL]:
        entities.append({"uid": uid("Domain", d), "attrs": {}, "parents": []})
    for r in sorted(roles):
        entities.append({"uid": uid("Role", r), "attrs": {}, "parents": []})
    for d in domains:
        for a in ("SELECT", "DESCRIBE"):
            entities.append({"uid": uid("Ceiling", f"{d}/{a}"), "attrs": {}, "parents": []})
    for db in world.databases:
        entities.append(
            {
                "uid": uid("Database", db),
                "attrs": {},
                "parents": [uid("Ceiling", c) for c in sorted(edges.get(db, ()))],
            }
        )
    for tr in world.tables:
        entities.append(
            {
                "uid": uid("Table", tr.name),
                "attrs": {"domain": tr.domain, "tags": sorted(world.table_tags(tr))},
                "parents": [uid("Database", tr.database)]
                + [uid("Ceiling", c) for c in sorted(edges.get(tr.name, ()))],
            }
        )
    return "\n".join(policies), json.dumps(entities)


def cedar_decider(world: World) -> Callable[[str, str, str], bool]:
    import cedarpy

    policies, entities = cedar_texts(world)
    pset = cedarpy.PolicySet.from_str(policies)
    ents = cedarpy.Entities.from_json_str(entities)
    is_authorized = cedarpy.is_authorized

    def decide(user: str, action: str, table: str) -> bool:
        request = {
            "principal": f"User::{_q(user)}",
            "action": f"Action::{_q(action)}",
            "resource": f"Table::{_q(table)}",
            "context": {"now": int(time.time())},
        }
        return is_authorized(request, pset, ents).allowed

    return decide


# --------------------------------------------------------------------------- Casbin

CASBIN_MODEL = """
[request_definition]
r = sub, obj, act, now

[policy_definition]
p = sub, obj, act, exp

[role_definition]
g = _, _
g2 = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && g2(r.obj, p.obj) && (r.act == p.act || r.act == "DESCRIBE") \
&& r.now < p.exp
"""


def casbin_rules(world: World) -> list[str]:
    """The policy file's lines: p rules (one per grant), g and g2 links."""
    lines: list[str] = []
    tag_objects: dict[str, tuple[list[list[str]], str | None]] = {}
    for g in world.grants:
        kind, res = g["resource_kind"], g["resource"]
        if kind == "tags":
            obj = f"tags:{res}@{g['scope_domain'] or '*'}"
            tag_objects[obj] = (_clauses(g), g["scope_domain"])
        else:
            obj = res
        act = "SELECT" if "SELECT" in json.loads(g["actions"]) else "DESCRIBE"
        exp = _expiry(g)
        lines.append(f"p, {g['principal']}, {obj}, {act}, {NEVER if exp is None else exp:012d}")
    for name, (d, role) in world.users.items():
        lines.append(f"g, {name}, {d}:{role}")
    by_pair: dict[str, set[str]] = defaultdict(set)
    for tr in world.tables:
        lines.append(f"g2, {tr.name}, {tr.database}")
        for kv in world.table_tags(tr):
            by_pair[kv].add(tr.name)
    domain_of = {tr.name: tr.domain for tr in world.tables}
    for obj, (clauses, scope) in tag_objects.items():
        hit: set[str] | None = None
        for values in clauses:
            tables = set().union(*(by_pair.get(v, set()) for v in values))
            hit = tables if hit is None else hit & tables
        for name in sorted(hit or ()):
            if scope is None or domain_of[name] == scope:
                lines.append(f"g2, {name}, {obj}")
    return lines


def casbin_decider(world: World, workdir: Path) -> Callable[[str, str, str], bool]:
    import casbin

    workdir.mkdir(parents=True, exist_ok=True)
    model, rules = workdir / "model.conf", workdir / "policy.csv"
    model.write_text(CASBIN_MODEL)
    rules.write_text("\n".join(casbin_rules(world)) + "\n")
    enforcer = casbin.Enforcer(str(model), str(rules))
    enforce = enforcer.enforce
    domain_of = {name: d for name, (d, _) in world.users.items()}

    def decide(user: str, action: str, table: str) -> bool:
        now = f"{int(time.time()):012d}"
        if not enforce(user, table, action, now):
            return False
        d = domain_of[user]
        if d == CENTRAL or table.split(".", 1)[0] == d:
            return True
        return bool(enforce(d, table, action, now))

    return decide
