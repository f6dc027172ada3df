"""Each ablation switch removes exactly its term, and every preset trains."""

import math

import pytest
import torch
from helpers.learner import ACTION_DIM, random_batch, tiny_config

from moto_rl.common.config_loading import load_config
from moto_rl.common.networks import PolicyNet, RSSMState
from moto_rl.learner.actor_critic import ActorCritic, RealTransitions
from moto_rl.learner.imagination import imagine
from moto_rl.learner.learner import Learner, frozen
from moto_rl.learner.returns import lambda_return, v_hat


def _rollout(cfg, alpha=None, seed=0):
    torch.manual_seed(0)
    learner = Learner(cfg, ACTION_DIM)
    batch = random_batch(cfg)
    with torch.no_grad():
        post = learner.world_model.loss(batch).post
    b, t = batch.reward.shape
    start = RSSMState(post.deter.reshape(b * t, -1), post.stoch.reshape(b * t, -1))
    torch.manual_seed(seed)
    with frozen(learner.world_model):
        traj = imagine(
            learner.world_model,
            learner.agent.actor,
            start,
            cfg.algo.imag_horizon,
            cfg.algo.uncertainty_weight if alpha is None else alpha,
        )
    return learner, traj, RealTransitions(post.feat, batch, torch.arange(b * t))


def test_uncertainty_weight_zero_removes_only_the_penalty():
    cfg = tiny_config()
    _, with_pen, _ = _rollout(cfg, alpha=10.0)
    _, without, _ = _rollout(cfg, alpha=0.0)
    assert torch.equal(with_pen.reward, without.reward) and torch.equal(with_pen.penalty, without.penalty)
    assert torch.equal(without.penalised_reward, without.reward)
    assert torch.allclose(with_pen.penalised_reward, with_pen.reward - 10.0 * with_pen.penalty)
    assert with_pen.penalty.min() > 0


def test_bc_weight_zero_removes_only_bc():
    for beta in (0.0, 10.0):
        cfg = tiny_config(f"algo.bc_weight={beta}")
        learner, traj, real = _rollout(cfg)
        loss, m = learner.agent.actor_loss(traj, real)
        expected = m["actor/loss_model"] - cfg.algo.actor_entropy * m["actor/entropy"] + beta * m["actor/loss_bc"]
        assert m["actor/loss_bc"].abs() > 0
        assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_critic_data_loss_switch_removes_only_l_data():
    losses = {}
    for on in (True, False):
        cfg = tiny_config(f"algo.critic_data_loss={on}")
        learner, traj, real = _rollout(cfg)
        loss, m = learner.agent.critic_loss(traj, real)
        losses[on] = (loss.item(), m)
    (l_on, m_on), (l_off, m_off) = losses[True], losses[False]
    assert m_on["critic/loss_model"].item() == pytest.approx(m_off["critic/loss_model"].item())
    assert l_off == pytest.approx(m_off["critic/loss_model"].item())
    assert l_on == pytest.approx((m_on["critic/loss_model"] + m_on["critic/loss_data"]).item())
    assert m_on["critic/loss_data"] > 0 and "critic/loss_data" not in m_off
    # pairs: starts with a predecessor in the same episode (every t > 0 except row 0's reset at t = 3)
    b, t = real.batch.reward.shape
    assert m_on["critic/data_pairs"].item() == b * (t - 1) - 1


def test_value_expansion_switch_selects_dreamer_critic_and_lambda_return():
    cfg_moto, cfg_dreamer = tiny_config(), tiny_config("algo.value_expansion=false")
    policy = PolicyNet(cfg_moto.model, ACTION_DIM)
    feat_dim = policy.rssm.feat_dim
    moto = ActorCritic(cfg_moto.model, cfg_moto.algo, policy)
    dreamer = ActorCritic(cfg_dreamer.model, cfg_dreamer.algo, PolicyNet(cfg_dreamer.model, ACTION_DIM))
    assert len(moto.critics) == 2 and moto.critics.uses_action
    assert len(dreamer.critics) == 1 and not dreamer.critics.uses_action
    assert moto.critics(torch.randn(6, feat_dim), torch.randn(6, ACTION_DIM)).shape == (2, 6)
    assert dreamer.critics(torch.randn(6, feat_dim), None).shape == (1, 6)
    r, v0 = torch.randn(4, 3), torch.randn(5, 3)
    a = cfg_moto.algo
    assert torch.allclose(moto.expansion_targets(r, v0), v_hat(r, v0, a.gamma, a.lambda_))
    assert torch.allclose(dreamer.expansion_targets(r, v0), lambda_return(r, v0, a.gamma, a.lambda_))


PRESETS = {  # what each preset must switch off, from the paper's ablation section (independent of configs/)
    "full": dict(unc=True, bc=True, expansion=True, data=True),
    "no-unc": dict(unc=False, bc=True, expansion=True, data=True),
    "no-bc": dict(unc=True, bc=False, expansion=True, data=True),
    "no-bc-no-unc": dict(unc=False, bc=False, expansion=True, data=True),
    "dreamerv2": dict(unc=False, bc=False, expansion=False, data=False),
}


@pytest.mark.parametrize("ablation", sorted(PRESETS))
def test_every_ablation_preset_trains_with_exactly_its_terms(ablation):
    want = PRESETS[ablation]
    cfg = load_config(
        ["size=tiny", f"ablation={ablation}", "algo.batch_size=2", "algo.seq_len=6", "algo.imag_horizon=3"]
    )
    learner = Learner(cfg, ACTION_DIM)
    metrics = learner.train_step(random_batch(cfg))  # success = 1: the BC term is live wherever it is on
    assert all(math.isfinite(v) for v in metrics.values())
    assert ("critic/loss_data" in metrics) == want["data"]
    # the penalty is computed either way (it is the uncertainty diagnostic); it enters the reward only with unc
    assert metrics["imag/penalty_mean"] > 0
    penalised_less = metrics["imag/penalised_reward_mean"] < metrics["imag/reward_mean"] - 1e-6
    assert penalised_less == want["unc"]
    # the actor's loss is L_pi_model - eta H (+ beta L_pi_reg only with bc)
    beta = cfg.algo.bc_weight
    assert (beta > 0) == want["bc"] and abs(metrics["actor/loss_bc"]) > 1e-3
    expected = (
        metrics["actor/loss_model"]
        - cfg.algo.actor_entropy * metrics["actor/entropy"]
        + beta * metrics["actor/loss_bc"]
    )
    assert metrics["actor/loss"] == pytest.approx(expected, rel=1e-4, abs=1e-5)
    # twin state-action critics with value expansion, one state-value critic for Dreamer
    feat = torch.zeros(3, learner.world_model.rssm.feat_dim)
    a, b = torch.full((3, ACTION_DIM), -0.9), torch.full((3, ACTION_DIM), 0.9)
    with torch.no_grad():
        action_matters = not torch.equal(
            learner.agent.value0(feat, a, target=False), learner.agent.value0(feat, b, target=False)
        )
    assert action_matters == want["expansion"]
