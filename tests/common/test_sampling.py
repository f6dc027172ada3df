"""The straight-through categorical sample of the RSSM: right frequencies, never a class of
probability 0, one-hot values with the gradient of the probabilities."""

import torch

from moto_rl.common.networks import sample_categorical, sample_onehot


def test_frequencies_match_the_probabilities():
    torch.manual_seed(0)
    probs = torch.tensor([[0.05, 0.15, 0.0, 0.3, 0.5], [0.7, 0.0, 0.1, 0.1, 0.1]])
    n = 40_000
    idx = sample_categorical(probs.unsqueeze(0).expand(n, -1, -1))  # (n, 2)
    assert idx.shape == (n, 2) and idx.dtype == torch.long
    for row in range(2):
        freq = torch.bincount(idx[:, row], minlength=5).double() / n
        expected = probs[row].double()
        # 4 standard errors of a binomial proportion: a wrong CDF shifts mass by far more
        tol = 4 * (expected * (1 - expected) / n).sqrt() + 1e-12
        assert ((freq - expected).abs() <= tol).all(), (row, freq, expected)
        assert freq[expected == 0].sum() == 0  # a class of probability 0 is never drawn


def test_probabilities_that_do_not_sum_to_one_are_drawn_in_proportion():
    # softmax outputs sum to 1 only up to rounding; the draw scales by the sum, so even half the mass
    # gives the right frequencies and never an index past the last class
    torch.manual_seed(2)
    n = 70_000
    idx = sample_categorical(torch.full((n, 7), 0.5 / 7))
    assert int(idx.min()) >= 0 and int(idx.max()) <= 6
    freq = torch.bincount(idx, minlength=7).double() / n
    tol = 4 * (1 / 7 * 6 / 7 / n) ** 0.5
    assert ((freq - 1 / 7).abs() <= tol).all(), freq


def test_onehot_sample_is_straight_through():
    torch.manual_seed(1)
    logits = torch.randn(4, 3, 5, requires_grad=True)  # (N, S, C)
    onehot = sample_onehot(logits)
    assert onehot.shape == (4, 15)
    values = onehot.detach().reshape(4, 3, 5)
    torch.testing.assert_close(values, values.round(), rtol=0, atol=1e-6)  # one-hot up to + p - p rounding
    assert torch.equal(values.round().sum(-1), torch.ones(4, 3))
    weights = torch.randn(4, 15)
    (onehot * weights).sum().backward()
    probs = logits.detach().softmax(-1)
    w = weights.reshape(4, 3, 5)
    expected = probs * (w - (probs * w).sum(-1, keepdim=True))  # d/dlogits of sum(w * softmax(logits))
    torch.testing.assert_close(logits.grad, expected)
