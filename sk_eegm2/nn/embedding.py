"""The multi-branch input embedding of EEGM2."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MultiBranchEmbedding(nn.Module):
    """Parallel temporal convolutions of several widths, fused by a 1x1 convolution.

    Each branch is a ``Conv1d(n_chans -> out_channels)`` with "same" padding, so every
    branch sees the input at its own temporal scale (kernel 1: per-sample spatial mixing;
    3 and 7: short local context at 128 Hz). Their outputs are concatenated and fused.

    Parameters
    ----------
    n_chans : int
        EEG channels C of the input.
    out_channels : int
        Width of each branch and of the output.
    kernel_sizes : tuple of int
        Odd kernel widths, one branch each (attributes ``branch{k}``); EEGM2 uses (1, 3, 7).

    Notes
    -----
    Input (B, n_chans, T), output (B, out_channels, T).
    """

    def __init__(
        self, n_chans: int, out_channels: int, kernel_sizes: tuple[int, ...] = (1, 3, 7)
    ) -> None:
        super().__init__()
        if any(k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd (same padding), got {kernel_sizes}.")
        self.kernel_sizes = tuple(kernel_sizes)
        for k in self.kernel_sizes:
            self.add_module(f"branch{k}", nn.Conv1d(n_chans, out_channels, k, padding=k // 2))
        self.fuse = nn.Conv1d(len(self.kernel_sizes) * out_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Embed ``x`` (B, n_chans, T) into (B, out_channels, T)."""
        branches = [getattr(self, f"branch{k}")(x) for k in self.kernel_sizes]
        return self.fuse(torch.cat(branches, dim=1))
