"""The decision table (tests/fixtures/authz_cases.json), Ranger policy-engine style."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from lakemesh.access.filters import parse_row_filter
from lakemesh.mesh import Mesh
from tests import govmesh

pytestmark = govmesh.ON_BOTH_STORES

CASES = json.loads((Path(__file__).parent / "fixtures" / "authz_cases.json").read_text())["cases"]


def apply(mesh: Mesh, steps: list[dict[str, Any]], ids: dict[str, str]) -> None:
    for step in steps:
        actor = step.get("as", "admin@central")
        if "grant" in step:
            g = mesh.access.grant(govmesh.request(step), as_=actor)
            if "id" in step:
                ids[step["id"]] = g["id"]
        elif "revoke" in step:
            revoked = mesh.access.revoke(ids[step["revoke"]], as_=actor)
            if "revoked" in step:
                assert sorted(revoked) == sorted(ids[n] for n in step["revoked"])
            if "revoked_count" in step:
                assert len(revoked) == step["revoked_count"]
        elif "tag" in step:
            mesh.access.assign_tag(step["tag"], step["set"], as_=actor)
        elif "mask" in step:
            target = {"tag": step["mask"]} if step.get("tag_mask") else {"column": step["mask"]}
            mesh.access.mask(**target, spec=step["with"], as_=actor)
        elif "product" in step:
            govmesh.register_product(mesh, step["product"])
        else:
            raise AssertionError(f"unknown step {step}")


def check(mesh: Mesh, expects: list[dict[str, Any]]) -> None:
    authz = mesh.gate.authz()
    for e in expects:
        at = time.time() + e.get("at_offset_seconds", 0)
        d = authz.decide(e["as"], e["action"], e["table"], at=at)
        where = f"{e['as']} {e['action']} {e['table']}"
        assert d.allowed is e["allowed"], f"{where}: {d}"
        if "missing" in e:
            assert e["missing"] in (d.missing or ""), f"{where}: {d.missing}"
        if "columns" in e:
            assert list(d.columns) == e["columns"], where
        types = dict.fromkeys(authz.snapshot.tables[e["table"]].columns, "")
        if "row_filters" in e:
            got = None if d.row_filters is None else sorted(d.row_filters)
            want = (
                None
                if e["row_filters"] is None
                else sorted(parse_row_filter(f, types).sql for f in e["row_filters"])
            )
            assert got == want, where
        for fragment in e.get("row_filter_contains", []):
            canonical = parse_row_filter(fragment, types).sql
            assert any(canonical in f for f in d.row_filters or ()), f"{where}: {d.row_filters}"
            assert all(f.count(canonical) == 1 for f in d.row_filters or ()), "no repeats"
        if "permits" in e:
            assert len(d.permits) == e["permits"], where
        if "masks" in e:
            assert {c: m.method for c, m in d.masks.items()} == e["masks"], where
        if "determined_by_contains" in e:
            assert any(e["determined_by_contains"] in b for b in d.determined_by), where


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_decision_table(gov: Mesh, case: dict[str, Any]) -> None:
    ids: dict[str, str] = {}
    apply(gov, case["steps"], ids)
    check(gov, case["expect"])
    if "then" in case:
        apply(gov, case["then"], ids)
        check(gov, case["expect_then"])
