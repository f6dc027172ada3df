"""Actor and critics, and their losses (moto-algorithm.md steps 3-5 and the filtered BC term).

MOTO (algo.value_expansion = True): twin state-action critics Q1, Q2 with Polyak targets.
    V_0(s)       = min(Q1, Q2)(s, a),  a ~ pi(s)
    L_pi_model   = - mean_{t,j} V_hat(s^t_j)            (through the online critics and the dynamics)
    L_model      = mean_{i,t,j} (Vbar(s^t_j) - Q_i(s^t_j, a^t_j))^2,   Vbar = V_hat from the target critics
    L_data       = mean_{i,j} (r_{j+1} + gamma Vbar(s^0_{j+1}) - Q_i(s^0_j, a_{j+1}))^2   (Batch alignment:
                   a_{j+1}, r_{j+1} are action[j+1], reward[j+1]; pairs where j+1 is_first are skipped)
    L_pi_reg     = - mean_{real (s, a)} log pi(a | s) * f,  f = batch.bc_filter
    L_pi         = L_pi_model + beta L_pi_reg - actor_entropy * H[pi]

DreamerV2 ablation (algo.value_expansion = False), a faithful simple variant of Dreamer's own
actor-critic: one state-value critic v(s) with a Polyak target copy (choice: Dreamer copies its
target every 100 steps), trained on lambda-returns of imagined trajectories (V_0 = v_target);
actor loss = - mean lambda-return through the dynamics (Dreamer's "dynamics backprop" gradient),
uniform weights over imagined steps (choice: Dreamer additionally weights by the cumulative
predicted discount). critic_data_loss still toggles L_data independently (with v(s^0_j) as prediction).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from moto_rl.common.batch import Batch
from moto_rl.common.config import AlgoConfig, ModelConfig
from moto_rl.common.networks import PolicyNet
from moto_rl.learner.critics import CriticEnsemble
from moto_rl.learner.imagination import Trajectory
from moto_rl.learner.returns import lambda_return, v_hat


@dataclass
class RealTransitions:
    """Posterior states of the real batch (detached) and where the agent's rollouts start."""

    feat: torch.Tensor  # s^0 (B, T, F)
    batch: Batch
    start_index: torch.Tensor  # (N,) flat indices b*T + t of the rollout starts


class ActorCritic(nn.Module):
    def __init__(self, model: ModelConfig, algo: AlgoConfig, policy: PolicyNet):
        super().__init__()
        self.algo = algo
        self.actor = policy.actor  # a reference: the actor the workers get (state_dict keys ``actor.*``)
        feat_dim, action_dim = policy.rssm.feat_dim, policy.rssm.action_dim
        n_critics, critic_action = (2, action_dim) if algo.value_expansion else (1, 0)
        self.critics = CriticEnsemble(
            n_critics, feat_dim, critic_action, model.hidden, model.mlp_layers, model.norm, policy.rssm.classes
        )
        self.targets = copy.deepcopy(self.critics)
        for p in self.targets.parameters():
            p.requires_grad_(False)

    # -- values ------------------------------------------------------------------------------------
    def value0(
        self, feat: torch.Tensor, action: torch.Tensor, target: bool, index: torch.Tensor | None = None
    ) -> torch.Tensor:
        """V_0(s) = min_i Q_i(s, a) (or v(s)). (..., F), (..., A) -> (...); ``index``: z's classes in feat."""
        return (self.targets if target else self.critics)(feat, action, index).amin(0)

    def expansion_targets(self, reward: torch.Tensor, value0: torch.Tensor) -> torch.Tensor:
        """V_hat (MOTO) or the lambda-return (Dreamer) for t = 0..H-1. (H, N), (H+1, N) -> (H, N)."""
        a = self.algo
        if a.value_expansion or reward.shape[0] == 0:
            return v_hat(reward, value0, a.gamma, a.lambda_)
        return lambda_return(reward, value0, a.gamma, a.lambda_)

    @torch.no_grad()
    def update_targets(self) -> None:
        tau = self.algo.critic_tau
        # Polyak: target <- (1 - tau) target + tau online, all tensors in one call
        torch._foreach_lerp_(list(self.targets.parameters()), list(self.critics.parameters()), tau)

    # -- losses ------------------------------------------------------------------------------------
    def critic_loss(self, traj: Trajectory, real: RealTransitions) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L_model + L_data (algo.critic_data_loss). ``traj`` may carry graph; it is detached here."""
        feat, action = traj.feat.detach(), traj.action.detach()  # (H+1, N, F), (H+1, N, A)
        reward = traj.penalised_reward.detach()  # (H, N)
        h = reward.shape[0]
        with torch.no_grad():
            vbar = self.expansion_targets(reward, self.value0(feat, action, True, traj.stoch_index))  # (H, N) or (1, N)
        steps = max(h, 1)
        index = None if traj.stoch_index is None else traj.stoch_index[:steps]
        preds = self.critics(feat[:steps], action[:steps], index)  # (n_critics, H, N)
        loss_model = (vbar.unsqueeze(0) - preds).pow(2).mean()
        metrics = {
            "critic/loss_model": loss_model,
            "critic/q_imagined": preds.mean(),
            "critic/target_imagined": vbar.mean(),
        }
        loss = loss_model
        if self.algo.critic_data_loss:
            loss_data, n_pairs = self.data_loss(vbar[0], real)
            loss = loss + loss_data
            metrics.update({"critic/loss_data": loss_data, "critic/data_pairs": n_pairs})
        metrics["critic/loss"] = loss
        return loss, metrics

    def data_loss(self, vbar_start: torch.Tensor, real: RealTransitions) -> tuple[torch.Tensor, torch.Tensor]:
        """L_data over the rollout starts s^0_{j+1} that have a predecessor s^0_j in the same episode.

        vbar_start: Vbar(s^0_{j+1}) of each start (N,). Returns (loss, number of pairs).
        """
        b, t = real.batch.reward.shape
        idx = real.start_index  # (N,) flat index of s^0_{j+1}
        col = idx % t
        valid = (col > 0) & ~real.batch.is_first.reshape(-1)[idx]  # (N,)
        prev = (idx - 1).clamp_min(0)  # flat index of s^0_j
        feat_prev = real.feat.reshape(b * t, -1)[prev]  # (N, F)
        action = real.batch.action.reshape(b * t, -1)[idx]  # a_{j+1} (N, A)
        reward = real.batch.reward.reshape(-1)[idx]  # r_{j+1} (N,)
        target = (reward + self.algo.gamma * vbar_start).detach()  # (N,)
        preds = self.critics(feat_prev, action)  # (n_critics, N)
        mask = valid.to(preds.dtype)
        n = mask.sum()
        loss = ((target - preds).pow(2) * mask).sum(-1).mean() / n.clamp_min(1.0)
        return loss, n

    def bc_loss(self, real: RealTransitions) -> torch.Tensor:
        """L_pi_reg = - mean over real pairs (s^0_j, a_{j+1}) of log pi(a_{j+1} | s^0_j) * f_{j+1}."""
        batch = real.batch
        dist = self.actor(real.feat[:, :-1].detach())  # over (B, T-1, A)
        logp = dist.log_prob(batch.action[:, 1:])  # (B, T-1)
        valid = (~batch.is_first[:, 1:]).to(logp.dtype)  # (B, T-1)
        f = batch.bc_filter[:, 1:].to(logp.dtype)  # (B, T-1), 1 where the trajectory achieved the goal
        return -(logp * f * valid).sum() / valid.sum().clamp_min(1.0)

    def actor_loss(self, traj: Trajectory, real: RealTransitions) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L_pi = L_pi_model + beta L_pi_reg - eta H. Critics must be frozen by the caller."""
        a = self.algo
        value0 = self.value0(traj.feat, traj.action, False, traj.stoch_index)  # (H+1, N), grad to actor via s and a
        returns = self.expansion_targets(traj.penalised_reward, value0)  # (H, N)
        loss_model = -returns.mean()
        h = traj.reward.shape[0]
        entropy = traj.entropy[: max(h, 1)].mean()
        loss = loss_model - a.actor_entropy * entropy
        metrics = {"actor/loss_model": loss_model, "actor/entropy": entropy, "actor/value": returns.mean()}
        if a.bc_weight > 0:
            bc = self.bc_loss(real)
            loss = loss + a.bc_weight * bc
        else:
            with torch.no_grad():
                bc = self.bc_loss(real)
        metrics.update({"actor/loss_bc": bc, "actor/loss": loss})
        return loss, metrics
