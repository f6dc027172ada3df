"""``moto pretrain STORE [overrides] --steps N --run-dir DIR``: offline pre-training from a store, no actors."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tqdm import tqdm

from common.config import MotoConfig
from common.config_loading import load_config, save_config
from common.errors import UserError
from learner.learner import Learner, resolve_device


def _action_dim(sampler) -> int:
    episodes = sampler.episodes(source="offline")
    if not episodes:
        raise UserError("the store has no offline episodes to pre-train on; record some with `moto collect-demos`.")
    return int(episodes[0].action.shape[-1])


def pretrain(cfg: MotoConfig, store_url: str, steps: int, run_dir: str | Path) -> Learner:
    """N_offline gradient steps on the store's episodes; logs (``logging.backends``) and a final checkpoint in
    ``run_dir``, which is created only once the store has been opened and holds offline episodes."""
    from common.tracking import Tracker
    from learner.diagnostics import log_diagnostics, log_scalars
    from storage import Sampler, TrajectoryStore

    run_dir = Path(run_dir)
    store = TrajectoryStore.open(store_url, create=False)
    learner_device = resolve_device(cfg.device)
    # the sampler pins its batches when the learner is on CUDA
    sampler = Sampler(store, cfg.algo.batch_size, cfg.algo.seq_len, device=str(learner_device), seed=cfg.seed)
    writer = None
    try:
        offline = sampler.episodes(source="offline")
        action_dim = _action_dim(sampler)
        learner = Learner(cfg, action_dim, device=learner_device)
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        writer = Tracker(cfg, run_dir, tb_dir=run_dir / "tb")
        started = time.time()
        bar = tqdm(range(steps), desc="pretrain", disable=not cfg.logging.progress, unit="step")
        for _ in bar:
            metrics = learner.train_step(sampler.sample())
            if learner.step % cfg.logging.log_every == 0 or learner.step == steps:
                metrics["perf/steps_per_s"] = learner.step / max(time.time() - started, 1e-9)
                log_scalars(writer, metrics, learner.step)
                bar.set_postfix(image=f"{metrics['model/image_mse']:.4f}", reward=f"{metrics['model/reward_mse']:.4f}")
            if cfg.logging.diagnostics_every and learner.step % cfg.logging.diagnostics_every == 0:
                log_diagnostics(learner, offline, writer, learner.step)
            if cfg.schedule.checkpoint_every and learner.step % cfg.schedule.checkpoint_every == 0:
                learner.save(run_dir / "checkpoint.pt")
        log_diagnostics(learner, offline, writer, learner.step)
        learner.save(run_dir / "checkpoint.pt")
        writer.log_summary(f"pre-trained {learner.step} steps on {store_url}", {"learner_steps": float(learner.step)})
        return learner
    finally:
        if writer is not None:
            writer.close()
        sampler.close()


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.overrides)
    steps = args.steps if args.steps is not None else cfg.schedule.offline_steps
    run_dir = args.run_dir or str(Path(cfg.logging.root) / (cfg.run_name or f"pretrain-{cfg.env.task.replace('/', '-')}-s{cfg.seed}"))
    learner = pretrain(cfg, args.store, steps, run_dir)
    print(f"pre-trained {learner.step} steps; checkpoint: {Path(run_dir) / 'checkpoint.pt'}")
    return 0
