"""``ray job submit --working-dir .``: how a run is submitted to a cluster, against a local cluster whose
head runs Ray's dashboard/job server on 127.0.0.1. The tiny run uploaded as a job runs to the end,
and ``ray job logs`` shows its progress and summary."""

import os
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import ray
from helpers.cluster import FAST_FAILURE_DETECTION, REPO, TINY, add_node, short_ray_tmp
from ray.cluster_utils import Cluster

from moto_rl.storage import TrajectoryStore

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.timeout(600)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster_with_job_server(monkeypatch):
    port = free_port()
    c = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "node_ip_address": "127.0.0.1",
            "include_dashboard": True,
            "dashboard_host": "127.0.0.1",
            "dashboard_port": port,
            "temp_dir": short_ray_tmp(monkeypatch),
            "_system_config": FAST_FAILURE_DETECTION,
            # the job agent's HTTP port, 52365 by default: another Ray head on this machine may hold it
            "dashboard_agent_listen_port": free_port(),
        },
    )
    try:
        add_node(c, 1, learner=1)
        add_node(c, 1, rollout=1)
        yield c, f"http://127.0.0.1:{port}"
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


def test_a_tiny_run_submitted_as_a_job_runs_to_the_end(cluster_with_job_server, tmp_path):
    _, dashboard = cluster_with_job_server
    root = tempfile.mkdtemp(prefix="jobruns", dir=tmp_path)  # absolute: the job's working dir is a copy elsewhere
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    entry = [
        sys.executable,
        "-m",
        "moto_rl.deploy.cli",
        "train",
        *TINY,
        "workers.num_workers=1",
        "logging.progress=true",
        "run_name=job",
        f"logging.root={root}",
        f"storage.offline_url={root}/demos",
        "workers.ray_address=auto",
        "schedule.online_steps=6",
        "schedule.checkpoint_every=0",
    ]
    deadline = time.monotonic() + 180
    while True:  # the head's job agent starts a little after the node; the CLI says so and exits
        submit = subprocess.run(
            [
                ray_bin,
                "job",
                "submit",
                "--address",
                dashboard,
                "--submission-id",
                "moto-tiny",
                "--working-dir",
                str(REPO),
                "--",
                *entry,
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=540,
        )
        if "No available agent" not in submit.stderr or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert submit.returncode == 0, (submit.stdout + submit.stderr)[-4000:]
    assert "succeeded" in submit.stdout.lower(), submit.stdout[-3000:]

    logs = subprocess.run(
        [ray_bin, "job", "logs", "--address", dashboard, "moto-tiny"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert logs.returncode == 0, logs.stderr[-2000:]
    assert "offline pre-training" in logs.stdout and "online fine-tuning" in logs.stdout  # progress bars
    assert "MOTO run summary" in logs.stdout and "online episodes        3" in logs.stdout
    run = os.path.join(root, "job")
    store = TrajectoryStore.open(os.path.join(run, "store"))
    assert sum(store.meta(i).source == "online" for i in store.episode_ids()) == 3
    assert os.path.isfile(os.path.join(run, "summary.txt"))
