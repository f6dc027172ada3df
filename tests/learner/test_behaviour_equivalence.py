"""The fast behaviour update (batched twin critics and targets, hand-written penalty backward, reward
head after the rollout, no feat/action concatenation) gives the same update as a plain, per-module
reference written straight from the spec: the critics' and the actor's gradients agree to within
rtol 1e-4 / atol 1e-6 of the largest gradient entry (float32 summation order is all that differs).
"""

import copy

import pytest
import torch
from helpers.learner import ACTION_DIM, random_batch, tiny_config

from moto_rl.common.networks import RSSMState, sample_onehot
from moto_rl.learner.critics import CriticEnsemble
from moto_rl.learner.imagination import pick_member
from moto_rl.learner.learner import Learner
from moto_rl.learner.returns import v_hat


def test_batched_critics_match_separate_mlps_in_value_and_gradient():
    torch.manual_seed(0)
    ens = CriticEnsemble(2, feat_dim=9, action_dim=3, hidden=7, layers=3)
    feat, action = torch.randn(4, 5, 9, requires_grad=True), torch.randn(4, 5, 3)
    out = ens(feat, action)  # (2, 4, 5)
    weights = torch.randn_like(out)
    names = [n for n, _ in ens.named_parameters()]
    grads = torch.autograd.grad((out * weights).sum(), [feat, *ens.parameters()])
    mine = dict(zip(names, grads[1:], strict=True))
    feat_grad_ref = torch.zeros_like(feat)
    for i in range(2):
        net = ens.member_mlp(i)
        ref = net(torch.cat([feat, action], -1)).squeeze(-1)
        torch.testing.assert_close(out[i], ref, rtol=1e-5, atol=1e-6)
        g = torch.autograd.grad((ref * weights[i]).sum(), [feat, *net.parameters()])
        feat_grad_ref += g[0]
        ref_by_name = dict(zip([n for n, _ in net.named_parameters()], g[1:], strict=True))
        # linear k sits at net[3k] (Linear, LayerNorm, ELU per hidden layer), the output at the end
        for k in range(len(ens.weights)):
            torch.testing.assert_close(mine[f"weights.{k}"][i], ref_by_name[f"{3 * k}.weight"].T, rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(mine[f"biases.{k}"][i], ref_by_name[f"{3 * k}.bias"], rtol=1e-4, atol=1e-6)
        for k in range(len(ens.weights) - 1):
            torch.testing.assert_close(mine["ln_w"][k, i], ref_by_name[f"{3 * k + 1}.weight"], rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(mine["ln_b"][k, i], ref_by_name[f"{3 * k + 1}.bias"], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(grads[0], feat_grad_ref, rtol=1e-4, atol=1e-6)


def test_state_value_critic_ignores_actions():
    ens = CriticEnsemble(1, feat_dim=6, action_dim=0, hidden=5, layers=2)
    feat = torch.randn(3, 6)
    torch.testing.assert_close(ens(feat)[0], ens.member_mlp(0)(feat).squeeze(-1))


def _plain_imagine(wm, actor, start, horizon, alpha):
    """Per-step reward head, autograd std, features concatenated: the spec, op for op."""
    state, feats, actions, rewards, penalties = start.detach(), [], [], [], []
    feats.append(state.feat)
    for _ in range(horizon):
        a = actor(state.feat).rsample()
        deter = wm.rssm.deter_step(state, a)
        prior = wm.rssm.prior_logits(deter)
        state = RSSMState(deter, sample_onehot(pick_member(prior, "random")))
        penalties.append(prior.std(0, unbiased=False).flatten(1).mean(-1))
        rewards.append(wm.reward(state.feat))
        actions.append(a)
        feats.append(state.feat)
    actions.append(actor(feats[-1]).rsample())
    reward, penalty = torch.stack(rewards), torch.stack(penalties)
    return torch.stack(feats), torch.stack(actions), reward - alpha * penalty


def _q(nets, feat, action):
    return torch.stack([net(torch.cat([feat, action], -1)).squeeze(-1) for net in nets])


def _close(mine, ref):
    scale = ref.abs().max().item()
    torch.testing.assert_close(mine, ref, rtol=1e-4, atol=1e-6 * max(scale, 1.0))


@pytest.mark.parametrize("seed", [0, 1])
def test_agent_update_matches_the_plain_reference(seed):
    cfg = tiny_config("algo.imag_horizon=4", "algo.actor_entropy=0.001")
    learner = Learner(cfg, ACTION_DIM)
    wm, agent, a = learner.world_model, learner.agent, cfg.algo
    batch = random_batch(cfg, seed=seed)
    post, _ = learner.model_update(batch)
    post = post.detach()
    online = [agent.critics.member_mlp(i) for i in range(2)]
    targets = [agent.targets.member_mlp(i) for i in range(2)]
    actor = copy.deepcopy(agent.actor)  # the actor before its step: the reference differentiates this one
    captured: list[dict] = []

    def step_with_capture(opt, loss, params):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        captured.append({"grads": [p.grad.clone() for p in params], "loss": loss.detach()})
        norm = torch.nn.utils.clip_grad_norm_(params, a.grad_clip)
        opt.step()
        if len(captured) == 1:  # after the critic step: the critics the actor loss must see
            captured[0]["critics_after"] = [agent.critics.member_mlp(i) for i in range(2)]
        return norm

    learner._opt_step = step_with_capture
    torch.manual_seed(100 + seed)
    learner.agent_update(post, batch)
    critic_grads = dict(zip([n for n, _ in agent.critics.named_parameters()], captured[0]["grads"], strict=True))
    actor_grads = captured[1]["grads"]

    # the reference, from the same random numbers
    torch.manual_seed(100 + seed)
    b, t = batch.reward.shape
    start = RSSMState(post.deter.reshape(b * t, -1), post.stoch.reshape(b * t, -1))
    for p in wm.parameters():
        p.requires_grad_(False)
    feat, action, rhat = _plain_imagine(wm, actor, start, a.imag_horizon, a.uncertainty_weight)
    with torch.no_grad():
        vbar = v_hat(rhat.detach(), _q(targets, feat.detach(), action.detach()).amin(0), a.gamma, a.lambda_)
    preds = _q(online, feat[:-1].detach(), action[:-1].detach())
    loss_model = (vbar - preds).pow(2).mean()
    # L_data over starts with a predecessor in the same episode
    idx = torch.arange(b * t)
    valid = ((idx % t) > 0) & ~batch.is_first.reshape(-1)
    prev = (idx - 1).clamp_min(0)
    target = batch.reward.reshape(-1) + a.gamma * vbar[0]
    pd = _q(online, post.feat.reshape(b * t, -1)[prev], batch.action.reshape(b * t, -1))
    loss_data = ((target - pd).pow(2) * valid).sum(-1).mean() / valid.sum()
    critic_loss = loss_model + loss_data
    torch.testing.assert_close(captured[0]["loss"], critic_loss, rtol=1e-5, atol=1e-6)
    ref_c = torch.autograd.grad(critic_loss, [p for net in online for p in net.parameters()])
    n_per = len(ref_c) // 2
    layers = len(agent.critics.weights)
    for i in range(2):
        by_name = dict(
            zip([n for n, _ in online[i].named_parameters()], ref_c[i * n_per : (i + 1) * n_per], strict=True)
        )
        for k in range(layers):
            _close(critic_grads[f"weights.{k}"][i], by_name[f"{3 * k}.weight"].T)
            _close(critic_grads[f"biases.{k}"][i], by_name[f"{3 * k}.bias"])

    # the actor's loss sees the updated critics, through the dynamics
    after = captured[0]["critics_after"]
    value0 = _q(after, feat, action).amin(0)
    loss_pi = -v_hat(rhat, value0, a.gamma, a.lambda_).mean()
    dist = actor(post.feat[:, :-1])
    logp = dist.log_prob(batch.action[:, 1:])
    ok = (~batch.is_first[:, 1:]).float()
    bc = -(logp * batch.bc_filter[:, 1:] * ok).sum() / ok.sum()
    entropy = torch.stack([actor(f).entropy() for f in feat[:-1]]).mean()
    actor_loss = loss_pi + a.bc_weight * bc - a.actor_entropy * entropy
    torch.testing.assert_close(captured[1]["loss"], actor_loss, rtol=1e-5, atol=1e-6)
    ref_a = torch.autograd.grad(actor_loss, list(actor.parameters()))
    for mine, ref in zip(actor_grads, ref_a, strict=True):
        _close(mine, ref)
