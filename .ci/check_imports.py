"""Import boundaries: the layering the package layout promises, checked on every lint.

Run by ``make lint`` (``python .ci/check_imports.py``); exits 1 and lists every import
that crosses a boundary. Modelled on ibis's ``ci/check_disallowed_imports.py``, but it
reads the source with ``ast`` instead of importing it, so it needs nothing installed and
also sees imports made inside functions and under ``TYPE_CHECKING``.

The rules (a package may not import the listed lakemesh packages or third-party
modules):

* ``access/``, the policy core, decides for every front end: it imports no query engine,
  no query planner, no front end (CLI, web) and no application layer.
* ``engines/`` run plans they are given: nothing from the planner, the central catalog,
  the policy core or the application layer.
* the backends (``store/``, ``storage/``, ``catalog/``) know nothing above them.
* ``metadata/``, ``audit/`` and ``events/`` do not reach up into queries or front ends.
* ``classify/``, ``products/`` and ``workflow/`` compute on what they are handed: no
  engine, no planner, no application layer (and ``workflow/`` no policy core: granting is
  the application layer's part of an approval).
* ``api/`` and ``web/`` reach the mesh through the facade only: no store, no engine, no
  authorizer or policy snapshot of their own (the gate decides).
* only the CLI and the demo import the CLI; only the CLI imports the demo.

And one rule about SQL dialects: branching on the metadata store's database
(SQLite or PostgreSQL) happens in ``store/`` only.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "lakemesh"

FRONT_ENDS = ("lakemesh.cli", "lakemesh.demo", "lakemesh.web", "lakemesh.api")
WEB = ("fastapi", "starlette", "uvicorn", "jinja2", "click", "rich")
ENGINES = ("duckdb", "pyspark", "lakemesh.engines")

#: The HTTP API and the web UI call the facade as the caller: no store, engine or policy
#: internals of their own, and neither reaches the CLI's parsing.
FACADE_ONLY = (
    "lakemesh.cli",
    "lakemesh.demo",
    "lakemesh.store",
    "lakemesh.access.authorizer",
    "lakemesh.access.snapshot",
    "duckdb",
    "pyspark",
    "click",
    "rich",
)

#: package -> imports it may not make (module prefixes).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "lakemesh.access": (
        *ENGINES,
        *FRONT_ENDS,
        *WEB,
        "lakemesh.query",
        "lakemesh.service",
        "lakemesh.metadata",
        "lakemesh.mesh",
    ),
    "lakemesh.engines": (
        *FRONT_ENDS,
        *WEB,
        "lakemesh.query",
        "lakemesh.metadata",
        "lakemesh.access",
        "lakemesh.service",
        "lakemesh.audit",
        "lakemesh.mesh",
    ),
    "lakemesh.store": (
        *ENGINES,
        *FRONT_ENDS,
        *WEB,
        "lakemesh.access",
        "lakemesh.metadata",
        "lakemesh.query",
        "lakemesh.service",
        "lakemesh.catalog",
        "lakemesh.storage",
        "lakemesh.audit",
        "lakemesh.events",
        "lakemesh.mesh",
    ),
    "lakemesh.storage": (
        *ENGINES,
        *FRONT_ENDS,
        *WEB,
        "lakemesh.store",
        "lakemesh.access",
        "lakemesh.metadata",
        "lakemesh.query",
        "lakemesh.service",
        "lakemesh.catalog",
        "lakemesh.mesh",
    ),
    "lakemesh.catalog": (
        *ENGINES,
        *FRONT_ENDS,
        *WEB,
        "lakemesh.store",
        "lakemesh.access",
        "lakemesh.metadata",
        "lakemesh.query",
        "lakemesh.service",
        "lakemesh.mesh",
    ),
    "lakemesh.metadata": (
        *ENGINES,
        *FRONT_ENDS,
        *WEB,
        "lakemesh.query",
        "lakemesh.service",
        "lakemesh.mesh",
    ),
    "lakemesh.audit": (*ENGINES, *FRONT_ENDS, *WEB, "lakemesh.query", "lakemesh.service"),
    "lakemesh.events": (*ENGINES, *FRONT_ENDS, *WEB, "lakemesh.query", "lakemesh.service"),
    # the classifier and the products' libraries work on what they are handed (a sample, a
    # contract, a ``run_sql`` callable): the service layer reads through the engines
    "lakemesh.classify": (
        *ENGINES,
        *FRONT_ENDS,
        *WEB,
        "lakemesh.query",
        "lakemesh.service",
        "lakemesh.mesh",
    ),
    "lakemesh.products": (
        *ENGINES,
        *FRONT_ENDS,
        *WEB,
        "lakemesh.query",
        "lakemesh.service",
        "lakemesh.mesh",
    ),
    "lakemesh.workflow": (
        *ENGINES,
        *FRONT_ENDS,
        *WEB,
        "lakemesh.query",
        "lakemesh.service",
        "lakemesh.mesh",
        "lakemesh.access",
        "lakemesh.metadata",
    ),
    "lakemesh.query": (*FRONT_ENDS, *WEB, "lakemesh.service.commands"),
    "lakemesh.service": (*FRONT_ENDS, *WEB),
    # the HTTP API and the web UI call the facade as the caller: no store, engine or
    # policy internals of their own, and neither is reached by the CLI's parsing
    "lakemesh.api": FACADE_ONLY,
    "lakemesh.web": FACADE_ONLY,
}
#: Modules outside these packages that may import the CLI or the demo.
FRONT_END_USERS = ("lakemesh.cli", "lakemesh.demo", "lakemesh.__main__")

#: Store dialect names: comparing against one is a dialect branch.
DIALECTS = frozenset({"sqlite", "postgresql", "qmark", "pyformat", "format"})
#: Modules allowed to compare against a dialect name, and why.
DIALECT_EXCEPTIONS = {
    # pyiceberg's SQL catalog keeps a domain's Iceberg tables in its own database: that
    # is the domain's catalog backend, not the metadata store.
    "lakemesh.catalog.iceberg",
}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """Every module an ``import`` or ``from ... import`` names (relative ones resolved)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: -node.level or None]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            # ``from lakemesh import query`` imports the package lakemesh.query
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def dialect_branches(tree: ast.AST) -> list[int]:
    """Lines comparing something with a store dialect's name (``x.dialect.name ==
    "sqlite"``, ``paramstyle == "qmark"``)."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        for side in (node.left, *node.comparators):
            if isinstance(side, ast.Constant) and side.value in DIALECTS:
                lines.append(node.lineno)
                break
            if isinstance(side, ast.Attribute) and side.attr in ("dialect", "paramstyle"):
                lines.append(node.lineno)
                break
    return lines


def check(package: Path = PACKAGE) -> list[str]:
    problems = []
    for path in sorted(package.rglob("*.py")):
        module = module_name(path, package)
        tree = ast.parse(path.read_text(), str(path))
        rel = path.relative_to(package.parent.parent)
        rules = [bad for pkg, bad in FORBIDDEN.items() if within(module, pkg)]
        reported: set[int] = set()  # one problem per import statement
        for line, name in imports(tree, module):
            if line in reported:
                continue
            if any(within(name, bad) for rule in rules for bad in rule):
                problems.append(f"{rel}:{line}: {module} may not import {name}")
                reported.add(line)
            front_end = any(within(name, f) for f in ("lakemesh.cli", "lakemesh.demo"))
            if front_end and not any(within(module, u) for u in FRONT_END_USERS):
                problems.append(f"{rel}:{line}: {module} may not import the front end {name}")
                reported.add(line)
        if not within(module, "lakemesh.store") and module not in DIALECT_EXCEPTIONS:
            problems += [
                f"{rel}:{line}: a store dialect branch outside lakemesh.store"
                for line in dialect_branches(tree)
            ]
    return sorted(set(problems))


def main() -> int:
    problems = check()
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} import boundary violation(s); see .ci/check_imports.py")
        return 1
    print("import boundaries: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
