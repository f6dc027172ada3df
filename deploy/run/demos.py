"""The scripted demos of a task: where they live, which are stored, and how the missing ones are seeded.

One answer for every caller: the driver (``deploy/run/offline_data.py``), the campaign's "demos ready"
gate (``deploy/campaign/runner.py``) and the dataset builders (``deploy/dataset_builders/``). A demos store may hold
several tasks; only episodes whose ``meta.task`` is the task count. Recording continues the seeds
after the stored episodes, so an interrupted build, resumed, repeats no episode.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from moto_rl.common.config import EnvConfig
from moto_rl.storage import StoreError, TrajectoryStore

log = logging.getLogger("moto.demos")
DEMO_SEED_OFFSET = 100_000  # demo env seeds never coincide with online episode seeds (run seed * 1000 + counter)


def demo_store_url(root: str, task_id: str) -> str:
    """``<root>/<task id with '/' as '-'>``, e.g. ``runs/demos/metaworld-drawer-open``."""
    return f"{root.rstrip('/')}/{task_id.replace('/', '-')}"


def demo_seed(seed: int, stored: int) -> int:
    """The seed of the recording that follows ``stored`` episodes of a task (``collect_demos`` derives each
    episode's env seed from it)."""
    return DEMO_SEED_OFFSET + seed * 1000 + stored


def task_demo_ids(store: TrajectoryStore, task_id: str) -> list[str]:
    """Committed episodes of ``task_id`` in ``store``, in id order."""
    return [eid for eid in store.episode_ids() if store.meta(eid).task == task_id]


def count_demos(store_url: str, task_id: str) -> int:
    """Episodes of ``task_id`` at ``store_url``; 0 when there is no store yet."""
    try:
        return len(task_demo_ids(TrajectoryStore.open(store_url, create=False), task_id))
    except StoreError:
        return 0


def ensure_demos(
    env_cfg: EnvConfig,
    task_id: str,
    store_url: str,
    episodes: int,
    seed: int = 0,
    workers: int = 0,
    progress: Callable[..., None] | None = None,
) -> list[str]:
    """Make ``store_url`` hold at least ``episodes`` demos of ``task_id``, recording only the missing ones
    with the scripted expert; returns the ids of all of the task's demos there."""
    from moto_rl.actors.collect import collect_demos  # mujoco and the experts: only when something is missing

    store = TrajectoryStore.open(store_url, create=True)
    have = task_demo_ids(store, task_id)
    missing = episodes - len(have)
    if missing > 0:
        log.info("recording %d scripted demos of %s into %s", missing, task_id, store_url)
        collect_demos(
            env_cfg, task_id, missing, store_url, seed=demo_seed(seed, len(have)), workers=workers, progress=progress
        )
        have = task_demo_ids(store, task_id)
    return have
