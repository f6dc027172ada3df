"""The offline dataset of a run: make sure the demos exist, then copy them into the run's store.

Demos live in their own store (``storage.offline_url``, default ``<logging.root>/demos/<task>``, the
path formula of ``moto_rl.deploy.run.demos``) so that many runs and seeds share one set; each run copies them into
its own store (the paper's single growing dataset), tagging each copy with the id it came from so an
interrupted import never duplicates an episode when resumed.
"""

from __future__ import annotations

from pathlib import Path

from moto_rl.common.config import MotoConfig
from moto_rl.common.tasks import task_spec
from moto_rl.deploy.run.demos import demo_store_url, ensure_demos
from moto_rl.storage import TrajectoryStore


def default_offline_url(cfg: MotoConfig) -> str:
    return cfg.storage.offline_url or demo_store_url(str(Path(cfg.logging.root) / "demos"), cfg.env.task)


def prepare_offline_data(cfg: MotoConfig, run_store_url: str) -> int:
    """Make sure the demos exist and are in the run's store; returns the number of offline episodes."""
    task_spec(cfg.env.task)  # an unknown task fails here, before any store is touched
    offline_url = default_offline_url(cfg)
    have = ensure_demos(cfg.env, cfg.env.task, offline_url, cfg.schedule.demo_episodes, seed=cfg.seed)
    demos = TrajectoryStore.open(offline_url, create=False)
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
