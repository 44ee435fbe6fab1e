"""The spatiotemporal (temporal-spectral) reconstruction loss of EEGM2."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

FFTNorm = Literal["backward", "ortho", "forward"]


def spectral_loss(x_hat: Tensor, x: Tensor, fft_norm: FFTNorm = "backward") -> Tensor:
    """Mean squared modulus of the difference of the two real spectra along time.

    ``mean_k |rFFT(x_hat)_k - rFFT(x)_k|^2`` over batch, channels and the ``T // 2 + 1``
    frequency bins. The difference is complex, so phase errors count too. With the default
    unnormalised FFT the term is about ``T`` times a time-domain MSE (Parseval).

    Parameters
    ----------
    x_hat, x : Tensor, shape (B, C, T)
        Reconstruction and target.
    fft_norm : {"backward", "ortho", "forward"}
        Normalisation of :func:`torch.fft.rfft`; "backward" (none) is EEGM2's.

    Returns
    -------
    Tensor, scalar.
    """
    diff = torch.fft.rfft(x_hat, dim=-1, norm=fft_norm) - torch.fft.rfft(x, dim=-1, norm=fft_norm)
    return (diff.real**2 + diff.imag**2).mean()


def spatiotemporal_loss(
    x_hat: Tensor, x: Tensor, alpha: float = 1.0, beta: float = 1.0, fft_norm: FFTNorm = "backward"
) -> Tensor:
    """EEGM2's loss: ``alpha * mean|x_hat - x| + beta * spectral_loss(x_hat, x)``.

    Parameters
    ----------
    x_hat, x : Tensor, shape (B, C, T)
        Reconstruction and target.
    alpha, beta : float
        Weights of the L1 and spectral terms (both 1 in the paper).
    fft_norm : {"backward", "ortho", "forward"}
        See :func:`spectral_loss`.

    Returns
    -------
    Tensor, scalar.
    """
    return alpha * (x_hat - x).abs().mean() + beta * spectral_loss(x_hat, x, fft_norm)


class SpatioTemporalLoss(nn.Module):
    """:func:`spatiotemporal_loss` as a module (a criterion for training loops)."""

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, fft_norm: FFTNorm = "backward"):
        super().__init__()
        self.alpha = alpha
        self.beta = beta
        self.fft_norm: FFTNorm = fft_norm

    def forward(self, x_hat: Tensor, x: Tensor) -> Tensor:
        """Loss of the reconstruction ``x_hat`` against ``x``, both (B, C, T)."""
        return spatiotemporal_loss(x_hat, x, self.alpha, self.beta, self.fft_norm)


def masked_spatiotemporal_loss(
    x_hat: Tensor,
    x: Tensor,
    mask: Tensor,
    alpha: float = 1.0,
    beta: float = 1.0,
    fft_norm: FFTNorm = "backward",
) -> Tensor:
    """:func:`spatiotemporal_loss` restricted to the masked positions.

    ``alpha * mean_{mask}|x_hat - x| + beta * spectral_loss(mask * x_hat, mask * x) / m``,
    where ``m`` is the masked share of the positions: the L1 term averages over masked
    positions only, and the spectral term is the spectrum of the error on masked positions
    (zero elsewhere), rescaled so that a mask of the same error at every position scores like
    the unmasked loss. With a mask of all True it equals :func:`spatiotemporal_loss`.

    Parameters
    ----------
    x_hat, x : Tensor, shape (B, C, T)
        Reconstruction and target.
    mask : Tensor of bool, shape (B, C, T)
        True on the positions that count (the ones hidden from the network).
    alpha, beta, fft_norm
        See :func:`spatiotemporal_loss`.

    Returns
    -------
    Tensor, scalar.
    """
    weight = mask.to(x.dtype)
    share = weight.mean().clamp_min(torch.finfo(x.dtype).tiny)
    l1 = ((x_hat - x).abs() * weight).mean() / share
    return alpha * l1 + beta * spectral_loss(x_hat * weight, x * weight, fft_norm) / share


class MaskedSpatioTemporalLoss(SpatioTemporalLoss):
    """:func:`masked_spatiotemporal_loss` as a criterion for a masked autoencoder.

    The network is a :class:`~sk_eegm2.nn.masking.MaskedAutoencoder`, whose output is the
    pair ``(x_hat, mask)``.
    """

    def forward(self, prediction: tuple[Tensor, Tensor], x: Tensor) -> Tensor:  # type: ignore[override]
        """Loss of ``prediction = (x_hat, mask)`` against ``x``, all (B, C, T)."""
        x_hat, mask = prediction
        return masked_spatiotemporal_loss(x_hat, x, mask, self.alpha, self.beta, self.fft_norm)
