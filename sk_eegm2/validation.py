"""Every input check: what users pass becomes windows the network can take, or a clear error.

This is the one place where inputs are recognised, converted and compared with what ``fit``
saw. It accepts numpy arrays and array-likes, torch tensors, MNE Epochs, and the lists of
one-epoch Epochs that scikit-learn's cross-validation makes of an Epochs object, and turns
them into a float32 (n_samples, n_chans, n_times) array (:func:`check_eeg`). Inputs too
large for memory (recordings on disk, PyTorch datasets) are recognised by
:func:`as_window_dataset` and stay datasets, read a window at a time; :func:`describe_stream`
checks their windows. Labels (:func:`check_labels`), window length, channels, sampling rate
and amplitude (:func:`check_same_input`, :func:`check_amplitude`) are checked here too.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import mne
import numpy as np
import pandas as pd
import scipy.sparse
import torch
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d
from torch.utils.data import Dataset

from .streaming import RecordingWindows

#: Amplitude ratios beyond this factor (either way) between ``fit`` and later input warn.
AMPLITUDE_TOLERANCE = 100.0
#: 2D input with this many times more rows than columns looks like a recording stored
#: (n_times, n_channels) rather than one-channel windows, and warns.
ONE_CHANNEL_ROWS_RATIO = 100
#: Windows read to measure the amplitude of a dataset, or of the input of a prediction.
AMPLITUDE_SAMPLE = 100


class AmplitudeWarning(UserWarning):
    """Input amplitude far from what ``fit`` saw: probably other units (volts, microvolts)."""


@dataclass(frozen=True)
class InputShape:
    """What identifies an input's windows: their shape, sampling rate and channel names.

    Attributes
    ----------
    n_chans : int
        Channels per window.
    n_times : int
        Time points per window.
    sfreq : float or None
        Sampling rate in Hz, when the input carried one.
    ch_names : list of str or None
        Channel names, when the input carried them.
    """

    n_chans: int
    n_times: int
    sfreq: float | None = None
    ch_names: list[str] | None = None


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

    @property
    def shape(self) -> InputShape:
        """The windows' :class:`InputShape`."""
        _, n_chans, n_times = self.X.shape
        return InputShape(n_chans, n_times, self.sfreq, self.ch_names)


def _epochs_parts(epochs: Sequence[mne.BaseEpochs]) -> list[EEGData]:
    """EEG channels of one or several Epochs, in microvolts: one part per run of Epochs
    that share their sampling rate and EEG channels (one part, usually)."""
    parts: list[list[mne.BaseEpochs]] = []
    for e in epochs:
        if parts and _epochs_key(e) == _epochs_key(parts[-1][0]):
            parts[-1].append(e)
        else:
            parts.append([e])
    return [_epochs_data(part) for part in parts]


def _epochs_key(epochs: mne.BaseEpochs) -> tuple[float, list[str]]:
    names = [epochs.ch_names[i] for i in mne.pick_types(epochs.info, eeg=True)]
    return float(epochs.info["sfreq"]), names


def _epochs_data(epochs: list[mne.BaseEpochs]) -> EEGData:
    """EEG channels of Epochs of one rate and one set of EEG channels, in microvolts."""
    first = epochs[0]
    bads = [name for name in first.info["bads"] if name in first.ch_names]
    if bads:
        raise ValueError(
            f"The Epochs mark channels as bad (info['bads'] = {bads}); MNE would leave them "
            "out, so the channel count would depend on each file's marks. Repair them "
            "(epochs.interpolate_bads()) or drop them (epochs.drop_channels(epochs.info"
            "['bads'])) first, the same way for fit and predict."
        )
    sfreq, names = _epochs_key(first)
    if not names:
        raise ValueError(
            "The Epochs contain no EEG channel; EEGM2 uses EEG channels only. Set channel "
            "types with epochs.set_channel_types({...: 'eeg'})."
        )
    data = np.concatenate([e.get_data(picks="eeg", units="uV") for e in epochs])
    return EEGData(data, sfreq, names)


def _as_numeric_array(X: Any) -> np.ndarray:
    """``X`` as a numpy array, refusing what would only fail later inside PyTorch."""
    if scipy.sparse.issparse(X):
        raise TypeError(
            "A sparse matrix was passed, but EEG windows must be a dense array; use X.toarray()."
        )
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu()
        if X.is_floating_point() and X.dtype not in (torch.float16, torch.float32, torch.float64):
            X = X.float()  # bfloat16 and float8 have no numpy dtype; float32 holds their values
        X = X.numpy()
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


def _warn_one_channel(X: Any, shape: tuple[int, ...]) -> None:
    """Warn where 2D input, taken as one-channel windows, is likely something else."""
    rows, columns = shape
    if isinstance(X, pd.DataFrame):
        why = "a DataFrame holds no channel axis"
    elif rows >= ONE_CHANNEL_ROWS_RATIO * columns:
        why = (
            f"{rows // columns} times more rows than columns, as in a recording stored "
            "(n_times, n_channels)"
        )
    else:
        return
    warnings.warn(
        f"X of shape {shape} is read as {rows} one-channel windows of {columns} time points "
        f"({why}). Pass several channels as a 3D array (n_windows, n_channels, n_times), "
        "e.g. np.stack(windows), or cut a recording with "
        "sk_eegm2.datasets.make_windows(raw, window_seconds); pass one channel as "
        "X[:, np.newaxis, :] (a DataFrame's .to_numpy()[:, np.newaxis, :]) to silence this.",
        UserWarning,
        stacklevel=3,
    )


def check_eeg(X: Any) -> EEGData:
    """Convert and check EEG windows.

    Parameters
    ----------
    X : array-like, torch.Tensor, mne.Epochs, list of mne.Epochs or EEGData
        Windows of shape (n_samples, n_chans, n_times), or (n_samples, n_times) for one
        channel. MNE Epochs are read in microvolts, EEG channels only; channels marked bad
        are refused (interpolate or drop them first). Several Epochs must share their
        sampling rate and EEG channels (see :func:`check_eeg_parts` for those that do not).

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
        Ragged, complex, empty, non-finite input, values beyond the float32 range, Epochs
        with bad channels, Epochs of different rates or channels, or the wrong number of
        dimensions.
    """
    parts = check_eeg_parts(X)
    if len(parts) > 1:
        raise parts_differ()
    return parts[0]


def parts_differ() -> ValueError:
    """The error for Epochs of different rates or channels where one set is needed."""
    return ValueError(
        "The Epochs objects differ in sampling rate or EEG channels; resample and pick the "
        "same channels first (epochs.resample, epochs.pick), or let the estimators adapt "
        "them (channels='match' or 'interpolate', resample=True)."
    )


def check_eeg_parts(X: Any) -> list[EEGData]:
    """Convert and check EEG windows that may come in parts of different channels and rates.

    Parameters
    ----------
    X : array-like, torch.Tensor, mne.Epochs, list of mne.Epochs, EEGData, or braindecode dataset
        As for :func:`check_eeg`; a list of Epochs may mix sampling rates and channels. A
        braindecode windows dataset (see :func:`braindecode_info`) is read whole, its
        windows as it serves them (in its units: volts, unless its preprocessing scaled
        them), with its channel names and rate.

    Returns
    -------
    list of EEGData
        One part per run of consecutive Epochs that share their rate and EEG channels, in
        the order given; a single part for any other input.

    Raises
    ------
    TypeError, ValueError
        As :func:`check_eeg`.
    """
    if isinstance(X, EEGData):  # already checked
        return [X]
    if _windows_recordings(X) is not None:
        return [_checked(_braindecode_windows(X))]
    if _input_kind(X) is not None:
        raise TypeError(
            "Recordings (file paths, mne Raw objects) and datasets are read window by window "
            "by EEGM2Pretrainer.fit only; here pass windows, e.g. "
            "sk_eegm2.datasets.make_windows(raw, window_seconds)."
        )
    if isinstance(X, mne.BaseEpochs):
        parts = _epochs_parts([X])
    elif (
        isinstance(X, (list, tuple))
        and len(X) > 0
        and all(isinstance(e, mne.BaseEpochs) for e in X)
    ):
        parts = _epochs_parts(list(X))
    else:
        eeg = EEGData(_as_numeric_array(X))
        if eeg.X.ndim == 2 and eeg.X.size:
            _warn_one_channel(X, eeg.X.shape)
        parts = [eeg]
    return [_checked(eeg) for eeg in parts]


def _checked(eeg: EEGData) -> EEGData:
    """``eeg`` as a finite float32 (n, C, T) array, or a clear error."""
    given = eeg.X
    if given.ndim in (2, 3) and 0 in given.shape:
        kind = "sample" if given.shape[0] == 0 else "feature"
        raise ValueError(
            f"Found array with 0 {kind}(s) (shape={given.shape}) while a minimum of 1 is "
            "required: X has no windows, channels or time points."
        )
    if given.ndim == 2:
        given = given[:, None, :]  # (n, T): one channel
    elif given.ndim != 3:
        raise ValueError(
            f"Expected a 3D array (n_samples, n_chans, n_times) or 2D (n_samples, n_times), "
            f"got {given.ndim}D with shape {given.shape}. Reshape your data, e.g. "
            "X[np.newaxis] for a single window."
        )
    with np.errstate(over="ignore"):  # values beyond float32: reported below, clearly
        data = np.ascontiguousarray(given, dtype=np.float32)
    if not data.flags.writeable:  # read-only memmaps: torch wants writeable memory
        data = data.copy()
    # A float64 sum is finite exactly when every value is (float32 values cannot overflow
    # it), and, unlike np.isfinite(data), needs no array as large as the input.
    if not np.isfinite(data.sum(dtype=np.float64)):
        finite = np.isfinite(data)
        sample, chan, time = np.argwhere(~finite)[0]
        if np.isfinite(given[sample, chan, time]):
            raise ValueError(
                f"X holds values beyond the float32 range (±3.4e38), e.g. "
                f"{given[sample, chan, time]:.3g} in window {sample}, channel {chan}, time "
                f"{time}; EEG in volts or microvolts never comes near. Check the units and "
                "the file's calibration."
            )
        raise ValueError(
            f"Input X contains NaN or infinity ({np.size(finite) - finite.sum()} values; the "
            f"first in window {sample}, channel {chan}, time {time}). Drop or repair bad "
            "segments first (e.g. epochs.drop_bad, interpolation)."
        )
    return EEGData(data, eeg.sfreq, eeg.ch_names)


def check_labels(y: Any, n_samples: int) -> np.ndarray:
    """Class labels for ``n_samples`` windows, as a 1D array.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels of any type.
    n_samples : int
        The number of windows they label.

    Returns
    -------
    ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        If ``y`` is None, has missing labels (None), is not a classification target, or
        has another length.
    """
    if y is None:
        raise ValueError(
            "EEGM2Classifier requires y to be passed, but the target y is None; use "
            "EEGM2Pretrainer for training without labels."
        )
    y = column_or_1d(y, warn=True)
    if y.dtype.kind == "O":
        missing = np.flatnonzero([label is None for label in y])
        if len(missing):
            raise ValueError(
                f"y has {len(missing)} missing labels (None), the first at position "
                f"{missing[0]}; drop those windows or label them."
            )
    check_classification_targets(y)
    if len(y) != n_samples:
        raise ValueError(f"X has {n_samples} windows but y has {len(y)} labels.")
    return y


def check_min_length(shape: InputShape, depth: int, what: str) -> None:
    """Refuse windows shorter than ``2 ** depth`` time points (one halving per level).

    Parameters
    ----------
    shape : InputShape
        The windows.
    depth : int
        Pooling levels of the network (``len(widths)``).
    what : str
        What the windows are, for the message ("X", "the dataset's windows").
    """
    if shape.n_times < 2**depth:
        raise ValueError(
            f"EEGM2 needs at least {2**depth} time points per window (2**{depth} for {depth} "
            f"pooling levels); {what} has {shape.n_times} (n_features = "
            f"{shape.n_chans * shape.n_times} with {shape.n_chans} channels). Use longer "
            "windows, or fewer levels in widths."
        )


def check_same_input(
    found: InputShape, expected: InputShape, *, source: str, any_length: bool
) -> None:
    """Refuse windows that differ from ``expected`` in channels, order, rate or length.

    Parameters
    ----------
    found : InputShape
        The windows given.
    expected : InputShape
        What ``source`` was fitted on.
    source : str
        What was fitted, for the messages ("EEGM2Pretrainer", "the pretrained network").
    any_length : bool
        Whether ``source`` takes windows of any length.
    """
    if found.n_chans != expected.n_chans:
        raise ValueError(
            f"X has {found.n_chans} channels, but {source} was fitted on {expected.n_chans}. "
            "Pass the same channels, in the same order, or set channels='match' (or "
            "'interpolate') to pick them by name."
        )
    if found.ch_names is not None and expected.ch_names is not None:
        if found.ch_names != expected.ch_names:
            raise ValueError(
                f"X has channels {found.ch_names}, but {source} was fitted on "
                f"{expected.ch_names}; reorder them with epochs.reorder_channels(...), or set "
                "channels='match' (or 'interpolate') to let the estimator do it."
            )
    if found.sfreq is not None and expected.sfreq is not None and found.sfreq != expected.sfreq:
        raise ValueError(
            f"X is sampled at {found.sfreq} Hz, but {source} was fitted at {expected.sfreq} "
            f"Hz; resample first (epochs.resample({expected.sfreq})), or set resample=True."
        )
    if found.n_times != expected.n_times and not any_length:
        raise ValueError(
            f"X has {found.n_chans * found.n_times} features, but {source} is expecting "
            f"{expected.n_chans * expected.n_times} features as input: windows of "
            f"{found.n_times} time points, but fit saw {expected.n_times}. Cut windows of "
            "that length."
        )


def amplitude(X: np.ndarray | Dataset) -> float:
    """The 95th percentile of ``|x|`` over at most 100 windows spread evenly over ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_chans, n_times), or Dataset of windows

    Returns
    -------
    float
    """
    if isinstance(X, np.ndarray):
        sample = X[_spread(len(X), AMPLITUDE_SAMPLE)]
    else:
        sample = sample_windows(X, AMPLITUDE_SAMPLE)
    return float(np.percentile(np.abs(sample), 95))


def declare_rate(eeg: EEGData, sfreq: float | None) -> EEGData:
    """``eeg`` with the sampling rate ``sfreq`` declared for inputs that carry none.

    Parameters
    ----------
    eeg : EEGData
        Validated windows; MNE input carries its rate, arrays none.
    sfreq : float or None
        The rate the user declares (an estimator's ``sfreq``); None declares nothing.

    Returns
    -------
    EEGData
    """
    if sfreq is None:
        return eeg
    if eeg.sfreq is None:
        return replace(eeg, sfreq=float(sfreq))
    if eeg.sfreq != sfreq:
        raise ValueError(
            f"X is sampled at {eeg.sfreq} Hz, but sfreq={sfreq} was declared; set sfreq to "
            "the rate of the windows (or None: MNE Epochs carry theirs)."
        )
    return eeg


def check_amplitude(X: np.ndarray, fitted: float, *, source: str) -> None:
    """Warn when windows are orders of magnitude larger or smaller than in ``fit``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_chans, n_times)
        The windows given (at most 100 of them are measured).
    fitted : float
        :func:`amplitude` of the training windows.
    source : str
        The estimator, for the message.
    """
    found = amplitude(X)
    if not fitted or not found:
        return  # flat windows: no ratio to judge
    ratio = found / fitted
    if 1 / AMPLITUDE_TOLERANCE <= ratio <= AMPLITUDE_TOLERANCE:
        return
    warnings.warn(
        f"X's amplitude (95th percentile of |x|: {found:.3g}) is {ratio:.3g} times what "
        f"{source} saw in fit ({fitted:.3g}): other units? MNE Epochs are read in microvolts, "
        "while epochs.get_data() returns volts (use get_data(units='uV')).",
        AmplitudeWarning,
        stacklevel=3,
    )


def window_array(item: Any) -> np.ndarray:
    """One item of a window dataset as a float32 array (the first element of a tuple)."""
    if isinstance(item, (tuple, list)):
        item = item[0]
    if isinstance(item, torch.Tensor):
        item = item.detach().cpu().float().numpy()
    return np.asarray(item, dtype=np.float32)


def sample_windows(windows: Dataset, n: int) -> np.ndarray:
    """Up to ``n`` windows spread evenly over a dataset, stacked.

    Parameters
    ----------
    windows : Dataset
        Map-style dataset of windows (see :func:`window_array`).
    n : int
        How many windows at most.

    Returns
    -------
    ndarray of float32, shape (min(n, len(windows)), n_chans, n_times)
    """
    picked = _spread(len(windows), n)  # type: ignore[arg-type]
    return np.stack([window_array(windows[int(i)]) for i in picked])


def _spread(length: int, n: int) -> np.ndarray:
    """Up to ``n`` indices spread evenly over ``range(length)``."""
    return np.unique(np.linspace(0, length - 1, min(length, n)).astype(np.int64))


def describe_stream(windows: Dataset) -> InputShape:
    """Check a dataset of windows and describe them from its first window.

    Parameters
    ----------
    windows : Dataset
        Map-style dataset whose items are windows (n_chans, n_times), or tuples starting
        with one; an ``sfreq`` and a ``ch_names`` attribute are read where present.

    Returns
    -------
    InputShape
    """
    try:
        n = len(windows)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"The dataset {type(windows).__name__} has no length; pass a map-style "
            "torch.utils.data.Dataset (with __len__ and __getitem__)."
        ) from None
    if n == 0:
        raise ValueError("The dataset holds no window.")
    first = window_array(windows[0])
    if first.ndim != 2:
        raise ValueError(
            f"The dataset's windows have shape {first.shape}; they must be "
            "(n_chans, n_times) arrays or tensors, or tuples starting with one."
        )
    n_chans, n_times = first.shape
    sfreq = getattr(windows, "sfreq", None)
    ch_names = getattr(windows, "ch_names", None)
    described = braindecode_info(windows)
    if described is not None:
        sfreq, ch_names = described
    return InputShape(
        n_chans,
        n_times,
        None if sfreq is None else float(sfreq),
        None if ch_names is None else list(ch_names),
    )


def check_window(window: np.ndarray, index: int) -> None:
    """Refuse a dataset's window that is not (n_chans, n_times) or holds NaN or infinity."""
    if window.ndim != 2:
        raise ValueError(
            f"Window {index} has shape {window.shape}; the dataset must yield windows of "
            "shape (n_chans, n_times)."
        )
    # One sum per window: NaN or inf anywhere makes it non-finite, at the cost of a read.
    if not np.isfinite(window.sum(dtype=np.float64)):
        raise ValueError(
            f"Window {index} contains NaN or infinity; drop or repair bad segments of the "
            "recordings first."
        )


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


def _windows_recordings(dataset: Any) -> list[Any] | None:
    """The recordings of a braindecode windows dataset, or None for any other input.

    Recognised by its structure, without importing braindecode: a ``BaseConcatDataset``
    (``datasets``) of ``WindowsDataset`` (``windows``: Epochs) or ``EEGWindowsDataset``
    (``raw``), each with the ``crop_inds`` of its windows.
    """
    parts = getattr(dataset, "datasets", None)
    if not isinstance(dataset, Dataset) or not isinstance(parts, list) or not parts:
        return None
    if not all(hasattr(part, "crop_inds") and _mne_of(part) is not None for part in parts):
        return None
    return parts


def _mne_of(part: Any) -> Any:
    """The MNE object a braindecode windows dataset serves its windows from."""
    windows = getattr(part, "windows", None)
    return windows if windows is not None else getattr(part, "raw", None)


def braindecode_info(dataset: Any) -> tuple[float, list[str]] | None:
    """Sampling rate and channel names of a braindecode windows dataset, else None.

    Parameters
    ----------
    dataset : object
        A ``braindecode.datasets.BaseConcatDataset`` of windows (what braindecode's
        ``create_windows_from_events`` and ``create_fixed_length_windows`` return), or
        anything else.

    Returns
    -------
    (float, list of str) or None
        The channels of its windows, as it serves them (misc channels that hold targets
        left out), and their rate; None for other inputs.

    Raises
    ------
    ValueError
        If its recordings differ in rate or channels.
    """
    parts = _windows_recordings(dataset)
    if parts is None:
        return None
    described = []
    for part in parts:
        info = _mne_of(part).info
        targets = getattr(part, "targets_from", "metadata") == "channels"
        names = [
            name
            for name, kind in zip(info.ch_names, info.get_channel_types(), strict=True)
            if not (targets and kind == "misc")
        ]
        described.append((float(info["sfreq"]), names))
    if any(d != described[0] for d in described):
        raise ValueError(
            "The recordings of the braindecode dataset differ in sampling rate or channels; "
            "resample and pick the same channels in its preprocessing (braindecode.preprocessing"
            ".preprocess) first."
        )
    return described[0]


def braindecode_targets(dataset: Any) -> np.ndarray | None:
    """The targets of a braindecode windows dataset, one per window (None for other input).

    Parameters
    ----------
    dataset : object

    Returns
    -------
    ndarray of shape (n_windows,) or None
    """
    parts = _windows_recordings(dataset)
    if parts is None:
        return None
    targets: list[Any] = []
    for part in parts:
        known = getattr(part, "y", None)  # the metadata's targets, without reading windows
        targets += list(known) if known is not None else [part[i][1] for i in range(len(part))]
    return np.asarray(targets)


def _braindecode_windows(dataset: Any) -> EEGData:
    """All windows of a braindecode windows dataset in memory, as it serves them."""
    described = braindecode_info(dataset)
    assert described is not None
    sfreq, names = described
    windows = [window_array(dataset[i]) for i in range(len(dataset))]
    if not windows:
        raise ValueError("The braindecode dataset holds no window.")
    if len({w.shape for w in windows}) > 1:
        raise ValueError(
            "The braindecode dataset's windows differ in length; cut windows of one length "
            "(window_size_samples) for them to be stacked."
        )
    return EEGData(np.stack(windows), sfreq, names)


def _input_kind(X: Any) -> str | None:
    """What ``X`` is: "dataset" (a PyTorch Dataset), "recordings", or None (windows)."""
    if isinstance(X, Dataset):
        return "dataset"
    if _is_recording(X) or (
        isinstance(X, (list, tuple)) and len(X) > 0 and all(_is_recording(r) for r in X)
    ):
        return "recordings"
    return None
