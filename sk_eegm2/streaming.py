"""Windows read lazily from recordings on disk, for pretraining on corpora larger than memory.

:class:`RecordingWindows` indexes fixed-length windows of many recordings (EDF, BDF, FIF or
any file :func:`mne.io.read_raw` reads, or :class:`mne.io.BaseRaw` objects) from their
headers alone and reads each window from disk when it is asked for, so memory holds a few
batches, not the corpus. ``EEGM2Pretrainer.fit`` takes such a dataset, a list of recordings,
or any PyTorch :class:`~torch.utils.data.Dataset` of windows.
"""

from __future__ import annotations

import copy
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Union

import mne
import numpy as np
from torch.utils.data import Dataset

from .datasets.windows import _check_window, read_recording

Recording = Union[str, "os.PathLike[str]", mne.io.BaseRaw]


class RecordingWindows(Dataset):
    """Fixed-length windows of many recordings, each read from disk only when asked for.

    The constructor reads the headers only (sampling rate, channels, length) and indexes
    ``window_counts[r]`` windows for recording ``r``; ``dataset[i]`` then reads window ``i``
    with ``raw.get_data(start, stop)``. The index takes memory in the number of recordings,
    not of windows, and windows never span two recordings. Windows may be as long as the
    recordings (the network takes any length of at least ``2 ** len(widths)`` samples).

    Parameters
    ----------
    recordings : str, path-like, mne.io.BaseRaw, or sequence of them
        Files that :func:`mne.io.read_raw` reads (``.edf``, ``.bdf``, ``.fif``, ...), opened
        with ``preload=False``, or Raw objects (preloaded or not), used as given.
    window_seconds : float
        Length of each window in seconds; a window holds ``round(window_seconds * sfreq)``
        samples.
    stride_seconds : float | None
        Time between the starts of consecutive windows of a recording, at most
        ``window_seconds``; None (default): back-to-back windows.
    picks : str | list of str, default="eeg"
        Channels to read. A list of names is looked up in every recording, in that order (use
        it where files differ in their other channels, or in channel order). Anything else
        (a channel type such as ``"eeg"``) is passed to :meth:`mne.io.Raw.pick`, and every
        recording must then give the same channel names in the same order.
    max_open : int, default=32
        Recordings read from paths that each process keeps open, least recently used first
        out. Opening a file costs milliseconds (its header is parsed again); an open
        recording costs about 100 kB of memory.

    Attributes
    ----------
    sfreq : float
        Sampling rate in Hz, shared by all recordings.
    ch_names : list of str
        The channels read, in order.
    n_chans : int
        ``len(ch_names)``.
    n_times : int
        Samples per window.
    stride : int
        Samples between the starts of consecutive windows.
    window_counts : ndarray of int64, shape (n_recordings,)
        Windows per recording (0 for a recording shorter than a window).

    Raises
    ------
    ValueError
        If the recordings differ in sampling rate or channels, lack a channel of ``picks``,
        or hold no window at all.

    Notes
    -----
    Lazy resampling is not offered: all recordings must share one sampling rate. Resample a
    corpus once, offline (``raw.resample(128).save(...)``): resampling every window again in
    every epoch would cost more CPU time than reading it. Windows are returned in microvolts,
    float32, shape (n_chans, n_times); annotations (``"BAD"`` segments) are not read.

    Examples
    --------
    >>> windows = RecordingWindows(sorted(Path("tuh").rglob("*.edf")), window_seconds=30.0,
    ...                            picks=["EEG FP1-REF", "EEG FP2-REF"])  # doctest: +SKIP
    >>> EEGM2Pretrainer().fit(windows)  # doctest: +SKIP
    """

    def __init__(
        self,
        recordings: Recording | Sequence[Recording],
        window_seconds: float,
        stride_seconds: float | None = None,
        *,
        picks: str | Sequence[str] = "eeg",
        max_open: int = 32,
    ) -> None:
        if isinstance(recordings, (str, os.PathLike, mne.io.BaseRaw)):
            recordings = [recordings]
        recordings = list(recordings)
        if not recordings:
            raise ValueError("recordings is empty; pass paths to EEG files or mne Raw objects.")
        window_seconds, stride_seconds = _check_window(window_seconds, stride_seconds, None)
        if max_open < 1:
            raise ValueError(f"max_open must be at least 1, got {max_open}.")
        self.max_open = max_open
        self._recordings = [
            r if isinstance(r, mne.io.BaseRaw) else os.fspath(r) for r in recordings
        ]
        self._picks: list[np.ndarray] = []
        lengths = []
        for index, recording in enumerate(self._recordings):
            raw = self._read_header(recording)
            names = _picked_names(raw, picks)
            if index == 0:
                self.sfreq = float(raw.info["sfreq"])
                self.ch_names = names
            elif raw.info["sfreq"] != self.sfreq:
                raise ValueError(
                    f"Recording {recording!r} is sampled at {raw.info['sfreq']} Hz, but "
                    f"{self._recordings[0]!r} at {self.sfreq} Hz. Resample the corpus to one "
                    "rate first, once (raw.resample(sfreq).save(...))."
                )
            elif names != self.ch_names:
                raise ValueError(
                    f"Recording {recording!r} has the channels {names} where "
                    f"{self._recordings[0]!r} has {self.ch_names}; pass picks= a list of "
                    "channel names present in all."
                )
            self._picks.append(np.array([raw.ch_names.index(n) for n in self.ch_names]))
            lengths.append(raw.n_times)
        self.n_chans = len(self.ch_names)
        self.n_times = round(window_seconds * self.sfreq)
        self.stride = max(1, round(stride_seconds * self.sfreq))
        samples = np.asarray(lengths, dtype=np.int64)
        self.window_counts = np.where(
            samples >= self.n_times, (samples - self.n_times) // self.stride + 1, 0
        )
        if not self.window_counts.sum():
            raise ValueError(
                f"No recording is as long as a window ({window_seconds} s, {self.n_times} "
                f"samples); the longest has {samples.max()} samples. Use shorter windows."
            )
        self._offsets = np.concatenate([[0], np.cumsum(self.window_counts)])
        self._open: OrderedDict[int, mne.io.BaseRaw] = OrderedDict()

    @staticmethod
    def _read_header(recording: str | mne.io.BaseRaw) -> mne.io.BaseRaw:
        if isinstance(recording, mne.io.BaseRaw):
            return recording
        return read_recording(recording, preload=False, verbose="error")

    @property
    def n_recordings(self) -> int:
        """Number of recordings."""
        return len(self._recordings)

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """Recording and first sample of window ``index``.

        Returns
        -------
        recording : int
            Position of the recording in ``recordings``.
        start : int
            Its first sample in that recording.
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"window {index} out of range for {len(self)} windows")
        index %= len(self)
        recording = int(np.searchsorted(self._offsets, index, side="right")) - 1
        return recording, int(index - self._offsets[recording]) * self.stride

    def __getitem__(self, index: int) -> np.ndarray:
        """Window ``index``: float32 microvolts, shape (n_chans, n_times)."""
        recording, start = self.locate(index)
        raw = self._raw(recording)
        data = raw.get_data(
            picks=self._picks[recording], start=start, stop=start + self.n_times, units="uV"
        )
        return data.astype(np.float32, copy=False)

    def _raw(self, recording: int) -> mne.io.BaseRaw:
        """The recording, opened (header only) or taken from the cache of open ones."""
        source = self._recordings[recording]
        if isinstance(source, mne.io.BaseRaw):
            return source
        if recording in self._open:
            self._open.move_to_end(recording)
        else:
            self._open[recording] = self._read_header(source)
            if len(self._open) > self.max_open:
                self._open.popitem(last=False)
        return self._open[recording]

    def select(self, recordings: Sequence[int] | np.ndarray) -> RecordingWindows:
        """The windows of some recordings only (headers are not read again).

        Parameters
        ----------
        recordings : sequence of int
            Positions of the recordings to keep, in the order wanted.

        Returns
        -------
        RecordingWindows
        """
        keep = [int(r) for r in recordings]
        subset = copy.copy(self)
        subset._recordings = [self._recordings[r] for r in keep]
        subset._picks = [self._picks[r] for r in keep]
        subset.window_counts = self.window_counts[keep]
        subset._offsets = np.concatenate([[0], np.cumsum(subset.window_counts)])
        subset._open = OrderedDict()
        return subset

    def __getstate__(self) -> dict[str, Any]:
        # Open files stay with the process that opened them (DataLoader workers open their own).
        return {**self.__dict__, "_open": OrderedDict()}


def _picked_names(raw: mne.io.BaseRaw, picks: str | Sequence[str]) -> list[str]:
    """Names of the channels ``picks`` selects in ``raw``, in reading order."""
    if not isinstance(picks, str) and all(isinstance(p, str) for p in picks):
        missing = [name for name in picks if name not in raw.ch_names]
        if missing:
            raise ValueError(
                f"Recording {raw.filenames[0] if raw.filenames else raw} lacks the channels "
                f"{missing}; it has {raw.ch_names}."
            )
        return list(picks)
    return list(raw.copy().pick(picks).ch_names)
