"""``moto datasets build kitchen-mixed`` / ``kitchen-partial``: scripted Franka Kitchen demos, no download.

Episodes come from ``moto_rl.actors.kitchen_expert`` through the ordinary scripted rollout worker, with the
task preset (``configs/tasks/kitchen``: scene camera, no action repeat, 280 steps), so they look like
the ones a live run records: the task's reward (objects in place), ``meta.completion`` (object ->
completed at some step) and ``meta.success`` (all of the task's BC-filter objects in place at some
step). Resumable (``moto_rl.deploy.run.demos.ensure_demos``): a store that already holds N episodes of the task
gets only the missing ones, seeds continuing after them. The table is computed from the store.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass

from moto_rl.common.config_loading import load_config
from moto_rl.common.episode import EpisodeStats
from moto_rl.common.errors import UserError
from moto_rl.common.tasks import task_spec
from moto_rl.deploy.run.demos import ensure_demos, task_demo_ids
from moto_rl.storage import TrajectoryStore
from moto_rl.storage.datasets.importing import save_table_files

DATASETS = {"kitchen-mixed": "kitchen/mixed", "kitchen-partial": "kitchen/partial"}


@dataclass
class KitchenTable:
    task: str
    episodes: int
    completed: dict[str, int]  # object -> episodes in which it was completed
    bc_filter: int  # episodes meeting the BC filter (meta.success)
    mean_return: float

    def rows(self) -> list[tuple[str, int]]:
        return [
            *self.completed.items(),
            ("BC filter (" + ", ".join(task_spec(self.task).bc_filter_objects) + ")", self.bc_filter),
        ]


def build_kitchen(
    name: str,
    store_url: str,
    episodes: int = 10,
    workers: int = 0,
    seed: int = 0,
    on_episode: Callable[[EpisodeStats], None] | None = None,
) -> KitchenTable:
    """Fill ``store_url`` with ``episodes`` scripted demos of ``name``'s task (skipping those present)."""
    if name not in DATASETS:
        raise UserError(f"unknown kitchen dataset '{name}'; buildable: {', '.join(DATASETS)}")
    if episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {episodes}")
    task_id = DATASETS[name]
    env_cfg = load_config([f"task={task_id}"]).env  # the task preset: scene camera, no action repeat, 280 steps
    ensure_demos(env_cfg, task_id, store_url, episodes, seed=seed, workers=workers, progress=on_episode)
    return summarize(store_url, task_id)


def summarize(store_url: str, task_id: str) -> KitchenTable:
    """Per-object completion counts and the BC-filter count of what the store holds now."""
    store = TrajectoryStore.open(store_url, create=True)
    markers = [store.marker(eid) for eid in task_demo_ids(store, task_id)]
    n = len(markers)
    objects = task_spec(task_id).objects
    return KitchenTable(
        task=task_id,
        episodes=n,
        completed={o: sum(bool(m["meta"]["completion"].get(o, False)) for m in markers) for o in objects},
        bc_filter=sum(bool(m["meta"]["success"]) for m in markers),
        mean_return=sum(m["return"] for m in markers) / n if n else 0.0,
    )


def table_markdown(t: KitchenTable) -> str:
    lines = [
        f"{t.task}: {t.episodes} scripted episodes, mean return {t.mean_return:.1f}",
        "",
        "| object | completed in |",
        "| --- | ---: |",
    ]
    for label, k in t.rows():
        lines.append(f"| {label} | {k}/{t.episodes} ({100 * k / max(t.episodes, 1):.0f}%) |")
    return "\n".join(lines) + "\n"


def table_csv(t: KitchenTable) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["task", "object", "episodes", "completed", "rate"])
    for label, k in t.rows():
        w.writerow([t.task, label, t.episodes, k, f"{k / max(t.episodes, 1):.3f}"])
    return out.getvalue()


def save_tables(t: KitchenTable, stem: str) -> tuple[str, str]:
    """Write ``<stem>.md`` and ``<stem>.csv`` (local path or fsspec URL); returns both paths."""
    return save_table_files(stem, table_markdown(t), table_csv(t))
