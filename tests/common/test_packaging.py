"""Installable anywhere: the wheel carries every package and the presets, and works without the source tree.

The install test builds the wheel from a copy of the sources, installs it with ``--no-deps`` into a
fresh venv whose only view of the dependencies is this venv's site-packages (a path line in a .pth:
the editable install's own hook there is not run), and runs ``moto config`` and ``moto envs`` from
another folder. A full dependency install would take minutes and test pip, not moto.
"""

import shutil
import site
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "common", "storage", "learner", "actors", "deploy", "configs")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_is_listed_and_the_license_matches():
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("common", "storage", "learner", "actors", "deploy")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set(), "add these packages to [tool.setuptools] packages in pyproject.toml"
    presets = {
        ".".join(("moto_configs", *y.parent.relative_to(ROOT / "configs").parts))
        for y in (ROOT / "configs").rglob("*.yaml")
    }
    assert presets - listed == set(), "add these preset folders to [tool.setuptools] packages (setuptools warns)"
    project = pyproject()["project"]
    assert project["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert project["requires-python"] == ">=3.11"
    assert {"wandb", "mlflow"} <= set(project["optional-dependencies"])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("moto_rl-*.whl")
    return whl


@pytest.mark.slow
def test_wheel_carries_the_presets_and_no_tests(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {
        "moto_configs/profiles/local.yaml",
        "moto_configs/tasks/kitchen/mixed.yaml",
        "moto_configs/sizes/paper.yaml",
        "deploy/cli.py",
        "common/envs/kitchen.py",
    } <= set(names)
    assert not [n for n in names if n.startswith("tests/")]
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "moto = deploy.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


@pytest.mark.slow
def test_installed_wheel_runs_moto_config_and_envs_elsewhere(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site_dir,) = (venv / "lib").glob("python3.*/site-packages")
    (site_dir / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")  # dependencies only, appended last
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "MUJOCO_GL": "egl"}

    def run(*args):
        out = subprocess.run(args, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout

    where = run(
        str(venv / "bin" / "python"),
        "-c",
        "import common, deploy, moto_configs; print(common.__file__); print(moto_configs.__file__)",
    )
    assert all(line.startswith(str(site_dir)) for line in where.split()), where  # the wheel's copy, not the checkout
    config = run(str(venv / "bin" / "moto"), "config", "task=kitchen/mixed", "size=paper")
    assert "task: kitchen/mixed" in config and "max_episode_steps: 280" in config and "deter: 600" in config
    envs = run(str(venv / "bin" / "moto"), "envs")
    assert "metaworld/drawer-open" in envs and "kitchen/partial" in envs
    assert not list(elsewhere.iterdir())  # it wrote nothing where it was run
