"""The G updates the driver asks for after an episode can see that episode (paper Algorithm 1: collect,
add to the dataset, then update), although the sampler refreshes in the background and prefetches.

The learner process class runs here in-process (the driver wraps it in a Ray actor and calls the
same ``train(n)``); a rollout worker's commit is an ``append`` to the same store.
"""

import numpy as np
import pytest
from helpers.learner import tiny_config

from moto_rl.learner.service import LearnerService
from moto_rl.storage import TrajectoryStore, synthetic

NEW_TAG = 5.0  # synthetic rewards are tag + t/1000: old episodes < 2, the new one >= 5


@pytest.fixture
def service(tmp_path):
    store = TrajectoryStore.open(str(tmp_path / "store"), create=True)
    for tag in (0, 1):
        store.append(synthetic.episode(steps=10, seed=tag, tag=tag, source="offline", success=True))
    cfg = tiny_config(
        "task=metaworld/drawer-open",
        "algo.batch_size=4",
        "algo.seq_len=8",
        "algo.agent_batch=8",
        "algo.imag_horizon=2",
        "logging.diagnostics_every=0",
        "storage.prefetch=2",
        "storage.refresh_seconds=0.5",
    )
    svc = LearnerService(cfg, store.url, str(tmp_path / "run"))
    yield svc, store
    svc.close()


def test_updates_after_a_commit_draw_from_the_new_episode(service):
    svc, store = service
    seen: list[np.ndarray] = []  # per update: which rows of the batch come from the new episode
    real_step = svc.learner.train_step
    svc.learner.train_step = lambda batch: seen.append((batch.reward.amax(1) >= NEW_TAG).numpy()) or real_step(batch)
    svc.train(3)  # the background threads are running and the prefetch queue holds batches of the old data
    assert not np.concatenate(seen).any()
    seen.clear()
    # 400 steps against 2 x 10: 393 of the 401 windows of 8 rows lie in the new episode, so a batch of 4
    # that can see it misses it with probability (8/401)^4 ~ 2e-7; stale batches always miss it.
    store.append(synthetic.episode(steps=400, seed=7, tag=NEW_TAG, source="online", success=True))
    svc.train(3)  # G = 3 updates, called right after the commit as the driver does
    assert len(seen) == 3
    assert all(rows.any() for rows in seen), f"updates drew no window of the just-committed episode: {seen}"
