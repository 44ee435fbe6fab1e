"""Bringing EEG windows to the channels and sampling rate a network was fitted on.

A network fitted on one montage and rate takes windows of exactly those channels, in that
order, at that rate. This module adapts other windows to them, explicitly: the estimators'
``channels`` and ``resample`` parameters say what may be done, :func:`adapt_windows` does
it and returns an :class:`Adaptation` that says what it did, and the estimators warn
(:class:`AdaptationWarning`, once per distinct adaptation) and record it (``adaptation_``).

- ``channels="match"`` picks and reorders the input's channels by name, compared by
  :func:`channel_key`: case-insensitive, without an ``"EEG "`` prefix or a reference suffix
  (``"-REF"``, ``"-LE"``), and with the old 10-20 names equal to the 10-10 ones that replaced
  them (``CHANNEL_ALIASES``: T3/T7, T4/T8, T5/P7, T6/P8).
- ``channels="interpolate"`` also fills fitted channels that the input lacks, with MNE's
  spherical splines (:meth:`mne.Epochs.interpolate_bads`) from every input channel with a
  position in MNE's template 10-20 montage, at those template positions.
- ``resample=True`` resamples windows at another rate to the fitted one, window by window,
  as :meth:`mne.Epochs.resample` does.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import mne
import numpy as np
from torch.utils.data import ConcatDataset, Dataset

from .datasets.windows import _standard_1020
from .validation import EEGData, InputShape, describe_stream, window_array

#: Old 10-20 names and the 10-10 names that replaced them (same electrode positions).
CHANNEL_ALIASES = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
#: What ``channels`` may be: keep the input as it is, pick by name, or also interpolate.
CHANNEL_MODES = ("strict", "match", "interpolate")
#: Spellings around a channel's name that do not change the electrode it names (EDF type
#: prefixes, reference suffixes of the TUH corpus, the trailing dots of EEGBCI's files).
_PREFIXES = ("eeg ", "eeg-", "eeg_", "eeg:")
_SUFFIXES = ("-ref", "-le", "-avg", "-ar")
#: The most left-out channels that a description lists by name.
_LISTED = 5
_ALIAS_KEYS = {old.lower(): new.lower() for old, new in CHANNEL_ALIASES.items()}


class AdaptationWarning(UserWarning):
    """Windows were adapted (channels picked, reordered or interpolated, or resampled)."""


@dataclass(frozen=True)
class Adaptation:
    """What :func:`adapt_windows` did to a group of windows.

    Attributes
    ----------
    renamed : tuple of (str, str)
        Input channels matched to a fitted channel of another spelling: (input, fitted).
    dropped : tuple of str
        Input channels that are not fitted channels: left out (under "interpolate", those
        with a template position inform the splines).
    interpolated : tuple of str
        Fitted channels that the input lacked, interpolated.
    reordered : bool
        Whether the kept channels were put in the fitted order.
    resampled : tuple of (float, float) or None
        The input's rate and the fitted rate, where the windows were resampled.
    """

    renamed: tuple[tuple[str, str], ...] = ()
    dropped: tuple[str, ...] = ()
    interpolated: tuple[str, ...] = ()
    reordered: bool = False
    resampled: tuple[float, float] | None = None

    def __str__(self) -> str:
        parts = []
        if self.renamed:
            parts.append("matched " + ", ".join(f"{a} as {b}" for a, b in self.renamed))
        if self.dropped:
            named = ", ".join(self.dropped[:_LISTED]) + (", ..." * (len(self.dropped) > _LISTED))
            parts.append(f"left out {len(self.dropped)} channels ({named})")
        if self.reordered:
            parts.append("reordered the channels")
        if self.interpolated:
            parts.append(f"interpolated {', '.join(self.interpolated)} (spherical splines)")
        if self.resampled:
            parts.append(f"resampled from {self.resampled[0]:g} to {self.resampled[1]:g} Hz")
        return "; ".join(parts)


def channel_key(name: str) -> str:
    """What a channel name is compared by: lower case, no prefix or suffix, 10-10 names.

    Parameters
    ----------
    name : str
        A channel name, e.g. ``"EEG T3-REF"``.

    Returns
    -------
    str
        E.g. ``"t7"``.
    """
    key = name.strip().lower()
    for prefix in _PREFIXES:
        key = key.removeprefix(prefix)
    for suffix in _SUFFIXES:
        key = key.removesuffix(suffix)
    key = key.strip(". ")
    return _ALIAS_KEYS.get(key, key)


def match_channels(found: list[str], expected: list[str]) -> tuple[list[int | None], list[str]]:
    """Where each ``expected`` channel is in ``found``, by :func:`channel_key`.

    Parameters
    ----------
    found : list of str
        The input's channel names.
    expected : list of str
        The fitted channel names.

    Returns
    -------
    positions : list of int or None
        For each expected channel, its index in ``found``, or None where it is missing.
    missing : list of str
        The expected channels that ``found`` lacks.

    Raises
    ------
    ValueError
        If two channels of ``found`` (or of ``expected``) name the same electrode.
    """
    by_key = _unique_keys(found, "X")
    _unique_keys(expected, "The fitted channels")
    positions = [by_key.get(channel_key(name)) for name in expected]
    missing = [name for name, at in zip(expected, positions, strict=True) if at is None]
    return positions, missing


def _unique_keys(names: list[str], what: str) -> dict[str, int]:
    by_key: dict[str, int] = {}
    for i, name in enumerate(names):
        key = channel_key(name)
        if key in by_key:
            raise ValueError(
                f"{what} has channels {names[by_key[key]]!r} and {name!r}, which name the same "
                "electrode; drop one of them."
            )
        by_key[key] = i
    return by_key


def adapt_windows(
    eeg: EEGData, target: InputShape, channels: str, resample: bool
) -> tuple[EEGData, Adaptation | None]:
    """``eeg`` brought to the channels and rate of ``target``, as far as allowed.

    Parameters
    ----------
    eeg : EEGData
        Validated windows, with their channel names and rate where known.
    target : InputShape
        The fitted channels (``ch_names``) and rate (``sfreq``).
    channels : {"strict", "match", "interpolate"}
        "strict": the channels as they are; "match": picked and reordered by name;
        "interpolate": also the missing ones interpolated (see the module's description).
    resample : bool
        Whether windows at another rate than ``target.sfreq`` are resampled to it.

    Returns
    -------
    EEGData
        The adapted windows (``eeg`` itself when nothing was done).
    Adaptation or None
        What was done; None when nothing was.

    Raises
    ------
    ValueError
        If ``channels`` is not "strict" but the input or the target has no channel names,
        channels are missing under "match", or a missing channel has no template position
        under "interpolate".
    """
    if channels not in CHANNEL_MODES:
        raise ValueError(f"channels must be one of {CHANNEL_MODES}, got {channels!r}.")
    data, names, record = eeg.X, eeg.ch_names, Adaptation()
    if channels != "strict":
        if names is None or target.ch_names is None:
            lacking = "X carries" if names is None else "the fitted windows carried"
            raise ValueError(
                f"channels={channels!r} matches channels by name, but {lacking} no channel "
                "names; pass MNE Epochs (or fit on them), or use channels='strict' with the "
                "fitted channels in their order."
            )
        data, record = _adapt_channels(data, names, target.ch_names, channels == "interpolate")
        names = list(target.ch_names)
    sfreq = eeg.sfreq
    if resample and sfreq is not None and target.sfreq is not None and sfreq != target.sfreq:
        data = _resample(data.astype(np.float64), sfreq, target.sfreq).astype(np.float32)
        record = replace(record, resampled=(sfreq, target.sfreq))
        sfreq = target.sfreq
    if record == Adaptation():
        return eeg, None
    return EEGData(np.ascontiguousarray(data, dtype=np.float32), sfreq, names), record


def _adapt_channels(
    data: np.ndarray, names: list[str], expected: list[str], interpolate: bool
) -> tuple[np.ndarray, Adaptation]:
    """``data``'s channels picked, reordered and, with ``interpolate``, completed."""
    positions, missing = match_channels(names, expected)
    if missing and not interpolate:
        raise ValueError(
            f"X lacks the fitted channels {missing} (matched by name, case and aliases "
            f"{CHANNEL_ALIASES} aside); channels='interpolate' fills them from the others."
        )
    kept = [at for at in positions if at is not None]
    record = Adaptation(
        renamed=tuple(
            (names[at], name)
            for name, at in zip(expected, positions, strict=True)
            if at is not None and names[at] != name
        ),
        dropped=tuple(name for i, name in enumerate(names) if i not in set(kept)),
        interpolated=tuple(missing),
        reordered=kept != sorted(kept),
    )
    if missing:
        data = _interpolate(data, names, expected, positions)
    else:
        data = data[:, kept]
    return data, record


def _interpolate(
    data: np.ndarray, names: list[str], expected: list[str], positions: list[int | None]
) -> np.ndarray:
    """The ``expected`` channels, those absent from ``names`` interpolated by MNE."""
    montage = mne.channels.make_standard_montage(_standard_1020())
    template = {}
    for name in reversed(montage.ch_names):  # the first name of an electrode wins (T7, not T3)
        template[channel_key(name)] = name
    missing = [name for name, at in zip(expected, positions, strict=True) if at is None]
    unplaced = [name for name in missing if channel_key(name) not in template]
    if unplaced:
        raise ValueError(
            f"Cannot interpolate {unplaced}: MNE's template 10-20 montage has no position for them."
        )
    # Every input channel with a template position informs the splines, fitted or not.
    support = [i for i, name in enumerate(names) if channel_key(name) in template]
    if not support:
        raise ValueError(
            f"None of the channels of X ({names[:5]}...) has a position in MNE's template "
            "10-20 montage; there is nothing to interpolate from."
        )
    montage_names = [template[channel_key(names[i])] for i in support] + [
        template[channel_key(name)] for name in missing
    ]
    info = mne.create_info(montage_names, 1.0, "eeg")  # the rate plays no part in splines
    filled = np.concatenate(
        [data[:, support], np.zeros((len(data), len(missing), data.shape[2]), data.dtype)], axis=1
    ).astype(np.float64)
    epochs = mne.EpochsArray(filled, info, verbose=False)
    epochs.set_montage(montage, verbose=False)
    epochs.info["bads"] = montage_names[len(support) :]
    epochs.interpolate_bads(reset_bads=True, verbose=False)
    by_key = {channel_key(name): i for i, name in enumerate(montage_names)}
    order = [by_key[channel_key(name)] for name in expected]
    return epochs.get_data(copy=False)[:, order]


class AdaptedWindows(Dataset):
    """The windows of a dataset, brought to other channels and another rate as they are read.

    Made by :func:`adapt_stream`: each window is read from ``windows``, its channels mapped
    by one matrix (picking, reordering and spline interpolation are all linear maps of the
    channels, so the matrix is :func:`adapt_windows` applied once to the unit windows) and
    resampled as :func:`adapt_windows` resamples.

    Parameters
    ----------
    windows : Dataset
        Windows of shape (n_chans, n_times), or tuples starting with one.
    mixing : ndarray of shape (n_target_chans, n_chans) or None
        The channel map; None keeps the channels.
    rates : (float, float) or None
        The windows' rate and the target rate; None keeps the rate.
    sfreq : float or None
        The rate of the adapted windows.
    ch_names : list of str or None
        The channels of the adapted windows.
    """

    def __init__(
        self,
        windows: Dataset,
        mixing: np.ndarray | None,
        rates: tuple[float, float] | None,
        sfreq: float | None,
        ch_names: list[str] | None,
    ) -> None:
        self.windows = windows
        self.mixing = mixing
        self.rates = rates
        self.sfreq = sfreq
        self.ch_names = ch_names

    def __len__(self) -> int:
        return len(self.windows)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> np.ndarray:
        window = window_array(self.windows[index]).astype(np.float64)
        if self.mixing is not None:
            window = self.mixing @ window
        if self.rates is not None:
            window = _resample(window, *self.rates)
        return window.astype(np.float32)


class ConcatWindows(ConcatDataset):
    """Datasets of windows of one montage and rate, one after the other, with both named.

    Parameters
    ----------
    datasets : list of Dataset
    sfreq : float or None
        Their rate.
    ch_names : list of str or None
        Their channels.
    """

    def __init__(
        self, datasets: list[Dataset], sfreq: float | None, ch_names: list[str] | None
    ) -> None:
        super().__init__(datasets)
        self.sfreq = sfreq
        self.ch_names = ch_names


def adapt_stream(
    windows: Dataset, target: InputShape, channels: str, resample: bool
) -> tuple[Dataset, Adaptation | None]:
    """A dataset of windows brought to ``target``'s channels and rate as they are read.

    Parameters
    ----------
    windows : Dataset
        Windows with ``ch_names`` and ``sfreq`` where known (see
        ``sk_eegm2.validation.describe_stream``).
    target : InputShape
    channels, resample
        As for :func:`adapt_windows`.

    Returns
    -------
    Dataset
        ``windows`` itself when nothing is to be done, else an :class:`AdaptedWindows`.
    Adaptation or None
        What is done to every window.
    """
    shape = describe_stream(windows)
    # The unit windows: window k holds 1 on channel k, at one time point.
    units = EEGData(np.eye(shape.n_chans, dtype=np.float32)[:, :, None], None, shape.ch_names)
    mapped, record = adapt_windows(units, target, channels, resample=False)
    mixing = None if record is None else mapped.X[:, :, 0].T.astype(np.float64)
    rates = None
    if resample and None not in (shape.sfreq, target.sfreq) and shape.sfreq != target.sfreq:
        assert shape.sfreq is not None and target.sfreq is not None
        rates = (shape.sfreq, target.sfreq)
        record = replace(record or Adaptation(), resampled=rates)
    if record is None:
        return windows, None
    names = target.ch_names if mixing is not None else shape.ch_names
    sfreq = target.sfreq if rates is not None else shape.sfreq
    return AdaptedWindows(windows, mixing, rates, sfreq, names), record


def _resample(data: np.ndarray, sfreq: float, target: float) -> np.ndarray:
    """``data`` resampled along its last axis from ``sfreq`` to ``target``, as MNE's Epochs."""
    return mne.filter.resample(data, up=target, down=sfreq, npad="auto", pad="edge", verbose=False)


def warn_adaptation(adaptation: Adaptation | None, source: str, what: str = "X") -> None:
    """Warn of an adaptation (Python shows each distinct message once per call site)."""
    if adaptation is not None:
        warnings.warn(
            f"{source} adapted {what} to its fitted channels and rate: {adaptation}.",
            AdaptationWarning,
            stacklevel=2,
        )
