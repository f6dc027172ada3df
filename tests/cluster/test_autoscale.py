"""``moto scale RUN N`` on an autoscaling cluster: Ray's fake multi-node provider (``RAY_FAKE_CLUSTER=1
ray start --head --autoscaling-config=...``) starts and stops simulated rollout nodes on this machine
exactly as the cloud provider would start and stop instances of ``rollout_cpu``.

Asking for more workers than the nodes hold leaves workers pending, so the autoscaler adds a rollout
node; scaling back down leaves that node idle and the autoscaler removes it.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
import ray
from helpers.cluster import REPO, TINY, alive_actors, moto, short_ray_tmp, tail, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.timeout(600)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_config(gcs_address: str) -> dict:
    """A head like deploy/cluster's head_gpu (learner) and a rollout_cpu type with 2 workers per node."""
    return {
        "cluster_name": "moto-fake",
        "max_workers": 2,
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": 0.1,  # 6 s, instead of the YAMLs' 10 minutes
        "provider": {
            "type": "fake_multinode",
            "gcs_address": gcs_address,
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 2, "learner": 1}, "node_config": {}, "max_workers": 0},
            "rollout_cpu": {
                "resources": {"CPU": 2, "rollout": 2},
                "node_config": {},
                "min_workers": 1,
                "max_workers": 2,
            },
        },
        "head_node_type": "ray.head.default",
        "auth": {"ssh_user": "ubuntu"},
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


@pytest.fixture
def autoscaling_cluster(monkeypatch, tmp_path):
    """The head in its own session; at the end every process it (or its autoscaler) started is killed by
    pid: ``ray stop`` would stop every Ray on the machine."""
    temp_dir = short_ray_tmp(monkeypatch)
    port = free_port()
    address = f"127.0.0.1:{port}"
    config = tmp_path / "fake.yaml"
    config.write_text(json.dumps(fake_config(address)))
    env = dict(os.environ, RAY_FAKE_CLUSTER="1", AUTOSCALER_UPDATE_INTERVAL_S="1")
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    head = subprocess.Popen(
        [
            ray_bin,
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            f"--temp-dir={temp_dir}",
            "--num-cpus=2",
            '--resources={"learner": 1}',
            "--include-dashboard=false",
            f"--autoscaling-config={config}",
        ],
        env=env,
        stdout=open(tmp_path / "head.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        ours = set()
        for p in psutil.process_iter(["pid", "cmdline"]):
            try:
                if temp_dir in " ".join(p.info["cmdline"] or []):
                    ours.add(p.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        try:
            ours |= {c.pid for c in psutil.Process(head.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            pass
        ours.add(head.pid)
        for pid in ours:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        head.wait(timeout=30)


def rollout_nodes() -> int:
    return sum(1 for n in ray.nodes() if n["Alive"] and n["Resources"].get("rollout", 0) > 0)


def test_scale_up_starts_a_rollout_node_and_scale_down_lets_it_go(autoscaling_cluster, tmp_path):
    address = autoscaling_cluster
    deadline = time.monotonic() + 120
    while True:  # the head takes a moment to listen
        try:
            ray.init(address=address, _node_ip_address="127.0.0.1", log_to_driver=False)
            break
        except (ConnectionError, RuntimeError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    wait_for(lambda: rollout_nodes() == 1, 180, "the autoscaler's first rollout node (min_workers 1)")

    run, log = tmp_path / "elastic", tmp_path / "elastic.log"
    args = [
        "train",
        *TINY,
        "run_name=elastic",
        f"logging.root={tmp_path}",
        f"storage.offline_url={tmp_path}/demos",
        f"workers.ray_address={address}",
        "schedule.online_steps=100000",
        "schedule.checkpoint_every=0",
    ]
    proc = moto(args, log)
    try:

        def workers_on_rollout_nodes():
            rollout = {n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("rollout", 0) > 0}
            return sum(node in rollout for node in alive_actors().get("RolloutWorkerActor", []))

        wait_for(lambda: workers_on_rollout_nodes() == 2, 300, "2 rollout workers on the rollout node", proc, log)
        scale = [sys.executable, "-m", "moto_rl.deploy.cli", "scale", str(run)]
        subprocess.run([*scale, "4"], cwd=REPO, check=True, timeout=120)
        wait_for(lambda: rollout_nodes() == 2, 240, "a second rollout node for 4 workers", proc, log)
        wait_for(lambda: workers_on_rollout_nodes() == 4, 240, "4 rollout workers placed", proc, log)

        subprocess.run([*scale, "2"], cwd=REPO, check=True, timeout=120)
        wait_for(lambda: workers_on_rollout_nodes() == 2, 240, "the fleet back at 2 workers", proc, log)
        wait_for(lambda: rollout_nodes() == 1, 240, "the idle rollout node removed", proc, log)
        assert proc.poll() is None, tail(log)  # the run went on throughout
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
