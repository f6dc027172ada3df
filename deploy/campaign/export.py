"""A campaign's results folder: each finished run's small files, meant to be committed.

    <results_dir>/runs/<run name>/
      config.yaml        the run's resolved config
      curves.csv         one row per evaluation (success, return, epsilon_u)
      scalars.csv        the learner's and driver's TensorBoard scalars (tag, step, value), thinned
      demos.json         how many of the run's offline (scripted) episodes succeeded
      objects.json       kitchen only: per-object outcomes of the stored demo and online episodes, and how
                         many completed every target object (``partial``'s success flag counts 3 of 4)
      diagnosis.json     `moto diagnose` on its final checkpoint (reward tracking, open loop, imitation)
      final_eval.png     8 frames of the last evaluation's first episode: what the final policy does
      success_curve.png  the run's own plot
      progress.json      the final checkpoint's counters (learner steps, episodes), for `moto campaign status`
      summary.txt        written last: its presence means "this run is finished"

The layout is a campaign directory's, so ``moto report <results_dir>`` draws the study from these files
alone. ``moto campaign`` with ``results_dir`` set treats a run found finished there as done, which is
what lets a study continue on a fresh checkout from what was committed: stores, checkpoints and videos
stay in the (uncommitted) campaign directory.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

from moto_rl.common.config_loading import load_config_file
from moto_rl.deploy.campaign.results import OBJECTS_FILE
from moto_rl.deploy.campaign.spec import runs_dir
from moto_rl.deploy.run.run_dir import RunDirectory
from moto_rl.storage import StoreError, TrajectoryStore

SMALL_FILES = ("config.yaml", "curves.csv", "success_curve.png", "diagnosis.json")
PROGRESS_FILE = "progress.json"
PROGRESS_COUNTERS = ("offline_done", "online_done", "episodes", "env_steps")
MAX_POINTS_PER_TAG = 40  # scalars.csv keeps this many evenly spaced points of each tag
# the learner's own losses and diagnostics (the driver's driver/* copies of a few are left out), evaluation
# and training-episode outcomes
SCALAR_PREFIXES = (
    "learner/model/",
    "learner/actor/",
    "learner/critic/",
    "learner/imag/",
    "diag/",
    "eval/",
    "train/success",
    "train/return",
    "perf/learner_steps_per_s",
)


def exported_run(results_dir: str | Path, name: str) -> RunDirectory:
    return RunDirectory(runs_dir(Path(results_dir)) / name)


def is_exported(results_dir: str | Path, name: str) -> bool:
    return exported_run(results_dir, name).summary_path.is_file()


def _tb_scalars(tb_dir: Path) -> list[tuple[str, int, float]]:
    """(tag, step, value) of the scalars worth keeping, from every event file under ``tb_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    rows: list[tuple[str, int, float]] = []
    folders = sorted({p.parent for p in tb_dir.rglob("events.out.tfevents.*")})
    for folder in folders:
        acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            if not tag.startswith(SCALAR_PREFIXES):
                continue
            events = acc.Scalars(tag)
            stride = max(1, -(-len(events) // MAX_POINTS_PER_TAG))
            kept = events[::stride] + ([events[-1]] if (len(events) - 1) % stride else [])
            rows += [(tag, int(e.step), float(e.value)) for e in kept]
    return rows


def demo_success(run: RunDirectory) -> dict:
    """Offline episodes in the run's store and how many succeeded: a task whose demos fail teaches nothing."""
    from moto_rl.deploy.run.diagnose import episode_outcomes

    try:
        store = TrajectoryStore.open(run.store_url(load_config_file(run.config_path)), create=False)
    except StoreError as e:
        return {"error": str(e)}
    return episode_outcomes([store.meta(eid) for eid in store.episode_ids()])


def object_outcomes(metas: list, objects: tuple[str, ...]) -> dict:
    """Kitchen: for demo and online episodes, how many there are, how many raised the success flag (the
    task's filter objects), how many completed *every* target object (each at its goal at some step, as
    the paper counts tasks) and how many completed each object."""
    result = {}
    for source, mine in (
        ("demo", [m for m in metas if m.source == "offline"]),
        ("online", [m for m in metas if m.source != "offline"]),
    ):
        result[source] = {
            "episodes": len(mine),
            "successes": sum(bool(m.success) for m in mine),
            "all_objects": sum(all(m.completion.get(o, False) for o in objects) for m in mine),
            "objects": {o: sum(bool(m.completion.get(o, False)) for m in mine) for o in objects},
        }
    return result


def kitchen_outcomes(run: RunDirectory) -> dict:
    """``object_outcomes`` of the run's store; {} off the kitchen or without a store."""
    from moto_rl.common.tasks import task_spec

    cfg = load_config_file(run.config_path)
    objects = task_spec(cfg.env.task).objects
    if not objects:
        return {}
    try:
        store = TrajectoryStore.open(run.store_url(cfg), create=False)
    except StoreError:
        return {}
    return object_outcomes([store.meta(eid) for eid in store.episode_ids()], objects)


def eval_filmstrip(run: RunDirectory, path: Path, frames: int = 8) -> bool:
    """``frames`` evenly spaced frames of the run's last evaluation GIF, side by side, as a PNG."""
    import numpy as np
    from PIL import Image, ImageSequence

    gifs = sorted(run.videos_dir.glob("eval_*.gif"))
    if not gifs:
        return False
    with Image.open(gifs[-1]) as gif:
        video = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)]
    picks = np.linspace(0, len(video) - 1, frames).round().astype(int)
    Image.fromarray(np.concatenate([video[i] for i in picks], axis=1)).save(path, optimize=True)
    return True


def export_run(run: RunDirectory, results_dir: str | Path) -> RunDirectory:
    """Copy a finished run's small files into ``results_dir``; written into a staging folder and renamed,
    so an interrupted export leaves no half-copied run that would count as finished."""
    if not run.summary_path.is_file():
        raise ValueError(f"{run.path} has not finished (no summary.txt); only finished runs are exported")
    target = exported_run(results_dir, run.path.name)
    staging = target.path.with_name(f".staging-{target.path.name}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in SMALL_FILES:
        if (run.path / name).is_file():
            shutil.copy2(run.path / name, staging / name)
    with open(staging / "scalars.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["tag", "step", "value"])
        writer.writerows((tag, step, f"{value:.6g}") for tag, step, value in _tb_scalars(run.tb_dir))
    eval_filmstrip(run, staging / "final_eval.png")
    checkpoint = run.latest_checkpoint()
    if checkpoint:
        schedule = RunDirectory.read_schedule(checkpoint)
        counters = {k: schedule[k] for k in PROGRESS_COUNTERS}
        (staging / PROGRESS_FILE).write_text(json.dumps(counters) + "\n")
    (staging / "demos.json").write_text(json.dumps(demo_success(run)) + "\n")
    if outcomes := kitchen_outcomes(run):
        (staging / OBJECTS_FILE).write_text(json.dumps(outcomes) + "\n")
    shutil.copy2(run.summary_path, staging / "summary.txt")
    shutil.rmtree(target.path, ignore_errors=True)
    os.replace(staging, target.path)
    return target
