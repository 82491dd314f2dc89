"""Event and alert commands: what changed, and what an operator must look at."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lakemesh.cli._common import (
    command,
    group,
    open_mesh,
    out,
    print_json,
    when,
)
from lakemesh.cli._table import TextTable

if TYPE_CHECKING:
    pass

alerts_app = group("alerts", "Conditions an operator must look at (failed syncs, ...).")
events_app = group("events", "Events written by every change.")


# --------------------------------------------------------------------------- alerts


@command(alerts_app, "list", acts=True)
@click.option("--all", "all_", is_flag=True, help="Include resolved alerts.")
def alerts_list(all_: bool, as_: str, home: str | None, json_: bool) -> None:
    """Open alerts the caller may see (a domain's stewards and admins see its alerts)."""
    with open_mesh(home) as mesh:
        rows = mesh.alerts.all(include_resolved=all_, as_=as_)
    if json_:
        print_json(rows)
        return
    if not rows:
        out.print("no open alerts" if not all_ else "no alerts")
        return
    table = TextTable("id", "created (UTC)", "domain", "severity", "kind", "message", "resolved")
    for r in rows:
        resolved = "" if r.resolved_at is None else f"{when(r.resolved_at)}"
        if r.resolved_by:
            resolved += f" by {r.resolved_by}"
        table.add_row(
            str(r.id),
            when(r.created_at),
            r.domain or "-",
            r.severity,
            r.kind,
            r.message,
            resolved,
        )
    out.print(table)


@command(alerts_app, "ack", acts=True)
@click.argument("alert_id", metavar="ID", type=int)
def alerts_ack(alert_id: int, as_: str, home: str | None, json_: bool) -> None:
    """Acknowledge an open alert: it is resolved, and who did it is kept."""
    with open_mesh(home) as mesh:
        alert = mesh.alerts.acknowledge(alert_id, as_=as_)
    if json_:
        print_json(alert)
    else:
        out.print(f"acknowledged alert {alert.id}: {alert.message}")


# --------------------------------------------------------------------------- events


@command(events_app, "list")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, metavar="N")
@click.option("--type", "type_", metavar="PREFIX", help="Only types starting with PREFIX.")
def events_list(limit: int, type_: str | None, home: str | None, json_: bool) -> None:
    """The newest events, newest first."""
    with open_mesh(home) as mesh:
        rows = mesh.events.recent(limit, type_)
    if json_:
        print_json(rows)
        return
    for r in rows:
        out.print(f"{r['id']:>6} {r['created_at']} {r['type']:<24} {r['subject'] or ''}")
