"""What chooses actions inside a rollout worker: the learner's policy snapshot, or a scripted expert.

Both answer ``act(images, infos, is_first, deterministic) -> (N, A) float32 in [-1, 1]`` for the N
envs a worker steps in lock-step, so one worker class runs online rollouts, evaluation and demos.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np


class Agent(Protocol):
    version: int  # policy version acting now (-1: scripted / random weights)

    def act(self, images: np.ndarray, infos: Sequence[dict], is_first: np.ndarray, deterministic: bool) -> np.ndarray:
        """images (N, H, W, 3) uint8, is_first (N,) bool -> actions (N, A) float32."""
        ...

    def load(self, version: int, weights: Any) -> None: ...


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


class LearnedAgent:
    """A CPU ``moto_rl.common.policy.Policy`` with its recurrent state, plus optional Gaussian exploration."""

    def __init__(self, policy: Any, n_envs: int, exploration_std: float = 0.0, rng: np.random.Generator | None = None):
        self.policy = policy
        self.n_envs = n_envs
        self.exploration_std = float(exploration_std)
        self.rng = rng or np.random.default_rng()
        self.state = policy.initial_state(n_envs)
        self.version = -1

    def load(self, version: int, weights: dict) -> None:
        """``weights``: ``Learner.policy_weights()``, the policy's state_dict (docs/architecture.md)."""
        self.policy.load_weights(weights)
        self.version = int(version)

    def act(self, images: np.ndarray, infos: Sequence[dict], is_first: np.ndarray, deterministic: bool) -> np.ndarray:
        actions, self.state = self.policy.act(images, is_first, self.state, deterministic=deterministic)
        actions = _to_numpy(actions)
        if self.exploration_std > 0 and not deterministic:
            noise = self.exploration_std * self.rng.standard_normal(actions.shape).astype(np.float32)
            actions = np.clip(actions + noise, -1.0, 1.0)
            self._record_executed(actions)
        return np.clip(actions, -1.0, 1.0)

    def _record_executed(self, actions: np.ndarray) -> None:
        # The recurrent state feeds a_t into h_{t+1}: it must be the action the env received, noise included.
        if hasattr(self.state, "action"):
            import torch

            self.state.action = torch.as_tensor(actions, dtype=self.state.action.dtype)
