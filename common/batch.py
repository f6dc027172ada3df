"""The batch of real trajectory windows the sampler hands the learner.

Same time alignment as ``moto_rl.common.episode``: at index t the action that led to image[t] and the
reward received on reaching it. Windows never cross episode boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass
class Batch:
    image: torch.Tensor  # (B, T, H, W, 3) uint8
    action: torch.Tensor  # (B, T, A) float32
    reward: torch.Tensor  # (B, T) float32
    is_first: torch.Tensor  # (B, T) bool: true at the reset frame of an episode
    is_terminal: torch.Tensor  # (B, T) bool
    bc_filter: torch.Tensor  # (B, T) float32: f, 1 where the step belongs to a successful episode (meta.success)

    def to(self, device: torch.device | str, non_blocking: bool = True) -> Batch:
        return Batch(**{f.name: getattr(self, f.name).to(device, non_blocking=non_blocking) for f in fields(self)})

    def pin_memory(self) -> Batch:
        return Batch(**{f.name: getattr(self, f.name).pin_memory() for f in fields(self)})

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.reward.shape)  # type: ignore[return-value]
