"""Shared helpers: sizes, timing, result objects and files, and the BENCHMARKS.md table."""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
DATA = HERE / "data"
MARKDOWN = REPO / "BENCHMARKS.md"
KEYS = ("name", "metric", "value", "unit", "peer", "peer_value", "ratio", "target", "meets_target")


@dataclass(frozen=True)
class Size:
    tables: int
    partitions: int  #: per table
    reps: int
    lookups: int  #: per repetition
    warmup: int

    @property
    def total(self) -> int:
        return self.tables * self.partitions

    @property
    def one_pct(self) -> int:
        """Partitions added (and changed, and removed) per table by the 1% change."""
        return max(1, self.partitions // 100)


FULL = Size(tables=100, partitions=10_000, reps=3, lookups=20_000, warmup=2_000)
QUICK = Size(tables=10, partitions=1_000, reps=3, lookups=2_000, warmup=500)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- timing


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds one call takes (after a full collection, so earlier garbage is not billed)."""
    gc.collect()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def interleaved(
    reps: int, ours: Callable[[], float], peer: Callable[[], float], label: str
) -> tuple[list[float], list[float]]:
    """Run ours and the peer ``reps`` times each, alternating which goes first."""
    a: list[float] = []
    b: list[float] = []
    for i in range(reps):
        order = ((a, ours, "ours"), (b, peer, "peer"))
        for out, fn, who in order if i % 2 == 0 else order[::-1]:
            out.append(fn())
            log(f"{label} rep {i + 1}/{reps} {who}: {out[-1]:.3f} s")
    return a, b


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


# --------------------------------------------------------------------------- results


def result(
    name: str,
    metric: str,
    value: float,
    unit: str,
    *,
    target: str,
    meets: bool,
    peer: str | None = None,
    peer_value: float | None = None,
    ratio: float | None = None,
) -> dict[str, Any]:
    """One metric object; ``ratio`` defaults to value / peer_value."""
    if ratio is None and peer_value:
        ratio = value / peer_value
    return {
        "name": name,
        "metric": metric,
        "value": round(value, 6),
        "unit": unit,
        "peer": peer,
        "peer_value": None if peer_value is None else round(peer_value, 6),
        "ratio": None if ratio is None else round(ratio, 4),
        "target": target,
        "meets_target": bool(meets),
    }


def write_results(results_dir: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    for row in rows:
        assert tuple(row) == KEYS, f"result keys {tuple(row)} != {KEYS}"
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps(rows, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------- markdown


def machine_info() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sqlalchemy

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "CPU": model,
        "Cores": f"{os.cpu_count()} logical" + (f" ({usable} usable)" if usable else ""),
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "SQLAlchemy": sqlalchemy.__version__,
        "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "**NO**"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.1f}"
    return str(v)


def render_markdown(
    results_dir: Path, descriptions: dict[str, str], out: Path, note: str = ""
) -> None:
    """The table of every result file (known benchmarks in run order, then the rest)."""
    order = {name: i for i, name in enumerate(descriptions)}
    files = sorted(
        results_dir.glob("*.json"), key=lambda p: (order.get(p.stem, len(order)), p.stem)
    )
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m benchmarks`); do not edit by hand. Values "
        "are medians over repeated runs with the peer interleaved in the same process; "
        "ratio = ours / peer (lower is better). Raw results: "
        "`benchmarks/results/<name>.json`.",
    ]
    if note:
        lines += ["", note]
    lines += [
        "",
        "| Benchmark | Metric | Value | Unit | Peer | Peer value | Ratio | Target | Meets |",
        "|---|---|---:|---|---|---:|---:|---|---|",
    ]
    runs = []
    for path in files:
        rows = json.loads(path.read_text())
        stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
        runs.append((path.stem, stamp))
        for r in rows:
            lines.append("| " + " | ".join(_fmt(r[k]) for k in KEYS) + " |")
    lines += ["", "## What is measured", ""]
    for name, stamp in runs:
        text = descriptions.get(name, "No description (no benchmark module of this name).")
        lines += [f"**`{name}`** (last run {stamp}). {' '.join(text.split())}", ""]
    lines += ["## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in machine_info().items()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
