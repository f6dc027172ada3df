"""CUDA path with every PerfConfig switch (skipped without a GPU)."""

import math

import pytest
import torch
from helpers.learner import ACTION_DIM, random_batch, tiny_config

from moto_rl.learner.learner import Learner


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(
    "perf", [[], ["perf.amp_bf16=true", "perf.channels_last=true", "perf.fused_adam=true", "perf.compile=true"]]
)
def test_cuda_train_step(perf, tmp_path):
    cfg = tiny_config(*perf)
    learner = Learner(cfg, ACTION_DIM, device="auto")
    assert learner.device.type == "cuda"
    for seed in range(2):
        metrics = learner.train_step(random_batch(cfg, seed=seed))
    assert all(math.isfinite(v) for v in metrics.values())
    assert all(v.device.type == "cpu" for v in learner.policy_weights().values())
    learner.save(tmp_path / "c.pt")
    learner.load(tmp_path / "c.pt")
