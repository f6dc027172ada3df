"""`moto train` SIGKILLed mid-run, then `moto train --resume`: same final counters, no duplicates.

The driver runs as a real process (with its own local Ray), killed with SIGKILL once its online
phase has a checkpoint, so nothing gets to clean up; the resume then runs in a fresh process.
"""

import math
import os
import re
import signal
import time

import pytest
from helpers.cli_process import latest_schedule, moto
from helpers.smoke import smoke_run

from moto_rl.storage import TrajectoryStore

pytestmark = [pytest.mark.slow, pytest.mark.ray]

OVERRIDES = smoke_run(
    "run_name=killed",
    "logging.diagnostics_every=0",
    "workers.num_workers=2",
    "schedule.offline_steps=20",
    "schedule.online_steps=30",
    "schedule.eval_every_episodes=0",
    "schedule.checkpoint_every=4",
)


def test_sigkilled_run_resumes_to_the_same_counters(tmp_path):
    root = tmp_path
    overrides = OVERRIDES + [f"logging.root={root}", f"storage.offline_url={root}/demos"]
    run = root / "killed"
    proc = moto(["train", *overrides], root, "first.log")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until the online phase has checkpointed at least once
        state = latest_schedule(run) if run.exists() else None
        if state and state["online_done"] > 0:
            break
        assert proc.poll() is None, (
            "moto train ended before it could be killed:\n" + (root / "first.log").read_text()[-3000:]
        )
        time.sleep(0.5)
    else:
        pytest.fail("no online checkpoint within 300 s")
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and everything in its session, at once
    proc.wait()
    killed_at = latest_schedule(run)
    assert killed_at["episodes"] < math.ceil(30 / 2)  # really stopped halfway

    resumed = moto(["train", "--resume", str(run)], root, "resumed.log")
    assert resumed.wait(timeout=400) == 0, (root / "resumed.log").read_text()[-3000:]

    final = latest_schedule(run)
    target = math.ceil(30 / 2)
    assert (final["offline_done"], final["online_done"], final["episodes"]) == (20, 2 * target, target)
    store = TrajectoryStore.open(run / "store")
    ids = store.episode_ids()
    online = [eid for eid in ids if store.meta(eid).source == "online"]
    assert len(ids) == len(set(ids))
    assert len(online) == target  # none lost from the store's count, none collected twice
    assert sum(store.meta(eid).source == "offline" for eid in ids) == 2
    assert (run / "summary.txt").is_file()
    # the checkpoint records the run's wall time, and the summary does not restart it from 0 at the resume
    # (a summary that forgot the first process would still pass when the resumed part took longer than
    # the part before the kill: this guards the recording and a reset, not the sum itself)
    assert killed_at["wall_seconds"] > 5
    minutes = float(re.search(r"wall time\s+([\d.]+) min", (run / "summary.txt").read_text()).group(1))
    assert minutes * 60 >= killed_at["wall_seconds"] - 3  # 0.1-minute rounding
