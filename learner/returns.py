"""Model-based value expansion targets, exactly as the spec writes them (moto-algorithm.md, step 3).

Along an imagined trajectory s^0 .. s^H (one per start state j, batched on the last axis):
    V_K(s^t)  = sum_{k=1..K} gamma^(k-1) r^(t+k) + gamma^K V_0(s^(t+K))
    V(s^t)    = (1 - lambda) sum_{k=1..H-t-1} lambda^(k-1) V_k(s^t) + lambda^(H-t-1) V_(H-t)(s^t)
    V_hat(s)  = lambda V(s) + (1 - lambda) V_0(s)
Index convention: ``reward[t]`` is r^(t+1), the (penalised) reward of the transition s^t -> s^(t+1).
"""

from __future__ import annotations

import torch


def value_k(reward: torch.Tensor, value0: torch.Tensor, t: int, k: int, gamma: float) -> torch.Tensor:
    """V_K(s^t) with K = k.  reward (H, N) [reward[t] = r^(t+1)], value0 (H+1, N) [V_0(s^t)] -> (N,)."""
    h = reward.shape[0]
    if not 1 <= k <= h - t:
        raise ValueError(f"V_K needs 1 <= K <= H - t, got K={k}, t={t}, H={h}")
    discounts = gamma ** torch.arange(k, dtype=reward.dtype, device=reward.device)  # (K,)
    return (discounts.unsqueeze(-1) * reward[t : t + k]).sum(0) + gamma**k * value0[t + k]


def lambda_return(reward: torch.Tensor, value0: torch.Tensor, gamma: float, lambda_: float) -> torch.Tensor:
    """V(s^t) for t = 0..H-1.  reward (H, N), value0 (H+1, N) -> (H, N).

    Computed with the equivalent recursion V(s^t) = r^(t+1) + gamma [(1-lambda) V_0(s^(t+1)) + lambda V(s^(t+1))],
    V(s^(H-1)) = r^H + gamma V_0(s^H), i.e. the spec's weighted sum of V_k (tests check it term by term).
    """
    h = reward.shape[0]
    out = []
    nxt = value0[h]  # bootstraps V(s^H) := V_0(s^H): the last step gives V_1
    for t in reversed(range(h)):
        mix = nxt if t == h - 1 else (1 - lambda_) * value0[t + 1] + lambda_ * nxt
        nxt = reward[t] + gamma * mix
        out.append(nxt)
    return torch.stack(out[::-1], 0)


def v_hat(reward: torch.Tensor, value0: torch.Tensor, gamma: float, lambda_: float) -> torch.Tensor:
    """V_hat(s^t) = lambda V(s^t) + (1 - lambda) V_0(s^t) for t = 0..H-1 -> (H, N). H = 0 gives V_0(s^0) (1, N)."""
    if reward.shape[0] == 0:
        return value0[:1]
    return lambda_ * lambda_return(reward, value0, gamma, lambda_) + (1 - lambda_) * value0[:-1]
