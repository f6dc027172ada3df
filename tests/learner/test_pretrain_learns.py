"""300 tiny pre-training steps on structured synthetic frames cut image and reward loss clearly."""

import numpy as np
import torch
from conftest import tiny_config

from common.batch import Batch
from learner.learner import Learner

ACTIONS = 2


def blob_episodes(n: int, steps: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """A bright square moved by the actions on a dark gradient; reward 1 while it is in the right third."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:64, 0:64]
    background = np.stack([20 + x, 20 + y, np.full_like(x, 40)], -1).astype(np.uint8)  # (64, 64, 3)
    episodes = []
    for _ in range(n):
        pos = rng.uniform(12, 52, size=2)
        images, actions, rewards = [], [np.zeros(ACTIONS, np.float32)], [0.0]
        for t in range(steps + 1):
            if t > 0:
                act = rng.uniform(-1, 1, size=ACTIONS).astype(np.float32)
                pos = np.clip(pos + 6.0 * act, 6, 58)
                actions.append(act)
                rewards.append(float(pos[0] > 42))
            frame = background.copy()
            cx, cy = int(pos[0]), int(pos[1])
            frame[cy - 5 : cy + 5, cx - 5 : cx + 5] = (250, 200, 60)
            images.append(frame)
        episodes.append({"image": np.stack(images), "action": np.stack(actions), "reward": np.asarray(rewards, np.float32)})
    return episodes


def sample(episodes, b: int, t: int, rng: np.random.Generator) -> Batch:
    rows = []
    for _ in range(b):
        ep = episodes[rng.integers(len(episodes))]
        start = rng.integers(0, len(ep["reward"]) - t + 1)
        rows.append({k: v[start : start + t] for k, v in ep.items()} | {"first": np.arange(start, start + t) == 0})
    stack = lambda key: torch.from_numpy(np.stack([r[key] for r in rows]))  # noqa: E731
    return Batch(
        image=stack("image"),
        action=stack("action"),
        reward=stack("reward"),
        is_first=stack("first"),
        is_terminal=torch.zeros(b, t, dtype=torch.bool),
        bc_filter=torch.zeros(b, t),
    )


def test_tiny_pretraining_cuts_image_and_reward_loss():
    cfg = tiny_config("algo.batch_size=6", "algo.seq_len=12", "algo.imag_horizon=3", "algo.agent_batch=32", "algo.model_lr=1e-3")
    episodes = blob_episodes(12, 40)
    rng = np.random.default_rng(0)
    learner = Learner(cfg, ACTIONS)
    history = [learner.train_step(sample(episodes, cfg.algo.batch_size, cfg.algo.seq_len, rng)) for _ in range(300)]
    first = {k: np.mean([m[k] for m in history[:20]]) for k in ("model/image_mse", "model/reward_mse")}
    last = {k: np.mean([m[k] for m in history[-20:]]) for k in ("model/image_mse", "model/reward_mse")}
    assert last["model/image_mse"] < 0.3 * first["model/image_mse"], (first, last)
    assert last["model/reward_mse"] < 0.5 * first["model/reward_mse"], (first, last)
    assert all(np.isfinite(v) for v in history[-1].values())
