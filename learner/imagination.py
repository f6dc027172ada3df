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

from moto_rl.common.networks import Actor, RSSMState, sample_onehot_and_index
from moto_rl.learner.onehot_linear import lookup_weights, onehot_net, stoch_index
from moto_rl.learner.world_model import WorldModel


class _MemberStd(torch.autograd.Function):
    """Population std over the leading (member) axis, and optionally the logits of one member per row.

    Memory traffic, not arithmetic, is the cost here (the (M, N, S*C) logits are the largest tensor of
    an imagined step), so both passes go member by member over the logits once, in fp32 whatever the
    logits' dtype (bf16 under autocast): the forward accumulates d_i = l_i - l_1 and d_i^2, the
    backward writes d std / d l_i = (l_i - mean) / (M std) straight into the gradient.

    var = E[d^2] - E[d]^2 is safe from cancellation because the shift l_1 is itself a member:
    (l_1 - mean)^2 <= (M - 1) var, so E[d^2] = var + (l_1 - mean)^2 <= M var and the rounding error
    stays below M float32 epsilons of var. Identical members give d = 0, so exactly 0 (and a zero
    gradient, where sqrt's would be infinite). ``idx`` (N,) long or None: the picked rows' gradient is
    added into the same buffer instead of autograd zero-filling a second (M, N, ...) one."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, idx: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        m, n = logits.shape[:2]
        first = logits[0].to(torch.promote_types(logits.dtype, torch.float32))
        total, total_sq = torch.zeros_like(first), torch.zeros_like(first)
        for i in range(1, m):
            d = logits[i] - first  # promoted to fp32 within the one pass
            total += d
            total_sq.addcmul_(d, d)
        mean_d = total.div_(m)
        std = total_sq.div_(m).sub_(mean_d.square()).clamp_min_(0.0).sqrt_()
        centre = mean_d.add_(first)
        rows = None
        if idx is not None:
            rows = idx * n + torch.arange(n, device=logits.device)  # row of (member idx[r], r) in (M*N, ...)
            picked = logits.reshape(m * n, -1).index_select(0, rows).reshape(logits.shape[1:])
        else:
            picked = logits.new_zeros(0)
        ctx.save_for_backward(logits, std, centre, rows)
        return std, picked

    @staticmethod
    def backward(ctx, grad_std: torch.Tensor | None, grad_pick: torch.Tensor | None) -> tuple[torch.Tensor, None]:
        logits, std, centre, rows = ctx.saved_tensors
        m, n = logits.shape[:2]
        grad = torch.empty_like(logits)
        if grad_std is None:
            grad.zero_()
        else:
            scale = torch.where(std > 0, grad_std / (std * m), 0.0)
            for i in range(m):
                torch.mul(logits[i] - centre, scale, out=grad[i])
        if rows is not None and grad_pick is not None:
            grad.view(m * n, -1).index_add_(0, rows, grad_pick.reshape(n, -1).to(grad.dtype))
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
    std, picked = _MemberStd.apply(prior_logits, idx)
    std = std.flatten(1)
    return (std.mean(-1) if reduce == "mean" else std.amax(-1)), picked


def uncertainty_penalty(prior_logits: torch.Tensor, reduce: str = "mean") -> torch.Tensor:
    """u: std over ensemble members of the prior logits, reduced over latent dims. (M, N, S, C) -> (N,).

    Population std (ddof = 0), computed in at least fp32, so a single member or identical members
    give exactly 0 (tests check value and gradient against independent formulas)."""
    if reduce not in ("mean", "max"):
        raise ValueError(f"algo.penalty_reduce must be 'mean' or 'max', got '{reduce}'")
    if prior_logits.shape[0] == 1:
        std = torch.zeros_like(prior_logits[0], dtype=torch.promote_types(prior_logits.dtype, torch.float32))
    else:
        std, _ = _MemberStd.apply(prior_logits, None)
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
    # the classes of z's one-hot groups in feat (H+1, N, S), for layers that read them as row lookups
    # (learner/onehot_linear.py); None: they multiply by all of feat
    stoch_index: torch.Tensor | None = None


@dataclass
class ZLookups:
    """The first layers of an imagined step that read z, as (in, out) row-lookup weights and biases
    (``perf.onehot_rows``; learner/onehot_linear.py). Made once per rollout: the weights do not change
    within it, and their gradient comes back through the one copy."""

    actor: tuple[torch.Tensor, torch.Tensor]  # the actor's first layer, on s = [h, z]
    img_in: tuple[torch.Tensor, torch.Tensor]  # the RSSM's input layer, on [z, a]

    @classmethod
    def of(cls, world_model: WorldModel, actor: Actor) -> ZLookups:
        return cls(lookup_weights(actor.net[0]), lookup_weights(world_model.rssm.img_in[0]))


def _policy(actor: Actor, feat: torch.Tensor, classes: int, lookups: ZLookups | None, index: torch.Tensor | None):
    if lookups is None:
        return actor(feat)
    return actor.distribution(onehot_net(actor.net, feat, index, classes, weights=lookups.actor))


def imagine_step(
    world_model: WorldModel,
    actor: Actor,
    state: RSSMState,
    feat: torch.Tensor,
    reduce: str,
    member: str,
    lookups: ZLookups | None = None,
    index: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, RSSMState, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One imagined step from s^t (``feat`` = s^t's features): a^t ~ pi(s^t), s^(t+1), u(s^t, a^t).

    Returns (action, entropy of pi(. | s^t), next state, its features, penalty, its z's classes (N, S)).
    With ``lookups``, the actor's and the RSSM's first layers read z's one-hot groups (classes
    ``index`` (N, S)) as row lookups. The unit that ``perf.compile`` compiles: the rollout calls it H
    times with the same shapes. The reward head is not here: it runs once over all imagined states
    after the rollout (one large matmul per layer instead of H small ones)."""
    rssm = world_model.rssm
    dist = _policy(actor, feat, rssm.classes, lookups, index)
    action = dist.rsample()  # (N, A), reparameterised
    if lookups is None:
        deter = rssm.deter_step(state, action)  # h_{t+1}
    else:
        x = torch.cat([state.stoch, action], -1)
        deter = rssm.deter_from_input(onehot_net(rssm.img_in, x, index, rssm.classes, 0, lookups.img_in), state.deter)
    prior_all = rssm.prior_logits(deter)  # (M, N, S, C)
    penalty, logits = penalty_and_member(prior_all, reduce, member)
    stoch, nxt_index = sample_onehot_and_index(logits)
    nxt = RSSMState(deter, stoch)
    return action, dist.entropy(), nxt, nxt.feat, penalty, nxt_index


def imagine(
    world_model: WorldModel,
    actor: Actor,
    start: RSSMState,
    horizon: int,
    alpha: float,
    reduce: str = "mean",
    member: str = "random",
    step: Callable[..., tuple] = imagine_step,
    onehot_rows: bool = False,
) -> Trajectory:
    """Roll out ``horizon`` steps from ``start`` (fields (N, ·), detached here). ``step`` is
    ``imagine_step`` or a compiled copy of it. ``onehot_rows`` (perf.onehot_rows): the layers that
    read z (actor, RSSM input, reward head) read its one-hot groups as row lookups, and the trajectory
    carries z's classes for the critics to do the same."""
    state = start.detach()
    feat = state.feat
    rssm = world_model.rssm
    lookups = ZLookups.of(world_model, actor) if onehot_rows else None
    index = stoch_index(feat, rssm.stoch_dim, rssm.classes) if onehot_rows else None  # (N, S)
    feats, actions, penalties, entropies, indices = [feat], [], [], [], [index]
    for _ in range(horizon):
        out = step(world_model, actor, state, feat, reduce, member, lookups, index)
        action, entropy, state, feat, penalty, index = out
        actions.append(action)
        entropies.append(entropy)
        penalties.append(penalty)
        feats.append(feat)
        indices.append(index)
    last = _policy(actor, feat, rssm.classes, lookups, index)
    actions.append(last.rsample())
    entropies.append(last.entropy())
    feat = torch.stack(feats)  # (H+1, N, F)
    n = feat.shape[1]
    empty = feat.new_zeros(0, n)
    index = torch.stack(indices) if onehot_rows else None  # (H+1, N, S)
    reward = (  # r(s^(t+1)), t = 0..H-1  (H, N)
        world_model.reward(feat[1:], None if index is None else index[1:]) if horizon else empty
    )
    penalty = torch.stack(penalties) if penalties else empty  # (H, N)
    return Trajectory(
        feat=feat,
        action=torch.stack(actions),
        reward=reward,
        penalty=penalty,
        penalised_reward=reward - alpha * penalty if alpha else reward,
        entropy=torch.stack(entropies),
        stoch_index=index,
    )
