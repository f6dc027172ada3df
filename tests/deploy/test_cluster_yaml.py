"""The `ray up` configs in deploy/cluster/ pass Ray's own schema, offline.

``prepare_config`` only merges the provider's ``defaults.yaml`` shipped inside Ray (it imports
``ray.autoscaler.aws`` / ``.gcp``, which are bare packages); boto3 and the Google API client are
imported later, by ``ray up``'s bootstrap step, which is the part that reaches the cloud. So this
test needs neither the SDKs nor the network, and it checks that it stays that way.
"""

import copy
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER_DIR = Path(__file__).resolve().parents[2] / "deploy" / "cluster"
YAMLS = sorted(CLUSTER_DIR.glob("*.yaml"))


def load(path: Path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def test_there_is_a_config_per_provider():
    assert {p.name for p in YAMLS} >= {"aws.yaml", "gcp.yaml", "local.yaml"}


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_cluster_yaml_passes_rays_schema_offline(path):
    validate_config(prepare_config(load(path)))
    assert "boto3" not in sys.modules and "googleapiclient" not in sys.modules


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_nodes_install_moto_and_render_headless(path):
    raw = load(path)
    commands = "\n".join(raw["setup_commands"])
    assert "make install TORCH=torch" in commands  # CUDA torch, not the CPU wheel
    assert "MUJOCO_GL=egl" in commands
    assert all("MUJOCO_GL=egl" in c for c in raw["worker_start_ray_commands"] if "ray start" in c)
    text = path.read_text().lower()
    for secret in ("aws_secret_access_key", "aws_access_key_id", "private_key_id", "password"):
        assert secret not in text


@pytest.mark.parametrize("name", ["aws.yaml", "gcp.yaml"])
def test_cloud_configs_have_a_gpu_head_and_autoscaling_cpu_rollout_nodes(name):
    raw = load(CLUSTER_DIR / name)
    types = raw["available_node_types"]
    head = types[raw["head_node_type"]]["node_config"]
    assert head.get("InstanceType", "").startswith("g5") or head.get("guestAccelerators")
    rollout = types["rollout_cpu"]
    assert rollout["min_workers"] == 0 and rollout["max_workers"] > 1


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_an_unknown_key_fails_the_schema(path):
    bad = copy.deepcopy(load(path))
    bad["auth"]["ssh_usr"] = "typo"  # auth allows no extra keys
    with pytest.raises(jsonschema.ValidationError, match="ssh_usr"):
        validate_config(prepare_config(bad))
    bad = copy.deepcopy(load(path))
    bad["max_worker"] = 3  # nor does the top level
    with pytest.raises(jsonschema.ValidationError, match="max_worker"):
        validate_config(prepare_config(bad))
