"""A linear layer whose input holds z's one-hot groups, reading them as row lookups.

z is S one-hot groups of C classes, so z @ W_z is the sum of S rows of W_z: at the behaviour update's
(12800, 200 + 1024) -> 400 first critic layer the forward matmul is 84% one-hot multiply-adds by 0.
``onehot_linear`` computes the other columns' matmul plus those rows summed (``F.embedding_bag``).

Backward: the input gradient is the dense layer's, so the straight-through gradient still reaches
every entry of z. The weight gradient of z's rows is z^T g with z one-hot, a sparse product on CPU (at
(12000, 1024) x (12000, 400), 2 threads: 30-31 ms against 61-68 dense) and the dense one elsewhere. Both
passes treat z as exactly one-hot; the straight-through estimator's z = onehot + p - p is one-hot up
to its rounding (the hot entry within 1e-7 of 1, the others exactly 0), which bounds the difference."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _OneHotLinear(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, x: torch.Tensor, rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, start: int, end: int
    ) -> torch.Tensor:
        # x (N, in): columns [start, end) one-hot; rows (N, S): the weight row each group selects, from start
        parts = [(x[:, :start], weight[:start]), (x[:, end:], weight[end:])]
        parts = [(xi, wi) for xi, wi in parts if xi.shape[1]]
        out = bias.expand(x.shape[0], -1)
        for xi, wi in parts:  # the dense columns (autocast picks the dtype, as it would for the layer)
            out = torch.addmm(out, xi, wi)
        out = out + F.embedding_bag(rows, weight[start:end].to(out.dtype), mode="sum")
        ctx.save_for_backward(x, rows, weight)
        ctx.span = (start, end)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, rows, weight = ctx.saved_tensors
        start, end = ctx.span
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = (grad @ weight.to(grad.dtype).T).to(x.dtype)
        if ctx.needs_input_grad[2]:
            g = grad.to(weight.dtype)
            grad_weight = torch.empty_like(weight)
            torch.mm(x[:, :start].T.to(g.dtype), g, out=grad_weight[:start])
            torch.mm(x[:, end:].T.to(g.dtype), g, out=grad_weight[end:])
            grad_weight[start:end] = _onehot_transpose_mm(rows, end - start, x[:, start:end], g)
        if ctx.needs_input_grad[3]:
            grad_bias = grad.sum(0).to(weight.dtype)
        return grad_x, None, grad_weight, grad_bias, None, None


@torch.compiler.disable  # torch.compile cannot trace sparse tensors: this part runs eagerly
def _onehot_transpose_mm(rows: torch.Tensor, width: int, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """z^T g for z (N, width) one-hot with ones at (n, rows[n, s]): a sparse product on CPU (torch's
    CPU matmul multiplies by every zero), the dense one on other devices (fast there, and exact)."""
    if g.device.type != "cpu":
        return z.T.to(g.dtype) @ g
    n, groups = rows.shape
    samples = torch.arange(n, device=rows.device).repeat_interleave(groups)
    indices = torch.stack([rows.reshape(-1), samples])  # in range by construction: skip torch's check
    zt = torch.sparse_coo_tensor(indices, g.new_ones(n * groups), (width, n), check_invariants=False)
    return torch.sparse.mm(zt, g)


def stoch_index(feat: torch.Tensor, stoch_dim: int, classes: int) -> torch.Tensor:
    """The class of each one-hot group of z in s = [h, z]. (..., D + S*C) -> (..., S) long."""
    return feat[..., feat.shape[-1] - stoch_dim :].unflatten(-1, (-1, classes)).argmax(-1)


def onehot_linear(
    x: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, classes: int, start: int
) -> torch.Tensor:
    """x @ weight + bias, where columns [start, start + S*C) of x (..., in) are S one-hot groups of
    ``classes`` classes whose hot classes are ``index`` (..., S); weight (in, O), bias (O,) -> (..., O)."""
    lead, n_groups = x.shape[:-1], index.shape[-1]
    end = start + n_groups * classes
    offsets = classes * torch.arange(n_groups, device=index.device)
    rows = (index.reshape(-1, n_groups) + offsets).contiguous()  # row of weight[start:end] each group selects
    out = _OneHotLinear.apply(x.reshape(-1, x.shape[-1]), rows, weight, bias, start, end)
    return out.reshape(*lead, -1)


def onehot_feat_linear(
    feat: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, classes: int
) -> torch.Tensor:
    """``onehot_linear`` on the model state s = [h, z] (..., D + S*C), z last."""
    return onehot_linear(feat, index, weight, bias, classes, feat.shape[-1] - index.shape[-1] * classes)


def onehot_net(
    net: nn.Sequential,
    x: torch.Tensor,
    index: torch.Tensor,
    classes: int,
    start: int | None = None,
    weights: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """``net(x)`` for a Sequential that starts with an nn.Linear, that layer reading the one-hot groups of x
    (classes ``index``) as row lookups. ``start``: the column where the groups begin (None: they end x, as
    z ends s = [h, z]). ``weights``: ``lookup_weights(net[0])`` made once by a caller that calls repeatedly."""
    weight, bias = weights if weights is not None else lookup_weights(net[0])
    if start is None:
        return net[1:](onehot_feat_linear(x, index, weight, bias, classes))
    return net[1:](onehot_linear(x, index, weight, bias, classes, start))


def lookup_weights(linear: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    """An nn.Linear's (weight as (in, out) rows, bias) for ``onehot_linear``: the lookups read whole rows,
    which its (out, in) weight stores strided. A differentiable copy: make it once per use of the weights
    (a rollout), not per call."""
    return linear.weight.T.contiguous(), linear.bias
