"""Where each run of a campaign stands, read from disk only (run directories and a heartbeat file).

A run is *finished* when its ``summary.txt`` exists (the driver writes it last), *running* when a
live campaign process lists it in ``campaign.json``, *interrupted* when its directory has a
``config.yaml`` but it is neither, and *pending* otherwise. So ``moto campaign status`` works from
any process, and a relaunched campaign knows what to skip and what to resume.
"""

from __future__ import annotations

import csv
import json
import math
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from moto_rl.common.config_loading import load_config_file
from moto_rl.deploy.campaign.spec import GridPoint
from moto_rl.deploy.run.run_dir import RunDirectory

HEARTBEAT_FILE = "campaign.json"
EVENTS_FILE = "events.jsonl"
REMOTE_HEARTBEAT_SECONDS = 120.0  # another host's campaign counts as alive this long after its last beat


@dataclass
class RunProgress:
    name: str
    state: str  # pending | running | interrupted | finished
    learner_steps: int = 0
    learner_target: int = 0
    episodes: int = 0
    episodes_target: int = 0
    success: float = math.nan  # the latest evaluation's success rate
    checkpoint: str = ""


def run_state(run: RunDirectory, running: set[str]) -> str:
    if run.summary_path.is_file():
        return "finished"
    if run.path.name in running:
        return "running"
    return "interrupted" if run.config_path.is_file() else "pending"


def _last_success(run: RunDirectory, schedule: dict) -> float:
    """curves.csv is rewritten at every evaluation, so it is newer than the last checkpoint."""
    if run.curves_path.is_file():
        with open(run.curves_path) as f:
            rows = list(csv.DictReader(f))
        if rows:
            return float(rows[-1]["success_rate"])
    evals = schedule.get("evals") or []
    return float(evals[-1]["success_rate"]) if evals else math.nan


def run_progress(run: RunDirectory, running: set[str]) -> RunProgress:
    progress = RunProgress(run.path.name, run_state(run, running))
    if not run.config_path.is_file():
        return progress
    cfg = load_config_file(run.config_path).schedule
    progress.episodes_target = math.ceil(cfg.online_steps / cfg.updates_per_episode)
    progress.learner_target = cfg.offline_steps + progress.episodes_target * cfg.updates_per_episode
    checkpoint = run.latest_checkpoint()
    schedule = RunDirectory.read_schedule(checkpoint) if checkpoint else {}
    from moto_rl.deploy.campaign.export import PROGRESS_FILE

    exported_counters = run.path / PROGRESS_FILE  # an exported run keeps its counters, not its checkpoints
    if not checkpoint and exported_counters.is_file():
        schedule = json.loads(exported_counters.read_text())
    if checkpoint:
        progress.checkpoint = checkpoint.name
    if schedule:
        progress.learner_steps = schedule["offline_done"] + schedule["online_done"]
        progress.episodes = schedule["episodes"]
    progress.success = _last_success(run, schedule)
    return progress


# the heartbeat of a live campaign --------------------------------------------------------------
def write_heartbeat(campaign_dir: Path, running: list[str]) -> None:
    beat = {"pid": os.getpid(), "host": socket.gethostname(), "updated": time.time(), "running": running}
    tmp = campaign_dir / (HEARTBEAT_FILE + ".tmp")
    tmp.write_text(json.dumps(beat))
    os.replace(tmp, campaign_dir / HEARTBEAT_FILE)


def live_running(campaign_dir: Path) -> set[str]:
    """Runs that a live campaign process is executing now (empty when none is alive)."""
    path = Path(campaign_dir) / HEARTBEAT_FILE
    if not path.is_file():
        return set()
    beat = json.loads(path.read_text())
    if beat["host"] == socket.gethostname():
        try:
            os.kill(beat["pid"], 0)
            alive = True
        except ProcessLookupError:
            alive = False
        except PermissionError:
            alive = True
    else:
        alive = time.time() - beat["updated"] < REMOTE_HEARTBEAT_SECONDS
    return set(beat["running"]) if alive else set()


def log_event(campaign_dir: Path, **event: object) -> None:
    """One JSON line per run start / finish / failure, for people and tests to read back."""
    event = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), **event}
    with open(Path(campaign_dir) / EVENTS_FILE, "a") as f:
        f.write(json.dumps(event) + "\n")


def read_events(campaign_dir: Path) -> list[dict]:
    path = Path(campaign_dir) / EVENTS_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


# the table -------------------------------------------------------------------------------------
def _fraction(done: int, target: int) -> str:
    return f"{done}/{target}" if target else "-"


def _run_dir(p: GridPoint, campaign_dir: Path, results_dir: str) -> RunDirectory:
    """The run's directory, or its exported copy when only that exists (a fresh checkout of a study)."""
    from moto_rl.deploy.campaign.export import exported_run, is_exported

    run = RunDirectory(p.run_path(campaign_dir))
    if results_dir and not run.summary_path.is_file() and is_exported(results_dir, p.name):
        return exported_run(results_dir, p.name)
    return run


def status_table(
    points: list[GridPoint], campaign_dir: Path, running: set[str] | None = None, results_dir: str = ""
) -> str:
    running = live_running(campaign_dir) if running is None else running
    rows = [run_progress(_run_dir(p, campaign_dir, results_dir), running) for p in points]
    header = ("run", "state", "learner steps", "episodes", "success", "checkpoint")
    body = [
        (
            r.name,
            r.state,
            _fraction(r.learner_steps, r.learner_target),
            _fraction(r.episodes, r.episodes_target),
            "-" if math.isnan(r.success) else f"{100 * r.success:.0f}%",
            r.checkpoint or "-",
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *body]]
    counts = {s: sum(r.state == s for r in rows) for s in ("finished", "running", "interrupted", "pending")}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()) + f"  ({len(rows)} runs)")
    return "\n".join(lines)
