"""The offline dataset of a run: find or generate the demos, then copy them into the run's store.

Demos live in their own store (``storage.offline_url``, default ``<logging.root>/demos/<task>``) so
that many runs and seeds share one set; each run copies them into its own store (the paper's single
growing dataset), tagging each copy with the id it came from so an interrupted import never
duplicates an episode when resumed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from common.config import MotoConfig
from common.tasks import task_spec
from storage import TrajectoryStore

log = logging.getLogger("moto.offline")
DEMO_SEED_OFFSET = 100_000  # demo env seeds never coincide with online episode seeds


def default_offline_url(cfg: MotoConfig) -> str:
    return cfg.storage.offline_url or str(Path(cfg.logging.root) / "demos" / cfg.env.task.replace("/", "-"))


def prepare_offline_data(cfg: MotoConfig, run_store_url: str) -> int:
    """Make sure the demos exist and are in the run's store; returns the number of offline episodes."""
    task_spec(cfg.env.task)  # an unknown task fails here, before any store is touched
    offline_url = default_offline_url(cfg)
    demos = TrajectoryStore.open(offline_url, create=True)

    def task_demos() -> list[str]:
        return [eid for eid in demos.episode_ids() if demos.meta(eid).task == cfg.env.task]

    have = task_demos()
    missing = cfg.schedule.demo_episodes - len(have)
    if missing > 0:
        from actors.collect import collect_demos

        log.info("generating %d scripted demos for %s into %s", missing, cfg.env.task, offline_url)
        collect_demos(cfg.env, cfg.env.task, missing, offline_url, seed=DEMO_SEED_OFFSET + cfg.seed * 1000 + len(have))
        have = task_demos()
    run_store = TrajectoryStore.open(run_store_url, create=True)
    copied = {run_store.meta(eid).worker for eid in run_store.episode_ids()}
    for eid in have:
        tag = f"import:{eid}"
        if tag in copied:
            continue
        episode = demos.read(eid)
        episode.meta.worker = tag
        episode.meta.source = "offline"
        run_store.append(episode)
    return len(have)
