"""A real Spark standalone cluster for the tests: one master and one worker, started from
the launcher PySpark bundles (``bin/spark-class``), stopped at the end.

Both daemons listen on 127.0.0.1 only, on free ports, with the master's REST submission
server off (it would run any jar it is sent). Their configuration directory (empty: no
``spark-env.sh`` or ``spark-defaults.conf`` of the machine applies), logs, and the
worker's directory (executor sandboxes) are under one temporary directory, removed at
the end. Each daemon leads its own process group, which the executors it starts join,
so stopping the groups stops everything the cluster started. The worker offers
``cores`` cores and ``memory`` of memory to applications; ``workers=0`` is a master alone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyspark

from tests.pgserver import free_port

SPARK_HOME = Path(pyspark.__file__).parent
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


class SparkCluster:
    def __init__(self, base: Path, port: int, ui_port: int) -> None:
        self.base, self.port, self.ui_port = base, port, ui_port
        self.master_url = f"spark://127.0.0.1:{port}"

    def state(self) -> dict[str, Any]:
        """The master's own view (its web UI's JSON): workers, applications, cores."""
        url = f"http://127.0.0.1:{self.ui_port}/json/"
        with urllib.request.urlopen(url, timeout=5) as response:
            state: dict[str, Any] = json.load(response)
        return state

    def driver_env(self, **extra: str) -> dict[str, str]:
        """The environment of a process whose Spark engine runs on this cluster: its master
        and, for Python code on the executors, this interpreter."""
        return {
            **os.environ,
            "LAKEMESH_SPARK_MASTER": self.master_url,
            "PYSPARK_PYTHON": sys.executable,
            **extra,
        }


@contextmanager
def running_cluster(
    *, workers: int = 1, cores: int = 2, memory: str = "2g", timeout: float = 180.0
) -> Iterator[SparkCluster]:
    base = Path(tempfile.mkdtemp(prefix="lakemesh-spark-cluster-"))
    for sub in ("conf", "logs", "work"):
        (base / sub).mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))},
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_CONF_DIR": str(base / "conf"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_MASTER_HOST": "127.0.0.1",
        "SPARK_LOG_DIR": str(base / "logs"),
        "SPARK_PID_DIR": str(base),
        "SPARK_WORKER_DIR": str(base / "work"),
        "SPARK_WORKER_CORES": str(cores),
        "SPARK_WORKER_MEMORY": memory,
        "SPARK_DAEMON_MEMORY": "512m",
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false -Dspark.ui.killEnabled=false",
        "SPARK_WORKER_OPTS": "-Dspark.ui.killEnabled=false",
    }
    cluster = SparkCluster(base, free_port(), free_port())
    try:
        with ExitStack() as stack:
            master = [MASTER_CLASS, "--host", "127.0.0.1", "--port", str(cluster.port)]
            master += ["--webui-port", str(cluster.ui_port)]
            daemons = [stack.enter_context(_daemon(base, "master", env, master))]
            _wait(cluster, daemons, timeout, lambda s: s.get("status") == "ALIVE")
            for i in range(workers):
                worker = [WORKER_CLASS, "--host", "127.0.0.1", "--port", "0"]
                worker += ["--webui-port", str(free_port()), cluster.master_url]
                daemons.append(stack.enter_context(_daemon(base, f"worker-{i}", env, worker)))
            _wait(cluster, daemons, timeout, lambda s: s.get("aliveworkers", 0) >= workers)
            yield cluster
    finally:
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class _Daemon:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


@contextmanager
def _daemon(base: Path, name: str, env: dict[str, str], args: list[str]) -> Iterator[_Daemon]:
    """One daemon in the foreground of its own process group, logging to ``<name>.log``;
    on exit its group (with any executor it started) gets SIGTERM, then SIGKILL."""
    log = base / "logs" / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(SPARK_HOME / "bin" / "spark-class"), *args],
            env=env,
            cwd=base,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield _Daemon(name, proc, log)
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()
            if not _group_alive(proc.pid):
                return
            time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait(
    cluster: SparkCluster,
    daemons: list[_Daemon],
    timeout: float,
    ready: Callable[[dict[str, Any]], bool],
) -> None:
    """Until the master's state satisfies ``ready``; a daemon that exits, or the deadline,
    raises with the end of its log."""
    deadline = time.monotonic() + timeout
    while True:
        for daemon in daemons:
            if daemon.proc.poll() is not None:
                raise RuntimeError(
                    f"the Spark {daemon.name} exited at start-up "
                    f"(exit {daemon.proc.returncode}):\n{daemon.tail()}"
                )
        try:
            if ready(cluster.state()):
                return
        except (OSError, ValueError):
            pass  # not listening yet
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {d.name}:\n{d.tail()}" for d in daemons)
            raise RuntimeError(f"the Spark cluster was not ready within {timeout:g} s:\n{logs}")
        time.sleep(0.25)
