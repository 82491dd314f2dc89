"""The Spark engine on a real standalone cluster (a master and a worker started from
PySpark's own launcher, ``tests/sparkcluster.py``): executors in JVMs of their own that
read the sources' files themselves, tasks sent over the network, results sent back.

The engine's JVM is per process (and this one's may run on ``local[2]`` already), so
everything here runs in other processes whose ``$LAKEMESH_SPARK_MASTER`` is a cluster:
the differential suite and every attack class on Spark (the ``spark`` tests of
``test_query_differential.py`` and ``test_query_attacks.py``) in a pytest of its own,
and a misconfigured cluster, which must fail a query within its timeout in one line
(never hang). A cluster that cannot start fails these tests: they never skip.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from lakemesh.access.grants import GrantRequest
from lakemesh.mesh import Mesh
from tests.files import write_parquet
from tests.pgserver import free_port
from tests.sparkcluster import SparkCluster, running_cluster

pytestmark = pytest.mark.spark_cluster

ROOT = Path(__file__).parents[1]
SUITES = ("tests/test_query_differential.py", "tests/test_query_attacks.py")
ADMIN = "admin@central"
#: A query timeout short enough to wait for, long enough for a loaded machine's cluster.
TIMEOUT = 8.0

#: One governed query through ``Mesh.query`` in a process of its own, on the master its
#: environment names; prints the error (or null) and the query's own seconds as JSON.
#: The JVM is started first, when it can be: its start-up is not the query's time.
DRIVER = """
import json, sys, time
from lakemesh.engines import Limits
from lakemesh.engines.spark import spark_session
from lakemesh.errors import LakemeshError, QueryFailed
from lakemesh.mesh import Mesh

home, timeout = sys.argv[1], float(sys.argv[2])
try:
    spark_session()
except LakemeshError:
    pass  # the query says why
with Mesh.open(home) as mesh:
    started = time.monotonic()
    try:
        mesh.query("SELECT count(*) AS n FROM shop.db.nums", as_=sys.argv[3], engine="spark",
                   limits=Limits(timeout_seconds=timeout))
        error = None
    except QueryFailed as e:
        error = str(e)
    print(json.dumps({"error": error, "seconds": time.monotonic() - started}))
"""


@pytest.fixture(scope="session")
def spark_cluster() -> Iterator[SparkCluster]:
    """A master and one worker (2 cores, 2 GiB) for the session; stopped at the end."""
    with ExitStack() as stack:
        try:
            cluster = stack.enter_context(running_cluster())
        except Exception as exc:
            pytest.fail(f"the Spark cluster could not start: {exc}", pytrace=False)
        yield cluster


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cluster-mesh")
    write_parquet(base / "shop" / "db" / "nums" / "a.parquet", {"n": list(range(100))})
    with Mesh.init(base / "home") as mesh:
        mesh.domains.create("shop", str(base / "shop"))
        mesh.domains.crawl("shop")
        mesh.domains.sync()
        mesh.access.grant(GrantRequest(("SELECT",), ADMIN, table="shop.db.nums"), as_=ADMIN)
    return base / "home"


def _output(proc: subprocess.CompletedProcess[str], chars: int = 12000) -> str:
    """What a failed subprocess said, for the assertion message."""
    out, err = proc.stdout[-chars:], proc.stderr[-chars:]
    return f"exit {proc.returncode}\n--- stdout:\n{out}\n--- stderr:\n{err}"


def _start_driver(home: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(home), str(TIMEOUT), ADMIN],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _answer(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The driver's answer: the error (or None) and the query's own seconds."""
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert proc.returncode == 0, _output(done)
    answer: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return answer


@pytest.mark.timeout(1800)
def test_the_differential_and_attack_suites_pass_on_the_cluster(
    spark_cluster: SparkCluster,
) -> None:
    before = {app["id"] for app in spark_cluster.state()["completedapps"]}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *SUITES, "-m", "spark", "-q", "-p", "no:cacheprovider"],
        env=spark_cluster.driver_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1700,
    )
    assert proc.returncode == 0, _output(proc)
    assert re.search(r"\b\d+ passed\b", proc.stdout), _output(proc)
    assert not re.search(r"\b(failed|skipped|error)", proc.stdout.splitlines()[-1]), _output(proc)
    # It ran on the cluster: the master saw the suite's application come and go.
    apps = [a for a in spark_cluster.state()["completedapps"] if a["id"] not in before]
    assert [a["name"] for a in apps] == ["lakemesh"], apps


def test_a_master_that_does_not_answer_fails_the_query_at_once(home: Path) -> None:
    """Spark would start its JVM and retry registering for a minute; the engine sees
    that nothing listens at the master's address first."""
    nobody = f"spark://127.0.0.1:{free_port()}"
    started = time.monotonic()
    answer = _answer(_start_driver(home, {**os.environ, "LAKEMESH_SPARK_MASTER": nobody}))
    seconds = time.monotonic() - started
    assert re.fullmatch(
        r"the query engine is unavailable: the Spark master does not answer "
        r"\(correlation id [0-9a-f-]+\)",
        answer["error"] or "",
    ), answer
    assert answer["seconds"] < TIMEOUT, answer
    assert seconds < 60, f"{seconds:.1f} s: no JVM should have started"  # Spark: 60 s and more


def test_a_cluster_that_gives_no_executor_fails_within_the_timeout(
    home: Path, spark_cluster: SparkCluster
) -> None:
    """A master without workers, or whose worker cannot fit the application's executor
    (4 GiB asked, 2 GiB offered), grants no executor, and Spark would wait for one
    forever: the query fails at its timeout, and says why, in one line. (The two run
    side by side: most of their time is a JVM starting, then waiting.)"""
    submit = "--conf spark.executor.memory=4g pyspark-shell"
    no_room = _start_driver(home, spark_cluster.driver_env(PYSPARK_SUBMIT_ARGS=submit))
    try:
        with running_cluster(workers=0) as bare:
            answers = {"no worker": _answer(_start_driver(home, bare.driver_env()))}
        answers["no room"] = _answer(no_room)
    finally:
        no_room.kill()
    for case, answer in answers.items():
        assert re.fullmatch(
            rf"the query did not start within {TIMEOUT:g} seconds: the Spark cluster gave it "
            r"no executor \(correlation id [0-9a-f-]+\)",
            answer["error"] or "",
        ), (case, answer)
        assert TIMEOUT <= answer["seconds"] < TIMEOUT + 20, (case, answer)
