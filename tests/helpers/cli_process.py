"""A `moto` command in a child process (its own session, so a test can signal it), and the latest
checkpoint's schedule of a run directory: shared by the SIGKILL and signal tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).parents[2]


def moto(args, root: Path, log_name: str) -> subprocess.Popen:
    # Ray's unix sockets live under its temp dir and must stay short: not under pytest's tmp_path
    env = dict(os.environ, MOTO_RAY_TMP=tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    log = open(root / log_name, "wb")  # noqa: SIM115 (the child writes it; read on failure)
    return subprocess.Popen(
        [sys.executable, "-m", "moto_rl.deploy.cli", *args],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def latest_schedule(run: Path) -> dict | None:
    done = sorted(p for p in (run / "checkpoints").glob("step_*") if (p / "schedule.json").is_file())
    return json.loads((done[-1] / "schedule.json").read_text()) if done else None
