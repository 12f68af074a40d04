"""timm's drop tests (tests/test_layers_drop.py: DropBlock2d and DropPath) ported to
dropcore.

Name mapping: ``drop_block_2d(x, drop_prob, block_size)`` -> ``drop_block(x, p,
block_size)``, ``couple_channels=True`` -> ``per_channel=False``, ``drop_path(x, drop_prob,
training, scale_by_keep)`` -> ``drop_path(x, p, training=..., scale=...)``.

Deliberate differences, tested as such below: dropcore's DropBlock always applies the
paper's ``count / sum`` normalisation (timm's ``scale_by_keep=False`` is read here through
``return_mask=True``, the unscaled 0/1 mask) and has no ``with_noise`` (the paper fills
dropped blocks with zeros). Not ported: timm's tests of its own deprecated or unknown
constructor keywords (``fast=``, warnings for unknown kwargs), which are timm API history.
"""

from __future__ import annotations

import pytest
import torch

from dropcore import DropBlock2d, DropPath, drop_block, drop_path


class TestDropBlock2d:
    def test_output_shape(self) -> None:
        for h, w in [(7, 7), (4, 8), (10, 5), (3, 3)]:
            x = torch.ones((2, 3, h, w))
            assert drop_block(x, 0.1, 3).shape == x.shape, (h, w)

    def test_no_drop_when_prob_zero(self) -> None:
        x = torch.ones((2, 3, 8, 8))
        assert torch.allclose(drop_block(x, 0.0, 3), x)

    def test_approximate_keep_ratio(self) -> None:
        torch.manual_seed(123)
        x = torch.ones((32, 16, 56, 56))
        # timm reads the ratio from an unscaled output; dropcore returns the 0/1 mask.
        _, keep = drop_block(x, 0.1, 7, return_mask=True)
        assert abs((keep == 0).float().mean().item() - 0.1) < 0.03

    def test_inplace(self) -> None:
        x = torch.ones((2, 3, 8, 8))
        torch.manual_seed(42)
        assert drop_block(x, 0.3, 3, inplace=True) is x

    def test_couple_channels_true(self) -> None:
        torch.manual_seed(42)
        result = drop_block(torch.ones((2, 4, 16, 16)), 0.3, 5, per_channel=False)
        for b in range(result.shape[0]):
            for c in range(1, result.shape[1]):
                assert torch.equal(result[b, 0] == 0, result[b, c] == 0), (b, c)

    def test_couple_channels_false(self) -> None:
        torch.manual_seed(42)
        result = drop_block(torch.ones((2, 4, 16, 16)), 0.3, 5, per_channel=True)
        assert not torch.equal(result[0, 0] == 0, result[0, 1] == 0)

    def test_with_noise_is_not_offered(self) -> None:
        # Deliberate: the paper zeroes dropped blocks; timm's noise fill is an extension.
        with pytest.raises(TypeError):
            drop_block(torch.ones((2, 3, 16, 16)), 0.3, 5, with_noise=True)  # type: ignore[call-overload]

    def test_even_block_size(self) -> None:
        x = torch.ones((2, 3, 16, 16))
        for block_size in [2, 4, 6]:
            assert drop_block(x, 0.1, block_size).shape == x.shape, block_size

    def test_asymmetric_input(self) -> None:
        for h, w in [(8, 16), (16, 8), (7, 14), (14, 7)]:
            x = torch.ones((2, 3, h, w))
            assert drop_block(x, 0.1, 5).shape == x.shape, (h, w)

    def test_scale_by_keep(self) -> None:
        torch.manual_seed(42)
        x = torch.ones((2, 3, 16, 16))
        scaled, keep = drop_block(x.clone(), 0.3, 5, return_mask=True)
        assert scaled[scaled > 0].min() > 1.0  # kept values are scaled up
        # The unscaled counterpart (timm: scale_by_keep=False) is the 0/1 mask itself.
        assert set(keep.unique().tolist()) <= {0.0, 1.0}
        assert torch.allclose(scaled, x * keep * keep.numel() / keep.sum())


class TestDropBlock2dModule:
    def test_training_mode(self) -> None:
        module = DropBlock2d(0.5, 3)
        x = torch.ones((2, 3, 8, 8))
        module.eval()
        assert torch.allclose(module(x), x)
        module.train()
        torch.manual_seed(42)
        assert not torch.allclose(module(x), x)

    def test_couple_channels_parameter(self) -> None:
        x = torch.ones((2, 4, 16, 16))
        coupled = DropBlock2d(0.3, 5, per_channel=False).train()
        torch.manual_seed(42)
        out = coupled(x)
        assert torch.equal(out[0, 0] == 0, out[0, 1] == 0)
        uncoupled = DropBlock2d(0.3, 5, per_channel=True).train()
        torch.manual_seed(42)
        out = uncoupled(x)
        assert not torch.equal(out[0, 0] == 0, out[0, 1] == 0)

    def test_batchwise_accepted(self) -> None:
        module = DropBlock2d(0.1, 7, batchwise=True)
        assert module.p == 0.1 and module.batchwise


class TestDropPath:
    def test_no_drop_when_prob_zero(self) -> None:
        x = torch.ones((4, 8, 16, 16))
        assert torch.allclose(drop_path(x, 0.0, training=True), x)

    def test_no_drop_when_not_training(self) -> None:
        x = torch.ones((4, 8, 16, 16))
        assert torch.allclose(drop_path(x, 0.5, training=False), x)

    def test_scaling(self) -> None:
        torch.manual_seed(42)
        keep_prob = 0.8
        result = drop_path(torch.ones((100, 8, 4, 4)), 1 - keep_prob, training=True, scale=True)
        kept = result[:, 0, 0, 0] != 0
        assert kept.any()
        values = result[kept, 0, 0, 0]
        assert torch.allclose(values, torch.full_like(values, 1.0 / keep_prob), atol=1e-5)

    def test_no_scaling(self) -> None:
        torch.manual_seed(42)
        result = drop_path(torch.ones((100, 8, 4, 4)), 0.2, training=True, scale=False)
        kept = result[:, 0, 0, 0] != 0
        assert kept.any()
        values = result[kept, 0, 0, 0]
        assert torch.allclose(values, torch.ones_like(values))


class TestDropPathModule:
    def test_training_mode(self) -> None:
        module = DropPath(0.5)
        x = torch.ones((32, 8, 4, 4))
        module.eval()
        assert torch.allclose(module(x), x)
        module.train()
        torch.manual_seed(42)
        assert (module(x) == 0).any()

    def test_extra_repr(self) -> None:
        assert "0.123" in DropPath(0.123).extra_repr()
