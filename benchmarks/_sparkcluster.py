"""A throwaway Spark standalone cluster for the ``*_spark_cluster`` benchmark: a master
and one worker from PySpark's own launcher (``bin/spark-class``), stopped when the
``with`` block ends.

The tests' cluster (``tests/sparkcluster.py``) is started the same way; benchmarks do
not import tests, and this one needs none of their variants (a master alone, a report
of the master's state). Both daemons listen on 127.0.0.1 only, on free ports, with the
master's REST submission server off; an empty configuration directory keeps the
machine's ``spark-defaults.conf`` out. Each daemon leads its own process group, which
its executors join, and the groups are stopped (SIGTERM, then SIGKILL) at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pyspark

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"


@contextmanager
def standalone_cluster(
    *, cores: int = 2, memory: str = "2g", timeout: float = 180.0
) -> Iterator[str]:
    """Yields the master's URL once its worker has registered."""
    base = Path(tempfile.mkdtemp(prefix="lakemesh-bench-spark-"))
    (base / "conf").mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))},
        "SPARK_CONF_DIR": str(base / "conf"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_WORKER_DIR": str(base / "work"),
        "SPARK_WORKER_CORES": str(cores),
        "SPARK_WORKER_MEMORY": memory,
        "SPARK_DAEMON_MEMORY": "512m",
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false -Dspark.ui.killEnabled=false",
    }
    port, ui = _free_port(), _free_port()
    url = f"spark://127.0.0.1:{port}"
    daemons: list[subprocess.Popen[bytes]] = []
    try:
        for name, args in (
            ("master", ["org.apache.spark.deploy.master.Master", "--port", str(port)]),
            ("worker", ["org.apache.spark.deploy.worker.Worker", "--port", "0", url]),
        ):
            ui_port = ui if name == "master" else _free_port()
            args += ["--host", "127.0.0.1", "--webui-port", str(ui_port)]
            with open(base / f"{name}.log", "wb") as log:
                daemons.append(
                    subprocess.Popen(
                        [str(SPARK_CLASS), *args],
                        env=env,
                        cwd=base,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        _wait_for_worker(base, ui, daemons, timeout)
        yield url
    finally:
        for proc in reversed(daemons):
            _stop_group(proc)
        shutil.rmtree(base, ignore_errors=True)


def _wait_for_worker(
    base: Path, ui: int, daemons: list[subprocess.Popen[bytes]], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    state = f"http://127.0.0.1:{ui}/json/"
    while True:
        if any(proc.poll() is not None for proc in daemons) or time.monotonic() > deadline:
            logs = [(base / f"{n}.log").read_text()[-2000:] for n in ("master", "worker")]
            raise RuntimeError("the Spark cluster did not start:\n" + "\n".join(logs))
        with suppress(OSError, ValueError), urllib.request.urlopen(state, timeout=5) as response:
            if json.load(response).get("aliveworkers", 0) >= 1:
                return
        time.sleep(0.25)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """The daemon's process group (with its executors): SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()  # reaps the leader, so the group can empty
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
