"""A real Ray cluster on this machine's loopback, for the cluster test and benchmark (docs/cluster.md).

Each node is `ray start --block` in a process group of its own, bound to an address of its own in 127.0.0.0/8
(the head 127.0.0.2, then 127.0.0.3, ...: Ray turns 127.0.0.1 into the machine's network address), every port
chosen free, no dashboard, no usage statistics, its files in one short temporary folder (Ray's socket paths
must stay short). Killing a node is killing its group (its raylet and worker processes with it); `stop` kills
every group it started, by id, and removes the folder: nothing of it outlives the test.

    with LocalCluster(nodes=2, cpus=1) as cluster:
        address = cluster.address   # "127.0.0.2:PORT"
        cluster.kill(1)             # the second node dies
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.queue.worker import NICENESS
from tools.app_server import free_port

RAY = Path(sys.executable).parent / "ray"
STARTED = "Ray runtime started"


class LocalCluster:
    def __init__(self, nodes: int = 2, cpus: int = 1, env: dict | None = None, timeout_s: float = 240):
        self.folder = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
        # Training at the dashboard's own workers' priority (Ray's default is 15), to compare like with like.
        self.env = {**(env or os.environ), "RAY_USAGE_STATS_ENABLED": "0", "RAY_worker_niceness": str(NICENESS)}
        self.cpus, self.timeout_s = cpus, timeout_s
        self.procs: list[subprocess.Popen] = []
        self.address = f"127.0.0.2:{free_port()}"
        try:
            self._start(["--head", "--port", self.address.split(":")[1], "--include-dashboard=false",
                         "--dashboard-port", str(free_port()), "--ray-client-server-port", str(free_port()),
                         "--temp-dir", str(self.folder)])
            for _ in range(nodes - 1):
                self.add_node()
        except BaseException:
            self.stop()
            raise

    def node_ip(self, index: int) -> str:
        return f"127.0.0.{index + 2}"

    def add_node(self) -> None:
        self._start(["--address", self.address])

    def _start(self, arguments: list[str]) -> None:
        index = len(self.procs)
        log = self.folder / f"node-{index}.log"
        with open(log, "wb") as out:
            self.procs.append(subprocess.Popen(
                [str(RAY), "start", "--block", "--node-ip-address", self.node_ip(index), "--num-cpus", str(self.cpus),
                 "--disable-usage-stats", "--object-store-memory", str(200 * 1024 * 1024),
                 "--dashboard-agent-listen-port", str(free_port()), "--metrics-export-port", str(free_port()),
                 "--runtime-env-agent-port", str(free_port()), *arguments],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env, start_new_session=True))
        deadline = time.monotonic() + self.timeout_s
        while STARTED not in log.read_text(errors="replace"):
            if self.procs[index].poll() is not None or time.monotonic() > deadline:
                tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
                raise RuntimeError(f"Ray node {self.node_ip(index)} did not start: {tail}")
            time.sleep(0.2)

    def kill(self, index: int) -> None:
        """SIGKILL node `index` and everything it started, as a machine that loses power."""
        try:  # the group, even if `ray start` itself has ended: its raylet may not have
            os.killpg(self.procs[index].pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.procs[index].wait()

    def stop(self) -> None:
        for index in reversed(range(len(self.procs))):
            self.kill(index)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "LocalCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
