"""Encoder/decoder networks: shapes for any image size, and no wide layer at full resolution."""

import pytest
import torch
from torch import nn

from vaekit.core.networks import ConvDecoder, ConvEncoder
from vaekit.core.resnet import ResNetDecoder


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (2, 27, 29), (1, 9, 12)])
def test_conv_decoder_returns_the_exact_image_shape(shape):
    dec = ConvDecoder(5, (8, 16), shape, "relu", 0.0)
    assert dec(torch.randn(3, 5)).shape == (3, *shape)
    enc = ConvEncoder(shape, (8, 16), 10, "relu", 0.0)
    assert enc(torch.randn(3, *shape)).shape == (3, 10)


def test_conv_decoder_ends_in_the_output_channels_without_a_full_resolution_head():
    dec = ConvDecoder(5, (32, 64), (2, 28, 28), "relu", 0.1)
    convs = [m for m in dec.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert all(isinstance(m, nn.ConvTranspose2d) for m in convs)
    assert [m.out_channels for m in convs] == [32, 2]  # the last doubling goes straight to P*C channels
    assert not isinstance(dec.body[-1], (nn.ReLU, nn.Dropout))  # outputs are the likelihood's raw parameters


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 27, 29)])
def test_resnet_decoder_shares_the_transposed_conv_sizes(shape):
    dec = ResNetDecoder(5, (8, 16), 1, shape, "relu", 0.0)
    assert dec(torch.randn(2, 5)).shape == (2, *shape)
