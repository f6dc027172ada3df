"""``moto pretrain STORE [overrides] --steps N --run-dir DIR``: offline pre-training from a store, no actors.

The same ``LearnerService`` the driver runs as a Ray actor, here in-process: one training loop, one
set of TensorBoard tags (``<run_dir>/tb/learner``), one checkpoint name (``<run_dir>/learner.pt``).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from tqdm import tqdm

from moto_rl.common.config import MotoConfig
from moto_rl.common.config_loading import load_config, save_config
from moto_rl.common.errors import UserError
from moto_rl.learner.learner import Learner
from moto_rl.learner.service import CHECKPOINT_FILE, LearnerService
from moto_rl.storage import TrajectoryStore


def _check_offline(service: LearnerService) -> None:
    episodes = service.sampler.episodes(source="offline")
    if not episodes:
        raise UserError("the store has no offline episodes to pre-train on; record some with `moto collect-demos`.")
    stored, wanted = int(episodes[0].action.shape[-1]), service.learner.action_dim
    if stored != wanted:
        raise UserError(
            f"the store's actions have {stored} dimensions, task {service.cfg.env.task} has {wanted}; "
            f"pass the store's task (task=...)"
        )


def _open_service(cfg: MotoConfig, store_url: str, run_dir: Path) -> LearnerService:
    """The service once the store has opened and holds this task's offline episodes; a start that fails
    leaves no run directory behind."""
    from moto_rl.common.tracking import Tracker

    fresh = not run_dir.exists()
    service = None
    try:
        TrajectoryStore.open(store_url, create=False)  # a missing or foreign store fails before anything is written
        tracker = Tracker(cfg, run_dir, tb_dir=run_dir / "tb" / "learner")
        service = LearnerService(cfg, store_url, str(run_dir), tracker=tracker)
        _check_offline(service)
        return service
    except BaseException:
        if service is not None:
            service.close()
        if fresh:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def pretrain(cfg: MotoConfig, store_url: str, steps: int, run_dir: str | Path) -> Learner:
    """N_offline gradient steps on the store's episodes; logs (``logging.backends``) and a final checkpoint in
    ``run_dir``, which is created only once the store has been opened and holds offline episodes."""
    run_dir = Path(run_dir)
    service = _open_service(cfg, store_url, run_dir)
    try:
        save_config(cfg, run_dir / "config.yaml")
        every = cfg.schedule.checkpoint_every
        with tqdm(total=steps, desc="pretrain", disable=not cfg.logging.progress, unit="step") as bar:
            while service.step < steps:
                n = min(max(cfg.logging.log_every, 1), steps - service.step)
                if every:
                    n = min(n, every - service.step % every)  # a chunk ends on each checkpoint step
                metrics = service.train(n)
                bar.update(n)
                bar.set_postfix(image=f"{metrics['model/image_mse']:.4f}", reward=f"{metrics['model/reward_mse']:.4f}")
                if every and service.step % every == 0:
                    service.save(str(run_dir))
        service.diagnostics()
        service.save(str(run_dir))
        service.writer.log_summary(
            f"pre-trained {service.step} steps on {store_url}", {"learner_steps": float(service.step)}
        )
        return service.learner
    finally:
        service.close()


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.overrides)
    steps = args.steps if args.steps is not None else cfg.schedule.offline_steps
    run_dir = args.run_dir or str(
        Path(cfg.logging.root) / (cfg.run_name or f"pretrain-{cfg.env.task.replace('/', '-')}-s{cfg.seed}")
    )
    learner = pretrain(cfg, args.store, steps, run_dir)
    print(f"pre-trained {learner.step} steps; checkpoint: {Path(run_dir) / CHECKPOINT_FILE}")
    return 0
