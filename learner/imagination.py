"""H-step imagined rollouts from posterior states with the current actor, and the uncertainty penalty.

    u(s_t, a_t)          = reduce_over_latent_dims( std_i l_i(z_{t+1}) )      (reduce: mean | max, choice)
    r_hat(s_t, a_t, s_t+1) = r(s_{t+1}) - alpha * u(s_t, a_t)

Start states are detached (agent losses never reach the model through them); within the rollout the
actor's gradient flows through the dynamics: actions are reparameterised and z_{t+1} is a
straight-through sample. Imagined transitions use a random ensemble member per sample and step
(algo.imag_member=random) or the members' mean logits (=mean).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from common.networks import Actor, RSSMState, sample_onehot
from learner.world_model import WorldModel


class _MemberStd(torch.autograd.Function):
    """Population std over the leading (member) axis with a hand-written backward.

    d std / d l_i = (l_i - mean) / (M std): one pass over the (M, N, D) logits instead of autograd's
    chain through sub / mean / mul / sum / where / sqrt (each a full pass, plus zero-filled buffers);
    the penalty's backward was the largest cost of the behaviour update at full imagination.
    Entries with std = 0 (identical members) get a zero gradient (sqrt's is infinite there)."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor) -> torch.Tensor:
        m = logits.shape[0]
        shifted = logits - logits[:1]  # std is shift-invariant; identical members -> exact zeros
        dev = shifted - shifted.mean(0, keepdim=True)
        std = dev.square().sum(0).div_(m).sqrt_()
        ctx.save_for_backward(dev, std)
        return std

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        dev, std = ctx.saved_tensors
        scale = torch.where(std > 0, grad / (std * dev.shape[0]), torch.zeros_like(std))
        return dev * scale


class _MemberStdAndPick(torch.autograd.Function):
    """``_MemberStd`` and the logits of one member per row (``idx``) from one saved tensor: the
    backward writes the picked rows' gradient into the std's gradient buffer in place, instead of
    autograd zero-filling a second (M, N, D) buffer for the indexing and adding the two."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, n = logits.shape[:2]
        rows = torch.arange(n, device=logits.device)
        shifted = logits - logits[:1]
        dev = shifted - shifted.mean(0, keepdim=True)
        std = dev.square().sum(0).div_(m).sqrt_()
        ctx.save_for_backward(dev, std, idx, rows)
        return std, logits[idx, rows]

    @staticmethod
    def backward(ctx, grad_std: torch.Tensor, grad_pick: torch.Tensor) -> tuple[torch.Tensor, None]:
        dev, std, idx, rows = ctx.saved_tensors
        if grad_std is None:
            grad = torch.zeros_like(dev)
        else:
            grad = dev * torch.where(std > 0, grad_std / (std * dev.shape[0]), torch.zeros_like(std))
        if grad_pick is not None:
            grad.index_put_((idx, rows), grad_pick, accumulate=True)
        return grad, None


def penalty_and_member(prior_logits: torch.Tensor, reduce: str, member: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(u (N,), the transition's logits (N, S, C)): ``uncertainty_penalty`` and ``pick_member`` in one
    pass where both need the members' logits (random member, M > 1); same values and gradients."""
    m, n = prior_logits.shape[:2]
    if member != "random" or m == 1:
        return uncertainty_penalty(prior_logits, reduce), pick_member(prior_logits, member)
    if reduce not in ("mean", "max"):
        raise ValueError(f"algo.penalty_reduce must be 'mean' or 'max', got '{reduce}'")
    idx = torch.randint(m, (n,), device=prior_logits.device)  # drawn as pick_member draws it
    std, picked = _MemberStdAndPick.apply(prior_logits, idx)
    std = std.flatten(1)
    return (std.mean(-1) if reduce == "mean" else std.amax(-1)), picked


def uncertainty_penalty(prior_logits: torch.Tensor, reduce: str = "mean") -> torch.Tensor:
    """u: std over ensemble members of the prior logits, reduced over latent dims. (M, N, S, C) -> (N,).

    Population std (ddof = 0), so a single member or identical members give exactly 0 (tests check
    value and gradient against ``Tensor.std``)."""
    if reduce not in ("mean", "max"):
        raise ValueError(f"algo.penalty_reduce must be 'mean' or 'max', got '{reduce}'")
    if prior_logits.shape[0] == 1:
        std = torch.zeros_like(prior_logits[0])
    else:
        std = _MemberStd.apply(prior_logits)
    std = std.flatten(1)  # (N, S*C)
    return std.mean(-1) if reduce == "mean" else std.amax(-1)


def pick_member(prior_logits: torch.Tensor, mode: str) -> torch.Tensor:
    """The logits used for the imagined transition. (M, N, S, C) -> (N, S, C)."""
    m, n = prior_logits.shape[:2]
    if mode == "random":
        idx = torch.randint(m, (n,), device=prior_logits.device)
        return prior_logits[idx, torch.arange(n, device=prior_logits.device)]
    if mode == "mean":
        return prior_logits.mean(0)
    raise ValueError(f"algo.imag_member must be 'random' or 'mean', got '{mode}'")


@dataclass
class Trajectory:
    feat: torch.Tensor  # s^0..s^H  (H+1, N, F)
    action: torch.Tensor  # a^t ~ pi(s^t), t = 0..H  (H+1, N, A); a^H is the action for V_0(s^H)
    reward: torch.Tensor  # r(s^(t+1)) from the reward head, t = 0..H-1  (H, N)
    penalty: torch.Tensor  # u(s^t, a^t)  (H, N)
    penalised_reward: torch.Tensor  # r_hat = reward - alpha * penalty  (H, N)
    entropy: torch.Tensor  # H[pi(. | s^t)]  (H+1, N)


def imagine_step(
    world_model: WorldModel, actor: Actor, state: RSSMState, feat: torch.Tensor, reduce: str, member: str
) -> tuple[torch.Tensor, torch.Tensor, RSSMState, torch.Tensor, torch.Tensor]:
    """One imagined step from s^t (``feat`` = s^t's features): a^t ~ pi(s^t), s^(t+1), u(s^t, a^t).

    Returns (action, entropy of pi(. | s^t), next state, its features, penalty). The unit that
    ``perf.compile`` compiles: the rollout calls it H times with the same shapes. The reward head
    is not here: it runs once over all imagined states after the rollout (one large matmul per
    layer instead of H small ones)."""
    dist = actor(feat)
    action = dist.rsample()  # (N, A), reparameterised
    rssm = world_model.rssm
    deter = rssm.deter_step(state, action)  # h_{t+1}
    prior_all = rssm.prior_logits(deter)  # (M, N, S, C)
    penalty, logits = penalty_and_member(prior_all, reduce, member)
    nxt = RSSMState(deter, sample_onehot(logits))
    return action, dist.entropy(), nxt, nxt.feat, penalty


def imagine(
    world_model: WorldModel,
    actor: Actor,
    start: RSSMState,
    horizon: int,
    alpha: float,
    reduce: str = "mean",
    member: str = "random",
    step: Callable[..., tuple] = imagine_step,
) -> Trajectory:
    """Roll out ``horizon`` steps from ``start`` (fields (N, ·), detached here). ``step`` is
    ``imagine_step`` or a compiled copy of it."""
    state = start.detach()
    feat = state.feat
    feats, actions, penalties, entropies = [feat], [], [], []
    for _ in range(horizon):
        action, entropy, state, feat, penalty = step(world_model, actor, state, feat, reduce, member)
        actions.append(action)
        entropies.append(entropy)
        penalties.append(penalty)
        feats.append(feat)
    last = actor(feat)
    actions.append(last.rsample())
    entropies.append(last.entropy())
    feat = torch.stack(feats)  # (H+1, N, F)
    n = feat.shape[1]
    empty = feat.new_zeros(0, n)
    reward = world_model.reward(feat[1:]) if horizon else empty  # r(s^(t+1)), t = 0..H-1  (H, N)
    penalty = torch.stack(penalties) if penalties else empty  # (H, N)
    return Trajectory(
        feat=feat,
        action=torch.stack(actions),
        reward=reward,
        penalty=penalty,
        penalised_reward=reward - alpha * penalty if alpha else reward,
        entropy=torch.stack(entropies),
    )
