"""``moto bench env``: agent steps per second of one MetaWorld task and Kitchen, with and without rendering.

Every figure counts agent steps (``env.step``, action repeat included) per second, resets excluded:
``raw`` steps the simulator only, ``render`` adds the fast 64x64 render (the default of
``env.fast_render``), ``default_render`` the default MuJoCo look (MSAA, shadows, reflections).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from moto_rl.common.config import EnvConfig
from moto_rl.common.envs import make_env
from moto_rl.common.envs.cli import task_env_config

METAWORLD_TASK = "metaworld/drawer-open"
KITCHEN_TASK = "kitchen/mixed"
# (raw, fast render, default render) agent steps timed; Kitchen's default look runs at ~2 steps/s on CPU.
STEPS = {
    METAWORLD_TASK: {False: (2000, 300, 60), True: (300, 60, 15)},
    KITCHEN_TASK: {False: (500, 150, 10), True: (100, 30, 4)},
}
WARMUP = 2  # untimed steps first: the first render creates the GL context


def _steps_per_s(cfg: EnvConfig, steps: int, render: bool) -> float:
    env = make_env(cfg, seed=0)
    try:
        env.reset()
        rng = np.random.default_rng(0)
        actions = rng.uniform(-1, 1, (steps + WARMUP, *env.action_space.shape)).astype(np.float32)
        elapsed = 0.0
        for i, action in enumerate(actions):
            start = time.perf_counter()
            if render:
                *_, truncated, _ = env.step(action)
            else:
                env._step_sim(action)  # the simulator alone: no render, no episode clock
                truncated = False
            if i >= WARMUP:
                elapsed += time.perf_counter() - start
            if truncated:
                env.reset()  # outside the timed region
        return steps / elapsed
    finally:
        env.close()  # before the next env is made: one live GL context at a time


def _bench_task(task_id: str, quick: bool) -> dict:
    cfg = task_env_config(task_id)  # the task preset's action repeat and episode steps
    raw_steps, fast_steps, default_steps = STEPS[task_id][quick]
    raw = _steps_per_s(cfg, raw_steps, render=False)
    fast = _steps_per_s(dataclasses.replace(cfg, fast_render=True), fast_steps, render=True)
    default = _steps_per_s(dataclasses.replace(cfg, fast_render=False), default_steps, render=True)
    return {
        "task": task_id,
        "raw_steps_per_s": round(raw, 1),
        "render_steps_per_s": round(fast, 1),
        "default_render_steps_per_s": round(default, 2),
        "fast_vs_default": round(fast / default, 2),
    }


def run(args: argparse.Namespace) -> dict:
    """MetaWorld (drawer-open, action repeat 2) at the top level, Kitchen (mixed) under ``"kitchen"``."""
    quick = bool(getattr(args, "quick", False))
    result = _bench_task(METAWORLD_TASK, quick)
    result["kitchen"] = _bench_task(KITCHEN_TASK, quick)
    result["quick"] = quick
    return result
