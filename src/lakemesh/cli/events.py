"""Event and alert commands: what changed, and what an operator must look at."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from lakemesh.cli._common import (
    command,
    group,
    open_mesh,
    out,
    print_json,
    split,
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


@command(events_app, "dlq")
def events_dlq(home: str | None, json_: bool) -> None:
    """The dead-letter queue: deliveries that failed for good, newest first."""
    with open_mesh(home) as mesh:
        rows = mesh.bus.dead_letters()
    if json_:
        print_json(rows)
        return
    if not rows:
        out.print("the dead-letter queue is empty")
        return
    table = TextTable("id", "event", "type", "target", "attempts", "last error")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["event_id"],
            r["type"],
            r["target"],
            str(r["attempts"]),
            r["last_error"] or "",
        )
    out.print(table)


@command(events_app, "redrive")
@click.argument("ids", metavar="[ID ...]", nargs=-1, type=int)
def events_redrive(ids: tuple[int, ...], home: str | None, json_: bool) -> None:
    """Send dead-lettered deliveries again (all, or the IDs given)."""
    with open_mesh(home) as mesh:
        found = mesh.bus.redrive(list(ids) or None)
    if json_:
        print_json({"redriven": found})
    else:
        out.print(f"redriven: {len(found)} deliver{'y' if len(found) == 1 else 'ies'}")


@command(events_app, "status")
def events_status(home: str | None, json_: bool) -> None:
    """How much is waiting: unrouted events, deliveries by state."""
    with open_mesh(home) as mesh:
        counts = mesh.bus.backlog()
    if json_:
        print_json(counts)
    else:
        out.print(", ".join(f"{k}: {v}" for k, v in counts.items()))


# --------------------------------------------------------------------------- webhooks

webhook_app = group("webhook", "Signed HTTP callbacks for the events a pattern matches.")


@command(webhook_app, "add", acts=True)
@click.argument("url")
@click.option(
    "--pattern",
    required=True,
    metavar="JSON",
    help='An EventBridge-style pattern, e.g. \'{"type": [{"prefix": "request."}]}\'.',
)
def webhook_add(url: str, pattern: str, as_: str, home: str | None, json_: bool) -> None:
    """Add a webhook; its signing secret is printed once (Standard Webhooks)."""
    with open_mesh(home) as mesh:
        hook = mesh.bus.add_webhook(url, pattern, as_=as_)
    if json_:
        print_json(hook)
    else:
        out.print(f"added webhook {hook['id']} -> {hook['url']}")
        out.print(f"signing secret (shown once): {hook['secret']}")


@command(webhook_app, "list", acts=True)
def webhook_list(as_: str, home: str | None, json_: bool) -> None:
    """Webhooks the caller added (the mesh admin: all)."""
    _targets("webhook", as_, home, json_)


@command(webhook_app, "remove", acts=True)
@click.argument("target_id", metavar="ID")
def webhook_remove(target_id: str, as_: str, home: str | None, json_: bool) -> None:
    """Remove a webhook: nothing more is sent to it."""
    _remove(target_id, as_, home, json_)


def _remove(target_id: str, as_: str, home: str | None, json_: bool) -> None:
    """A webhook or a subscription: both are targets of the bus."""
    with open_mesh(home) as mesh:
        result = mesh.bus.remove(target_id, as_=as_)
    if json_:
        print_json(result)
    else:
        out.print(f"removed {target_id}")


def _targets(kind: str, as_: str, home: str | None, json_: bool) -> None:
    with open_mesh(home) as mesh:
        rows = mesh.bus.targets(kind=kind, as_=as_)
    if json_:
        print_json(rows)
        return
    if not rows:
        out.print("none")
        return
    table = TextTable("id", "kind", "owner", "to", "pattern")
    for r in rows:
        to = r["url"] or r["address"] or r["owner"]
        table.add_row(r["id"], r["kind"], r["owner"], to, json.dumps(r["pattern"]))
    out.print(table)


# --------------------------------------------------------------------------- subscriptions

subscription_app = group("subscription", "Hear of changes to the tables you use.")


@command(subscription_app, "add", acts=True)
@click.argument("table")
@click.option(
    "--events",
    "topics",
    metavar="data,schema,contract,breaking,quality",
    help="What to hear of (default: all).",
)
@click.option(
    "--via",
    type=click.Choice(("inbox", "email", "webhook")),
    default="inbox",
    show_default=True,
)
@click.option("--url", metavar="URL", help="The webhook, with --via webhook.")
def subscription_add(
    table: str,
    topics: str | None,
    via: str,
    url: str | None,
    as_: str,
    home: str | None,
    json_: bool,
) -> None:
    """Subscribe to a table's changes (new data, schema, contract, breaking changes)."""
    with open_mesh(home) as mesh:
        sub = mesh.bus.subscribe(table, topics=split(topics), via=via, url=url, as_=as_)
    if json_:
        print_json(sub)
        return
    out.print(f"subscribed {sub['id']}: {sub['table']} via {via}")
    if sub.get("secret"):
        out.print(f"signing secret (shown once): {sub['secret']}")


@command(subscription_app, "list", acts=True)
def subscription_list(as_: str, home: str | None, json_: bool) -> None:
    """The caller's subscriptions (the mesh admin: all)."""
    _targets("subscription", as_, home, json_)


@command(subscription_app, "remove", acts=True)
@click.argument("target_id", metavar="ID")
def subscription_remove(target_id: str, as_: str, home: str | None, json_: bool) -> None:
    """End a subscription."""
    _remove(target_id, as_, home, json_)


# --------------------------------------------------------------------------- inbox, worker


@command(name="inbox", acts=True)
@click.argument("owner", metavar="[DOMAIN|USER]", required=False)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
def inbox(owner: str | None, limit: int, as_: str, home: str | None, json_: bool) -> None:
    """Events delivered to the caller's inbox (or its domain's)."""
    with open_mesh(home) as mesh:
        rows = mesh.bus.inbox(owner, as_=as_)[:limit]
    if json_:
        print_json(rows)
        return
    if not rows:
        out.print("the inbox is empty")
        return
    for r in rows:
        out.print(f"{when(r['created_at'])}  {r['type']:<28} {r['subject'] or ''}")


@command(name="worker")
@click.option("--once", is_flag=True, help="One pass, then exit (for cron and tests).")
def worker(once: bool, home: str | None, json_: bool) -> None:
    """Deliver events (inboxes, webhooks, mail, with retries) and end expired access,
    until stopped (Ctrl-C or SIGTERM)."""
    import signal

    from lakemesh.service.bus import Worker

    with open_mesh(home) as mesh:
        w = Worker(mesh)

        def stop(*_: object) -> None:
            w.stopped.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

        def report(done: dict[str, int]) -> None:
            if any(done.values()) and not json_:
                out.print(", ".join(f"{k} {v}" for k, v in done.items() if v))

        totals = w.run(once=once, on_pass=report)
    if json_:
        print_json(totals)
