"""Amplitude scaling: how windows are brought to the units the network works in.

The estimators' ``scaling`` parameter chooses it: "window" (each window and channel divided
by its 95th percentile of ``|x|``, the paper's preprocessing), "global" (one such percentile
for the whole training set) or None (as given).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .validation import check_window, sample_windows, window_array

SCALINGS = ("window", "global", None)
#: Windows read to estimate "global" scaling on data streamed from disk.
SCALING_SAMPLE = 1000


def fit_scale(X: np.ndarray | Dataset, scaling: str | None) -> float:
    """The divisor of "global" scaling (1 for the others), from the training windows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_chans, n_times), or Dataset of windows
        A dataset is not read whole for one number: up to 1,000 windows spread evenly over
        it (across recordings, in proportion to their length) estimate it.
    scaling : {"window", "global", None}

    Returns
    -------
    float
    """
    if scaling != "global":
        return 1.0
    if not isinstance(X, np.ndarray):
        X = sample_windows(X, SCALING_SAMPLE)
    # One amplitude for the whole training set keeps differences in power between windows,
    # which per-window scaling removes.
    return float(np.percentile(np.abs(X), 95)) + 1e-8


def scale_windows(
    X: np.ndarray, scaling: str | None, scale: float
) -> tuple[np.ndarray, np.ndarray | float]:
    """Bring windows to network units.

    Parameters
    ----------
    X : ndarray of float32, shape (n, n_chans, n_times) or (n_chans, n_times)
    scaling : {"window", "global", None}
        "window": each window and channel divided by its 95th percentile of ``|x|`` (+1e-8);
        otherwise divided by ``scale``.
    scale : float
        The divisor of "global" scaling (1 for None).

    Returns
    -------
    scaled : ndarray of float32, shape of ``X``
    factor : ndarray or float
        What brings network outputs back to the units of ``X`` (``scaled * factor == X``).
    """
    if scaling == "window":
        factor = np.percentile(np.abs(X), 95, axis=-1, keepdims=True).astype(np.float32) + 1e-8
        return X / factor, factor
    return X / np.float32(scale), scale


class TrainingWindows(Dataset):
    """Windows of a dataset, checked and scaled, as the ``(X, y)`` pairs skorch trains on.

    Parameters
    ----------
    windows : Dataset
        Yields windows of shape (n_chans, n_times) (arrays or tensors), or tuples whose first
        element is one (as braindecode's datasets do).
    scaling : {"window", "global", None}
    scale : float
        See :func:`scale_windows`.
    """

    def __init__(self, windows: Dataset, scaling: str | None, scale: float) -> None:
        self.windows = windows
        self.scaling = scaling
        self.scale = scale

    def __len__(self) -> int:
        return len(self.windows)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        window = window_array(self.windows[index])
        check_window(window, index)
        scaled, _ = scale_windows(window, self.scaling, self.scale)
        # skorch unpacks (X, y) batches; y is unused in pretraining (as skorch's own dummy).
        return torch.from_numpy(np.ascontiguousarray(scaled, dtype=np.float32)), torch.zeros(1)
