"""``moto envs``: list the tasks, or render one frame of a task to a PNG."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from moto_rl.common.config import EnvConfig
from moto_rl.common.errors import UserError
from moto_rl.common.tasks import UnknownTaskError, all_task_ids, task_spec


def task_env_config(task_id: str) -> EnvConfig:
    """The env config a run of ``task_id`` gets from its task preset (episode length, action repeat)."""
    from moto_rl.common.config_loading import load_config

    try:
        task_spec(task_id)
    except UnknownTaskError as e:
        raise UserError(str(e)) from None
    return load_config([f"task={task_id}"]).env


def list_tasks(args: argparse.Namespace) -> int:
    """Print one row per task: id, suite, action dim, episode steps, action repeat, objects."""
    header = ("task", "suite", "action dim", "episode steps", "action repeat", "objects")
    rows = [header]
    for task_id in all_task_ids():
        spec = task_spec(task_id)
        env = task_env_config(task_id)
        objects = ", ".join(spec.objects) or "-"
        rows.append(
            (task_id, spec.suite, str(spec.action_dim), str(env.max_episode_steps), str(env.action_repeat), objects)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def show(args: argparse.Namespace) -> int:
    """Render the frame after ``args.steps`` random agent steps of ``args.task`` to ``args.out`` (PNG)."""
    from PIL import Image

    from moto_rl.common.envs import make_env

    if args.steps < 0:
        raise UserError(f"--steps must be 0 or more; got {args.steps}.")
    cfg = dataclasses.replace(task_env_config(args.task), fast_render=not args.default_render)
    env = make_env(cfg, seed=args.seed)
    try:
        frame, _ = env.reset()
        for _ in range(args.steps):
            frame, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                break
    finally:
        env.close()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame).save(out, format="PNG")
    look = "default" if args.default_render else "fast"
    print(
        f"{args.task}: {frame.shape[1]}x{frame.shape[0]} frame "
        f"({look} render, seed {args.seed}, {args.steps} steps) -> {out}"
    )
    return 0
