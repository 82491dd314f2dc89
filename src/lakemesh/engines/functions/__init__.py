"""Which engine functions a consumer's SQL may call: a classification with a principle.

Every function and table function an engine offers is classified in a checked-in table
beside this module (``duckdb.csv`` from ``duckdb_functions()``, ``spark.csv`` from
Spark's function registry), one row per name and kind (``table`` for table functions
and pragmas, else ``scalar``/``aggregate``/``window``/``generator``):

* ``allow``: computes its result from its arguments and the rows it is given. Pure
  scalar, aggregate and window functions: arithmetic, string, regex, date and time,
  list, struct, map, JSON, hashing, statistics, random numbers and the clock.
* ``deny: <reason>``: reaches past the row. The reasons are few and fixed (``REASONS``):
  reading files or the network, the catalog, settings or engine state, engine
  internals, extensions, secrets, side effects (sequences, raising errors on purpose,
  logs), Java code, sleeping, generating data without bound, running SQL text, and
  table functions in general (only governed tables can be read).

An allowlist grown query by query is always behind its users; a principle is not. The
tables are complete for the engine versions we ship: ``tests/test_function_policy.py``
fails when an engine offers a function that is not classified, so an engine upgrade
forces a decision instead of silently allowing or refusing something new.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from lakemesh.errors import FunctionRefused as FunctionRefused

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[Engine, ...] = ("duckdb", "spark")

#: Why a function may not be called; each is written after "it" in a refusal.
REASONS = frozenset(
    {
        "reads files or the network",
        "reads the catalog",
        "reads settings or engine state",
        "exposes engine internals",
        "loads extensions",
        "reads secrets",
        "has side effects",
        "calls Java code",
        "sleeps",
        "generates data without bound",
        "runs SQL text",
        "is a table function (only governed tables can be read)",
    }
)
KINDS = frozenset({"scalar", "aggregate", "window", "generator", "table"})


@dataclass(frozen=True)
class FunctionPolicy:
    """One engine's classification: name -> ``None`` (allowed) or the denial reason,
    separately for functions and for table functions."""

    engine: Engine
    functions: dict[str, str | None]
    tables: dict[str, str | None]

    def check(self, name: str) -> None:
        """Raise ``FunctionRefused`` unless ``name`` may be called as a function."""
        key = name.lower()
        if key not in self.functions:
            if key in self.tables:
                raise FunctionRefused(
                    f"function {key} is not allowed: it {self.tables[key] or 'is a table function'}"
                )
            raise FunctionRefused(f"function {key} does not exist on the {self.engine} engine")
        reason = self.functions[key]
        if reason is not None:
            raise FunctionRefused(f"function {key} is not allowed: it {reason}")

    def check_table(self, name: str) -> None:
        """Raise ``FunctionRefused`` unless ``name`` may be called in FROM."""
        key = name.lower()
        reason = self.tables.get(key, "is a table function (only governed tables can be read)")
        if reason is not None:
            raise FunctionRefused(f"table function {key} is not allowed: it {reason}")

    def counts(self) -> dict[str, int]:
        """Allowed, and denied by reason (functions and table functions together)."""
        out: dict[str, int] = {}
        for reason in (*self.functions.values(), *self.tables.values()):
            label = "allowed" if reason is None else f"denied: {reason}"
            out[label] = out.get(label, 0) + 1
        return out


@functools.cache
def policy(engine: Engine) -> FunctionPolicy:
    """The checked-in classification for ``engine``."""
    text = resources.files(__package__).joinpath(f"{engine}.csv").read_text("utf-8")
    functions: dict[str, str | None] = {}
    tables: dict[str, str | None] = {}
    for row in csv.DictReader(io.StringIO(text)):
        name, kind, decision = row["function"], row["kind"], row["decision"]
        if kind not in KINDS:
            raise ValueError(f"{engine}.csv: {name}: unknown kind {kind!r}")
        if decision == "allow":
            reason = None
        else:
            verdict, _, reason = decision.partition(": ")
            if verdict != "deny" or reason not in REASONS:
                raise ValueError(f"{engine}.csv: {name}: bad decision {decision!r}")
        target = tables if kind == "table" else functions
        if name in target:
            raise ValueError(f"{engine}.csv: {name} ({kind}) is classified twice")
        target[name] = reason
    return FunctionPolicy(engine, functions, tables)
