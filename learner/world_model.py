"""World model: encoder + RSSM (ensemble of priors) + image decoder + reward (+ continuation) head, and its ELBO.

    L_model = sum_t [ -ln p(x_t | s_t) - ln p(r_t | s_t) + KL( q(z_t | h_t, x_t) || p_{i_t}(z_t | h_t) ) ]

with i_t drawn uniformly at random for every sample and every time step (choice: per (b, t), which
is "at every time step" for each sequence independently). Gaussian unit-variance likelihoods for
image and reward (DreamerV2), images in [-0.5, 0.5]. KL balancing (algo.kl_balance) and free nats
(algo.free_nats, applied to the batch mean of each balanced side, DreamerV2's ``free_avg``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from moto_rl.common.batch import Batch
from moto_rl.common.config import AlgoConfig, ModelConfig
from moto_rl.common.networks import PolicyNet, RSSMState, mlp, preprocess_images
from moto_rl.learner.onehot_linear import onehot_net


class Decoder(nn.Module):
    """Dense to 1x1xF, transpose convs (channels decoder_channels then 3, kernels 5,5,6,6, stride 2):
    1->5->13->30->64."""

    def __init__(self, feat_dim: int, depth: int, channels: list[int]):
        super().__init__()
        self.features = 32 * depth
        self.dense = nn.Linear(feat_dim, self.features)
        chans = [self.features] + list(channels) + [3]
        kernels = (5, 5, 6, 6)
        if len(chans) != 5:
            raise ValueError(f"model.decoder_channels must have 3 entries (then RGB), got {channels}")
        self.deconvs = nn.ModuleList(nn.ConvTranspose2d(chans[i], chans[i + 1], kernels[i], stride=2) for i in range(4))

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """feat (N, F) -> mean image (N, 3, 64, 64)."""
        return self._decode(feat, phases=False)

    def prediction_and_target(self, feat: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean image decoded from ``feat`` and the target ``image`` (N, 3, 64, 64), both flattened in
        one pixel order (element k of one is element k of the other): the order in which the last layer
        computes the image. A summed squared error does not depend on the order. With the sub-pixel last
        layer (``computes_phases``) it skips a pixel shuffle and its backward over the batch, and both
        tensors are flat in memory (torch's mse_loss on channels-last 4-D tensors took twice as long)."""
        if not self.computes_phases:
            return self._decode(feat, phases=False).reshape(-1), image.reshape(-1)
        pred = self._decode(feat, phases=True)  # (N, 12 = (a, b, o), H/2, W/2), channels-last
        n, _, h, w = pred.shape
        # pixel (2i+a, 2j+b) channel o goes to place (i, j, a, b, o): in the NHWC image, rows 2i and 2i+1
        # hold (b, o) as 6 consecutive values at column pair j, so one copy gathers runs of 6
        target = image.permute(0, 2, 3, 1).reshape(n, h, 2, w, 6).transpose(2, 3)
        return pred.permute(0, 2, 3, 1).reshape(-1), target.reshape(-1)

    def _decode(self, feat: torch.Tensor, phases: bool) -> torch.Tensor:
        """(N, 3, 64, 64); with ``phases`` and ``computes_phases``, the last layer's phases (N, 12, 32, 32)."""
        x = F.elu(self._first_deconv(self.dense(feat)), inplace=True)
        for deconv in self.deconvs[1:-1]:
            x = F.elu(self._middle_deconv(deconv, x), inplace=True)
        last = self.deconvs[-1]
        if self._subpixel_last():
            # torch's CPU transpose conv is slow with 3 output channels: at tiny size its forward takes
            # 25-28 ms against 15-20 this way, forward and backward 34-47 against 34-39 (contiguous
            # tensors: 44 ms against 56, so they keep torch's kernel)
            shuffle = not (phases and self.computes_phases)
            return conv_transpose2d_stride2_as_conv(x, last.weight, last.bias, shuffle=shuffle)
        return last(x)

    @staticmethod
    def _middle_deconv(deconv: nn.ConvTranspose2d, x: torch.Tensor) -> torch.Tensor:
        """``deconv(x)``. On CPU its bias is added apart: given a bias, oneDNN's backward pass for a
        transpose conv took 17-29% longer (small size, 64->32 channels on 13x13 at N = 800, two runs:
        370 and 397 ms against 313 and 304 plus 4-5 ms for summing the bias gradient apart) and the 5x5
        layer's forward 125-130 ms against 97-98. (Not for the encoder's convolutions or the sub-pixel
        last layer: no gain, or mixed.)"""
        if x.device.type != "cpu":
            return deconv(x)
        y = F.conv_transpose2d(
            x, deconv.weight, None, deconv.stride, deconv.padding, deconv.output_padding, deconv.groups, deconv.dilation
        )
        return y.add_(deconv.bias.view(1, -1, 1, 1))  # the conv's backward does not read its output

    def _subpixel_last(self) -> bool:
        return self.deconvs[-1].weight.is_contiguous(memory_format=torch.channels_last)

    @property
    def computes_phases(self) -> bool:
        """Whether the loss sees the last layer's phases: the sub-pixel last layer (channels-last) with an
        even kernel, whose phases tile the image exactly (an odd one's would need a crop)."""
        return self._subpixel_last() and self.deconvs[-1].kernel_size[0] % 2 == 0

    def _first_deconv(self, x: torch.Tensor) -> torch.Tensor:
        """The first transpose conv on its 1x1 input, computed as the matmul it is: out[n, o, i, j] =
        sum_c x[n, c] W[c, o, i, j] + b[o]. Same weights and values as ``deconvs[0]``; torch's CPU
        transpose conv took ~10x longer on this shape (a third of the small decoder's time)."""
        deconv = self.deconvs[0]
        c_in, c_out, k = deconv.in_channels, deconv.out_channels, deconv.kernel_size[0]
        if not self.deconvs[1].weight.is_contiguous(memory_format=torch.channels_last):
            bias = deconv.bias.repeat_interleave(k * k)  # (C_out * k * k,): o-major like the weight's columns
            return torch.addmm(bias, x, deconv.weight.reshape(c_in, -1)).reshape(-1, c_out, k, k)
        # channels-last layers follow: produce (N, k, k, C_out) and view it as channels-last (N, C_out, k, k),
        # so the gradient coming back in that layout is viewed, not copied (torch.compile's backward needs it)
        weight = deconv.weight.permute(0, 2, 3, 1).reshape(c_in, -1)  # columns (i, j, o)
        out = torch.addmm(deconv.bias.repeat(k * k), x, weight)
        return out.reshape(-1, k, k, c_out).permute(0, 3, 1, 2)


def conv_transpose2d_stride2_as_conv(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, shuffle: bool = True
) -> torch.Tensor:
    """F.conv_transpose2d(x, weight, bias, stride=2) computed as one ordinary convolution and a pixel
    shuffle ("sub-pixel" form). Output pixel (2i+a, 2j+b) only sees kernel taps (a+2m, b+2n), so each
    of the four phases (a, b) is a stride-1 convolution of x (zero-padded by kp-1) with those taps,
    flipped, kp = ceil(k/2); the four phases are stacked as output channels (o, a, b), the order that
    F.pixel_shuffle interleaves. Same weights and values; the gradient reaches ``weight`` through the
    rearrangement. x (N, C_in, H, W), weight (C_in, C_out, k, k) -> (N, C_out, 2H-2+k, 2W-2+k).
    ``shuffle=False`` returns the phases, uncropped, channels in the order (a, b, o):
    (N, 4 C_out, H+kp-1, W+kp-1); for an even k they tile the output exactly."""
    c_in, c_out, k, _ = weight.shape
    kp = (k + 1) // 2
    taps = F.pad(weight, (0, 2 * kp - k, 0, 2 * kp - k))  # (C_in, C_out, 2kp, 2kp): an odd k gets zero taps
    taps = taps.reshape(c_in, c_out, kp, 2, kp, 2).flip(2, 4)  # [c, o, m, a, n, b] = W[c, o, a+2(kp-1-m), ...]
    if not shuffle:  # channels (a, b, o)
        phases = taps.permute(3, 5, 1, 0, 2, 4).reshape(4 * c_out, c_in, kp, kp)
        return F.conv2d(x, phases, bias.repeat(4), padding=kp - 1)
    phases = taps.permute(1, 3, 5, 0, 2, 4).reshape(4 * c_out, c_in, kp, kp)
    y = F.pixel_shuffle(F.conv2d(x, phases, bias.repeat_interleave(4), padding=kp - 1), 2)
    h, w = 2 * x.shape[-2] - 2 + k, 2 * x.shape[-1] - 2 + k
    return y if y.shape[-2:] == (h, w) else y[..., :h, :w]


def categorical_kl(lhs_logits: torch.Tensor, rhs_logits: torch.Tensor) -> torch.Tensor:
    """KL(lhs || rhs) summed over the S categoricals. (..., S, C) -> (...), in fp32 whatever the logits'
    dtype: under CPU autocast log_softmax, exp and the sum would otherwise run in bf16 (0.05-0.14 nats
    off per sample around the free-nats clamp, where the loss switches on and off)."""
    with torch.autocast(lhs_logits.device.type, enabled=False):
        lhs_logp = lhs_logits.float().log_softmax(-1)
        return (lhs_logp.exp() * (lhs_logp - rhs_logits.float().log_softmax(-1))).sum((-1, -2))


def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy summed over the S categoricals, in fp32. (..., S, C) -> (...)."""
    with torch.autocast(logits.device.type, enabled=False):
        logp = logits.float().log_softmax(-1)
        return -(logp.exp() * logp).sum((-1, -2))


def balanced_kl(
    post: torch.Tensor, prior: torch.Tensor, balance: float, free: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """DreamerV2 KL balancing with free nats on the mean. post, prior (..., S, C) -> (loss scalar, raw KL (...))."""
    kl_prior_side = categorical_kl(post.detach(), prior)  # trains the prior towards the posterior
    kl_post_side = categorical_kl(post, prior.detach())  # regularises the posterior
    loss = balance * kl_prior_side.mean().clamp_min(free) + (1 - balance) * kl_post_side.mean().clamp_min(free)
    return loss, kl_prior_side.detach()


@dataclass
class WorldModelOutput:
    loss: torch.Tensor  # scalar, the ELBO loss to minimise
    metrics: dict[str, torch.Tensor]  # scalars (detached)
    post: RSSMState  # posterior states s^0 (B, T, ·), with grad (detach before agent use)
    members: torch.Tensor  # i_t drawn for the KL (B, T) long


class WorldModel(nn.Module):
    """Uses the encoder and RSSM of ``policy`` (references, not copies: they are what the workers get).

    They are registered under ``encoder`` and ``rssm`` and before the decoder and heads, so the
    state_dict keys and the optimiser's parameter order are those of a model that built its own.
    The actor of ``policy`` is not a submodule here: the world-model optimiser must not see it.
    """

    def __init__(self, model: ModelConfig, algo: AlgoConfig, policy: PolicyNet):
        super().__init__()
        self.algo = algo
        self.encoder = policy.encoder
        self.rssm = policy.rssm
        feat = self.rssm.feat_dim
        self.decoder = Decoder(feat, model.cnn_depth, model.decoder_channels)
        # output layers in fp32: the reward feeds the returns (r_hat, V_hat), the continuation a logit loss
        self.reward_head = mlp(feat, 1, model.hidden, model.mlp_layers, model.norm, fp32_out=True)
        cont = model.continuation_head
        self.cont_head = mlp(feat, 1, model.hidden, model.mlp_layers, model.norm, fp32_out=True) if cont else None

    def embed(self, image: torch.Tensor) -> torch.Tensor:
        """uint8 (B, T, H, W, 3) -> (B, T, E)."""
        b, t = image.shape[:2]
        return self.encoder(self._encoder_input(image)).reshape(b, t, -1)

    def _encoder_input(self, image: torch.Tensor) -> torch.Tensor:
        """uint8 (B, T, H, W, 3) -> float (B*T, 3, H, W) in [-0.5, 0.5], in the encoder's memory layout."""
        x = preprocess_images(image.flatten(0, 1))
        if self.encoder.convs[0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def reward(self, feat: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """Mean of p(r | s). (..., F) -> (...). ``index`` (..., S): the classes of z's one-hot groups in
        ``feat``, which the first layer then reads as row lookups (learner/onehot_linear.py)."""
        if index is None:
            return self.reward_head(feat).squeeze(-1)
        # the lookups read (F, O) rows made once here (reading the (O, F) weight transposed took 79 ms against
        # 65 for the dense layer at (12000, 1224) -> 200)
        return onehot_net(self.reward_head, feat, index, self.rssm.classes).squeeze(-1)

    def loss(self, batch: Batch) -> WorldModelOutput:
        b, t = batch.reward.shape
        images = self._encoder_input(batch.image)  # (B*T, 3, 64, 64): the encoder's input and the decoder's target
        embed = self.encoder(images).reshape(b, t, -1)  # (B, T, E)
        post, post_logits = self.rssm.observe(embed, batch.action, batch.is_first)  # (B, T, ·), (B, T, S, C)
        feat = post.feat  # (B, T, F)
        flat_deter = post.deter.reshape(b * t, -1)
        m = self.rssm.prior_ensemble.members
        members = torch.randint(m, (b * t,), device=flat_deter.device)  # i_t, uniform per sample and step
        prior = self.rssm.prior_logits_selected(flat_deter, members)  # (B*T, S, C): only the drawn members run
        kl_loss, kl = balanced_kl(
            post_logits.reshape(b * t, *post_logits.shape[-2:]), prior, self.algo.kl_balance, self.algo.free_nats
        )

        # prediction and target flat, pixel for pixel in the order the decoder computes them
        recon, target = self.decoder.prediction_and_target(feat.reshape(b * t, -1), images)
        # one fused kernel forward and backward (a written-out (recon - x)^2 is four passes over the images)
        sq_err_sum = F.mse_loss(recon.float(), target.float(), reduction="sum")
        image_nll = 0.5 * sq_err_sum / (b * t)  # -ln N(x; mu, 1) up to a constant, summed per image, mean over images
        reward_pred = self.reward(feat).float()  # (B, T)
        reward_nll = 0.5 * (reward_pred - batch.reward).pow(2).mean()
        loss = image_nll + reward_nll + self.algo.kl_scale * kl_loss
        metrics = {
            "model/loss": loss,
            "model/image_nll": image_nll,
            "model/image_mse": sq_err_sum.detach() / recon.numel(),
            "model/reward_nll": reward_nll,
            "model/reward_mse": (reward_pred - batch.reward).pow(2).mean(),
            "model/kl": kl.mean(),
            "model/kl_loss": kl_loss,
            "model/post_entropy": categorical_entropy(post_logits).mean(),
        }
        if self.cont_head is not None:
            cont_target = (~batch.is_terminal).float()  # c_t = 1 - terminal
            cont_nll = F.binary_cross_entropy_with_logits(self.cont_head(feat).squeeze(-1).float(), cont_target)
            loss = loss + cont_nll
            metrics["model/cont_nll"] = cont_nll
            metrics["model/loss"] = loss
        metrics = {k: v.detach() for k, v in metrics.items()}
        return WorldModelOutput(loss, metrics, post, members.reshape(b, t))
