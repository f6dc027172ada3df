"""A linear layer on the model state s = [h, z] that reads z's one-hot groups as row lookups.

z is S one-hot groups of C classes, so z @ W_z is the sum of S rows of W_z: at the behaviour update's
(12800, 200 + 1024) -> 400 first critic layer the forward matmul is 84% one-hot multiply-adds by 0.
``onehot_feat_linear`` computes h @ W_h + (those rows summed) + b with ``F.embedding_bag``. Its
backward is the dense layer's: the straight-through gradient still reaches every entry of z, and the
weight gradient is z^T g with z as it is (one-hot values up to the rounding of the straight-through
estimator, ``onehot + p - p``, which also bounds how far the forward differs from the dense one)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


class _OneHotFeatLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, feat: torch.Tensor, rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, deter: int):
        out = torch.addmm(bias, feat[:, :deter], weight[:deter])
        out = out + F.embedding_bag(rows, weight.to(out.dtype), mode="sum")  # (N, S) rows: S-row bags
        ctx.save_for_backward(feat, weight)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        feat, weight = ctx.saved_tensors
        grad_feat = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_feat = (grad @ weight.to(grad.dtype).T).to(feat.dtype)
        if ctx.needs_input_grad[2]:
            grad_weight = (feat.to(grad.dtype).T @ grad).to(weight.dtype)
        if ctx.needs_input_grad[3]:
            grad_bias = grad.sum(0).to(weight.dtype)
        return grad_feat, None, grad_weight, grad_bias, None


def stoch_index(feat: torch.Tensor, stoch_dim: int, classes: int) -> torch.Tensor:
    """The class of each one-hot group of z in s = [h, z]. (..., D + S*C) -> (..., S) long."""
    return feat[..., feat.shape[-1] - stoch_dim :].unflatten(-1, (-1, classes)).argmax(-1)


def onehot_feat_linear(
    feat: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, classes: int
) -> torch.Tensor:
    """s @ weight + bias for s = [h, z] (..., D + S*C) whose z is one-hot with classes ``index``
    (..., S); weight (D + S*C, O), bias (O,) -> (..., O)."""
    lead, n_groups = feat.shape[:-1], index.shape[-1]
    deter = feat.shape[-1] - n_groups * classes
    offsets = deter + classes * torch.arange(n_groups, device=index.device)
    rows = (index.reshape(-1, n_groups) + offsets).contiguous()  # row of ``weight`` each group selects
    out = _OneHotFeatLinear.apply(feat.reshape(-1, feat.shape[-1]), rows, weight, bias, deter)
    return out.reshape(*lead, -1)
