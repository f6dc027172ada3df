"""Installable anywhere: the wheel carries every package and the presets under the one namespace
``moto_rl``, and works without the source tree and beside a user's own ``common/`` or ``deploy/``.

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
FOLDERS = ("common", "storage", "learner", "actors", "deploy")  # installed as moto_rl.<folder>
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "moto_rl", *FOLDERS, "configs")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_is_listed_and_the_license_matches():
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    found = {"moto_rl"} | {
        ".".join(("moto_rl", *p.parent.relative_to(ROOT).parts))
        for top in FOLDERS
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set(), "add these packages to [tool.setuptools] packages in pyproject.toml"
    presets = {
        ".".join(("moto_rl.configs", *y.parent.relative_to(ROOT / "configs").parts))
        for y in (ROOT / "configs").rglob("*.yaml")
    }
    assert presets - listed == set(), "add these preset folders to [tool.setuptools] packages (setuptools warns)"
    assert {p.split(".")[0] for p in listed} == {"moto_rl"}, "install nothing beside the moto_rl namespace"
    package_dir = pyproject()["tool"]["setuptools"]["package-dir"]
    assert package_dir == {f"moto_rl.{top}": top for top in (*FOLDERS, "configs")}
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
        "moto_rl/__init__.py",
        "moto_rl/__main__.py",
        "moto_rl/configs/profiles/local.yaml",
        "moto_rl/configs/tasks/kitchen/mixed.yaml",
        "moto_rl/configs/sizes/paper.yaml",
        "moto_rl/deploy/cli.py",
        "moto_rl/deploy/run/driver.py",
        "moto_rl/deploy/campaign/runner.py",
        "moto_rl/common/envs/kitchen.py",
    } <= set(names)
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"moto_rl"}, tops  # nothing else in site-packages
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "moto = moto_rl.deploy.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


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
        "import moto_rl.common, moto_rl.deploy, moto_rl.configs; print(moto_rl.common.__file__); "
        "print(moto_rl.configs.__file__)",
    )
    assert all(line.startswith(str(site_dir)) for line in where.split()), where  # the wheel's copy, not the checkout
    config = run(str(venv / "bin" / "moto"), "config", "task=kitchen/mixed", "size=paper")
    assert "task: kitchen/mixed" in config and "max_episode_steps: 280" in config and "deter: 600" in config
    envs = run(str(venv / "bin" / "moto"), "envs")
    assert "metaworld/drawer-open" in envs and "kitchen/partial" in envs
    assert not list(elsewhere.iterdir())  # it wrote nothing where it was run


@pytest.mark.slow
def test_the_wheel_imports_beside_a_users_own_common_package(wheel, tmp_path):
    """A user project with its own ``common/`` (and ``deploy/``) on sys.path before the installed wheel:
    both import, each from its own folder (before moto_rl, ``common.config_loading`` was looked up in
    the user's ``common`` and failed)."""
    site_dir = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site_dir)
    user = tmp_path / "user"
    for name in ("common", "deploy"):
        (user / name).mkdir(parents=True)
        (user / name / "__init__.py").write_text(f"WHO = 'the user project ({name})'\n")
    code = (
        "import sys\n"
        f"sys.path[:0] = [{str(user)!r}, {str(site_dir)!r}]\n"
        "import common, deploy\n"
        "import moto_rl, moto_rl.common.config, moto_rl.deploy.cli\n"
        "from moto_rl.common.config_loading import CONFIG_DIR, load_config\n"
        "print(common.WHO, deploy.WHO, sep='\\n')\n"
        "print(moto_rl.common.config.__file__, moto_rl.deploy.cli.__file__, CONFIG_DIR, sep='\\n')\n"
        "print(len(moto_rl.__path__), load_config(['task=kitchen/mixed']).env.max_episode_steps, sep='\\n')\n"
    )
    # -S: no site-packages hooks, so this venv's editable install of the checkout cannot answer instead;
    # its site-packages is appended by hand for the dependencies (omegaconf, ...)
    deps = [p for p in sys.path if p.endswith("site-packages")]
    code = code.replace("import common, deploy", f"sys.path += {deps!r}\nimport common, deploy", 1)
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    assert lines[:2] == ["the user project (common)", "the user project (deploy)"]
    assert all(line.startswith(str(site_dir / "moto_rl")) for line in lines[2:5]), lines  # the wheel's files
    assert lines[5:7] == ["1", "280"]  # no checkout fallback on the package's path; presets found
