"""V_K, the lambda-return and V_hat against a brute-force loop over the spec's formulas."""

import pytest
import torch

from moto_rl.learner.returns import lambda_return, v_hat, value_k


def ref_vk(r, v0, t, k, gamma):
    # V_K(s^t) = sum_{k'=1..K} gamma^(k'-1) r^(t+k') + gamma^K V_0(s^(t+K)); r[i] holds r^(i+1)
    total = 0.0
    for kk in range(1, k + 1):
        total += gamma ** (kk - 1) * r[t + kk - 1]
    return total + gamma**k * v0[t + k]


def ref_lambda(r, v0, t, gamma, lam):
    # V(s^t) = (1-lam) sum_{k=1..H-t-1} lam^(k-1) V_k + lam^(H-t-1) V_(H-t)
    h = len(r)
    total = 0.0
    for k in range(1, h - t):
        total += (1 - lam) * lam ** (k - 1) * ref_vk(r, v0, t, k, gamma)
    return total + lam ** (h - t - 1) * ref_vk(r, v0, t, h - t, gamma)


@pytest.mark.parametrize("h", [1, 2, 5, 15])
def test_returns_match_brute_force(h):
    gamma, lam, n = 0.9, 0.7, 3
    g = torch.Generator().manual_seed(h)
    reward = torch.randn(h, n, generator=g, dtype=torch.float64)
    value0 = torch.randn(h + 1, n, generator=g, dtype=torch.float64)
    lr = lambda_return(reward, value0, gamma, lam)
    vh = v_hat(reward, value0, gamma, lam)
    assert lr.shape == vh.shape == (h, n)
    for j in range(n):
        r = reward[:, j].tolist()
        v = value0[:, j].tolist()
        for t in range(h):
            for k in range(1, h - t + 1):
                assert value_k(reward, value0, t, k, gamma)[j].item() == pytest.approx(
                    ref_vk(r, v, t, k, gamma), abs=1e-10
                )
            ref_v = ref_lambda(r, v, t, gamma, lam)
            assert lr[t, j].item() == pytest.approx(ref_v, abs=1e-10)
            assert vh[t, j].item() == pytest.approx(lam * ref_v + (1 - lam) * v[t], abs=1e-10)


def test_lambda_one_is_monte_carlo_and_zero_is_one_step():
    gamma, h = 0.5, 4
    reward = torch.arange(1.0, h + 1, dtype=torch.float64).unsqueeze(-1)  # (H, 1)
    value0 = torch.full((h + 1, 1), 10.0, dtype=torch.float64)
    mc = lambda_return(reward, value0, gamma, 1.0)[0, 0].item()
    assert mc == pytest.approx(sum(gamma**i * (i + 1) for i in range(h)) + gamma**h * 10.0)
    td = lambda_return(reward, value0, gamma, 0.0)[:, 0]
    assert torch.allclose(td, reward[:, 0] + gamma * 10.0)


def test_horizon_zero_gives_v0():
    value0 = torch.tensor([[1.0, 2.0]])
    assert torch.equal(v_hat(torch.zeros(0, 2), value0, 0.99, 0.95), value0)


def test_value_k_rejects_bad_k():
    with pytest.raises(ValueError):
        value_k(torch.zeros(3, 1), torch.zeros(4, 1), t=1, k=3, gamma=0.9)
