"""The `ray up` configs in deploy/cluster/ pass Ray's own schema, offline.

``prepare_config`` only merges the provider's ``defaults.yaml`` shipped inside Ray (it imports
``ray.autoscaler.aws`` / ``.gcp``, which are bare packages); boto3 and the Google API client are
imported later, by ``ray up``'s bootstrap step, which is the part that reaches the cloud. So this
test needs neither the SDKs nor the network, and it checks that it stays that way.
"""

import copy
import re
import subprocess
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
    # in a fresh process: other tests of this session (S3 stores) import boto3 themselves
    check = (
        "import sys, yaml; from ray.autoscaler._private.util import prepare_config, validate_config; "
        f"validate_config(prepare_config(yaml.safe_load(open({str(path)!r})))); "
        "print(sorted(m for m in ('boto3', 'googleapiclient') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


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


REPO = CLUSTER_DIR.parents[1]
PYTHON_310 = re.compile(r"(?i)python[^\n]{0,24}3\.10|py310|\(3, 10\)")


def ray_pin() -> str:
    pins = [
        line.split("==")[1].strip()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.startswith("ray[")
    ]
    assert len(pins) == 1, "requirements.txt must pin Ray exactly once"
    return pins[0]


@pytest.mark.parametrize("name", ["aws.yaml", "gcp.yaml"])
def test_cloud_nodes_run_rays_image_of_the_pinned_version_on_python_311(name):
    raw = load(CLUSTER_DIR / name)
    images = [raw["docker"]["image"]] + [
        t["docker"]["worker_image"] for t in raw["available_node_types"].values() if "docker" in t
    ]
    assert len(images) == 2  # a GPU image for the head and learners, a CPU one for rollout nodes
    for image in images:
        assert image.startswith(f"rayproject/ray:{ray_pin()}-py311-"), f"{image} is not Ray {ray_pin()} on Python 3.11"


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.name)
def test_python_311_everywhere_and_never_310(path):
    text = path.read_text()
    assert "sys.version_info >= (3, 11)" in "\n".join(load(path)["setup_commands"])
    assert not PYTHON_310.search(text)
    import ray

    assert ray.__version__ == ray_pin()  # the version tested here is the one the nodes run


def test_no_doc_or_project_file_names_python_310():
    files = [REPO / "pyproject.toml", REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for f in files:
        assert not PYTHON_310.search(f.read_text()), f
    assert 'requires-python = ">=3.11"' in (REPO / "pyproject.toml").read_text()


@pytest.mark.parametrize("name", ["aws.yaml", "gcp.yaml"])
def test_node_types_carry_the_resources_moto_places_by(name):
    types = load(CLUSTER_DIR / name)["available_node_types"]
    assert types["head_gpu"]["resources"]["learner"] == 1
    assert types["learner_gpu"]["resources"]["learner"] == 1
    assert types["rollout_cpu"]["resources"]["rollout"] >= 1


def test_local_cluster_nodes_declare_learner_and_rollout_resources():
    raw = load(CLUSTER_DIR / "local.yaml")
    assert any('"learner":1' in c for c in raw["head_start_ray_commands"])
    assert any("rollout" in c for c in raw["worker_start_ray_commands"])
