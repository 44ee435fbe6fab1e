"""The spatiotemporal loss against a direct numpy computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sk_eegm2.nn import (
    MaskedSpatioTemporalLoss,
    SpatioTemporalLoss,
    masked_spatiotemporal_loss,
    spatiotemporal_loss,
    spectral_loss,
)


def numpy_loss(x_hat, x, alpha=1.0, beta=1.0, norm="backward"):
    l1 = np.mean(np.abs(x_hat - x))
    diff = np.fft.rfft(x_hat, axis=-1, norm=norm) - np.fft.rfft(x, axis=-1, norm=norm)
    return alpha * l1 + beta * np.mean(np.abs(diff) ** 2)


@pytest.mark.parametrize("n_times", [16, 17])  # even and odd: T // 2 + 1 bins
@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
def test_matches_numpy(n_times, norm):
    rng = np.random.default_rng(0)
    x, x_hat = rng.standard_normal((2, 3, 4, n_times))
    expected = numpy_loss(x_hat, x, 0.3, 2.0, norm)
    got = spatiotemporal_loss(torch.from_numpy(x_hat), torch.from_numpy(x), 0.3, 2.0, norm)
    assert got.item() == pytest.approx(expected, rel=1e-12)
    module = SpatioTemporalLoss(0.3, 2.0, norm)
    assert module(torch.from_numpy(x_hat), torch.from_numpy(x)).item() == pytest.approx(expected)


def test_spectral_term_counts_phase_and_scales_with_length():
    t = torch.arange(64, dtype=torch.float64)
    x = torch.sin(2 * torch.pi * 4 * t / 64)[None, None]
    shifted = torch.roll(x, 3, dims=-1)  # same amplitude spectrum, other phase
    assert spectral_loss(shifted, x).item() > 1.0
    # Parseval: unnormalised spectral error ~ T * time-domain MSE.
    noise = torch.randn(8, 4, 512, dtype=torch.float64)
    ratio = spectral_loss(noise, 0 * noise) / noise.pow(2).mean()
    assert 0.9 * 512 < ratio.item() < 1.1 * 512


def test_zero_only_for_identical_inputs():
    x = torch.randn(2, 3, 20, dtype=torch.float64)
    assert spatiotemporal_loss(x, x).item() == 0.0
    for eps in (1e-6, 1.0):
        y = x.clone()
        y[1, 2, 7] += eps
        assert spatiotemporal_loss(y, x).item() > 0.0
        assert spectral_loss(y, x).item() > 0.0


def test_gradient_flows():
    x = torch.randn(2, 3, 20)
    x_hat = torch.zeros_like(x, requires_grad=True)
    spatiotemporal_loss(x_hat, x).backward()
    assert x_hat.grad is not None and x_hat.grad.abs().sum() > 0


def test_masked_loss_counts_masked_positions_only():
    torch.manual_seed(0)
    x, x_hat = torch.randn(2, 3, 4, 32, dtype=torch.float64)
    everywhere = torch.ones_like(x, dtype=torch.bool)
    torch.testing.assert_close(
        masked_spatiotemporal_loss(x_hat, x, everywhere, 0.3, 2.0),
        spatiotemporal_loss(x_hat, x, 0.3, 2.0),
    )
    mask = torch.rand_like(x) < 0.4
    loss = masked_spatiotemporal_loss(x_hat, x, mask)
    elsewhere = torch.where(mask, x_hat, x_hat + 5 * torch.randn_like(x))  # errors off the mask
    torch.testing.assert_close(masked_spatiotemporal_loss(elsewhere, x, mask), loss)
    perfect = torch.where(mask, x, x_hat)
    assert masked_spatiotemporal_loss(perfect, x, mask).item() == pytest.approx(0.0, abs=1e-12)
    # the same error at every position scores like the unmasked loss (L1 term exactly)
    constant = x + 0.5
    assert masked_spatiotemporal_loss(constant, x, mask, 1.0, 0.0).item() == pytest.approx(0.5)
    module = MaskedSpatioTemporalLoss(1.0, 2.0)
    expected = masked_spatiotemporal_loss(x_hat, x, mask, 1.0, 2.0)
    torch.testing.assert_close(module((x_hat, mask), x), expected)
