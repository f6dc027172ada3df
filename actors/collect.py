"""``moto collect-demos``: record scripted-expert episodes (MetaWorld, Franka Kitchen) into a store (the offline data).

``collect_demos`` records a given number of episodes; ``moto_rl.deploy.run.demos.ensure_demos`` (the driver, the
dataset builders) calls it for the ones a demos store is missing. The CLI handler wraps it with a
progress bar and a summary. Episodes are stored with ``source="offline"`` and
``policy_version=-1``; seeds follow (seed, worker index, episode counter), so a rerun reproduces them.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable

from moto_rl.common.config import EnvConfig, MotoConfig
from moto_rl.common.episode import EpisodeStats
from moto_rl.common.errors import UserError
from moto_rl.common.tasks import UnknownTaskError, task_spec

Progress = Callable[[EpisodeStats], None]  # called with each finished episode's stats


def _demo_config(cfg_env: EnvConfig, task_id: str, seed: int) -> MotoConfig:
    cfg = MotoConfig(seed=seed)
    cfg.env = copy.deepcopy(cfg_env)
    cfg.env.task = task_id
    cfg.workers.envs_per_worker = 1
    return cfg


def _check_task(task_id: str) -> None:
    try:
        task_spec(task_id)
    except UnknownTaskError as e:
        raise UserError(str(e)) from None


def collect_demos(
    cfg_env: EnvConfig,
    task_id: str,
    n_episodes: int,
    store_url: str,
    seed: int = 0,
    workers: int = 0,
    progress: Progress | None = None,
) -> list[EpisodeStats]:
    """Record ``n_episodes`` scripted demos of ``task_id`` into ``store_url``; returns their stats.

    ``workers=0`` runs in this process; ``workers=N`` uses N Ray actors (starting a local Ray when
    none is running, and stopping it again afterwards).
    """
    _check_task(task_id)
    if n_episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {n_episodes}")
    cfg = _demo_config(cfg_env, task_id, seed)
    if workers <= 0:
        return _collect_here(cfg, n_episodes, store_url, progress)
    return _collect_ray(cfg, n_episodes, store_url, workers, progress)


def _collect_here(cfg: MotoConfig, n_episodes: int, store_url: str, progress: Progress | None) -> list[EpisodeStats]:
    from moto_rl.actors.worker import RolloutWorkerCore

    core = RolloutWorkerCore(cfg, store_url, 0, scripted=True)
    try:
        stats = []
        for _ in range(n_episodes):
            (stat,) = core.run(1)
            stats.append(stat)
            if progress:
                progress(stat)
        return stats
    finally:
        core.close()


def _collect_ray(
    cfg: MotoConfig, n_episodes: int, store_url: str, workers: int, progress: Progress | None
) -> list[EpisodeStats]:
    import ray

    from moto_rl.actors.worker import make_rollout_workers

    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(include_dashboard=False, log_to_driver=False)
    try:
        actors = make_rollout_workers(cfg, store_url, n=workers, scripted=True)
        # Static split: worker i always plays the same episode counters, so seeds are reproducible.
        refs = [actors[i % workers].run.remote(1) for i in range(n_episodes)]
        order = {ref: i for i, ref in enumerate(refs)}
        stats: list[EpisodeStats | None] = [None] * n_episodes
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            (stat,) = ray.get(done[0])
            stats[order[done[0]]] = stat
            if progress:
                progress(stat)
        for a in actors:
            ray.kill(a, no_restart=True)
        return [s for s in stats if s is not None]
    finally:
        if started_ray:
            ray.shutdown()


def summarize(stats: list[EpisodeStats]) -> dict:
    n = len(stats)
    return {
        "episodes": n,
        "successes": sum(s.success for s in stats),
        "mean_return": sum(s.episode_return for s in stats) / max(n, 1),
        "mean_length": sum(s.length for s in stats) / max(n, 1),
    }


def main(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from moto_rl.common.config_loading import load_config

    _check_task(args.task)
    cfg = load_config([f"task={args.task}"])  # the task preset sets episode length and action repeat
    with tqdm(total=args.episodes, desc=f"demos {args.task}", unit="ep") as bar:

        def on_episode(stat: EpisodeStats) -> None:
            bar.update(1)
            bar.set_postfix(success=stat.success, ret=f"{stat.episode_return:.1f}")

        stats = collect_demos(
            cfg.env, args.task, args.episodes, args.store, seed=args.seed, workers=args.workers, progress=on_episode
        )
    s = summarize(stats)
    print(
        f"{s['episodes']} episodes of {args.task} -> {args.store}: {s['successes']}/{s['episodes']} successful, "
        f"mean return {s['mean_return']:.2f}, mean length {s['mean_length']:.1f}"
    )
    return 0
