"""`moto train` with a `workers.ray_address` it cannot join stops within `workers.connect_timeout_s`: exit
status 2 and one line naming the address, the setting and the common causes, no traceback (issue 33;
Ray alone retries an unreachable GCS without end, a warning every 30 s).

- a closed port: the TCP probe before ``ray.init`` fails;
- a port that accepts connections but never answers like a GCS: ``ray.init`` hangs and the watchdog ends it.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BOUND = 3


def _train(address: str, root: Path) -> tuple[int, str, float]:
    args = [
        "train",
        "size=tiny",
        "logging.progress=false",
        f"logging.root={root}",
        f"workers.ray_address={address}",
        f"workers.connect_timeout_s={BOUND}",
    ]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "moto_rl.deploy.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"),
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def _assert_one_clear_line(rc: int, out: str, address: str, root: Path) -> None:
    assert rc == 2, out
    assert "Traceback" not in out, out
    (line,) = [x for x in out.splitlines() if x.startswith("moto: error:")]
    assert f"workers.ray_address={address}" in line and f"workers.connect_timeout_s={BOUND}" in line
    assert "wrong host or port" in line and "node-IP mismatch" in line
    assert not any(p.is_dir() for p in root.glob("*")), "the failed start's run directory is removed"


def test_an_unreachable_address_fails_within_the_bound(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    rc, out, seconds = _train(address, tmp_path)
    _assert_one_clear_line(rc, out, address, tmp_path)
    assert "no connection" in out
    assert seconds < BOUND + 30  # the bound, plus the CLI's imports on a loaded 2-core machine


@pytest.mark.ray  # ray.init runs (and is ended by the watchdog) in the child
def test_an_address_that_never_answers_fails_within_the_bound(tmp_path):
    with socket.socket() as server:  # accepts TCP, never speaks gRPC
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        address = f"127.0.0.1:{server.getsockname()[1]}"
        rc, out, seconds = _train(address, tmp_path)
    _assert_one_clear_line(rc, out, address, tmp_path)
    assert "did not finish" in out
    assert seconds < BOUND + 30
