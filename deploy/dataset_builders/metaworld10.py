"""``moto datasets build metaworld10``: scripted-expert demos of the paper's ten MetaWorld tasks.

Layout: one store per task, ``<root>/metaworld-<task>`` (e.g. ``runs/demos/metaworld-drawer-open``),
``moto_rl.deploy.run.demos.demo_store_url``: the path the driver looks for with ``logging.root=runs``, so a run
trains on these demos without generating its own. Each episode uses the task preset
(``configs/tasks/metaworld``): paper camera, action repeat 2, 100 agent steps; ``meta.success`` is
"success reached at any step". Resumable (``moto_rl.deploy.run.demos.ensure_demos``): a task's store that already
holds N episodes of the task gets only the missing ones, with seeds continuing after the stored ones.
The table (paper Table 1 analogue: per-task expert success and return) is computed from the stores,
so it also covers earlier, interrupted builds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from moto_rl.common.config_loading import load_config
from moto_rl.common.episode import EpisodeStats
from moto_rl.common.errors import UserError
from moto_rl.common.tasks import METAWORLD_TASKS
from moto_rl.deploy.run.demos import demo_store_url, ensure_demos, task_demo_ids
from moto_rl.storage import TrajectoryStore
from moto_rl.storage.datasets.importing import save_table_files


@dataclass
class TaskRow:
    task: str
    episodes: int
    successes: int
    mean_return: float
    mean_length: float

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0

    @property
    def expert_fails(self) -> bool:
        return self.successes < self.episodes


def task_store_url(root: str, task: str) -> str:
    return demo_store_url(root, f"metaworld/{task}")


def build_metaworld10(
    root: str,
    episodes: int = 10,
    workers: int = 0,
    seed: int = 0,
    tasks: Sequence[str] = METAWORLD_TASKS,
    on_episode: Callable[[str, EpisodeStats], None] | None = None,
) -> list[TaskRow]:
    """Fill ``<root>/metaworld-<task>`` with ``episodes`` demos per task (skipping those present)."""
    unknown = [t for t in tasks if t not in METAWORLD_TASKS]
    if unknown:
        raise UserError(f"unknown MetaWorld task(s) {unknown}; the paper's ten are {', '.join(METAWORLD_TASKS)}")
    if episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {episodes}")
    for task in tasks:
        task_id = f"metaworld/{task}"
        env_cfg = load_config([f"task={task_id}"]).env  # the task preset: camera, action repeat, length
        ensure_demos(
            env_cfg,
            task_id,
            task_store_url(root, task),
            episodes,
            seed=seed,
            workers=workers,
            progress=(lambda stat, t=task: on_episode(t, stat)) if on_episode else None,
        )
    return summarize(root, tasks)


def summarize(root: str, tasks: Sequence[str] = METAWORLD_TASKS) -> list[TaskRow]:
    """Per-task expert success and return of what the stores hold now."""
    rows = []
    for task in tasks:
        store = TrajectoryStore.open(task_store_url(root, task), create=True)
        markers = [store.marker(eid) for eid in task_demo_ids(store, f"metaworld/{task}")]
        n = len(markers)
        rows.append(
            TaskRow(
                task=task,
                episodes=n,
                successes=sum(bool(m["meta"]["success"]) for m in markers),
                mean_return=sum(m["return"] for m in markers) / n if n else 0.0,
                mean_length=sum(m["length"] for m in markers) / n if n else 0.0,
            )
        )
    return rows


def table_markdown(rows: Sequence[TaskRow]) -> str:
    lines = [
        "| task | episodes | success | mean return | mean length | note |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        note = "**expert fails in some episodes**" if r.expert_fails else ""
        lines.append(
            f"| {r.task} | {r.episodes} | {r.successes}/{r.episodes} ({100 * r.success_rate:.0f}%) | "
            f"{r.mean_return:.1f} | {r.mean_length:.0f} | {note} |"
        )
    return "\n".join(lines) + "\n"


def table_csv(rows: Sequence[TaskRow]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["task", "episodes", "successes", "success_rate", "mean_return", "mean_length", "expert_fails"])
    for r in rows:
        w.writerow(
            [
                r.task,
                r.episodes,
                r.successes,
                f"{r.success_rate:.3f}",
                f"{r.mean_return:.3f}",
                f"{r.mean_length:.1f}",
                int(r.expert_fails),
            ]
        )
    return out.getvalue()


def save_tables(rows: Sequence[TaskRow], stem: str) -> tuple[str, str]:
    """Write ``<stem>.md`` and ``<stem>.csv`` (local path or fsspec URL); returns both paths."""
    return save_table_files(stem, table_markdown(rows), table_csv(rows))
