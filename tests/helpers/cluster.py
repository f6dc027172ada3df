"""Simulated multi-node Ray clusters on one machine (``ray.cluster_utils.Cluster``), shaped like the
node types of deploy/cluster/*.yaml: a head (the driver's node), learner nodes (``learner`` resource)
and rollout nodes (``rollout`` resource). Every node binds to 127.0.0.1, with a short temp dir. The
``cluster`` fixture (tests/cluster/conftest.py) starts the head; these are the tests' tools.

The run under test is a real ``moto train`` process joining the cluster by address, so a node can be
removed under it, and the test itself connects as a second driver to look at where actors went.
"""

import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import ray
from ray.cluster_utils import Cluster

from helpers.smoke import smoke_run

REPO = Path(__file__).resolve().parents[2]

# A lost node is noticed within ~3 s rather than Ray's default ~30 s.
FAST_FAILURE_DETECTION = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 1000,
    "health_check_failure_threshold": 3,
}

# the smoke run (helpers/smoke.py) with two rollout workers and no evaluations
TINY = smoke_run(
    "logging.diagnostics_every=0",
    "workers.num_workers=2",
    "schedule.offline_steps=8",
    "schedule.eval_every_episodes=0",
    "schedule.eval_episodes=1",
)


def node_env() -> dict:
    """Environment for processes joining the test's cluster (set up by ``short_ray_tmp``)."""
    return dict(os.environ)


def short_ray_tmp(monkeypatch) -> str:
    """A short per-test Ray temp root (AF_UNIX socket paths), also where Ray writes the address file that
    ``address="auto"`` reads, so nothing here touches another cluster on this machine."""
    root = tempfile.mkdtemp(prefix="rc", dir="/tmp")
    os.makedirs(os.path.join(root, "ray"))
    monkeypatch.setenv("RAY_TMPDIR", root)
    # every node and driver uses 127.0.0.1: child processes read the variable, this process (which
    # imported Ray already) the constant it was read into
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setattr(ray._private.ray_constants, "ENABLE_RAY_CLUSTER", False)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    # `ray start --head` turns on token auth by default; these clusters listen on 127.0.0.1 only
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    return os.path.join(root, "ray")


def connect(c: Cluster) -> None:
    """The test process joins as a second driver (this process imported Ray before the env var was set)."""
    ray.init(address=c.address, _node_ip_address="127.0.0.1", log_to_driver=False)


_node_numbers = itertools.count(1)  # a removed node's folder is never handed to a new one


def add_node(c: Cluster, cpus: int, **resources):
    # Each node gets its own runtime-env folder, as on separate machines. Sharing the head's, a node that
    # sets up a job's working_dir (overwrite: rmtree, then unzip) pulls the files from under a driver
    # already running from that folder (CI: "No module named 'moto_rl.common.envs.metaworld'").
    return c.add_node(
        num_cpus=cpus,
        resources=resources,
        node_ip_address="127.0.0.1",
        runtime_env_dir_name=f"runtime_resources_node{next(_node_numbers)}",
    )


def moto(args: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    out = open(log, "wb")  # noqa: SIM115 (the child writes it; read on failure)
    return subprocess.Popen(
        [sys.executable, "-m", "moto_rl.deploy.cli", *args],
        cwd=REPO,
        env=env or node_env(),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def tail(log: Path, n: int = 4000) -> str:
    return log.read_text(errors="replace")[-n:] if log.exists() else "(no log)"


def alive_actors() -> dict[str, list[str]]:
    """Class name -> node ids of its alive actors (from the GCS; no dashboard needed)."""
    found: dict[str, list[str]] = {}
    for a in ray._private.state.actors().values():
        if a["State"] == "ALIVE":
            found.setdefault(a["ActorClassName"], []).append(a["Address"]["NodeID"])
    return found


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"moto train ended (rc {proc.returncode}) while waiting for {what}:\n{tail(log)}")
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}" + (f":\n{tail(log)}" if log else ""))
