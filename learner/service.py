"""The learner process: a ``Learner`` fed by a ``Sampler`` on the run's store, as a Ray actor.

The driver calls ``train(n, phase)`` in chunks and publishes ``policy_weights()`` (an ObjectRef in
Ray's object store) to the rollout workers; nothing but finished episodes, through the store, ever
reaches the learner. Scalars and diagnostics go to TensorBoard under ``<run_dir>/tb/learner``.
``moto pretrain`` (learner/pretrain.py) drives the same service in-process, without Ray.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from pathlib import Path

import ray
import torch

from moto_rl.common.config import MotoConfig
from moto_rl.common.tasks import task_spec
from moto_rl.learner.learner import LEARNER_SPEED, Learner
from moto_rl.storage import Sampler, TrajectoryStore

CHECKPOINT_FILE = "learner.pt"  # the one name of a learner checkpoint, in run and pretrain directories
LEGACY_CHECKPOINT_FILE = "checkpoint.pt"  # what `moto pretrain` wrote before it shared this service


def checkpoint_file(directory: str | Path) -> Path:
    """The learner checkpoint in ``directory``: ``learner.pt``, or a pretrain directory's older ``checkpoint.pt``."""
    directory = Path(directory)
    for name in (CHECKPOINT_FILE, LEGACY_CHECKPOINT_FILE):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(
        f"no learner checkpoint in {directory}: neither {CHECKPOINT_FILE} nor {LEGACY_CHECKPOINT_FILE}"
    )


class LearnerService:
    def __init__(self, cfg: MotoConfig, store_url: str, run_dir: str, checkpoint: str | None = None, tracker=None):
        """``tracker``: a ``moto_rl.common.tracking.Tracker`` for in-process use (``moto pretrain``: every logging
        backend); the Ray actor writes TensorBoard only and the driver forwards its metrics to the others."""
        self.cfg = cfg
        self.learner = Learner(cfg, task_spec(cfg.env.task).action_dim, cfg.device)
        self.set_phase("offline")  # after the Learner, which applies perf.torch_threads itself
        if checkpoint:
            self.learner.load(str(checkpoint_file(checkpoint)))
        elif cfg.init_from:  # fine-tuning: the networks of a pre-trained checkpoint (resolved by `moto train`)
            self.learner.load(cfg.init_from, weights_only=True)
        self.store = TrajectoryStore.open(store_url, create=False)
        self.sampler = Sampler(
            self.store,
            cfg.algo.batch_size,
            cfg.algo.seq_len,
            device=str(self.learner.device),
            max_frames=cfg.storage.max_frames_in_memory,
            prefetch=cfg.storage.prefetch,
            refresh_seconds=cfg.storage.refresh_seconds,
            seed=cfg.seed + 1000 * self.learner.step,  # a resumed run does not replay the same batches
        )
        if tracker is None:
            from torch.utils.tensorboard import SummaryWriter

            tracker = SummaryWriter(str(Path(run_dir) / "tb" / "learner"))
        self.writer = tracker
        self.video_dir = Path(run_dir) / "videos"
        self.video_dir.mkdir(parents=True, exist_ok=True)

    def set_phase(self, phase: str) -> int:
        """Give torch the threads of ``phase`` (offline | online, see ``perf.*torch_threads``); returns them."""
        n = learner_threads(self.cfg, phase)
        if n > 0:
            torch.set_num_threads(n)
        return torch.get_num_threads()

    @property
    def step(self) -> int:
        return self.learner.step

    def train(self, n: int) -> dict[str, float]:
        """``n`` gradient steps; returns the mean of each metric and the learner's speed."""
        sums: dict[str, float] = defaultdict(float)
        started = time.perf_counter()
        # Episodes committed since the last call (the driver calls after each one) join the data before
        # the first of these updates, not up to refresh_seconds and the prefetched batches later.
        self.sampler.refresh()
        for _ in range(n):
            metrics = self.learner.train_step(self.sampler.sample())
            for key, value in metrics.items():
                sums[key] += float(value)
            step = self.learner.step
            if step % self.cfg.logging.log_every == 0:
                for key, value in metrics.items():
                    self.writer.add_scalar(f"learner/{key}", float(value), step)
            if self.cfg.logging.diagnostics_every and step % self.cfg.logging.diagnostics_every == 0:
                sums.update({k: v * n for k, v in self.diagnostics().items()})  # reported as the chunk's value
        seconds = time.perf_counter() - started
        result = {key: value / max(n, 1) for key, value in sums.items()}
        result[LEARNER_SPEED] = n / seconds if seconds > 0 else 0.0
        result["learner_step"] = self.learner.step
        self.writer.add_scalar(f"perf/{LEARNER_SPEED}", result[LEARNER_SPEED], self.learner.step)
        self.writer.add_scalar("store/episodes_in_memory", self.sampler.num_episodes, self.learner.step)
        self.writer.add_scalar("store/frames_in_memory", self.sampler.num_frames, self.learner.step)
        return result

    def diagnostics(self) -> dict[str, float]:
        """Open-loop video, reward prediction and epsilon_u on the offline (expert) episodes."""
        from moto_rl.learner.diagnostics import log_diagnostics

        found = log_diagnostics(
            self.learner,
            self.sampler.episodes(source="offline"),
            self.writer,
            self.learner.step,
            video_dir=self.video_dir,
        )
        self.writer.flush()
        return found

    def policy_weights(self) -> dict[str, torch.Tensor]:
        return self.learner.policy_weights()

    def precision(self) -> str:
        """Where and in what precision the updates run, for the run summary (bf16 is automatic per device)."""
        return f"{self.learner.device}, {self.learner.precision}"

    def save(self, directory: str) -> int:
        self.learner.save(str(Path(directory) / CHECKPOINT_FILE))
        self.writer.flush()
        return self.learner.step

    def close(self) -> None:
        self.sampler.close()
        self.writer.close()


def learner_threads(cfg: MotoConfig, phase: str) -> int:
    """Torch threads for the learner in ``phase``; 0 = leave torch's setting alone."""
    perf = cfg.perf
    if phase == "offline":
        return perf.offline_torch_threads or len(os.sched_getaffinity(0))
    if phase != "online":
        raise ValueError(f"phase must be 'offline' or 'online', got '{phase}'")
    if perf.torch_threads:
        return perf.torch_threads
    if ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE:
        return max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
    return 0


def learner_actor(cfg: MotoConfig, use_gpu: bool, resources: dict[str, float] | None = None):
    """The Ray actor class for this run: one GPU when the cluster has one and the config allows it;
    ``resources`` places it on a learner node (deploy/run/placement.py)."""
    return ray.remote(num_cpus=1, num_gpus=1 if use_gpu else 0, resources=resources or {}, max_restarts=0)(
        LearnerService
    )
