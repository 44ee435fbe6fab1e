"""Downstream pieces of EEGM2: summary statistics of frozen features and classification heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .eegm2 import EEGM2

#: Names of the statistics :func:`summary_statistics` computes, in its output order.
STATISTICS = ("min", "max", "mean", "std", "q05", "q25", "q50", "q75", "q95")
_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


#: Orders of the columns of :func:`summary_statistics`.
STATISTICS_ORDERS = ("statistic", "authors")


def summary_statistics(z: Tensor, order: str = "statistic") -> Tensor:
    """Nine statistics of each channel over time (EEGM2's "Light" representation).

    Parameters
    ----------
    z : Tensor, shape (B, D, L)
        Features over time, e.g. the encoder's last pooled output (D = 256).
    order : {"statistic", "authors"}
        Column order. ``"statistic"``: statistic-major, all channels' minimum, then maximum,
        mean, standard deviation (unbiased; 0 when L = 1), and the 5, 25, 50, 75 and 95 %
        quantiles (see :data:`STATISTICS`). ``"authors"``: the order of the authors'
        ``compute_time_quantile_stats``, which their Light checkpoints expect: minimum,
        maximum, mean and standard deviation statistic-major as above (4 D columns), then
        the quantiles channel-major (channel 0's five quantiles, then channel 1's, ...).

    Returns
    -------
    Tensor, shape (B, 9 * D)
    """
    if order not in STATISTICS_ORDERS:
        raise ValueError(f"order must be one of {STATISTICS_ORDERS}; got {order!r}.")
    z = z.float()
    std = z.std(dim=-1, correction=1) if z.shape[-1] > 1 else torch.zeros_like(z[..., 0])
    q = torch.tensor(_QUANTILES, dtype=z.dtype, device=z.device)
    quantiles = torch.quantile(z, q, dim=-1)  # (5, B, D)
    moments = [z.amin(-1), z.amax(-1), z.mean(-1), std]
    if order == "authors":
        return torch.cat([*moments, quantiles.permute(1, 2, 0).flatten(1)], dim=-1)
    return torch.cat([*moments, *quantiles], dim=-1)


def log_variance(z: Tensor, eps: float = 1e-6) -> Tensor:
    """Log-variance (log power about the mean) of each channel over time.

    EEG's discriminative information is mostly in log-power, which none of the nine Light
    statistics is: they are linear in amplitude.

    Parameters
    ----------
    z : Tensor, shape (B, D, L)
        Features over time.
    eps : float
        Added to the variance so that a constant channel gives a finite value.

    Returns
    -------
    Tensor, shape (B, D)
    """
    return torch.log(z.float().var(dim=-1, correction=0) + eps)


def time_bins(z: Tensor, n_bins: int) -> Tensor:
    """Mean of each channel in ``n_bins`` consecutive, near-equal time bins.

    Keeps the timing (of ERPs, waveform shapes) that statistics over the whole window lose.

    Parameters
    ----------
    z : Tensor, shape (B, D, L)
        Features over time, ``L >= 1``.
    n_bins : int
        Bins (with ``n_bins > L`` some bins repeat a sample).

    Returns
    -------
    Tensor, shape (B, D * n_bins)
        Channel-major: channel 0's bins, then channel 1's, ...
    """
    return F.adaptive_avg_pool1d(z.float(), n_bins).flatten(1)


#: What :func:`encoder_features` can compute; ``features`` joins any of them with "+".
FEATURE_SETS = ("light", "bottleneck", "logvar", "bins")


def parse_features(features: str | tuple[str, ...]) -> tuple[str, ...]:
    """The parts of a ``features`` string such as ``"light+logvar"``, validated.

    Parameters
    ----------
    features : str or tuple of str
        Parts of :data:`FEATURE_SETS` joined by "+", each once; or a tuple of them (parsed
        already: it is checked and returned).

    Returns
    -------
    tuple of str

    Raises
    ------
    ValueError
        If ``features`` names no part, an unknown one, or one twice.
    """
    if isinstance(features, str):
        parts = tuple(features.split("+"))
    else:
        parts = features if isinstance(features, tuple) else ()
    if not parts or any(p not in FEATURE_SETS for p in parts) or len(set(parts)) < len(parts):
        raise ValueError(
            f"features must be one or more of {FEATURE_SETS} joined by '+' (each once), "
            f"e.g. 'light' or 'light+logvar'; got {features!r}."
        )
    return parts


def encoder_features(
    network: EEGM2, x: Tensor, features: str | tuple[str, ...], n_time_bins: int = 8
) -> Tensor:
    """Frozen-encoder features of windows ``x``, the parts of ``features`` side by side.

    - ``"light"``: :func:`summary_statistics` of the last pooled encoder output (EEGM2's
      Light features, ``9 * widths[-1]``).
    - ``"bottleneck"``: the same statistics after the bottleneck (``9 * widths[-1]``).
    - ``"logvar"``: :func:`log_variance` of the output of every encoder level, before its
      pooling (``sum(widths)``): learned filters' log-power, at every time scale.
    - ``"bins"``: :func:`time_bins` of the last pooled output (``n_time_bins * widths[-1]``).

    Parameters
    ----------
    network : EEGM2
    x : Tensor, shape (B, n_chans, T)
    features : str or tuple of str
        Parts joined by "+", or parsed (see :func:`parse_features`), concatenated in the
        given order.
    n_time_bins : int
        Bins of ``"bins"``.

    Returns
    -------
    Tensor, shape (B, n_features)
        Named by :func:`feature_names`.
    """
    skips, pooled = network.encode(x)
    blocks = {
        "light": lambda: summary_statistics(pooled),
        "bottleneck": lambda: summary_statistics(
            network.bottleneck(pooled.transpose(1, 2)).transpose(1, 2)
        ),
        "logvar": lambda: torch.cat([log_variance(skip) for skip in skips], dim=1),
        "bins": lambda: time_bins(pooled, n_time_bins),
    }
    return torch.cat([blocks[part]() for part in parse_features(features)], dim=1)


def feature_names(
    widths: tuple[int, ...], features: str | tuple[str, ...], n_time_bins: int = 8
) -> list[str]:
    """Names of the columns of :func:`encoder_features`, in its order.

    ``"pool_{statistic}_{channel}"`` and ``"bottleneck_{statistic}_{channel}"``
    (statistic-major), ``"logvar{level}_{channel}"`` (levels from 1, the top one), and
    ``"pool_bin{bin}_{channel}"`` (channel-major).
    """
    last = range(widths[-1])
    names = {
        "light": [f"pool_{stat}_{c}" for stat in STATISTICS for c in last],
        "bottleneck": [f"bottleneck_{stat}_{c}" for stat in STATISTICS for c in last],
        "logvar": [
            f"logvar{level}_{c}" for level, width in enumerate(widths, 1) for c in range(width)
        ],
        "bins": [f"pool_bin{b}_{c}" for c in last for b in range(n_time_bins)],
    }
    return [name for part in parse_features(features) for name in names[part]]


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


class PooledHeadNetwork(nn.Module):
    """The encoder, then a linear head on pooled encoder features (not the paper's head).

    ``x (B, C, T) -> encoder_features -> batch norm (no affine) -> Linear(n_features, K)``:
    the head has ``n_features * K`` weights where the paper's Fine head has ``C * T * 128``,
    and works for any window length. Every weight (encoder and head) is trained; the decoder
    is kept but unused.

    Parameters
    ----------
    backbone : EEGM2
        The (pre-trained or fresh) autoencoder.
    n_classes : int
        Output logits.
    features : str or tuple of str
        Encoder features the head sees (see :func:`encoder_features`), parsed here once.
    n_time_bins : int
        Bins of the "bins" features.
    """

    def __init__(
        self,
        backbone: EEGM2,
        n_classes: int,
        features: str | tuple[str, ...] = "logvar",
        n_time_bins: int = 8,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.features = parse_features(features)
        self.n_time_bins = n_time_bins
        n_features = len(feature_names(backbone.widths, features, n_time_bins))
        self.norm = nn.BatchNorm1d(n_features, affine=False)
        self.linear = nn.Linear(n_features, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (B, n_classes) for ``x`` (B, C, T)."""
        z = encoder_features(self.backbone, x, self.features, self.n_time_bins)
        norm = self.norm
        # A training batch of one window has no spread to standardise by: use running stats.
        batch_stats = self.training and len(z) > 1
        z = F.batch_norm(
            z, norm.running_mean, norm.running_var, training=batch_stats, momentum=0.1,
            eps=norm.eps,
        )  # fmt: skip
        return self.linear(z)
