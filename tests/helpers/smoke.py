"""The one short schedule of the tests that run a real ``moto train`` (in-process, as a subprocess, in a
campaign or on a simulated cluster): a tiny model, 10-step episodes, two demos, small batches. Each
test adds what it is about (workers, step counts, evaluations, where the run goes)."""

from __future__ import annotations

# no size or seed: a campaign spec sets those per run from its grid
SMOKE_OVERRIDES = (
    "logging.progress=false",
    "env.max_episode_steps=10",
    "schedule.updates_per_episode=2",
    "schedule.demo_episodes=2",
    "algo.batch_size=4",
    "algo.seq_len=8",
    "algo.agent_batch=16",
    "algo.imag_horizon=3",
)


def smoke_run(*extra: str) -> list[str]:
    """``moto train`` overrides of a smoke run (the tiny size, seed 0) plus ``extra``, which wins."""
    return ["size=tiny", "seed=0", *SMOKE_OVERRIDES, *extra]
