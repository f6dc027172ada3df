"""`moto --version` prints the version that pyproject.toml declares."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from moto_rl.deploy.cli import main as moto
from moto_rl.deploy.cli import version

ROOT = Path(__file__).resolve().parents[2]


def pyproject_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["version"]


def test_version_matches_pyproject():
    assert version() == pyproject_version()


def test_version_option_prints_it(capsys):
    with pytest.raises(SystemExit) as exit_:
        moto(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"moto {pyproject_version()}"


def test_console_script_prints_it():
    script = Path(sys.executable).parent / "moto"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "moto_rl.deploy.cli"]
    out = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == f"moto {pyproject_version()}"
