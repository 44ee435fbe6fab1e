"""Masked pretraining: hide random time spans and channels of the input, reconstruct them.

EEGM2's paper reconstructs the whole, unmasked input through full-resolution skip
connections, which can make reconstruction nearly trivial without the deep encoder output
carrying much. Masked reconstruction (as in the authors' follow-up SAMBA and most strong EEG
self-supervised models) asks the network to infer what it did not see; dropping skips while
pretraining makes the decoder rely on the deep path.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .eegm2 import EEGM2


def random_mask(
    shape: tuple[int, int, int],
    mask_ratio: float = 0.0,
    mask_span: int = 32,
    channel_mask_ratio: float = 0.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """A random boolean mask of time spans (all channels) and whole channels.

    The time axis is cut into spans of ``mask_span`` samples (the last one may be shorter);
    in each window ``round(mask_ratio * n_spans)`` spans, drawn without replacement, are
    masked on every channel. Then ``round(channel_mask_ratio * C)`` whole channels, drawn per
    window, are masked too.

    Parameters
    ----------
    shape : (B, C, T)
        Shape of the input.
    mask_ratio : float
        Share of time spans masked per window, in [0, 1).
    mask_span : int
        Span length in samples.
    channel_mask_ratio : float
        Share of channels masked per window, in [0, 1).
    generator : torch.Generator or None
        Source of randomness (None: PyTorch's global one).
    device : torch.device, str or None
        Device of the mask.

    Returns
    -------
    Tensor of bool, shape (B, C, T)
        True where the input is hidden.
    """
    if not 0 <= mask_ratio < 1 or not 0 <= channel_mask_ratio < 1:
        raise ValueError(
            f"mask_ratio and channel_mask_ratio must be in [0, 1), got {mask_ratio} and "
            f"{channel_mask_ratio}."
        )
    if mask_span < 1:
        raise ValueError(f"mask_span must be a positive number of samples, got {mask_span}.")
    n_windows, n_chans, n_times = shape
    n_spans = -(-n_times // mask_span)
    mask = torch.zeros(shape, dtype=torch.bool, device=device)
    n_masked = round(mask_ratio * n_spans)
    if n_masked:
        order = torch.rand(n_windows, n_spans, generator=generator).argsort(dim=1)
        spans = torch.zeros(n_windows, n_spans, dtype=torch.bool)
        spans.scatter_(1, order[:, :n_masked], True)
        in_time = spans.repeat_interleave(mask_span, dim=1)[:, :n_times].to(mask.device)
        mask |= in_time[:, None, :]
    n_channels_masked = round(channel_mask_ratio * n_chans)
    if n_channels_masked:
        order = torch.rand(n_windows, n_chans, generator=generator).argsort(dim=1)
        channels = torch.zeros(n_windows, n_chans, dtype=torch.bool)
        channels.scatter_(1, order[:, :n_channels_masked], True)
        mask |= channels.to(mask.device)[:, :, None]
    return mask


class MaskedAutoencoder(nn.Module):
    """EEGM2 trained to reconstruct hidden parts of its input (a pretraining wrapper).

    ``forward(x)`` draws a mask (:func:`random_mask`), sets the masked input values to 0
    (the mean of scaled EEG) so that the network never sees them, and returns the
    reconstruction with the mask; :class:`~sk_eegm2.nn.loss.MaskedSpatioTemporalLoss` scores
    the reconstruction on masked positions. In evaluation mode (validation) the masks come
    from a generator seeded the same way every call, so validation losses of different
    epochs compare like with like.

    Parameters
    ----------
    network : EEGM2
        The autoencoder (its state dict keys are this module's, prefixed ``network.``).
    mask_ratio, mask_span, channel_mask_ratio
        See :func:`random_mask`. With both ratios 0 nothing is masked and every position
        counts in the loss.
    skip_dropout : float
        Probability, per window and level, that the decoder gets zeros in place of a skip
        connection while training (see :meth:`EEGM2.forward`).
    """

    def __init__(
        self,
        network: EEGM2,
        mask_ratio: float = 0.0,
        mask_span: int = 32,
        channel_mask_ratio: float = 0.0,
        skip_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.network = network
        self.mask_ratio = mask_ratio
        self.mask_span = mask_span
        self.channel_mask_ratio = channel_mask_ratio
        self.skip_dropout = skip_dropout

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Reconstruction (B, C, T) of the masked ``x`` (B, C, T), and the mask (B, C, T)."""
        generator = None if self.training else torch.Generator().manual_seed(0)
        if self.mask_ratio or self.channel_mask_ratio:
            mask = random_mask(
                tuple(x.shape),  # type: ignore[arg-type]
                self.mask_ratio,
                self.mask_span,
                self.channel_mask_ratio,
                generator,
                x.device,
            )
        else:  # the paper's objective: every position is a target
            mask = torch.ones_like(x, dtype=torch.bool)
        hidden = x.masked_fill(mask, 0.0) if not mask.all() else x
        skip_dropout = self.skip_dropout if self.training else 0.0
        return self.network(hidden, skip_dropout=skip_dropout), mask
