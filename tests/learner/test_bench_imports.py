"""The learner, its bench and what its tests import (tests/helpers/learner.py, tests/conftest.py and
tests/learner/conftest.py) import neither Ray, Zarr nor the simulators, so `deploy/gpu_check.sh` runs
on a GPU node that has PyTorch and omegaconf but none of the rest."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
ABSENT = ("ray", "zarr", "numcodecs", "mujoco", "metaworld", "gymnasium", "gymnasium_robotics", "minari")


def test_learner_bench_and_cuda_test_fixtures_import_without_ray_zarr_or_simulators():
    # a None entry in sys.modules makes any import of that name raise ImportError
    code = (
        f"import sys\nfor name in {ABSENT!r}: sys.modules[name] = None\n"
        "import importlib.util\n"
        "sys.path[:0] = ['tests']  # as pyproject.toml's pythonpath does\n"
        "import moto_rl.deploy.cli, moto_rl.deploy.bench, moto_rl.learner.bench, moto_rl.learner.learner\n"
        "from helpers.learner import ACTION_DIM, random_batch, random_episode, tiny_config\n"
        "for conftest in ('tests/conftest.py', 'tests/learner/conftest.py'):  # each by its path, both loaded\n"
        "    spec = importlib.util.spec_from_file_location(conftest.replace('/', '_')[:-3], conftest)\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "from moto_rl.deploy.cli import main\n"
        "sys.exit(main(['bench', 'learner', '--size', 'tiny', '--quick', '--device', 'cpu', '--threads', '1',"
        " '--json']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '"bench": "learner"' in proc.stdout.splitlines()[-1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the script runs the checks instead")
def test_gpu_check_says_what_is_missing_without_cuda(tmp_path):
    proc = subprocess.run(  # OUT_DIR relative to the caller's folder, not the repository's
        ["bash", str(ROOT / "deploy" / "gpu_check.sh"), "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
    )
    assert proc.returncode == 2
    assert "sees no CUDA device" in proc.stderr and "CUDA build of PyTorch" in proc.stderr
    assert (tmp_path / "out").is_dir() and not (ROOT / "out").exists()
    assert list((tmp_path / "out").iterdir()) == []  # nothing ran past the check
