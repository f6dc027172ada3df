"""The CPU policy a rollout worker runs: filter frames with the RSSM posterior, act with the actor.

    policy = Policy(model_cfg, action_dim)
    policy.load_weights(learner.policy_weights())
    state = policy.initial_state(n_envs)
    actions, state = policy.act(images, is_first, state)   # images (N,64,64,3) uint8, is_first (N,) bool

The recurrent state carries the previous action: a_t (the action that led to x_t) enters h_t, the
same alignment the learner trains with. Where ``is_first`` is true the state is reset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from moto_rl.common.config import ModelConfig
from moto_rl.common.networks import PolicyNet, RSSMState, preprocess_images


@dataclass
class PolicyState:
    deter: torch.Tensor  # h (N, D)
    stoch: torch.Tensor  # z one-hot flattened (N, S*C)
    action: torch.Tensor  # previous action, the one that led to the next frame (N, A)

    def __len__(self) -> int:
        return int(self.deter.shape[0])

    def select(self, idx: np.ndarray | list[int] | slice) -> PolicyState:
        """The state of a subset of environments."""
        idx_t = idx if isinstance(idx, slice) else torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return PolicyState(self.deter[idx_t], self.stoch[idx_t], self.action[idx_t])


class Policy:
    def __init__(self, model_cfg: ModelConfig, action_dim: int, threads: int | None = None):
        if threads:
            torch.set_num_threads(threads)
        self.action_dim = action_dim
        self.net = PolicyNet(model_cfg, action_dim).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    def load_weights(self, weights: dict[str, torch.Tensor]) -> None:
        """Load ``Learner.policy_weights()``: a ``PolicyNet`` state_dict of CPU tensors (strict: any
        missing, unexpected or reshaped key raises)."""
        self.net.load_state_dict(weights)

    def initial_state(self, n: int) -> PolicyState:
        zero = self.net.rssm.initial(n)
        return PolicyState(zero.deter, zero.stoch, torch.zeros(n, self.action_dim))

    @torch.no_grad()
    def act(
        self, images: np.ndarray, is_first: np.ndarray, state: PolicyState, deterministic: bool = False
    ) -> tuple[np.ndarray, PolicyState]:
        """images (N, 64, 64, 3) uint8, is_first (N,) bool -> actions (N, A) float32 in [-1, 1], new state."""
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be (N, H, W, 3) uint8, got {images.shape}")
        x = preprocess_images(torch.from_numpy(np.ascontiguousarray(images)))  # (N, 3, 64, 64)
        first = torch.from_numpy(np.asarray(is_first, dtype=bool))
        embed = self.net.encoder(x)  # (N, E)
        post, _ = self.net.rssm.obs_step(RSSMState(state.deter, state.stoch), state.action, embed, first)
        dist = self.net.actor(post.feat)
        action = dist.mode if deterministic else dist.sample()  # (N, A)
        return action.numpy().astype(np.float32), PolicyState(post.deter, post.stoch, action)
