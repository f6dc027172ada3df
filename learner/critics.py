"""The critics as one batched module: Q_1..Q_n(s, a) (or state values v(s)) evaluated together.

MOTO's twin critics (and their target copies) see the same input; evaluating them as two modules
doubles every small op of the behaviour update. Here the members' weights are stacked on a leading
axis (as ``PriorEnsemble`` stacks the priors): the first layer is one matmul over the shared input
with the members' weights side by side, the later layers one batched matmul each. Each member is
exactly ``moto_rl.common.networks.mlp(in_dim, 1, hidden, layers, norm)`` with its own weights and
nn.Linear's initialisation (tests compare against that, member by member).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from moto_rl.learner.onehot_linear import onehot_feat_linear


class CriticEnsemble(nn.Module):
    """``members`` critics of ``layers`` hidden layers (Linear, LayerNorm, ELU) and a linear output.

    forward(feat (..., F), action (..., A)) -> values of every member (members, ...).
    ``action_dim`` = 0 makes them state values v(s) (the DreamerV2 ablation)."""

    def __init__(
        self,
        members: int,
        feat_dim: int,
        action_dim: int,
        hidden: int,
        layers: int,
        norm: str = "layer",
        classes: int = 0,
    ):
        super().__init__()
        self.classes = classes  # of each one-hot group of z in the features: forward's ``index`` needs it
        if layers < 1:
            raise ValueError(f"model.mlp_layers must be >= 1 for the critics, got {layers}")
        self.members, self.hidden, self.norm = members, hidden, norm
        self.uses_action = action_dim > 0
        dims = [feat_dim + action_dim] + [hidden] * layers + [1]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(members, dims[i], dims[i + 1])) for i in range(len(dims) - 1)
        )
        self.biases = nn.ParameterList(nn.Parameter(torch.empty(members, dims[i + 1])) for i in range(len(dims) - 1))
        self.ln_w = nn.Parameter(torch.ones(layers, members, hidden))
        self.ln_b = nn.Parameter(torch.zeros(layers, members, hidden))
        for w, b in zip(self.weights, self.biases, strict=True):
            bound = 1.0 / math.sqrt(w.shape[1])  # nn.Linear's default, drawn independently per member
            nn.init.uniform_(w, -bound, bound)
            nn.init.uniform_(b, -bound, bound)

    def __len__(self) -> int:
        return self.members

    def _hidden(self, x: torch.Tensor, i: int) -> torch.Tensor:
        if self.norm == "layer":
            # member by member, so each norm applies its gain and bias in its own kernel: at the behaviour
            # update's (2, 12800, 200), a critic pass forward and backward took 5-14% less than with one
            # norm and the members' gains and biases broadcast after it (two more passes each way)
            # (unbind, not x[j]: each x[j]'s backward would zero-fill a gradient of all members' size)
            x = torch.stack(
                [F.layer_norm(xj, (self.hidden,), self.ln_w[i, j], self.ln_b[i, j]) for j, xj in enumerate(x.unbind(0))]
            )
        return F.elu(x, inplace=True)

    def forward(
        self, feat: torch.Tensor, action: torch.Tensor | None = None, index: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``index`` (..., S): the classes of z's one-hot groups in ``feat`` (learner/onehot_linear.py),
        which the first layer then reads as row lookups; None multiplies by all of feat."""
        lead = feat.shape[:-1]
        feat = feat.reshape(-1, feat.shape[-1])  # (N, F)
        m, n = self.members, feat.shape[0]
        w0, b0 = self.weights[0], self.biases[0]  # (M, F [+ A], H), (M, H)
        # the shared input meets all members' first layers in one (N, in) x (in, M*H) matmul; feat and
        # action take their own rows of it, so the large (N, F + A) concatenation is never built
        w0 = w0.transpose(0, 1).reshape(w0.shape[1], -1)  # (in, M*H)
        f = feat.shape[-1]
        if index is not None and self.classes:
            h = onehot_feat_linear(feat, index.reshape(n, -1), w0[:f], b0.reshape(-1), self.classes)
        else:
            h = torch.addmm(b0.reshape(1, -1), feat, w0[:f])
        if self.uses_action:
            h = torch.addmm(h, action.reshape(n, -1), w0[f:])
        h = self._hidden(h.reshape(n, m, -1).transpose(0, 1), 0)  # (M, N, H)
        last = len(self.weights) - 1
        for i in range(1, last):
            h = self._hidden(torch.baddbmm(self.biases[i].unsqueeze(1), h, self.weights[i]), i)
        # the output layer in fp32 under autocast: the values feed the targets and returns, where bf16
        # resolves Kitchen-scale values (hundreds) to steps of 2; it is one (N, H) x (H, 1) product per member
        with torch.autocast(h.device.type, enabled=False):
            q = torch.baddbmm(self.biases[last].unsqueeze(1), h.float(), self.weights[last])
        return q.squeeze(-1).reshape(m, *lead)  # (M, ...), fp32

    def member_mlp(self, i: int) -> nn.Sequential:
        """Member ``i`` as a plain ``mlp`` (a copy of its weights), the reference the tests compare against."""
        from moto_rl.common.networks import mlp

        layers = len(self.weights) - 1
        net = mlp(self.weights[0].shape[1], 1, self.hidden, layers, self.norm, fp32_out=True)
        linears = [mod for mod in net if isinstance(mod, nn.Linear)]
        norms = [mod for mod in net if isinstance(mod, nn.LayerNorm)]
        with torch.no_grad():
            for k, lin in enumerate(linears):
                lin.weight.copy_(self.weights[k][i].T)
                lin.bias.copy_(self.biases[k][i])
            for k, ln in enumerate(norms):
                ln.weight.copy_(self.ln_w[k, i])
                ln.bias.copy_(self.ln_b[k, i])
        return net
