"""Pictures of what EEGM2 learned: reconstructions, training curves, features by class.

The functions take plain data (arrays, a skorch :class:`~skorch.history.History`), so they
work with any model; with the estimators, pass ``pretrainer.reconstruct(X)``,
``pretrainer.history_`` (or the estimator itself) and ``pretrainer.transform(X)``. Each
returns a new :class:`matplotlib.figure.Figure`, made with :mod:`matplotlib.pyplot` so that
notebooks and sphinx-gallery show it.

matplotlib is optional: ``pip install "sk_eegm2[plot]"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.signal import welch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_features", "plot_history", "plot_reconstruction"]

#: Channels shown by :func:`plot_reconstruction` when ``picks`` is None.
N_DEFAULT_PICKS = 4


def _pyplot() -> Any:
    """matplotlib.pyplot, imported on first use, as matplotlib is an optional dependency."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            "sk_eegm2.plotting needs matplotlib, which is not installed. Install it with "
            f'pip install "sk_eegm2[plot]" (or pip install matplotlib). ({err})'
        ) from err
    return plt


def plot_reconstruction(
    X: Any,
    reconstruction: Any,
    sfreq: float,
    ch_names: Sequence[str] | None = None,
    *,
    window: int = 0,
    picks: Sequence[int | str] | None = None,
    unit: str = "µV",
) -> Figure:
    """Input against reconstruction, over time and as power spectra, channel by channel.

    One row per picked channel. Left: the signal of one window over time, input and
    reconstruction overlaid. Right: their power spectral densities (Welch's method, 1 s
    segments or the window if shorter), averaged over all windows, on a log scale.

    Parameters
    ----------
    X : array-like of shape (n_windows, n_chans, n_times)
        The input windows, in ``unit`` (e.g. ``epochs.get_data(units="uV")``).
    reconstruction : array-like of shape (n_windows, n_chans, n_times)
        The model's reconstruction of ``X`` in the same unit, e.g.
        ``pretrainer.reconstruct(X)``.
    sfreq : float
        Sampling rate in Hz.
    ch_names : sequence of str, length n_chans, or None
        Channel names for the titles and for ``picks``; None numbers the channels.
    window : int, default=0
        Index of the window drawn over time.
    picks : sequence of int or str, or None
        Channels to draw, by index or name; None draws the first ``N_DEFAULT_PICKS`` (4).
    unit : str, default="µV"
        Unit of ``X``, for the axis labels.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(picks)`` rows of two axes, each with two lines: input, then reconstruction.

    Raises
    ------
    ValueError
        If the arrays are not 3-D with the same shape, ``ch_names`` does not match the
        channels, or ``window`` or ``picks`` are out of range.
    """
    inputs = np.asarray(X, dtype=float)
    reconstructed = np.asarray(reconstruction, dtype=float)
    if inputs.ndim != 3 or inputs.shape != reconstructed.shape:
        raise ValueError(
            "X and reconstruction must be arrays of the same shape (n_windows, n_chans, "
            f"n_times), got {inputs.shape} and {reconstructed.shape}."
        )
    n_windows, n_chans, n_times = inputs.shape
    if sfreq <= 0:
        raise ValueError(f"sfreq must be positive, got {sfreq}.")
    names = [f"channel {i}" for i in range(n_chans)] if ch_names is None else list(ch_names)
    if len(names) != n_chans:
        raise ValueError(f"ch_names has {len(names)} names for {n_chans} channels.")
    if not -n_windows <= window < n_windows:
        raise ValueError(f"window {window} is out of range for {n_windows} windows.")
    indices = _channel_indices(picks, names)

    freqs, psd_in = welch(inputs[:, indices], fs=sfreq, nperseg=min(n_times, int(sfreq)))
    _, psd_out = welch(reconstructed[:, indices], fs=sfreq, nperseg=min(n_times, int(sfreq)))
    times = np.arange(n_times) / sfreq

    plt = _pyplot()
    fig, axes = plt.subplots(
        len(indices), 2, figsize=(10, 2.2 * len(indices) + 0.6), squeeze=False, sharex="col"
    )
    for row, channel in enumerate(indices):
        ax_time, ax_psd = axes[row]
        ax_time.plot(times, inputs[window, channel], color="0.3", lw=1, label="input")
        ax_time.plot(
            times, reconstructed[window, channel], color="C1", lw=1, label="reconstruction"
        )
        ax_time.set_ylabel(f"{names[channel]} ({unit})")
        ax_psd.semilogy(freqs, psd_in[:, row].mean(0), color="0.3", label="input")
        ax_psd.semilogy(freqs, psd_out[:, row].mean(0), color="C1", label="reconstruction")
        ax_psd.set_ylabel(f"PSD ({unit}²/Hz)")
    axes[0, 0].set_title(f"Window {window} over time")
    axes[0, 1].set_title(f"Power spectrum, mean of {n_windows} windows")
    axes[0, 1].legend(loc="upper right")
    axes[-1, 0].set_xlabel("Time (s)")
    axes[-1, 1].set_xlabel("Frequency (Hz)")
    fig.tight_layout()
    return fig


def plot_history(history: Any) -> Figure:
    """Training and validation loss per epoch.

    Parameters
    ----------
    history : skorch.history.History, list of dict, or fitted estimator
        The training history: a skorch ``History`` (or list of per-epoch dicts with
        ``"train_loss"`` and, when a validation set was held out, ``"valid_loss"``), or an
        object with a ``history_`` attribute holding one, such as a fitted
        :class:`~sk_eegm2.EEGM2Pretrainer`.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: a line of the training loss, a line of the validation loss when the
        history has one, and a marker at the epoch of lowest validation loss.

    Raises
    ------
    ValueError
        If the history is empty or has no ``"train_loss"``.
    """
    rows = list(getattr(history, "history_", history))
    if not rows or any("train_loss" not in row for row in rows):
        raise ValueError("history must hold at least one epoch, each with a 'train_loss'.")
    epochs = np.array([row.get("epoch", i + 1) for i, row in enumerate(rows)])
    train = np.array([row["train_loss"] for row in rows], dtype=float)
    valid = np.array([row.get("valid_loss", np.nan) for row in rows], dtype=float)

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(epochs, train, marker="o", ms=3, label="training")
    if not np.isnan(valid).all():
        ax.plot(epochs, valid, marker="o", ms=3, label="validation")
        best = np.nanargmin(valid)
        ax.plot(
            epochs[best], valid[best], ls="none", marker="*", ms=12, color="C1",
            markeredgecolor="k", label=f"lowest validation loss (epoch {epochs[best]})",
        )  # fmt: skip
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Loss")
    ax.set_title("Training history")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_features(
    features: Any,
    y: Any,
    *,
    class_names: dict[Any, str] | None = None,
    random_state: int | None = 0,
) -> Figure:
    """The features in two dimensions, coloured by class: standardised, then PCA.

    Each feature is standardised first (features of different statistics have different
    scales, which would otherwise decide the components), then projected on the two
    principal components.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        Feature vectors, e.g. ``pretrainer.transform(X)``; at least two features.
    y : array-like of shape (n_samples,)
        Class of each sample.
    class_names : dict or None
        Legend label of each class value; None uses the values themselves.
    random_state : int or None, default=0
        Seed of the PCA solver (randomised for large inputs).

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one scatter (a :class:`~matplotlib.collections.PathCollection`) per
        class, in sorted order of the classes; axis labels give each component's share of
        the variance.

    Raises
    ------
    ValueError
        If ``features`` is not 2-D with at least two samples and two features, or ``y`` does
        not have one label per sample.
    """
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    values = np.asarray(features, dtype=float)
    labels = np.asarray(y)
    if values.ndim != 2 or values.shape[0] < 2 or values.shape[1] < 2:
        raise ValueError(
            f"features must have shape (n_samples >= 2, n_features >= 2), got {values.shape}."
        )
    if labels.shape != (values.shape[0],):
        raise ValueError(f"y has shape {labels.shape}; expected ({values.shape[0]},).")
    projection = make_pipeline(StandardScaler(), PCA(2, random_state=random_state))
    points = projection.fit_transform(values)
    explained = projection[-1].explained_variance_ratio_

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for label in np.unique(labels):
        inside = labels == label
        name = class_names.get(label, label) if class_names is not None else label
        ax.scatter(*points[inside].T, s=12, alpha=0.6, label=f"{name} ({inside.sum()})")
    ax.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({explained[1]:.0%} of variance)")
    ax.set_title("Features by class (standardised, PCA)")
    ax.legend(title="class (samples)")
    fig.tight_layout()
    return fig


def _channel_indices(picks: Sequence[int | str] | None, names: list[str]) -> list[int]:
    """Indices of ``picks`` (indices or names) among the channels ``names``."""
    if picks is None:
        return list(range(min(N_DEFAULT_PICKS, len(names))))
    if isinstance(picks, str | int):
        picks = [picks]
    indices = []
    for pick in picks:
        if isinstance(pick, str):
            if pick not in names:
                raise ValueError(f"Channel {pick!r} is not among {names}.")
            indices.append(names.index(pick))
        elif -len(names) <= int(pick) < len(names):
            indices.append(int(pick) % len(names))
        else:
            raise ValueError(f"Channel index {pick} is out of range for {len(names)} channels.")
    if not indices:
        raise ValueError("picks is empty.")
    return indices
