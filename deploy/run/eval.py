"""``moto eval RUN_OR_CHECKPOINT [--episodes N] [--task T] [--json]``: how well a checkpoint does.

Plays N episodes with the deterministic policy (the actor's mode, as the run's own evaluations do) on
CPU, in this process, whatever device the checkpoint was trained on. Reports the success rate with a
95% Wilson score interval, the mean return, per-object completion on the kitchen, and writes GIFs of
the first episodes plus ``eval.json`` to an output folder (default ``<run>/eval/step_<N>[-<task>]``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from moto_rl.common.config_loading import load_config_file, with_task
from moto_rl.common.episode import EpisodeStats
from moto_rl.common.tasks import task_spec
from moto_rl.common.video import save_gif
from moto_rl.deploy.run.checkpoints import load_policy_learner, resolve_checkpoint

EVAL_INDEX = 20_000  # worker index of `moto eval`: seeds apart from the fleet's and the run's evaluator
Z95 = 1.959963984540054  # standard normal quantile of 0.975


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (sound at 0/N and N/N, unlike the normal one)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def summarize(stats: list[EpisodeStats], objects: tuple[str, ...]) -> dict:
    """Success rate (+ 95% interval), mean return and length, and per-object completion rates."""
    n = len(stats)
    wins = sum(bool(s.success) for s in stats)
    low, high = wilson_interval(wins, n)
    result = {
        "episodes": n,
        "successes": wins,
        "success_rate": wins / n if n else 0.0,
        "success_ci95": [low, high],
        "mean_return": float(np.mean([s.episode_return for s in stats])) if n else 0.0,
        "mean_length": float(np.mean([s.length for s in stats])) if n else 0.0,
    }
    if objects:
        result["completion"] = {o: float(np.mean([s.completion.get(o, False) for s in stats])) for o in objects}
    return result


def evaluate(
    target: str,
    episodes: int,
    task: str | None = None,
    gifs: int = 3,
    out: str | None = None,
    seed: int | None = None,
    progress: bool = True,
) -> dict:
    """Evaluate the checkpoint behind ``target`` (see ``moto_rl.deploy.run.checkpoints``); returns the summary dict."""
    from tqdm import tqdm

    from moto_rl.actors.worker import RolloutWorkerCore

    source = resolve_checkpoint(target)
    cfg = load_config_file(source.config)
    if task and task != cfg.env.task:
        cfg = with_task(cfg, task)
    cfg.device, cfg.workers.envs_per_worker = "cpu", 1
    if seed is not None:
        cfg.seed = seed
    spec = task_spec(cfg.env.task)
    learner, step = load_policy_learner(source, cfg, spec.action_dim)
    out_dir = Path(out) if out else _default_out(source.file, step, task)
    out_dir.mkdir(parents=True, exist_ok=True)
    worker = RolloutWorkerCore(cfg, None, EVAL_INDEX)
    worker.load_weights(step, learner.policy_weights())
    del learner
    stats: list[EpisodeStats] = []
    started = time.time()
    try:
        for i in tqdm(range(episodes), desc=f"eval {cfg.env.task}", unit="ep", disable=not progress):
            (stat,) = worker.run(1, deterministic=True, source="eval", store=False, record_frames=i < gifs)
            frames, stat.frames = stat.frames, None  # the video goes to disk, not into the summary
            if frames is not None:
                save_gif(np.asarray(frames), out_dir / f"episode_{i:03d}.gif", fps=12.5)
            stats.append(stat)
    finally:
        worker.close()
    result = {
        "checkpoint": str(source.file),
        "learner_step": step,
        "task": cfg.env.task,
        "seed": cfg.seed,
        **summarize(stats, spec.objects),
        "seconds": round(time.time() - started, 1),
        "out": str(out_dir),
        "per_episode": [
            {"seed": s.seed, "success": s.success, "return": s.episode_return, "length": s.length}
            | ({"completion": s.completion} if s.completion else {})
            for s in stats
        ],
    }
    (out_dir / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _default_out(file: Path, step: int, task: str | None) -> Path:
    run = file.parent.parent.parent if file.parent.parent.name == "checkpoints" else file.parent
    suffix = f"-{task.replace('/', '-')}" if task else ""
    return run / "eval" / f"step_{step:08d}{suffix}"


def report(result: dict) -> str:
    low, high = result["success_ci95"]
    lines = [
        f"checkpoint    {result['checkpoint']} (learner step {result['learner_step']})",
        f"task          {result['task']}, {result['episodes']} episodes, seed {result['seed']}",
        f"success rate  {result['success_rate']:.2f}  ({result['successes']}/{result['episodes']}; "
        f"95% CI {low:.2f}-{high:.2f})",
        f"mean return   {result['mean_return']:.2f}  (mean length {result['mean_length']:.0f} steps)",
    ]
    completion = result.get("completion", {})
    if completion:
        lines.append("completed     (fraction of episodes in which the object reached its goal)")
        width = max(len(obj) for obj in completion)
        lines += [f"  {obj:<{width}}  {rate:.2f}" for obj, rate in completion.items()]
    lines.append(f"videos, eval.json: {result['out']}")
    return "\n".join(lines)


@contextlib.contextmanager
def thread_limit(threads: int):
    """One env and a batch-of-one policy: more threads only contend (3x slower measured on a loaded
    2-core machine with torch's default pool). Restored after, for callers that go on in-process."""
    import torch

    from moto_rl.actors.threads import limit_threads, thread_env

    saved_env = {k: os.environ.get(k) for k in thread_env(threads)}
    saved_torch = torch.get_num_threads()
    limit_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved_torch)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def main(args: argparse.Namespace) -> int:
    with thread_limit(args.threads):
        result = evaluate(args.target, args.episodes, args.task, args.gifs, args.out, args.seed, progress=not args.json)
    print(json.dumps(result) if args.json else report(result))
    return 0
