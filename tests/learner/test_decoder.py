"""The decoder's fast paths (first transpose conv as a matmul, the middle ones with their bias added
apart on CPU, the last one as a convolution and a pixel shuffle in the channels-last layout) compute
the same image and gradients as plain transpose convolutions."""

import pytest
import torch
import torch.nn.functional as F

from moto_rl.learner.world_model import Decoder, conv_transpose2d_stride2_as_conv


def reference_decode(decoder: Decoder, feat: torch.Tensor) -> torch.Tensor:
    """The decoder spelled out with F.conv_transpose2d on every layer, the 1x1 first layer included."""
    x = decoder.dense(feat).reshape(-1, decoder.features, 1, 1)
    for i, deconv in enumerate(decoder.deconvs):
        x = F.conv_transpose2d(x, deconv.weight.contiguous(), deconv.bias, stride=2)
        if i < len(decoder.deconvs) - 1:
            x = F.elu(x)
    return x


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("depth, channels", [(4, [16, 8, 4]), (8, [32, 16, 8])])
def test_decoder_matches_plain_transpose_convs(depth, channels, channels_last):
    torch.manual_seed(0)
    decoder = Decoder(feat_dim=24, depth=depth, channels=channels)
    if channels_last:
        decoder.to(memory_format=torch.channels_last)
    feat = torch.randn(5, 24, requires_grad=True)
    out = decoder(feat)
    ref = reference_decode(decoder, feat)
    assert out.shape == ref.shape == (5, 3, 64, 64)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)

    grad_out = torch.randn_like(ref)
    params = [feat, *decoder.parameters()]
    mine = torch.autograd.grad(out, params, grad_out)
    theirs = torch.autograd.grad(ref, params, grad_out)
    for name, a, b in zip(["feat", *(n for n, _ in decoder.named_parameters())], mine, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=lambda m, name=name: f"{name}: {m}")


def test_first_layer_bias_is_per_output_channel():
    # a bias laid out in the wrong order (per kernel tap instead of per channel) would pass a zero bias
    decoder = Decoder(feat_dim=6, depth=2, channels=[8, 4, 2])
    with torch.no_grad():
        decoder.deconvs[0].bias.copy_(torch.arange(8.0))
        decoder.deconvs[0].weight.zero_()
    first = decoder._first_deconv(torch.randn(3, decoder.features))
    assert first.shape == (3, 8, 5, 5)
    assert torch.equal(first, torch.arange(8.0).view(1, 8, 1, 1).expand(3, 8, 5, 5))


@pytest.mark.parametrize("c_in, c_out, size, k", [(8, 3, 30, 6), (5, 2, 7, 5), (4, 3, 6, 4), (3, 1, 5, 3)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_subpixel_transpose_conv_matches_conv_transpose2d(c_in, c_out, size, k, channels_last):
    # even and odd kernels (odd ones are cropped), values and the gradients of input, weight and bias
    torch.manual_seed(1)
    x = torch.randn(3, c_in, size, size + 1, requires_grad=True)
    weight = torch.randn(c_in, c_out, k, k, requires_grad=True)
    bias = torch.randn(c_out, requires_grad=True)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    out = conv_transpose2d_stride2_as_conv(x.contiguous(memory_format=fmt), weight.contiguous(memory_format=fmt), bias)
    ref = F.conv_transpose2d(x, weight, bias, stride=2)
    assert out.shape == ref.shape == (3, c_out, 2 * size - 2 + k, 2 * size + k)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    grad_out = torch.randn_like(ref)
    for name, a, b in zip(
        ("x", "weight", "bias"),
        torch.autograd.grad(out, (x, weight, bias), grad_out),
        torch.autograd.grad(ref, (x, weight, bias), grad_out),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("channels_last", [False, True])
def test_loss_pairs_every_predicted_pixel_with_its_target_pixel(channels_last):
    # prediction_and_target flattens both in the order the last layer computes the image (its phases,
    # in channels-last): the decoded image as the target must come back equal element for element, and
    # the summed squared error and its gradients are those of the plain (N, 3, 64, 64) images
    torch.manual_seed(2)
    decoder = Decoder(feat_dim=24, depth=4, channels=[16, 8, 4])
    if channels_last:
        decoder.to(memory_format=torch.channels_last)
    assert decoder.computes_phases == channels_last
    feat = torch.randn(5, 24, requires_grad=True)
    full = decoder(feat)
    pred, target = decoder.prediction_and_target(feat, full.detach())
    assert pred.shape == target.shape == (5 * 3 * 64 * 64,)
    torch.testing.assert_close(pred, target, rtol=1e-6, atol=1e-6)  # a wrong pairing is off by about 1e-2
    assert (full - full.roll(1, -1)).abs().mean() > 1e-3  # (neighbouring pixels differ by that much)

    layout = torch.channels_last if channels_last else torch.contiguous_format
    image = (torch.rand(5, 3, 64, 64) - 0.5).contiguous(memory_format=layout)
    pred, target = decoder.prediction_and_target(feat, image)
    loss = F.mse_loss(pred, target, reduction="sum")
    ref = F.mse_loss(full, image, reduction="sum")
    torch.testing.assert_close(loss, ref, rtol=1e-6, atol=1e-4)
    params = [feat, *decoder.parameters()]
    for a, b in zip(torch.autograd.grad(loss, params), torch.autograd.grad(ref, params), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k", [6, 4])
def test_subpixel_phases_tile_the_transpose_conv_output(k):
    # shuffle=False gives the phases uncropped, channels (a, b, o): phase (a, b) of channel o is
    # output[o, a::2, b::2]
    torch.manual_seed(3)
    x, weight, bias = torch.randn(2, 5, 9, 7), torch.randn(5, 3, k, k), torch.randn(3)
    phases = conv_transpose2d_stride2_as_conv(x, weight, bias, shuffle=False)
    ref = F.conv_transpose2d(x, weight, bias, stride=2)
    assert phases.shape == (2, 12, ref.shape[-2] // 2, ref.shape[-1] // 2)
    for a in range(2):
        for b in range(2):
            for o in range(3):
                torch.testing.assert_close(phases[:, 6 * a + 3 * b + o], ref[:, o, a::2, b::2], rtol=1e-5, atol=1e-5)
