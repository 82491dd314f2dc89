"""A wheel is all a user needs: it carries the demo data and the store migrations, and an
installation of it alone (no checkout, nothing beside it) finds both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import lakemesh
from lakemesh.demo import find_data
from lakemesh.store import Store

ROOT = Path(__file__).parents[1]
PIP = [sys.executable, "-m", "pip"]
DATA = "lakemesh/demo/data/german_credit/"
REQUIRED = [
    f"{DATA}kredit_raw.csv",
    f"{DATA}columns.csv",
    f"{DATA}README.md",
    "lakemesh/py.typed",
    "lakemesh/store/migrations/env.py",
    "lakemesh/store/migrations/script.py.mako",
    "lakemesh/engines/functions/duckdb.csv",
    "lakemesh/engines/functions/spark.csv",
    *(
        f"lakemesh/store/migrations/versions/{p.name}"
        for p in (ROOT / "src/lakemesh/store/migrations/versions").glob("0*.py")
    ),
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = dist.glob("lakemesh-*.whl")
    return built


def test_the_wheel_carries_the_data_and_the_migrations(wheel: Path) -> None:
    assert wheel.name.startswith(f"lakemesh-{lakemesh.__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [n for n in REQUIRED if n not in names]
    assert not missing, missing
    assert len([n for n in REQUIRED if "versions/" in n]) >= 3
    with zipfile.ZipFile(wheel) as z:
        assert z.read(f"{DATA}kredit_raw.csv").count(b"\n") == 1001
        meta = z.read(f"lakemesh-{lakemesh.__version__}.dist-info/entry_points.txt").decode()
    assert "lakemesh = lakemesh.cli:run" in meta


def test_an_installed_wheel_alone_runs_init_and_finds_the_demo_data(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [*PIP, "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {k: v for k, v in os.environ.items() if k != "LAKEMESH_DEMO_DATA"}
    env["PYTHONPATH"] = str(site)
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, lakemesh, lakemesh.demo as d; "
            "print(json.dumps([lakemesh.__file__, str(d.find_data())]))",
        ],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    module, data = json.loads(where.stdout)
    assert Path(module).is_relative_to(site) and Path(data).is_relative_to(site)
    assert (Path(data) / "kredit_raw.csv").is_file()
    init = subprocess.run(
        [sys.executable, "-m", "lakemesh", "init", "--home", str(tmp_path / "h"), "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["revision"] == Store.head()


def test_the_head_revision_is_alembic_s_head() -> None:
    """``Store.head()`` is a constant so that commands need not import Alembic."""
    from alembic.script import ScriptDirectory

    from lakemesh.store import _alembic_config

    assert ScriptDirectory.from_config(_alembic_config()).get_current_head() == Store.head()


def test_the_demo_data_is_found_inside_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKEMESH_DEMO_DATA", raising=False)
    assert find_data().is_relative_to(Path(lakemesh.__file__).parent)


def test_the_demo_data_override_must_hold_both_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEMESH_DEMO_DATA", str(tmp_path))
    with pytest.raises(lakemesh.LakemeshError, match=r"kredit_raw\.csv is missing"):
        find_data()
