"""The learner tests' inputs: a tiny config, small synthetic batches and episodes (no Ray, Zarr or
simulators: deploy/gpu_check.sh runs the CUDA tests that use them on a node without those)."""

from __future__ import annotations

import numpy as np
import torch

from moto_rl.common.batch import Batch
from moto_rl.common.config import MotoConfig
from moto_rl.common.config_loading import load_config
from moto_rl.common.episode import Episode, EpisodeMeta

ACTION_DIM = 3


def tiny_config(*overrides: str) -> MotoConfig:
    """``size=tiny`` made even smaller for fast unit tests (overrides win). fp32: these tests check the
    method's maths against references; the bf16 path is compared with it in test_perf_switches.py."""
    return load_config(
        [
            "size=tiny",
            "algo.batch_size=2",
            "algo.seq_len=6",
            "algo.imag_horizon=3",
            "algo.agent_batch=0",
            "perf.amp_bf16=false",
            *overrides,
        ]
    )


def random_batch(cfg: MotoConfig, seed: int = 0, success: float = 1.0, action_dim: int = ACTION_DIM) -> Batch:
    """Random frames/actions/rewards; is_first at t = 0 of every row and at t = 3 of row 0."""
    g = torch.Generator().manual_seed(seed)
    b, t = cfg.algo.batch_size, cfg.algo.seq_len
    is_first = torch.zeros(b, t, dtype=torch.bool)
    is_first[:, 0] = True
    if t > 3:
        is_first[0, 3] = True
    action = torch.rand(b, t, action_dim, generator=g) * 2 - 1
    reward = torch.rand(b, t, generator=g)
    action[is_first] = 0.0
    reward[is_first] = 0.0
    return Batch(
        image=torch.randint(0, 256, (b, t, 64, 64, 3), dtype=torch.uint8, generator=g),
        action=action,
        reward=reward,
        is_first=is_first,
        is_terminal=torch.zeros(b, t, dtype=torch.bool),
        bc_filter=torch.full((b, t), float(success)),
    )


def random_episode(steps: int = 12, seed: int = 0) -> Episode:
    """A stored-shape episode of random frames, actions (first one zero) and rewards."""
    rng = np.random.default_rng(seed)
    action = rng.uniform(-1, 1, (steps + 1, ACTION_DIM)).astype(np.float32)
    action[0] = 0
    return Episode(
        image=rng.integers(0, 256, (steps + 1, 64, 64, 3), dtype=np.uint8),
        action=action,
        reward=rng.uniform(0, 1, steps + 1).astype(np.float32),
        is_terminal=np.zeros(steps + 1, bool),
        step_success=np.ones(steps + 1, bool),
        meta=EpisodeMeta(task="metaworld/drawer-open", source="offline"),
    )
