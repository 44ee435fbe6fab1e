"""Cut continuous EEG into fixed-length windows, and helpers shared by the dataset loaders."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import mne
import numpy as np

from .._files import regular_file


def make_windows(
    raw: mne.io.BaseRaw,
    window_seconds: float,
    stride_seconds: float | None = None,
    *,
    picks: str | Sequence[str | int] | np.ndarray | slice | None = "eeg",
    sfreq: float | None = None,
    reject_by_annotation: bool = True,
    verbose: bool | str | int | None = None,
) -> mne.Epochs:
    """Cut a continuous recording into fixed-length, possibly overlapping windows.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        Continuous recording, preloaded or not. It is never modified: channel selection and
        resampling act on a copy.
    window_seconds : float
        Length of each window in seconds. Each window holds
        ``round(window_seconds * sfreq)`` samples.
    stride_seconds : float | None
        Time between the starts of two consecutive windows, in seconds, with
        ``0 < stride_seconds <= window_seconds``. ``None`` (default) uses
        ``window_seconds``: back-to-back windows without overlap. A smaller stride makes
        windows overlap by ``window_seconds - stride_seconds``.
    picks : str | list of str | array-like of int | None
        Channels to keep, in any form MNE accepts (types, names or indices). Defaults to
        the EEG channels.
    sfreq : float | None
        Sampling rate in Hz to resample to before cutting. ``None`` keeps the rate of
        ``raw``.
    reject_by_annotation : bool
        If True (default), drop windows that overlap an annotation whose description starts
        with ``"BAD"`` (this includes the ``"BAD boundary"`` marks between concatenated
        recordings).
    verbose : bool | str | int | None
        MNE verbosity level; ``None`` uses MNE's configured level.

    Returns
    -------
    epochs : mne.Epochs
        Preloaded windows, shape ``(n_windows, n_channels, n_times)`` through
        :meth:`~mne.Epochs.get_data`, without baseline correction, all with event id 1.
        Without rejected windows, ``n_windows = floor((duration - window_seconds) /
        stride_seconds) + 1`` where ``duration`` is the length of the recording.

    Raises
    ------
    TypeError
        If ``raw`` is not a continuous recording.
    ValueError
        If the window or the stride is not positive, the stride exceeds the window, or the
        window is longer than the recording.
    """
    if not isinstance(raw, mne.io.BaseRaw):
        raise TypeError(
            f"raw must be a continuous recording (an mne.io.BaseRaw), got {type(raw).__name__}; "
            "epoched data are already cut into windows."
        )
    window_seconds, stride_seconds = _check_window(window_seconds, stride_seconds, sfreq)
    with mne.use_log_level(verbose):
        # Picking first limits loading and resampling to the channels kept.
        raw = raw.copy().pick(picks)
        if sfreq is not None and sfreq != raw.info["sfreq"]:
            raw.load_data().resample(sfreq)

        duration = raw.n_times / raw.info["sfreq"]
        if round(window_seconds * raw.info["sfreq"]) > raw.n_times:
            raise ValueError(
                f"window_seconds ({window_seconds} s) is longer than the recording "
                f"({duration:.3f} s); use a window of at most {duration:.3f} s."
            )
        return mne.make_fixed_length_epochs(
            raw,
            duration=window_seconds,
            overlap=window_seconds - stride_seconds,
            preload=True,
            reject_by_annotation=reject_by_annotation,
        )


def _check_window(
    window_seconds: float, stride_seconds: float | None, sfreq: float | None
) -> tuple[float, float]:
    """Validate the window arguments of :func:`make_windows`; return window and stride."""
    window_seconds = float(window_seconds)
    if not 0 < window_seconds < math.inf:
        raise ValueError(
            f"window_seconds must be positive and finite (seconds), got {window_seconds}."
        )
    stride_seconds = window_seconds if stride_seconds is None else float(stride_seconds)
    if not stride_seconds > 0:
        raise ValueError(
            f"stride_seconds must be a positive number of seconds, got {stride_seconds}; use "
            "None for back-to-back windows or a value below window_seconds for overlap."
        )
    if stride_seconds > window_seconds:
        raise ValueError(
            f"stride_seconds ({stride_seconds}) must not exceed window_seconds "
            f"({window_seconds}): windows with gaps between them are not supported. Use a "
            "stride equal to the window for back-to-back windows."
        )
    if sfreq is not None and not sfreq > 0:
        raise ValueError(f"sfreq must be a positive sampling rate in Hz or None, got {sfreq}.")
    return window_seconds, stride_seconds


def read_recording(
    path: str | os.PathLike[str],
    reader: Callable[..., mne.io.BaseRaw] = mne.io.read_raw,
    **kwargs: Any,
) -> mne.io.BaseRaw:
    """``reader(path, **kwargs)`` for a recording file, every refusal naming the file.

    The file must be a regular one (a FIFO would block the reader, a device would feed it
    forever); what the reader rejects (e.g. MNE's "Bad EDF file provided.") is raised as a
    ValueError that names the file. ``path`` itself, not its resolved target, goes to the
    reader: MNE finds a FIF file's split parts by its name.
    """
    regular_file(path, "recording file")
    try:
        return reader(path, **kwargs)
    except Exception as error:  # the reader parses untrusted bytes and may fail in any way
        raise ValueError(
            f"{os.fspath(path)} could not be read as a recording: {type(error).__name__}: {error}"
        ) from error


def _standard_1020() -> str:
    """Name of MNE's template 10-20 montage in the installed MNE version."""
    # MNE 1.13 renamed "standard_1020" to "colin27_1020" (same positions) and warns on the
    # old name, which older MNE versions still need.
    if "colin27_1020" in mne.channels.get_builtin_montages():
        return "colin27_1020"
    return "standard_1020"


def _epochs_to_xyg(
    parts: list[mne.BaseEpochs], return_epochs: bool
) -> tuple[mne.BaseEpochs | np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate labelled epochs into the ``(X, y, groups)`` triple the loaders return.

    Each part's ``metadata`` must have integer columns ``label`` and ``subject``.
    """
    for part in parts:
        # MNE cannot concatenate the annotations of epochs (and warns); the windows are cut
        # already, so the recordings' annotations have done their work.
        part.set_annotations(None)
    epochs = mne.concatenate_epochs(parts)
    y = epochs.metadata["label"].to_numpy(dtype=np.int64)
    groups = epochs.metadata["subject"].to_numpy(dtype=np.int64)
    if return_epochs:
        return epochs, y, groups
    X = epochs.get_data(units="uV").astype(np.float32)
    return X, y, groups
