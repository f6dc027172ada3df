"""Prior ensemble: the uncertainty penalty u, and the random member i_t of the KL."""

import numpy as np
import pytest
import torch
from helpers.learner import ACTION_DIM, random_batch, tiny_config

from moto_rl.common.networks import RSSM, PolicyNet
from moto_rl.learner.imagination import uncertainty_penalty
from moto_rl.learner.world_model import WorldModel


def _rssm(members=7):
    cfg = tiny_config(f"model.ensemble={members}")
    torch.manual_seed(0)
    return RSSM(cfg.model, ACTION_DIM, embed_dim=16)


def test_identical_members_give_zero_penalty():
    rssm = _rssm()
    ens = rssm.prior_ensemble
    with torch.no_grad():
        for p in (ens.w1, ens.b1, ens.ln_w, ens.ln_b, ens.w2, ens.b2):
            p.copy_(p[:1].expand_as(p))
    u = uncertainty_penalty(rssm.prior_logits(torch.randn(5, rssm.deter_dim)))
    assert u.shape == (5,)
    assert torch.equal(u, torch.zeros(5))


@pytest.mark.parametrize("reduce", ["mean", "max"])
def test_differing_members_give_std_of_logits(reduce):
    rssm = _rssm()
    h = torch.randn(4, rssm.deter_dim)
    logits = rssm.prior_logits(h)  # (M, N, S, C)
    ref = np.std(logits.detach().numpy().astype(np.float64), axis=0).reshape(4, -1)  # population std over members
    ref = ref.mean(-1) if reduce == "mean" else ref.max(-1)
    u = uncertainty_penalty(logits, reduce).detach().numpy()
    assert np.allclose(u, ref, rtol=1e-5, atol=1e-6)
    assert (u > 0).all()


def test_penalty_gradient_matches_reference_and_is_finite_where_members_agree():
    torch.manual_seed(1)
    logits = torch.randn(7, 3, 4, 5, dtype=torch.float64)
    logits[:, 0, 0, 0] = 0.25  # every member agrees on one logit: std 0 there
    mine = logits.clone().requires_grad_(True)
    uncertainty_penalty(mine).sum().backward()
    ref = logits.clone().requires_grad_(True)
    std = (ref - ref.mean(0)).pow(2).mean(0).add(1e-30).sqrt()  # independent formula (offset keeps it finite)
    std.flatten(1).mean(-1).sum().backward()
    assert torch.isfinite(mine.grad).all()
    assert torch.equal(mine.grad[:, 0, 0, 0], torch.zeros(7, dtype=torch.float64))
    assert torch.allclose(mine.grad, ref.grad, atol=1e-9)


def test_batched_ensemble_matches_per_member_loop():
    rssm = _rssm()
    ens = rssm.prior_ensemble
    h = torch.randn(6, rssm.deter_dim)
    out = ens(h)  # (M, N, out)
    for m in range(ens.members):
        x = h @ ens.w1[m] + ens.b1[m]
        x = torch.nn.functional.layer_norm(x, x.shape[-1:]) * ens.ln_w[m] + ens.ln_b[m]
        ref = torch.nn.functional.elu(x) @ ens.w2[m] + ens.b2[m]
        assert torch.allclose(out[m], ref, atol=1e-5)


def test_kl_member_changes_over_time_and_every_member_gets_gradient():
    cfg = tiny_config("algo.free_nats=0.0", "algo.seq_len=8", "algo.batch_size=4")
    torch.manual_seed(1)
    wm = WorldModel(cfg.model, cfg.algo, PolicyNet(cfg.model, ACTION_DIM))
    m = cfg.model.ensemble
    touched = torch.zeros(m, dtype=torch.bool)
    for step in range(3):
        wm.zero_grad(set_to_none=True)
        out = wm.loss(random_batch(cfg, seed=step))
        # i_t is drawn per time step: along each sequence the member changes
        assert all(len(set(row.tolist())) > 1 for row in out.members)
        out.loss.backward()
        grad = wm.rssm.prior_ensemble.w2.grad.abs().flatten(1).sum(-1)  # (M,)
        drawn = torch.zeros(m, dtype=torch.bool)
        drawn[out.members.unique()] = True
        # exactly the drawn members receive gradient in a step
        assert torch.equal(grad > 0, drawn)
        touched |= drawn
    assert touched.all()


def test_selected_members_match_the_full_ensemble_in_value_and_gradient():
    """The ELBO evaluates only the member drawn per row; it must equal picking from all members."""
    import torch

    from moto_rl.common.networks import PriorEnsemble

    torch.manual_seed(0)
    ens = PriorEnsemble(deter=6, hidden=5, out=4, members=7)
    h = torch.randn(40, 6)
    members = torch.randint(7, (40,))
    members[:3] = torch.tensor([0, 6, 0])  # repeats and both ends
    full = ens(h)[members, torch.arange(40)]  # (40, 4)
    selected = ens.forward_selected(h, members)
    torch.testing.assert_close(selected, full)
    weights = torch.randn(40, 4)
    grads_full = torch.autograd.grad((full * weights).sum(), list(ens.parameters()))
    grads_sel = torch.autograd.grad((ens.forward_selected(h, members) * weights).sum(), list(ens.parameters()))
    for a, b in zip(grads_full, grads_sel, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("reduce", ["mean", "max"])
def test_fused_penalty_and_member_pick_match_the_separate_functions(reduce):
    from moto_rl.learner.imagination import penalty_and_member, pick_member

    torch.manual_seed(2)
    logits = torch.randn(7, 9, 4, 5, dtype=torch.float64)
    w_u, w_l = torch.randn(9, dtype=torch.float64), torch.randn(9, 4, 5, dtype=torch.float64)
    mine = logits.clone().requires_grad_(True)
    torch.manual_seed(3)
    u, picked = penalty_and_member(mine, reduce, "random")
    ((u * w_u).sum() + (picked * w_l).sum()).backward()
    ref = logits.clone().requires_grad_(True)
    torch.manual_seed(3)
    ref_picked = pick_member(ref, "random")  # the same member draw
    ref_u = uncertainty_penalty(ref, reduce)
    ((ref_u * w_u).sum() + (ref_picked * w_l).sum()).backward()
    torch.testing.assert_close(u, ref_u)
    torch.testing.assert_close(picked, ref_picked)
    torch.testing.assert_close(mine.grad, ref.grad)


def test_penalty_of_bf16_logits_is_their_std_in_float32():
    """Under bf16 autocast the logits are bf16; the std is taken in fp32 (a bf16 std loses the
    members' spread to rounding: 0.016 off on logits of magnitude ~3 in a measured case)."""
    torch.manual_seed(4)
    logits = (torch.randn(7, 50, 4, 8) * 3).to(torch.bfloat16)
    u = uncertainty_penalty(logits)
    assert u.dtype == torch.float32
    ref = np.std(logits.float().numpy().astype(np.float64), axis=0).reshape(50, -1).mean(-1)
    assert np.allclose(u.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_penalty_has_no_cancellation_when_the_members_share_a_large_offset():
    """The std comes from E[d^2] - E[d]^2 with d = l_i - l_1: accurate even when every logit sits far
    from 0 and the members barely differ (a raw E[l^2] - E[l]^2 in fp32 would lose it entirely)."""
    torch.manual_seed(5)
    spread = torch.randn(7, 20, 2, 3, dtype=torch.float64) * 1e-3
    logits = (1e3 + spread).float()
    u = uncertainty_penalty(logits).double()
    ref = torch.from_numpy(np.std(logits.double().numpy(), axis=0).reshape(20, -1).mean(-1))
    torch.testing.assert_close(u, ref, rtol=1e-3, atol=0.0)


def test_penalty_gradient_of_bf16_logits_matches_the_fp64_reference():
    torch.manual_seed(6)
    logits = torch.randn(7, 6, 4, 5).to(torch.bfloat16)
    mine = logits.clone().requires_grad_(True)
    uncertainty_penalty(mine).sum().backward()
    assert mine.grad.dtype == torch.bfloat16
    ref = logits.double().requires_grad_(True)
    (ref - ref.mean(0)).pow(2).mean(0).sqrt().flatten(1).mean(-1).sum().backward()
    torch.testing.assert_close(mine.grad.double(), ref.grad, rtol=1e-2, atol=1e-4)
