"""Under bf16 autocast, what the method is sensitive to is still computed in fp32: the returns and
value-expansion targets (alpha = 0 and alpha > 0, at Kitchen's value scale), the categorical KL, and the
straight-through one-hot sample. Each is checked against fp64 arithmetic on the same inputs."""

import pytest
import torch
import torch.nn.functional as F
from helpers.learner import ACTION_DIM, tiny_config

from moto_rl.common.networks import PolicyNet, sample_onehot_and_index
from moto_rl.learner.actor_critic import ActorCritic
from moto_rl.learner.imagination import imagine
from moto_rl.learner.onehot_linear import onehot_net, stoch_index
from moto_rl.learner.world_model import WorldModel, categorical_kl

BF16 = dict(device_type="cpu", dtype=torch.bfloat16)
KITCHEN_VALUE = 250.0  # Kitchen's returns reach 4 / (1 - gamma) = 400; its values sit in the hundreds


def _ref_v_hat(reward: torch.Tensor, value0: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """V_hat(s^t) in fp64 from the spec's sum of V_k (not the learner's recursion). (H, N), (H+1, N) -> (H, N)."""
    reward, value0 = reward.double(), value0.double()
    h = reward.shape[0]

    def v_k(t: int, k: int) -> torch.Tensor:
        discounted = sum(gamma ** (i - 1) * reward[t + i - 1] for i in range(1, k + 1))
        return discounted + gamma**k * value0[t + k]

    rows = []
    for t in range(h):
        lam_ret = sum((1 - lam) * lam ** (k - 1) * v_k(t, k) for k in range(1, h - t)) + lam ** (h - t - 1) * v_k(
            t, h - t
        )
        rows.append(lam * lam_ret + (1 - lam) * value0[t])
    return torch.stack(rows)


def _agent(*overrides: str) -> tuple[WorldModel, ActorCritic, PolicyNet]:
    cfg = tiny_config("algo.imag_horizon=15", *overrides)
    torch.manual_seed(0)
    policy = PolicyNet(cfg.model, ACTION_DIM)
    wm, ac = WorldModel(cfg.model, cfg.algo, policy), ActorCritic(cfg.model, cfg.algo, policy)
    with torch.no_grad():  # heads at Kitchen's scale: rewards around 2, values in the hundreds
        wm.reward_head[-1].bias.fill_(2.0)
        for critics in (ac.critics, ac.targets):
            critics.weights[-1].mul_(30.0)
            critics.biases[-1].fill_(KITCHEN_VALUE)
    return wm, ac, policy


@pytest.mark.parametrize("alpha", [0.0, 10.0])
@pytest.mark.parametrize("value_expansion", [True, False])
def test_bf16_targets_and_returns_match_fp64_at_kitchen_scale(alpha, value_expansion):
    """The agent's targets (critic) and returns (actor) under bf16 autocast, against the spec's formula in
    fp64 on the very rewards and values the heads produced: within 1e-2 (bf16 arithmetic: up to ~20)."""
    wm, ac, _ = _agent(f"algo.uncertainty_weight={alpha}", f"algo.value_expansion={value_expansion}")
    a = ac.algo
    start = wm.rssm.initial(64)
    start.stoch.copy_(F.one_hot(torch.randint(wm.rssm.classes, (64, wm.rssm.stoch)), wm.rssm.classes).flatten(1))
    start.deter.normal_()
    with torch.no_grad(), torch.autocast(**BF16):
        traj = imagine(wm, ac.actor, start, a.imag_horizon, alpha)
        value0 = ac.value0(traj.feat, traj.action, target=True)
        targets = ac.expansion_targets(traj.penalised_reward, value0)
    assert traj.penalised_reward.dtype == value0.dtype == targets.dtype == torch.float32
    assert value0.abs().mean() > 100  # the scale the test is about
    lam = a.lambda_ if value_expansion else 1.0  # Dreamer's lambda-return is V_hat with lambda' = 1 outside
    if value_expansion:
        ref = _ref_v_hat(traj.penalised_reward, value0, a.gamma, a.lambda_)
    else:  # lambda-return: V_hat's inner V(s^t) = (V_hat - (1 - lambda) V_0) / lambda, in fp64
        inner = _ref_v_hat(traj.penalised_reward, value0, a.gamma, a.lambda_)
        ref = (inner - (1 - a.lambda_) * value0[:-1].double()) / a.lambda_
    assert lam > 0
    assert (targets.double() - ref).abs().max().item() < 1e-2


def test_head_outputs_are_fp32_under_autocast():
    """The reward head's and critics' output layers run in fp32: the reward equals an fp64 output layer on
    the same (bf16) hidden activations within fp32 error, where a bf16 output is resolved to steps of 2
    at 250."""
    wm, ac, _ = _agent()
    hidden = {}
    wm.reward_head[-2].register_forward_hook(lambda mod, inp, out: hidden.update(h=out.detach().clone()))
    feat = torch.randn(300, wm.rssm.feat_dim)
    with torch.no_grad():
        wm.reward_head[-1].bias.fill_(KITCHEN_VALUE)
        with torch.autocast(**BF16):
            reward = wm.reward(feat)
            q = ac.critics(feat, torch.rand(300, ACTION_DIM))
    last = wm.reward_head[-1]
    ref = hidden["h"].double() @ last.weight.double().T + last.bias.double()
    assert reward.dtype == q.dtype == torch.float32
    assert (reward.double() - ref.squeeze(-1)).abs().max().item() < 1e-3


def _ref_kl(lhs: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    p = lhs.double().softmax(-1)
    return (p * (p.log() - rhs.double().softmax(-1).log())).sum((-1, -2))


def test_categorical_kl_under_bf16_autocast_matches_fp64():
    """Value and gradient of the KL on bf16 logits (what the posterior and prior nets give under autocast)
    at the small KLs where free nats clamp: within 1e-5 nats and 1e-4 of the gradient's scale."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(64, 32, 32, generator=g) * 2
    lhs = (base + 0.15 * torch.randn(64, 32, 32, generator=g)).bfloat16().requires_grad_()
    rhs = base.bfloat16()
    with torch.autocast(**BF16):
        kl = categorical_kl(lhs, rhs)
    kl.sum().backward()
    lhs64 = lhs.detach().double().requires_grad_()
    ref = _ref_kl(lhs64, rhs)
    ref.sum().backward()
    assert kl.dtype == torch.float32
    assert 0.05 < ref.mean().item() < 1.0  # the regime around the free-nats clamp
    assert (kl.double() - ref).abs().max().item() < 1e-5
    scale = lhs64.grad.abs().max().item()
    assert (lhs.grad.double() - lhs64.grad).abs().max().item() < 1e-2 * scale  # bf16 gradient storage: 2^-8


def test_straight_through_sample_is_exactly_one_hot_in_bf16():
    """z's forward value is exactly one-hot (a bf16 onehot + p - p is 1 +- 2^-8 at the hot entry), and its
    gradient is the softmax's, as for onehot + p - p in exact arithmetic."""
    g = torch.Generator().manual_seed(1)
    logits = (torch.randn(200, 32, 32, generator=g) * 2).bfloat16().requires_grad_()
    weight = torch.randn(200, 32 * 32, generator=g)
    with torch.autocast(**BF16):
        z, index = sample_onehot_and_index(logits)
    assert z.dtype == torch.bfloat16
    assert torch.equal(z.float(), F.one_hot(index, 32).flatten(-2).float())
    (z.float() * weight).sum().backward()
    ref_logits = logits.detach().double().requires_grad_()
    (ref_logits.softmax(-1).flatten(-2) * weight.double()).sum().backward()
    scale = ref_logits.grad.abs().max().item()
    assert (logits.grad.double() - ref_logits.grad).abs().max().item() < 1e-2 * scale


def test_onehot_rows_paths_agree_in_bf16():
    """The reward head on s = [h, z] with z a straight-through sample, as a dense first layer and as row
    lookups (perf.onehot_rows), under bf16 autocast: they agree to bf16 rounding of the first layer."""
    wm, _, _ = _agent()
    rssm = wm.rssm
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(400, rssm.stoch, rssm.classes, generator=g).bfloat16()
    with torch.no_grad(), torch.autocast(**BF16):
        z, _ = sample_onehot_and_index(logits)
        feat = torch.cat([torch.randn(400, rssm.deter_dim, generator=g).bfloat16(), z], -1)
        index = stoch_index(feat, rssm.stoch_dim, rssm.classes)
        exact = torch.cat([feat[:, : rssm.deter_dim], F.one_hot(index, rssm.classes).flatten(1).bfloat16()], -1)
        dense = wm.reward_head(feat)
        dense_exact = wm.reward_head(exact)
        rows = onehot_net(wm.reward_head, feat, index, rssm.classes)
    assert torch.equal(dense, dense_exact)  # the dense layer sees an exact one-hot
    assert (dense - rows).abs().max().item() < 2e-2 * dense.abs().max().item()
