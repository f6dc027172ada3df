"""The world model's ELBO terms against a reference written out from the spec on small tensors:
image NLL = 0.5 * sum over pixels of (x_hat - x)^2 per image, averaged over images, with x = frame / 255
- 0.5 channels-first; reward NLL = 0.5 * mean (r_hat - r)^2; loss = image + reward + kl_scale * KL term."""

import pytest
import torch
import torch.nn.functional as F
from helpers.learner import ACTION_DIM, random_batch, tiny_config

from moto_rl.learner.learner import Learner


@pytest.mark.parametrize("channels_last", ["true", "false"])
def test_world_model_loss_terms_match_the_written_out_elbo(channels_last):
    cfg = tiny_config(f"perf.channels_last={channels_last}")
    assert not cfg.model.continuation_head  # else the loss has a fourth term (checked elsewhere)
    learner = Learner(cfg, ACTION_DIM)
    wm = learner.world_model
    batch = random_batch(cfg, seed=3)
    out = wm.loss(batch)
    b, t = batch.reward.shape

    with torch.no_grad():
        feat = out.post.feat.reshape(b * t, -1)
        # the reference decoder: the same weights, every layer a plain transpose convolution
        x = wm.decoder.dense(feat).reshape(b * t, wm.decoder.features, 1, 1)
        for i, deconv in enumerate(wm.decoder.deconvs):
            x = F.conv_transpose2d(x, deconv.weight.contiguous(), deconv.bias, stride=2)
            x = F.elu(x) if i < len(wm.decoder.deconvs) - 1 else x
        frames = batch.image.reshape(b * t, 64, 64, 3).double() / 255.0 - 0.5
        target = frames.permute(0, 3, 1, 2)
        err = x.double() - target
        image_nll = 0.5 * (err**2).sum(dim=(1, 2, 3)).mean()
        image_mse = (err**2).mean()
        reward_nll = 0.5 * ((wm.reward(out.post.feat).double() - batch.reward.double()) ** 2).mean()

    m = out.metrics
    torch.testing.assert_close(m["model/image_nll"].double(), image_nll, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(m["model/image_mse"].double(), image_mse, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(m["model/reward_nll"].double(), reward_nll, rtol=1e-5, atol=1e-7)
    expected = m["model/image_nll"] + m["model/reward_nll"] + cfg.algo.kl_scale * m["model/kl_loss"]
    torch.testing.assert_close(out.loss.detach(), expected, rtol=1e-6, atol=1e-6)
