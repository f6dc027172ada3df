"""``moto bench actors``: does a fleet of N rollout workers scale like N independent processes?

Figures (side by side, one run, one machine):
- ``single_process_env_steps_per_s``: one worker actor alone, same env, same policy, same thread caps
- ``fleet_env_steps_per_s``: N workers at once; ``efficiency`` = fleet / (single x min(N, cores)),
  target >= 0.9
- ``policy_ms_per_step`` and ``policy_share``: time in batched policy inference per env step, and its
  share of a single worker's step (target <= 15%); each worker steps ``ENVS_PER_WORKER`` envs

Episodes are not stored (``store=False``): this measures acting, not the store.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import ray

from moto_rl.actors.threads import thread_env
from moto_rl.actors.worker import make_rollout_workers
from moto_rl.common.config_loading import load_config

TASK = "metaworld/drawer-open"
# Envs per worker: one batched policy call serves them all, which is what keeps inference under
# ~15% of a step at the small size (about 2 ms per call at batch 1; 0.9 ms per env at batch 4 was
# 17% of a step, too much).
ENVS_PER_WORKER = 8


def _timed(workers: list, episodes: int) -> tuple[float, int, float]:
    """Run ``episodes`` per worker concurrently: (wall seconds, agent steps, policy seconds)."""
    before = ray.get([w.info.remote() for w in workers])
    t0 = time.perf_counter()
    ray.get([w.run.remote(episodes, store=False) for w in workers])
    wall = time.perf_counter() - t0
    after = ray.get([w.info.remote() for w in workers])
    steps = sum(a["env_steps"] - b["env_steps"] for a, b in zip(after, before, strict=True))
    policy_s = sum(a["policy_seconds"] - b["policy_seconds"] for a, b in zip(after, before, strict=True))
    return wall, steps, policy_s


def run(args: argparse.Namespace) -> dict:
    n = max(1, int(getattr(args, "workers", 2)))
    quick = bool(getattr(args, "quick", False))
    size = getattr(args, "size", "small") or "small"
    steps = 20 if quick else 100  # quick: a smoke test of the plumbing, not a figure
    episodes = ENVS_PER_WORKER * (1 if quick else 2)  # whole lock-step rounds
    cfg = load_config(
        [
            f"size={size}",
            f"task={TASK}",
            f"env.max_episode_steps={steps}",
            "env.fast_render=true",
            f"workers.envs_per_worker={ENVS_PER_WORKER}",
            "workers.render_threads=1",
        ]
    )
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()[0]  # other work on the machine skews fleet vs single: report it
    started = not ray.is_initialized()
    if started:
        tmp = tempfile.mkdtemp(prefix="rb", dir="/tmp")
        ray.init(num_cpus=max(n, cores), include_dashboard=False, log_to_driver=False, _temp_dir=tmp)
    try:
        workers = make_rollout_workers(cfg, None, n=n)  # random policy weights (version -1)
        ray.get([w.run.remote(ENVS_PER_WORKER, store=False) for w in workers])  # warm-up: GL context, torch pools
        single_wall, single_steps, single_policy_s = _timed(workers[:1], episodes)
        fleet_wall, fleet_steps, _ = _timed(workers, episodes)
        for w in workers:
            ray.kill(w, no_restart=True)
    finally:
        if started:
            ray.shutdown()
    single = single_steps / single_wall
    fleet = fleet_steps / fleet_wall
    policy_ms = 1000.0 * single_policy_s / single_steps
    return {
        "workers": n,
        "fleet_env_steps_per_s": round(fleet, 1),
        "single_process_env_steps_per_s": round(single, 1),
        "efficiency": round(fleet / (single * min(n, cores)), 3),
        "policy_ms_per_step": round(policy_ms, 2),
        "policy_share": round(policy_ms / (1000.0 / single), 3),
        "cores": cores,
        "loadavg_1m_before": round(load_before, 2),
        "size": size,
        "task": TASK,
        "episode_steps": steps,
        "episodes_per_worker": episodes,
        "envs_per_worker": ENVS_PER_WORKER,
        "thread_env": thread_env(cfg.workers.render_threads),
    }
