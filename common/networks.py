"""Networks shared by the rollout workers and the learner: encoder, RSSM (with the prior ensemble), actor.

Symbols follow the paper (MOTO, CoRL 2023; docs/training.md): h_t deterministic GRU state, z_t the
stochastic state (``stoch`` categoricals x ``classes`` classes, one-hot, flattened), s_t = [h_t, z_t].
Time alignment is the Batch's: at index t the action a_t is the one that *led to* x_t, so
h_t = f(h_{t-1}, z_{t-1}, a_t) in array indices (the paper writes a_{t-1}).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from moto_rl.common.config import ModelConfig


def preprocess_images(image: torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-0.5, 0.5]."""
    # in place on a fresh copy: one float buffer instead of three (same values)
    x = image.to(torch.float32, copy=True).div_(255.0).sub_(0.5)
    return x.movedim(-1, -3)


class FP32Linear(nn.Linear):
    """An nn.Linear that computes in fp32 under autocast (same parameters and state_dict keys).

    For the output layer of a head whose value the method is sensitive to (reward, critic values):
    a bf16 output at Kitchen's value scale (hundreds) is resolved to steps of 2. The layer is one
    (N, hidden) x (hidden, 1) product, so its cost in fp32 is negligible."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return F.linear(x.float(), self.weight, self.bias)


def mlp(
    in_dim: int, out_dim: int, hidden: int, layers: int, norm: str = "layer", fp32_out: bool = False
) -> nn.Sequential:
    """``layers`` hidden layers of width ``hidden`` (Linear, LayerNorm, ELU), then a linear output
    (``fp32_out``: computed in fp32 under autocast, see ``FP32Linear``)."""
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers):
        # ELU in place, here and in every network: its backward then reads the output (out + 1 where x < 0)
        # instead of recomputing exp from the input; forward and backward at (2, 12800, 200), 2 threads:
        # 10.1-11.7 -> 8.6-10.0 ms. Nothing needs the pre-activation: Linear, LayerNorm and conv backwards
        # read their inputs.
        norm_layer = nn.LayerNorm(hidden) if norm == "layer" else nn.Identity()
        mods += [nn.Linear(dim, hidden), norm_layer, nn.ELU(inplace=True)]
        dim = hidden
    mods.append((FP32Linear if fp32_out else nn.Linear)(dim, out_dim))
    return nn.Sequential(*mods)


class Encoder(nn.Module):
    """Conv encoder: channels depth*(1,2,4,8), kernel 4, stride 2, VALID: 64 -> 31 -> 14 -> 6 -> 2."""

    def __init__(self, depth: int):
        super().__init__()
        chans = [3] + [depth * m for m in (1, 2, 4, 8)]
        self.convs = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 4, stride=2) for i in range(4))
        self.out_dim = chans[-1] * 2 * 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, 3, 64, 64) float in [-0.5, 0.5] -> (N, E)
        for conv in self.convs:
            x = F.elu(conv(x), inplace=True)
        return x.flatten(1)


class PriorEnsemble(nn.Module):
    """M prior heads p_i(z_t | h_t), evaluated for all members in one batched computation.

    Weights are stacked along a leading member axis and applied with ``torch.baddbmm``, so 7 members
    are one (M, N, D) x (M, D, H) matmul instead of a Python loop.
    """

    def __init__(self, deter: int, hidden: int, out: int, members: int, norm: str = "layer"):
        super().__init__()
        self.members, self.norm = members, norm
        self.w1 = nn.Parameter(torch.empty(members, deter, hidden))
        self.b1 = nn.Parameter(torch.empty(members, hidden))
        self.ln_w = nn.Parameter(torch.ones(members, hidden))
        self.ln_b = nn.Parameter(torch.zeros(members, hidden))
        self.w2 = nn.Parameter(torch.empty(members, hidden, out))
        self.b2 = nn.Parameter(torch.empty(members, out))
        for w, b, fan_in in ((self.w1, self.b1, deter), (self.w2, self.b2, hidden)):
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default, drawn independently per member
            nn.init.uniform_(w, -bound, bound)
            nn.init.uniform_(b, -bound, bound)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # h: (N, D) -> logits of every member (M, N, out)
        m, d, hidden = self.w1.shape
        # every member reads the same h: the first layer is one (N, D) x (D, M*H) matmul, whose
        # backward sums the members' input gradients inside the matmul (a batched matmul on an
        # expanded h would materialise M copies of h and its gradient)
        w1 = self.w1.transpose(0, 1).reshape(d, m * hidden)
        x = torch.addmm(self.b1.reshape(-1), h, w1).reshape(-1, m, hidden).transpose(0, 1)  # (M, N, H)
        if self.norm == "layer":
            x = torch.addcmul(self.ln_b.unsqueeze(1), F.layer_norm(x, (hidden,)), self.ln_w.unsqueeze(1))
        x = F.elu(x, inplace=True)
        return torch.baddbmm(self.b2.unsqueeze(1), x, self.w2)  # (M, N, out)

    def forward_selected(self, h: torch.Tensor, members: torch.Tensor) -> torch.Tensor:
        """Logits of one member per row: h (N, D), members (N,) long -> (N, out).

        Each member runs only on its own rows, so this costs one prior head whatever M is (the ELBO
        needs just the member drawn for each step; only the penalty needs all of them)."""
        rows, outs = [], []
        for m in range(self.members):
            idx = (members == m).nonzero(as_tuple=True)[0]
            if idx.numel() == 0:
                continue
            x = torch.addmm(self.b1[m], h[idx], self.w1[m])  # (n_m, H)
            if self.norm == "layer":
                x = F.layer_norm(x, x.shape[-1:]) * self.ln_w[m] + self.ln_b[m]
            outs.append(torch.addmm(self.b2[m], F.elu(x, inplace=True), self.w2[m]))  # (n_m, out)
            rows.append(idx)
        return torch.cat(outs)[torch.argsort(torch.cat(rows))]  # back to row order


@dataclass
class RSSMState:
    deter: torch.Tensor  # h_t (..., D)
    stoch: torch.Tensor  # z_t one-hot, flattened (..., S*C)

    @property
    def feat(self) -> torch.Tensor:  # s_t = [h_t, z_t]  (..., D + S*C)
        return torch.cat([self.deter, self.stoch], -1)

    def detach(self) -> RSSMState:
        return RSSMState(self.deter.detach(), self.stoch.detach())


def sample_categorical(probs: torch.Tensor) -> torch.Tensor:
    """Class indices drawn from ``probs`` (..., C) by inverting the CDF with one uniform per row.

    ~10x cheaper than ``torch.multinomial`` (one exponential draw per class) on the imagination's
    (800 x 32) x 32 probabilities; a class of probability 0 is never drawn."""
    cdf = probs.cumsum(-1)
    u = torch.rand_like(cdf[..., :1]) * cdf[..., -1:]  # scaled by the total: float sums may miss 1
    return (cdf < u).sum(-1)  # u <= cdf[-1], so at most C - 1 entries lie below it


def sample_onehot(logits: torch.Tensor) -> torch.Tensor:
    """Straight-through categorical sample. logits (..., S, C) -> one-hot (..., S*C) with grad of probs."""
    return sample_onehot_and_index(logits)[0]


def sample_onehot_and_index(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``sample_onehot`` and the drawn classes (..., S) long (the same draw)."""
    # In fp32 whatever the logits' dtype (bf16 under autocast); the sample is returned in the logits'
    # dtype. onehot + (p - p) is exactly one-hot in the forward pass (p - p is exactly 0), where
    # onehot + p - p rounds the hot entry to 1 +- 2^-8 in bf16; the gradient, d/dp = 1, is the same.
    with torch.autocast(logits.device.type, enabled=False):
        probs = logits.float().softmax(-1)
        index = sample_categorical(probs.detach())
        onehot = F.one_hot(index, probs.shape[-1]).to(probs.dtype)
        sample = onehot + (probs - probs.detach())
    return sample.to(logits.dtype).flatten(-2), index


class RSSM(nn.Module):
    """Recurrent state-space model: GRU h_t, posterior q(z_t | h_t, e_t), M priors p_i(z_t | h_t)."""

    def __init__(self, cfg: ModelConfig, action_dim: int, embed_dim: int):
        super().__init__()
        self.deter_dim, self.stoch, self.classes = cfg.deter, cfg.stoch, cfg.classes
        self.stoch_dim = cfg.stoch * cfg.classes
        self.feat_dim = cfg.deter + self.stoch_dim
        self.action_dim = action_dim
        self.img_in = mlp(self.stoch_dim + action_dim, cfg.hidden, cfg.hidden, 0, cfg.norm)
        self.img_in_norm = nn.LayerNorm(cfg.hidden) if cfg.norm == "layer" else nn.Identity()
        self.gru = nn.GRUCell(cfg.hidden, cfg.deter)  # choice: torch's fused GRU cell (DreamerV2 uses a layer-norm GRU)
        self.posterior_net = mlp(cfg.deter + embed_dim, self.stoch_dim, cfg.hidden, 1, cfg.norm)
        self.prior_ensemble = PriorEnsemble(cfg.deter, cfg.hidden, self.stoch_dim, cfg.ensemble, cfg.norm)

    def initial(self, n: int, device: torch.device | str = "cpu") -> RSSMState:
        return RSSMState(torch.zeros(n, self.deter_dim, device=device), torch.zeros(n, self.stoch_dim, device=device))

    def deter_step(self, prev: RSSMState, action: torch.Tensor) -> torch.Tensor:
        """h_t = f(h_{t-1}, z_{t-1}, a_t).  prev: (N, ...), action (N, A) -> (N, D)."""
        return self.deter_from_input(self.img_in(torch.cat([prev.stoch, action], -1)), prev.deter)

    def deter_from_input(self, img_in: torch.Tensor, deter: torch.Tensor) -> torch.Tensor:
        """The rest of ``deter_step`` after its first layer ``img_in`` (a caller may compute that layer its
        own way: the learner's imagination reads z's one-hot groups as row lookups). (N, H), (N, D) -> (N, D)."""
        return self.gru(F.elu(self.img_in_norm(img_in), inplace=True), deter)

    def prior_logits(self, deter: torch.Tensor) -> torch.Tensor:
        """Logits of every prior member. deter (N, D) -> (M, N, S, C)."""
        out = self.prior_ensemble(deter)
        return out.reshape(out.shape[0], out.shape[1], self.stoch, self.classes)

    def prior_logits_selected(self, deter: torch.Tensor, members: torch.Tensor) -> torch.Tensor:
        """Logits of member ``members[n]`` for row n. deter (N, D), members (N,) -> (N, S, C)."""
        return self.prior_ensemble.forward_selected(deter, members).reshape(-1, self.stoch, self.classes)

    def posterior_logits(self, deter: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
        """q(z_t | h_t, e_t). deter (N, D), embed (N, E) -> (N, S, C)."""
        return self.posterior_net(torch.cat([deter, embed], -1)).reshape(-1, self.stoch, self.classes)

    def obs_step(
        self, prev: RSSMState, action: torch.Tensor, embed: torch.Tensor, is_first: torch.Tensor
    ) -> tuple[RSSMState, torch.Tensor]:
        """One filtering step; resets state and action where ``is_first``. Returns (posterior state, logits (N,S,C))."""
        keep = (~is_first).to(prev.deter.dtype).unsqueeze(-1)  # (N, 1)
        prev = RSSMState(prev.deter * keep, prev.stoch * keep)
        deter = self.deter_step(prev, action * keep)
        logits = self.posterior_logits(deter, embed)
        return RSSMState(deter, sample_onehot(logits)), logits

    def observe(
        self, embed: torch.Tensor, action: torch.Tensor, is_first: torch.Tensor, start: RSSMState | None = None
    ) -> tuple[RSSMState, torch.Tensor]:
        """Filter a batch of sequences. embed (B, T, E), action (B, T, A), is_first (B, T).

        Returns posterior states with fields (B, T, ·) and posterior logits (B, T, S, C).
        """
        b, t_len = embed.shape[:2]
        state = start if start is not None else self.initial(b, embed.device)
        deters, stochs, logits = [], [], []
        for t in range(t_len):
            state, lg = self.obs_step(state, action[:, t], embed[:, t], is_first[:, t])
            deters.append(state.deter)
            stochs.append(state.stoch)
            logits.append(lg)
        return RSSMState(torch.stack(deters, 1), torch.stack(stochs, 1)), torch.stack(logits, 1)


class TruncNormal:
    """Normal(mean, std) truncated to [-1, 1]; reparameterised sampling by the inverse CDF."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        self.mean, self.std = mean, std  # (N, A)
        self.alpha = (-1.0 - mean) / std
        self.beta = (1.0 - mean) / std
        self.cdf_a = torch.special.ndtr(self.alpha)
        self.cdf_b = torch.special.ndtr(self.beta)
        self.z = (self.cdf_b - self.cdf_a).clamp_min(1e-8)  # Z, the mass inside [-1, 1]

    @property
    def mode(self) -> torch.Tensor:
        return self.mean.clamp(-1.0, 1.0)

    def rsample(self) -> torch.Tensor:
        u = torch.rand_like(self.mean)
        p = (self.cdf_a + u * (self.cdf_b - self.cdf_a)).clamp(1e-6, 1 - 1e-6)
        return (self.mean + self.std * torch.special.ndtri(p)).clamp(-1.0, 1.0)

    def sample(self) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Sum over action dims. x (N, A) in [-1, 1] -> (N,)."""
        x = x.clamp(-1.0, 1.0)
        normal = -0.5 * ((x - self.mean) / self.std) ** 2 - torch.log(self.std) - 0.5 * math.log(2 * math.pi)
        return (normal - torch.log(self.z)).sum(-1)

    def entropy(self) -> torch.Tensor:
        """Exact truncated-normal entropy, summed over action dims -> (N,)."""
        phi_a = torch.exp(-0.5 * self.alpha**2) / math.sqrt(2 * math.pi)
        phi_b = torch.exp(-0.5 * self.beta**2) / math.sqrt(2 * math.pi)
        ent = torch.log(math.sqrt(2 * math.pi * math.e) * self.std * self.z) + (
            self.alpha * phi_a - self.beta * phi_b
        ) / (2 * self.z)
        return ent.sum(-1)


class Actor(nn.Module):
    """pi(a_t | s_t): truncated normal on [-1, 1], mean tanh(mu), std in [min_std, min_std + 2]."""

    def __init__(self, cfg: ModelConfig, feat_dim: int, action_dim: int):
        super().__init__()
        self.min_std = cfg.min_std
        self.net = mlp(feat_dim, 2 * action_dim, cfg.hidden, cfg.mlp_layers, cfg.norm)

    def forward(self, feat: torch.Tensor) -> TruncNormal:
        # feat (N, F) -> distribution over (N, A)
        return self.distribution(self.net(feat))

    def distribution(self, out: torch.Tensor) -> TruncNormal:
        """The policy from the network's output (N, 2A) (a caller may run ``net`` its own way)."""
        mu, raw_std = out.float().chunk(2, -1)  # distribution math in fp32, also under bf16 autocast
        std = 2.0 * torch.sigmoid(raw_std / 2.0) + self.min_std
        return TruncNormal(torch.tanh(mu), std)


class PolicyNet(nn.Module):
    """The acting modules: encoder, RSSM and actor, one object wherever a policy acts or learns.

    The learner builds one and its ``WorldModel`` (encoder, RSSM) and ``ActorCritic`` (actor) hold
    references to these very submodules, so a gradient step changes what acting uses. Its
    ``state_dict()`` is THE policy weight format: ``Learner.policy_weights()`` returns it (CPU tensors)
    and ``moto_rl.common.policy.Policy.load_weights`` loads it with a strict ``load_state_dict``; keys are
    ``encoder.*``, ``rssm.*`` and ``actor.*`` (docs/architecture.md, "One weight update").
    """

    def __init__(self, cfg: ModelConfig, action_dim: int):
        super().__init__()
        self.encoder = Encoder(cfg.cnn_depth)
        self.rssm = RSSM(cfg, action_dim, self.encoder.out_dim)
        self.actor = Actor(cfg, self.rssm.feat_dim, action_dim)
