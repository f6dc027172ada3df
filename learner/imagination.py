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


def uncertainty_penalty(prior_logits: torch.Tensor, reduce: str = "mean") -> torch.Tensor:
    """u: std over ensemble members of the prior logits, reduced over latent dims. (M, N, S, C) -> (N,).

    Population std (ddof = 0), so a single member or identical members give exactly 0. Written out
    as sqrt(mean((l - mean l)^2)) rather than ``Tensor.std(0)``: on CPU the fused std's backward over
    the leading (member) axis is ~7x slower and made the penalty most of the ensemble's cost.
    """
    m = prior_logits.shape[0]
    if m == 1:
        std = torch.zeros_like(prior_logits[0])
    else:
        shifted = prior_logits - prior_logits[:1]  # std is shift-invariant; identical members -> exact zeros
        dev = shifted - shifted.mean(0, keepdim=True)
        var = (dev * dev).sum(0).div(m)
        positive = var > 0  # sqrt's gradient is infinite at 0: give those entries a zero gradient instead
        std = torch.where(positive, var, torch.ones_like(var)).sqrt() * positive
    std = std.flatten(1)  # (N, S*C)
    if reduce == "mean":
        return std.mean(-1)
    if reduce == "max":
        return std.amax(-1)
    raise ValueError(f"algo.penalty_reduce must be 'mean' or 'max', got '{reduce}'")


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
    world_model: WorldModel, actor: Actor, state: RSSMState, reduce: str, member: str
) -> tuple[torch.Tensor, torch.Tensor, RSSMState, torch.Tensor, torch.Tensor]:
    """One imagined step from s^t: a^t ~ pi(s^t), s^(t+1), u(s^t, a^t), r(s^(t+1)).

    Returns (action, entropy of pi(. | s^t), next state, penalty, reward). The unit that
    ``perf.compile`` compiles: the rollout calls it H times with the same shapes.
    """
    dist = actor(state.feat)
    action = dist.rsample()  # (N, A), reparameterised
    rssm = world_model.rssm
    deter = rssm.deter_step(state, action)  # h_{t+1}
    prior_all = rssm.prior_logits(deter)  # (M, N, S, C)
    nxt = RSSMState(deter, sample_onehot(pick_member(prior_all, member)))
    return action, dist.entropy(), nxt, uncertainty_penalty(prior_all, reduce), world_model.reward(nxt.feat)


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
    feats, actions, rewards, penalties, entropies = [state.feat], [], [], [], []
    for _ in range(horizon):
        action, entropy, state, penalty, reward = step(world_model, actor, state, reduce, member)
        actions.append(action)
        entropies.append(entropy)
        penalties.append(penalty)
        feats.append(state.feat)
        rewards.append(reward)
    last = actor(feats[-1])
    actions.append(last.rsample())
    entropies.append(last.entropy())
    feat = torch.stack(feats)  # (H+1, N, F)
    n = feat.shape[1]
    empty = feat.new_zeros(0, n)
    reward = torch.stack(rewards) if rewards else empty  # (H, N)
    penalty = torch.stack(penalties) if penalties else empty  # (H, N)
    return Trajectory(
        feat=feat,
        action=torch.stack(actions),
        reward=reward,
        penalty=penalty,
        penalised_reward=reward - alpha * penalty if alpha else reward,
        entropy=torch.stack(entropies),
    )
