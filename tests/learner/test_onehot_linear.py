"""The one-hot row-lookup layer gives the dense layer's values and gradients, and every user of it
(critics, reward head, the behaviour update) gives what the dense path gives."""

import pytest
import torch
import torch.nn.functional as F

from moto_rl.learner.critics import CriticEnsemble
from moto_rl.learner.onehot_linear import lookup_weights, onehot_feat_linear, onehot_linear, onehot_net, stoch_index

D, S, C, OUT = 5, 4, 3, 7


def straight_through_feat(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """s = [h, z] with z a straight-through sample (one-hot values, the gradient of the probabilities),
    the way the imagination builds it; returns (feat, the classes drawn, the logits z's gradient reaches)."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, D, generator=g, requires_grad=True)
    logits = torch.randn(n, S, C, generator=g, requires_grad=True)
    probs = logits.softmax(-1)
    classes = torch.randint(C, (n, S), generator=g)
    z = (F.one_hot(classes, C).float() + probs - probs.detach()).flatten(-2)
    return torch.cat([h, z], -1), classes, logits


def test_index_reads_the_classes_back():
    feat, classes, _ = straight_through_feat(11, 0)
    assert torch.equal(stoch_index(feat, S * C, C), classes)
    assert torch.equal(stoch_index(feat.reshape(1, 11, -1), S * C, C), classes.reshape(1, 11, S))


def test_values_and_gradients_match_the_dense_layer():
    feat, classes, logits = straight_through_feat(13, 1)
    weight = torch.randn(D + S * C, OUT, requires_grad=True)
    bias = torch.randn(OUT, requires_grad=True)
    out = onehot_feat_linear(feat, classes, weight, bias, C)
    ref = feat @ weight + bias
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ref)
    inputs = (logits, weight, bias)  # the straight-through gradient reaches the logits through z
    for name, a, b in zip(
        ("logits", "weight", "bias"),
        torch.autograd.grad(out, inputs, g, retain_graph=True),
        torch.autograd.grad(ref, inputs, g),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=lambda m, name=name: f"{name}: {m}")


def test_a_wrong_class_changes_the_value():
    # the lookup really reads the classes (a layer that ignored them and used, say, class 0 would fail)
    feat, classes, _ = straight_through_feat(6, 2)
    weight, bias = torch.randn(D + S * C, OUT), torch.zeros(OUT)
    wrong = (classes + 1) % C
    assert not torch.allclose(onehot_feat_linear(feat, wrong, weight, bias, C), feat @ weight, atol=1e-3)


@pytest.mark.parametrize("with_action", [True, False])
def test_critics_with_the_index_match_the_dense_critics(with_action):
    torch.manual_seed(3)
    a_dim = 2 if with_action else 0
    critics = CriticEnsemble(2, D + S * C, a_dim, 8, 2, classes=C)
    with torch.no_grad():
        critics.ln_w.uniform_(0.5, 1.5)
        critics.ln_b.uniform_(-0.3, 0.3)
    feat, classes, logits = straight_through_feat(12, 4)
    feat, classes = feat.reshape(3, 4, -1), classes.reshape(3, 4, S)
    action = torch.randn(3, 4, 2, requires_grad=True) if with_action else None
    out, ref = critics(feat, action, classes), critics(feat, action)
    assert out.shape == ref.shape == (2, 3, 4)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    params = [logits, *([action] if with_action else []), *critics.parameters()]
    g = torch.randn_like(ref)
    mine = torch.autograd.grad(out, params, g, retain_graph=True)
    for a, b in zip(mine, torch.autograd.grad(ref, params, g), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_groups_first_then_dense_columns_match_the_dense_layer():
    # the RSSM's input layer reads [z, a]: the one-hot groups come first, then dense columns
    feat, classes, logits = straight_through_feat(9, 5)
    z = feat[:, D:]
    action = torch.randn(9, 2, requires_grad=True)
    x = torch.cat([z, action], -1)
    weight = torch.randn(S * C + 2, OUT, requires_grad=True)
    bias = torch.randn(OUT, requires_grad=True)
    out = onehot_linear(x, classes, weight, bias, C, start=0)
    ref = x @ weight + bias
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ref)
    inputs = (logits, action, weight, bias)
    mine = torch.autograd.grad(out, inputs, g, retain_graph=True)
    for a, b in zip(mine, torch.autograd.grad(ref, inputs, g), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_lookup_weights_of_a_linear_give_its_output_and_gradients():
    torch.manual_seed(6)
    linear = torch.nn.Linear(D + S * C, OUT)
    feat, classes, _ = straight_through_feat(7, 6)
    out = onehot_feat_linear(feat, classes, *lookup_weights(linear), C)
    ref = linear(feat)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ref)
    params = list(linear.parameters())
    for a, b in zip(torch.autograd.grad(out, params, g), torch.autograd.grad(ref, params, g), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_a_network_whose_first_layer_reads_rows_matches_the_network():
    # onehot_net runs the rest of the Sequential after the lookup layer (here two more layers)
    from moto_rl.common.networks import mlp

    torch.manual_seed(9)
    net = mlp(D + S * C, OUT, 6, 2)
    feat, classes, logits = straight_through_feat(8, 9)
    out, ref = onehot_net(net, feat, classes, C), net(feat)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ref)
    inputs = [logits, *net.parameters()]
    mine = torch.autograd.grad(out, inputs, g, retain_graph=True)
    for a, b in zip(mine, torch.autograd.grad(ref, inputs, g), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_imagination_with_row_lookups_matches_the_dense_rollout():
    # same draws, same trajectory, and the same actor gradient through the dynamics, with or without lookups
    from helpers.learner import ACTION_DIM, tiny_config

    from moto_rl.common.networks import RSSMState
    from moto_rl.learner.imagination import imagine
    from moto_rl.learner.learner import Learner

    learner = Learner(tiny_config(), ACTION_DIM, device="cpu")
    wm, actor = learner.world_model, learner.agent.actor
    rssm = wm.rssm
    g = torch.Generator().manual_seed(7)
    n = 6
    classes = torch.randint(rssm.classes, (n, rssm.stoch), generator=g)
    start = RSSMState(torch.randn(n, rssm.deter_dim, generator=g), F.one_hot(classes, rssm.classes).float().flatten(-2))
    results = []
    for on in (False, True):
        torch.manual_seed(8)
        traj = imagine(wm, actor, start, 4, 0.5, onehot_rows=on)
        loss = traj.penalised_reward.sum() + traj.feat.square().sum() + traj.action.sum()
        grads = torch.autograd.grad(loss, list(actor.parameters()))
        results.append((traj, grads))
    (dense, g_dense), (rows, g_rows) = results
    assert dense.stoch_index is None and rows.stoch_index is not None
    torch.testing.assert_close(rows.stoch_index, stoch_index(rows.feat, rssm.stoch_dim, rssm.classes), rtol=0, atol=0)
    for name in ("feat", "action", "reward", "penalty", "entropy"):
        torch.testing.assert_close(getattr(rows, name), getattr(dense, name), rtol=1e-5, atol=1e-5, msg=name)
    for a, b in zip(g_rows, g_dense, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
