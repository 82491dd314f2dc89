"""The business glossary: terms with a definition and an owner, linked to tables and
columns, so that "customer" finds the tables that hold customers whatever their columns
are called. Terms are searchable (``catalog.search`` reads their names and definitions)
and shown by ``show``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from lakemesh.errors import Conflict, InvalidInput, NotFound
from lakemesh.store import tables as t
from lakemesh.typedef import now

#: A term: words, digits and a little punctuation, as a glossary writes them.
TERM = re.compile(r"[^\W_][\w .,&'()/+-]{0,199}", re.UNICODE)
MAX_DEFINITION = 4000


def check_term(name: str) -> str:
    name = " ".join(name.split())
    if not TERM.fullmatch(name):
        raise InvalidInput(
            f"invalid glossary term {name[:80]!r}: 1-200 letters, digits, spaces and .,&'()/+-"
        )
    return name


def check_definition(text: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidInput("a glossary term needs a definition")
    if len(text) > MAX_DEFINITION:
        raise InvalidInput(f"a definition is at most {MAX_DEFINITION} characters")
    return text


@dataclass
class Term:
    id: int
    name: str
    definition: str
    owner: str
    created_at: datetime
    updated_at: datetime
    links: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "definition": self.definition,
            "owner": self.owner,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "links": list(self.links),
        }


_T, _L = t.glossary_terms, t.glossary_links


def find(conn: Connection, name: str) -> Term | None:
    """A term by name; "Customer" and "customer" are one term."""
    row = conn.execute(select(_T).where(_T.c.name_key == key(check_term(name)))).first()
    if row is None:
        return None
    links = conn.execute(
        select(_L.c.resource).where(_L.c.term_id == row.id).order_by(_L.c.resource)
    ).scalars()
    return Term(
        row.id, row.name, row.definition, row.owner, row.created_at, row.updated_at, list(links)
    )


def key(name: str) -> str:
    return name.casefold()


def define(
    conn: Connection, name: str, definition: str, owner: str, actor: str
) -> tuple[Term, bool]:
    """Add a term, or redefine an existing one; returns it and whether it is new."""
    name, definition = check_term(name), check_definition(definition)
    stamp = now()
    existing = find(conn, name)
    if existing is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(_T).values(
                        name=name,
                        name_key=key(name),
                        definition=definition,
                        owner=owner,
                        created_by=actor,
                        created_at=stamp,
                        updated_at=stamp,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"glossary term {name!r} was defined concurrently") from exc
    else:
        conn.execute(
            update(_T)
            .where(_T.c.id == existing.id)
            .values(definition=definition, owner=owner, updated_at=stamp)
        )
    term = find(conn, name)
    assert term is not None
    return term, existing is None


def link(conn: Connection, name: str, resource: str, kind: str, actor: str) -> tuple[Term, bool]:
    """Link a term to a table or column; linking twice changes nothing (False)."""
    term = find(conn, name)
    if term is None:
        raise NotFound(f"unknown glossary term {name!r}")
    if resource in term.links:
        return term, False
    conn.execute(
        insert(_L).values(
            term_id=term.id, resource_kind=kind, resource=resource, linked_by=actor, linked_at=now()
        )
    )
    term.links = sorted([*term.links, resource])
    return term, True


def all_terms(conn: Connection) -> list[Term]:
    links: dict[int, list[str]] = {}
    for r in conn.execute(select(_L.c.term_id, _L.c.resource).order_by(_L.c.resource)):
        links.setdefault(r.term_id, []).append(r.resource)
    return [
        Term(r.id, r.name, r.definition, r.owner, r.created_at, r.updated_at, links.get(r.id, []))
        for r in conn.execute(select(_T).order_by(_T.c.name))
    ]


def terms_of(conn: Connection, table: str) -> dict[str, list[str]]:
    """Terms linked to ``table`` or its columns: resource -> term names."""
    rows = conn.execute(
        select(_L.c.resource, _T.c.name)
        .join(_T, _T.c.id == _L.c.term_id)
        .where((_L.c.resource == table) | _L.c.resource.startswith(table + ".", autoescape=True))
        .order_by(_T.c.name)
    )
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r.resource, []).append(r.name)
    return out


def search(conn: Connection, text: str) -> list[tuple[Term, list[str]]]:
    """Terms whose name or definition contains every word of ``text`` (case-insensitive),
    with the resources they are linked to."""
    words = [w for w in text.lower().split() if w]
    if not words:
        return []
    found = []
    for term in all_terms(conn):
        hay = f"{term.name} {term.definition}".lower()
        if all(w in hay for w in words):
            found.append((term, term.links))
    return found
