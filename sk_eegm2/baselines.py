"""Classical baselines to compare EEGM2 against: log band power, Riemannian tangent space."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.signal import welch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted

from .validation import check_eeg

#: Canonical EEG bands in Hz: delta, theta, alpha, beta, gamma (up to 45 Hz).
BANDS = ((1.0, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 45.0))


class LogBandPower(TransformerMixin, BaseEstimator):
    """Log power of each channel in frequency bands (Welch's method).

    Parameters
    ----------
    sfreq : float or None, default=None
        Sampling rate in Hz; None takes it from MNE input (required for arrays).
    bands : tuple of (float, float), default=BANDS
        Frequency bands in Hz, [low, high).

    Attributes
    ----------
    sfreq_ : float
        The sampling rate used.
    n_chans_ : int
    """

    def __init__(self, sfreq: float | None = None, bands: tuple = BANDS) -> None:
        self.sfreq = sfreq
        self.bands = bands

    def fit(self, X: Any, y: Any = None) -> LogBandPower:
        """Record the sampling rate and channel count of ``X``."""
        eeg = check_eeg(X)
        sfreq = self.sfreq if self.sfreq is not None else eeg.sfreq
        if sfreq is None:
            raise ValueError("LogBandPower needs sfreq= for array input (MNE input carries it).")
        self.sfreq_ = float(sfreq)
        self.n_chans_ = eeg.X.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Log band powers, shape (n_samples, n_chans * n_bands), channel-major."""
        check_is_fitted(self)
        data = check_eeg(X).X
        freqs, psd = welch(data, fs=self.sfreq_, nperseg=min(data.shape[-1], int(self.sfreq_)))
        powers = [psd[..., (freqs >= lo) & (freqs < hi)].mean(-1) for lo, hi in self.bands]
        return np.log(np.stack(powers, axis=-1) + 1e-12).reshape(len(data), -1)


def log_band_power_pipeline(
    sfreq: float | None = None, class_weight: str | dict | None = None
) -> Pipeline:
    """Log band power, standardised, into a logistic regression (``class_weight`` for it)."""
    return make_pipeline(
        LogBandPower(sfreq),
        StandardScaler(),
        LogisticRegression(max_iter=1000, class_weight=class_weight),
    )


def tangent_space_pipeline(class_weight: str | dict | None = None) -> Pipeline:
    """Covariances mapped to the Riemannian tangent space, into a logistic regression.

    Shrunk covariance matrices (Oracle Approximating Shrinkage) of each window, projected
    onto the tangent space at their Riemannian mean, into a logistic regression
    (``class_weight`` for it). Needs `pyRiemann <https://pyriemann.readthedocs.io>`_, which
    the ``baselines`` extra installs: ``pip install "sk_eegm2[baselines]"``.

    Raises
    ------
    ImportError
        If pyRiemann is not installed; the message gives the command that installs it.
    """
    try:
        from pyriemann.estimation import Covariances
        from pyriemann.tangentspace import TangentSpace
    except ImportError as err:
        raise ImportError(
            "tangent_space_pipeline needs pyRiemann, which is not installed. Install it with "
            f'pip install "sk_eegm2[baselines]" (or pip install pyriemann). ({err})'
        ) from err
    return make_pipeline(
        Covariances("oas"),
        TangentSpace(metric="riemann"),
        LogisticRegression(max_iter=1000, class_weight=class_weight),
    )


def _block_means(X: Any, factor: int) -> np.ndarray:
    """Windows (n, C, T) averaged over blocks of ``factor`` samples, flattened channel-major."""
    data = check_eeg(X).X
    n_blocks = data.shape[-1] // factor
    blocks = data[..., : n_blocks * factor].reshape(*data.shape[:2], n_blocks, factor)
    return blocks.mean(-1).reshape(len(data), -1)


def raw_window_pipeline(factor: int = 8, class_weight: str | dict | None = None) -> Pipeline:
    """Logistic regression on the raw windows, downsampled by averaging ``factor`` samples.

    Averaging blocks of 8 samples at 128 Hz leaves 16 Hz, a low-pass view of the waveform
    (C * T / 8 features). The baseline of a model that sees the waveform itself, with no
    spectral or spatial prior.
    """
    return make_pipeline(
        FunctionTransformer(_block_means, kw_args={"factor": factor}),
        StandardScaler(),
        LogisticRegression(max_iter=1000, class_weight=class_weight),
    )
