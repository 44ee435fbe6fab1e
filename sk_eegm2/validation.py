"""Input conversion: everything users pass becomes a float32 (n_samples, n_chans, n_times) array.

This is the one place where inputs are converted and checked. It accepts numpy arrays and
array-likes, torch tensors, MNE Epochs, and the lists of one-epoch Epochs that scikit-learn's
cross-validation makes of an Epochs object; it refuses, with a message that says how to fix
it, anything else. Inputs too large for memory (recordings on disk, PyTorch datasets) are
recognised by :func:`as_window_dataset` and stay datasets, read a window at a time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import mne
import numpy as np
import scipy.sparse
import torch
from torch.utils.data import Dataset

from .streaming import RecordingWindows


@dataclass(frozen=True)
class EEGData:
    """Validated EEG windows.

    Attributes
    ----------
    X : ndarray of float32, shape (n_samples, n_chans, n_times)
        Microvolts for MNE input; the caller's units for arrays.
    sfreq : float or None
        Sampling rate in Hz, when the input carried one (MNE Epochs).
    ch_names : list of str or None
        Channel names, when the input carried them.
    """

    X: np.ndarray
    sfreq: float | None = None
    ch_names: list[str] | None = None


def _epochs_data(epochs: Sequence[mne.BaseEpochs]) -> EEGData:
    """EEG channels of one or several Epochs, in microvolts."""
    first = epochs[0]
    names = [first.ch_names[i] for i in mne.pick_types(first.info, eeg=True)]
    if not names:
        raise ValueError(
            "The Epochs contain no EEG channel; EEGM2 uses EEG channels only. Set channel "
            "types with epochs.set_channel_types({...: 'eeg'})."
        )
    for other in epochs[1:]:
        if (
            other.info["sfreq"] != first.info["sfreq"]
            or [other.ch_names[i] for i in mne.pick_types(other.info, eeg=True)] != names
        ):
            raise ValueError(
                "The Epochs objects differ in sampling rate or EEG channels; resample and pick "
                "the same channels first (epochs.resample, epochs.pick)."
            )
    data = np.concatenate([e.get_data(picks="eeg", units="uV") for e in epochs])
    return EEGData(data, float(first.info["sfreq"]), names)


def _as_numeric_array(X: Any) -> np.ndarray:
    """``X`` as a numpy array, refusing what would only fail later inside PyTorch."""
    if scipy.sparse.issparse(X):
        raise TypeError(
            "A sparse matrix was passed, but EEG windows must be a dense array; use X.toarray()."
        )
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    try:
        array = np.asarray(X)
    except ValueError as error:  # numpy >= 1.24 refuses ragged nested sequences
        raise ValueError(
            "X is ragged: its windows differ in shape. Cut windows of one length and one set "
            "of channels (e.g. sk_eegm2.datasets.make_windows) before passing them."
        ) from error
    kind = array.dtype.kind
    if kind == "O":
        raise TypeError(
            "X is an object array (ragged windows or mixed types?); pass a numeric array "
            "of shape (n_samples, n_chans, n_times), e.g. np.stack(windows).astype(np.float32)."
        )
    if kind == "b":
        raise TypeError(
            "X is a boolean array; EEG windows must be numeric samples (microvolts). "
            "Convert deliberately with X.astype(np.float32) if this is what you meant."
        )
    if kind in "USV":
        raise TypeError(f"X has dtype {array.dtype}; EEG windows must be numbers, not text.")
    if kind == "c":
        raise ValueError(
            "Complex data not supported: EEG windows must be real; use X.real or np.abs(X)."
        )
    if kind not in "iuf":
        raise TypeError(f"X has unsupported dtype {array.dtype}; pass float32 or float64.")
    return array


def check_eeg(X: Any) -> EEGData:
    """Convert and check EEG windows.

    Parameters
    ----------
    X : array-like, torch.Tensor, mne.Epochs, list of mne.Epochs or EEGData
        Windows of shape (n_samples, n_chans, n_times), or (n_samples, n_times) for one
        channel. MNE Epochs are read in microvolts, EEG channels only.

    Returns
    -------
    EEGData
        ``X`` as a C-contiguous, writeable float32 array of shape (n, C, T), with the
        sampling rate and channel names where the input had them.

    Raises
    ------
    TypeError
        Sparse, object, boolean or text input.
    ValueError
        Ragged, complex, empty, non-finite input, or the wrong number of dimensions.
    """
    if isinstance(X, EEGData):  # already checked
        return X
    if _input_kind(X) == "recordings":
        raise TypeError(
            "Recordings (file paths, mne Raw objects) are read window by window by "
            "EEGM2Pretrainer.fit only; here pass windows, e.g. "
            "sk_eegm2.datasets.make_windows(raw, window_seconds)."
        )
    if isinstance(X, mne.BaseEpochs):
        eeg = _epochs_data([X])
    elif (
        isinstance(X, (list, tuple))
        and len(X) > 0
        and all(isinstance(e, mne.BaseEpochs) for e in X)
    ):
        eeg = _epochs_data(list(X))
    else:
        eeg = EEGData(_as_numeric_array(X))
    data = eeg.X
    if data.ndim in (2, 3) and 0 in data.shape:
        kind = "sample" if data.shape[0] == 0 else "feature"
        raise ValueError(
            f"Found array with 0 {kind}(s) (shape={data.shape}) while a minimum of 1 is required:"
            " X has no windows, channels or time points."
        )
    if data.ndim == 2:
        data = data[:, None, :]  # (n, T): one channel
    elif data.ndim != 3:
        raise ValueError(
            f"Expected a 3D array (n_samples, n_chans, n_times) or 2D (n_samples, n_times), "
            f"got {data.ndim}D with shape {data.shape}. Reshape your data, e.g. "
            "X[np.newaxis] for a single window."
        )
    data = np.ascontiguousarray(data, dtype=np.float32)
    if not data.flags.writeable:  # read-only memmaps: torch wants writeable memory
        data = data.copy()
    # A float64 sum is finite exactly when every value is (float32 values cannot overflow
    # it), and, unlike np.isfinite(data), needs no array as large as the input.
    if not np.isfinite(data.sum(dtype=np.float64)):
        finite = np.isfinite(data)
        sample, chan, time = np.argwhere(~finite)[0]
        raise ValueError(
            f"Input X contains NaN or infinity ({np.size(finite) - finite.sum()} values; the "
            f"first in window {sample}, channel {chan}, time {time}). Drop or repair bad "
            "segments first (e.g. epochs.drop_bad, interpolation)."
        )
    return EEGData(data, eeg.sfreq, eeg.ch_names)


def _is_recording(item: Any) -> bool:
    return isinstance(item, (str, os.PathLike, mne.io.BaseRaw))


def as_window_dataset(X: Any, window_seconds: float) -> Dataset | None:
    """``X`` as a dataset of windows read on demand, or None when ``X`` is windows in memory.

    Parameters
    ----------
    X : object
        A PyTorch :class:`~torch.utils.data.Dataset` (such as :class:`~sk_eegm2.streaming.
        RecordingWindows`) is returned as it is. A path to an EEG file, an
        :class:`mne.io.BaseRaw`, or a list or tuple of them becomes a
        :class:`~sk_eegm2.streaming.RecordingWindows` of back-to-back EEG windows. Anything
        else (arrays, tensors, Epochs) is left to :func:`check_eeg`.
    window_seconds : float
        Window length for recordings.

    Returns
    -------
    Dataset or None
    """
    kind = _input_kind(X)
    if kind == "dataset":
        return X
    if kind == "recordings":
        return RecordingWindows(X, window_seconds)
    return None


def _input_kind(X: Any) -> str | None:
    """What ``X`` is: "dataset" (a PyTorch Dataset), "recordings", or None (windows)."""
    if isinstance(X, Dataset):
        return "dataset"
    if _is_recording(X) or (
        isinstance(X, (list, tuple)) and len(X) > 0 and all(_is_recording(r) for r in X)
    ):
        return "recordings"
    return None
