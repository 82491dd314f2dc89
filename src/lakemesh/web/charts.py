"""Charts as SVG markup rendered on the server: no chart library, no script (the CSP
allows none inline), and every label escaped like any other text on the page.

* ``quality_chart``: a product's contract checks over time (share of checks passed, and
  mean completeness) as a line chart;
* ``lineage_graph``: a table's upstream and downstream as a left-to-right graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 16, 16, 40
NODE_W, NODE_H, GAP_X, GAP_Y = 230, 34, 60, 14


def _attr(value: object) -> str:
    return str(escape(str(value)))


def quality_chart(series: Sequence[dict[str, Any]]) -> Markup:
    """Share of passed checks and mean completeness per measurement, oldest first."""
    points: list[tuple[str, float | None, float | None, dict[str, Any]]] = []
    for run in series:
        checked = (run.get("passed") or 0) + (run.get("failed") or 0)
        passed = (run.get("passed") or 0) / checked if checked else None
        complete = [
            m["value"]
            for m in run.get("metrics", ())
            if m.get("kind") == "completeness" and m.get("value") is not None
        ]
        completeness = sum(complete) / len(complete) if complete else None
        points.append((str(run.get("measured_at", "")), passed, completeness, run))
    if not points:
        return Markup('<p class="muted">No quality measured yet.</p>')
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(i: int) -> float:
        return PAD_LEFT + (inner_w * i / (len(points) - 1) if len(points) > 1 else inner_w / 2)

    def y(v: float) -> float:
        return PAD_TOP + inner_h * (1 - max(0.0, min(1.0, v)))

    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="Quality over time" xmlns="http://www.w3.org/2000/svg">',
        "<title>Quality over time</title>",
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        ty = y(tick)
        out.append(
            f'<line class="grid" x1="{PAD_LEFT}" y1="{ty:.1f}" x2="{WIDTH - PAD_RIGHT}" '
            f'y2="{ty:.1f}"/>'
            f'<text class="axis" x="{PAD_LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">'
            f"{int(tick * 100)}%</text>"
        )
    lines = (("passed", "checks passed"), ("complete", "completeness"))
    for index, (cls, label) in enumerate(lines):
        values = [
            (i, v) for i, p in enumerate(points) if (v := p[1] if index == 0 else p[2]) is not None
        ]
        if not values:
            continue
        path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in values)
        out.append(f'<polyline class="line line-{cls}" points="{path}"/>')
        for i, v in values:
            stamp, _, _, run = points[i]
            tip = f"{_short(stamp)}: {label} {v * 100:.1f}%"
            if cls == "passed":
                tip += f" ({run.get('passed', 0)} passed, {run.get('failed', 0)} failed)"
            out.append(
                f'<circle class="dot dot-{cls}" cx="{x(i):.1f}" cy="{y(v):.1f}" r="4">'
                f"<title>{escape(tip)}</title></circle>"
            )
    first, last = _short(points[0][0]), _short(points[-1][0])
    base = HEIGHT - PAD_BOTTOM + 16
    out.append(f'<text class="axis" x="{PAD_LEFT}" y="{base}">{escape(first)}</text>')
    if len(points) > 1:
        out.append(
            f'<text class="axis" x="{WIDTH - PAD_RIGHT}" y="{base}" text-anchor="end">'
            f"{escape(last)}</text>"
        )
    legend_y = HEIGHT - 6
    out.append(
        f'<rect class="key key-passed" x="{PAD_LEFT}" y="{legend_y - 9}" width="12" height="4"/>'
        f'<text class="axis" x="{PAD_LEFT + 16}" y="{legend_y}">checks passed</text>'
        f'<rect class="key key-complete" x="{PAD_LEFT + 130}" y="{legend_y - 9}" width="12" '
        f'height="4"/><text class="axis" x="{PAD_LEFT + 146}" y="{legend_y}">completeness</text>'
    )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704  (every text and attribute above is escaped)


def _short(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp[:16]


def lineage_graph(
    table: str, upstream: Sequence[dict[str, Any]], downstream: Sequence[dict[str, Any]]
) -> Markup:
    """``table`` in the middle, what feeds it to the left (by hops), what it feeds to the
    right; an edge per (source, target) pair, labelled with its job."""
    level: dict[str, int] = {table: 0}
    for e in sorted(upstream, key=lambda e: e.get("hops", 1)):
        level.setdefault(e["target"], -(int(e.get("hops", 1)) - 1))
        level.setdefault(e["source"], level[e["target"]] - 1)
    for e in sorted(downstream, key=lambda e: e.get("hops", 1)):
        level.setdefault(e["source"], int(e.get("hops", 1)) - 1)
        level.setdefault(e["target"], level[e["source"]] + 1)
    edges = {(e["source"], e["target"]): e.get("job") for e in (*upstream, *downstream)}
    if not edges:
        return Markup('<p class="muted">No lineage recorded.</p>')
    lo = min(level.values())
    columns: dict[int, list[str]] = {}
    for node in sorted(level):
        columns.setdefault(level[node] - lo, []).append(node)
    rows = max(len(nodes) for nodes in columns.values())
    width = len(columns) * NODE_W + (len(columns) - 1) * GAP_X + 20
    height = rows * NODE_H + (rows - 1) * GAP_Y + 20
    where: dict[str, tuple[float, float]] = {}
    for col, nodes in columns.items():
        top = 10 + (height - 20 - (len(nodes) * NODE_H + (len(nodes) - 1) * GAP_Y)) / 2
        for i, node in enumerate(nodes):
            where[node] = (10 + col * (NODE_W + GAP_X), top + i * (NODE_H + GAP_Y))
    out = [
        f'<svg class="lineage" viewBox="0 0 {width} {height:.0f}" width="{width}" role="img" '
        f'aria-label="Lineage of {_attr(table)}" xmlns="http://www.w3.org/2000/svg">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path class="arrowhead" d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>',
    ]
    for (source, target), job in sorted(edges.items(), key=lambda kv: kv[0]):
        sx, sy = where[source]
        tx, ty = where[target]
        x1, y1, x2, y2 = sx + NODE_W, sy + NODE_H / 2, tx, ty + NODE_H / 2
        mid = (x1 + x2) / 2
        out.append(
            f'<path class="edge" d="M {x1:.1f} {y1:.1f} C {mid:.1f} {y1:.1f}, {mid:.1f} '
            f'{y2:.1f}, {x2:.1f} {y2:.1f}" marker-end="url(#arrow)">'
            f"<title>{escape(f'{source} → {target}' + (f' ({job})' if job else ''))}</title>"
            "</path>"
        )
    for node, (nx, ny) in where.items():
        cls = "node node-self" if node == table else "node"
        if "/" in node:
            cls += " node-external"
        label = node if len(node) <= 32 else "…" + node[-31:]
        box = (
            f'<g class="{cls}"><title>{escape(node)}</title>'
            f'<rect x="{nx:.1f}" y="{ny:.1f}" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
            f'<text x="{nx + NODE_W / 2:.1f}" y="{ny + NODE_H / 2 + 4:.1f}" '
            f'text-anchor="middle">{escape(label)}</text></g>'
        )
        if "/" not in node and node != table:  # a table of the mesh: its own page
            box = f'<a href="/tables/{_attr(quote(node, safe=""))}">{box}</a>'
        out.append(box)
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704  (every text and attribute above is escaped)
