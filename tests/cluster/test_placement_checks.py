"""The driver's refusal of local paths that some node cannot see, and actor warnings reaching the driver."""

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from moto_rl.common.config_loading import load_config
from moto_rl.common.errors import UserError
from moto_rl.deploy.run.placement import check_shared_paths, machines

REPO = Path(__file__).resolve().parents[2]


def node(host: str, ip: str, node_id: str) -> dict:
    return {"NodeManagerHostname": host, "NodeManagerAddress": ip, "NodeID": node_id, "Alive": True}


ONE_MACHINE = [node("box", "127.0.0.1", "a" * 56), node("box", "127.0.0.1", "b" * 56)]
TWO_MACHINES = [node("head", "10.0.0.1", "a" * 56), node("rollout-1", "10.0.0.2", "b" * 56)]


def test_simulated_nodes_on_one_machine_count_once():
    assert len(machines(ONE_MACHINE)) == 1 and len(machines(TWO_MACHINES)) == 2


def test_one_machine_never_probes(tmp_path):
    def probe(folder, nodes):
        raise AssertionError("no probe on one machine")

    check_shared_paths(load_config([]), tmp_path / "run", str(tmp_path / "run" / "store"), ONE_MACHINE, visible=probe)


def test_a_local_logging_root_some_node_cannot_see_is_refused_naming_the_setting(tmp_path):
    blind = lambda folder, nodes: ["10.0.0.2 (bbbbbbbb)"]  # noqa: E731
    with pytest.raises(
        UserError, match=r"logging\.root .*cannot see .*10\.0\.0\.2.*set logging\.root to a shared file system"
    ):
        check_shared_paths(load_config([]), tmp_path / "run", "s3://bucket/run/store", TWO_MACHINES, visible=blind)


def test_a_local_store_some_node_cannot_see_is_refused_naming_storage_url(tmp_path):
    seen = []

    def blind_to_store(folder, nodes):
        seen.append(folder)
        return ["10.0.0.2 (bbbbbbbb)"] if folder == tmp_path / "local" else []

    with pytest.raises(UserError, match=r"storage\.url .*set storage\.url to an object store URL such as s3://"):
        check_shared_paths(
            load_config([]), tmp_path / "run", str(tmp_path / "local" / "store"), TWO_MACHINES, visible=blind_to_store
        )
    assert seen == [tmp_path / "run", tmp_path / "local"]


def test_a_shared_mount_and_an_object_store_pass_on_many_machines(tmp_path):
    check_shared_paths(
        load_config([]), tmp_path / "run", "s3://bucket/run/store", TWO_MACHINES, visible=lambda f, n: []
    )


SCRIPT = """
import logging, ray
from moto_rl.common.config_loading import load_config
from moto_rl.deploy.run.train import init_ray

init_ray(load_config([]))

@ray.remote
class Learnerish:
    def warn(self):
        logging.getLogger("moto_rl.storage.sampler").warning("skipping corrupt episode 0000-test (checksum mismatch)")
        return True

assert ray.get(Learnerish.remote().warn.remote())
import time; time.sleep(2)  # log lines are forwarded asynchronously
ray.shutdown()
"""


@pytest.mark.ray
def test_an_actor_warning_reaches_the_drivers_output():
    env_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "MOTO_RAY_TMP": env_tmp},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in (out.stdout + out.stderr).splitlines() if "skipping corrupt episode 0000-test" in line]
    assert lines and "Learnerish pid=" in lines[0]  # prefixed with the actor that said it
