"""Downstream pieces of EEGM2: summary statistics of frozen features and classification heads."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .eegm2 import EEGM2

#: Names of the statistics :func:`summary_statistics` computes, in its output order.
STATISTICS = ("min", "max", "mean", "std", "q05", "q25", "q50", "q75", "q95")
_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def summary_statistics(z: Tensor) -> Tensor:
    """Nine statistics of each channel over time (EEGM2's "Light" representation).

    Parameters
    ----------
    z : Tensor, shape (B, D, L)
        Features over time, e.g. the encoder's last pooled output (D = 256).

    Returns
    -------
    Tensor, shape (B, 9 * D)
        Statistic-major: all channels' minimum, then maximum, mean, standard deviation
        (unbiased; 0 when L = 1), and the 5, 25, 50, 75 and 95 % quantiles (see
        :data:`STATISTICS`).
    """
    z = z.float()
    std = z.std(dim=-1, correction=1) if z.shape[-1] > 1 else torch.zeros_like(z[..., 0])
    q = torch.tensor(_QUANTILES, dtype=z.dtype, device=z.device)
    quantiles = torch.quantile(z, q, dim=-1)  # (5, B, D)
    stats = [z.amin(-1), z.amax(-1), z.mean(-1), std, *quantiles]
    return torch.cat(stats, dim=-1)


class LightHead(nn.Module):
    """MLP on the summary statistics: ``n_features -> 128 -> 32 -> n_classes``.

    ReLU and dropout between layers, as in EEGM2 (Light).

    Parameters
    ----------
    n_features : int
        Input features (2,304 for the default network).
    n_classes : int
        Output logits.
    hidden : tuple of int
        Hidden widths.
    dropout : float
        Dropout probability after each hidden layer.
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        hidden: tuple[int, ...] = (128, 32),
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(n_features, width), nn.ReLU(), nn.Dropout(dropout)]
            n_features = width
        layers.append(nn.Linear(n_features, n_classes))
        self.mlp = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        """Logits (B, n_classes) from ``features`` (B, n_features)."""
        return self.mlp(features)


class FineTuneNetwork(nn.Module):
    """EEGM2 (Fine / Scratch): the whole autoencoder, then a head on its reconstruction.

    ``x (B, C, T) -> EEGM2 -> (B, C, T) -> flatten -> Linear(C*T, hidden) -> ReLU ->
    Linear(hidden, n_classes)``; every weight is trained.

    Parameters
    ----------
    backbone : EEGM2
        The (pre-trained or fresh) autoencoder.
    n_times : int
        Window length T the head is built for.
    n_classes : int
        Output logits.
    hidden : int
        Width of the hidden layer.
    """

    def __init__(self, backbone: EEGM2, n_times: int, n_classes: int, hidden: int = 128) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(backbone.n_chans * n_times, hidden), nn.ReLU(),
            nn.Linear(hidden, n_classes),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        """Logits (B, n_classes) for ``x`` (B, C, T)."""
        return self.head(self.backbone(x))
