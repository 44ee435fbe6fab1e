"""EEG During Mental Arithmetic Tasks (EEGMAT, PhysioNet 1.0.0): rest vs serial subtraction."""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pooch

from .windows import (
    _check_window,
    _epochs_to_xyg,
    _standard_1020,
    make_windows,
    read_recording,
)

#: Where :func:`load_eegmat` downloads missing files from (one ``SubjectXX_N.edf`` per file).
EEGMAT_URL = "https://physionet.org/files/eegmat/1.0.0/"
#: Environment variable naming a folder that holds the EEGMAT EDF files.
EEGMAT_PATH_ENV = "SK_EEGM2_EEGMAT_PATH"
#: Environment variable naming the root of the download cache (default ``~/sk_eegm2_data``).
DATA_HOME_ENV = "SK_EEGM2_DATA"

N_SUBJECTS = 36
#: Names of the EEGMAT recordings, as a glob pattern.
EEGMAT_FILE_PATTERN = "Subject[0-9][0-9]_[12].edf"
#: The 19 EEG channels (10-20 system, ear reference), in the order of the files.
EEGMAT_CHANNELS = (
    "Fp1", "Fp2", "F3", "F4", "F7", "F8", "T3", "T4", "C3", "C4",
    "T5", "T6", "P3", "P4", "O1", "O2", "Fz", "Cz", "Pz",
)  # fmt: skip
# Recording number in the file name -> (label, event name).
_RECORDINGS = {1: (0, "rest"), 2: (1, "arithmetic")}


def load_eegmat(
    subjects: int | Iterable[int] | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    window_seconds: float = 2.0,
    stride_seconds: float | None = None,
    sfreq: float | None = 128.0,
    return_epochs: bool = True,
    download: bool = True,
    verbose: bool | str | int | None = None,
) -> tuple[mne.BaseEpochs | np.ndarray, np.ndarray, np.ndarray]:
    """Load EEGMAT as fixed-length windows labelled rest (0) or mental arithmetic (1).

    EEGMAT [1]_ holds, for each of 36 subjects (numbered 0 to 35), one recording at rest
    (``SubjectXX_1.edf``, 182 s for most subjects) and one during serial subtraction
    (``SubjectXX_2.edf``, 62 s), with 19 EEG channels of the 10-20 system referenced to the
    ears, band-limited to 0.5-45 Hz and artefact-cleaned by the authors.
    Each recording is cut into windows on its own, so no window spans two recordings. Rest is
    about three times longer than the task, so classes are imbalanced: score with balanced
    accuracy or ROC AUC, and split by ``groups`` to evaluate across subjects.

    Parameters
    ----------
    subjects : int | iterable of int | None
        Subjects to load, from 0 to 35, in the order given. ``None`` (default) loads all 36.
    path : str | os.PathLike | None
        Folder holding the ``SubjectXX_N.edf`` files (a relative path is taken from the
        working directory). ``None`` uses the environment variable ``SK_EEGM2_EEGMAT_PATH``
        when set, else the cache folder ``eegmat`` under ``$SK_EEGM2_DATA`` (default
        ``~/sk_eegm2_data``). A folder named by ``path`` or the environment variable must
        hold EEGMAT files already, so that a mistyped path fails instead of filling a new
        folder with downloads; files missing from it are then downloaded into it. The
        cache folder may start empty.
    window_seconds : float
        Length of each window in seconds.
    stride_seconds : float | None
        Time between the starts of consecutive windows in seconds, at most
        ``window_seconds``; ``None`` (default) gives back-to-back windows, a smaller value
        overlapping ones. See :func:`make_windows`.
    sfreq : float | None
        Sampling rate in Hz of the returned windows. Recordings at another rate (PhysioNet's
        files are at 500 Hz) are resampled. ``None`` keeps the rate of the files.
    return_epochs : bool
        If True (default), return ``X`` as :class:`mne.Epochs`; if False, as a NumPy array.
    download : bool
        If True (default), download the files missing from the folder from PhysioNet
        (``EEGMAT_URL``); if False, raise instead.
    verbose : bool | str | int | None
        MNE's logging while reading: ``None`` (default) or False shows only MNE's warnings
        and errors; True, ``"info"`` or another MNE level shows more.

    Returns
    -------
    X : mne.Epochs | ndarray of shape (n_windows, 19, n_times)
        The windows, subject after subject and, for each subject, rest before arithmetic,
        with ``n_times = round(window_seconds * sfreq)``. As epochs (in volts, as MNE
        stores them), with event ids ``{"rest": 0, "arithmetic": 1}`` and ``metadata``, a
        :class:`pandas.DataFrame` with one row per window and columns ``subject`` (int),
        ``label`` (int) and ``recording`` (file name without extension, e.g.
        ``"Subject03_2"``). As an array, float32 in microvolts, channels in the order of
        ``EEGMAT_CHANNELS``.
    y : ndarray of shape (n_windows,), dtype int64
        Labels: 0 for rest (``SubjectXX_1``), 1 for mental arithmetic (``SubjectXX_2``).
    groups : ndarray of shape (n_windows,), dtype int64
        Subject number of each window, for group-aware cross-validation.

    Raises
    ------
    FileNotFoundError
        If a file is missing from the folder and ``download`` is False, or if the folder
        named by ``path`` or ``SK_EEGM2_EEGMAT_PATH`` holds no EEGMAT file.
    OSError
        If a missing file cannot be downloaded.
    ValueError
        If ``subjects`` holds numbers outside 0-35 or repeats one, or the window arguments
        are invalid (see :func:`make_windows`).

    References
    ----------
    .. [1] I. Zyma, S. Tukaev, I. Seleznov, K. Kiyono, A. Popov, M. Chernykh and O. Shpenkov,
       "Electroencephalograms during Mental Arithmetic Task Performance", Data 4(1):14, 2019,
       doi:10.3390/data4010014. Data: https://physionet.org/content/eegmat/1.0.0/
    """
    subjects = _check_subjects(subjects)
    # Checked here too, as make_windows only sees them once the files are downloaded.
    _check_window(window_seconds, stride_seconds, sfreq)
    folder = _data_folder(path)
    with mne.use_log_level(False if verbose is None else verbose):
        # Fetch every file before reading any, so a missing one fails fast.
        files = [
            (subject, recording, _fetch(f"Subject{subject:02d}_{recording}.edf", folder, download))
            for subject in subjects
            for recording in _RECORDINGS
        ]
        windows = []
        for subject, recording, fname in files:
            label, event_name = _RECORDINGS[recording]
            epochs = make_windows(
                _read_recording(fname), window_seconds, stride_seconds, sfreq=sfreq
            )
            # Event codes carry the label, so that ``X["arithmetic"]`` selects the task windows.
            epochs.events[:, 2] = label
            epochs.event_id = {event_name: label}
            epochs.metadata = pd.DataFrame(
                {"subject": subject, "label": label, "recording": fname.stem},
                index=range(len(epochs)),
            )
            windows.append(epochs)
        return _epochs_to_xyg(windows, return_epochs)


def _check_subjects(subjects: int | Iterable[int] | None) -> list[int]:
    """Validate ``subjects`` and return it as a list of ints."""
    if subjects is None:
        return list(range(N_SUBJECTS))
    if isinstance(subjects, numbers.Integral):
        subjects = [int(subjects)]
    if isinstance(subjects, str) or not isinstance(subjects, Iterable):
        raise TypeError(f"subjects must be None, an int or an iterable of ints, got {subjects!r}")
    subjects = list(subjects)
    if not subjects:
        raise ValueError("subjects is empty; pass None to load all 36 subjects.")
    invalid = [
        s
        for s in subjects
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or not 0 <= s < N_SUBJECTS
    ]
    if invalid:
        raise ValueError(
            f"EEGMAT subjects are integers from 0 to {N_SUBJECTS - 1}; got invalid {invalid}."
        )
    if len(set(subjects)) < len(subjects):
        raise ValueError(f"subjects must not repeat a subject, got {subjects}.")
    return [int(s) for s in subjects]


def _data_folder(path: str | os.PathLike[str] | None) -> Path:
    """The folder to read EEGMAT from: ``path``, else the environment variable, else the cache.

    A folder named by ``path`` or the environment variable must hold at least one EEGMAT
    file: a wrong path, such as a relative one taken from another working directory, then
    fails here rather than receiving downloads.
    """
    if path is not None:
        folder, named_by = Path(path).expanduser(), "path="
    elif os.environ.get(EEGMAT_PATH_ENV):
        folder, named_by = Path(os.environ[EEGMAT_PATH_ENV]).expanduser(), EEGMAT_PATH_ENV
    else:
        return Path(os.environ.get(DATA_HOME_ENV) or "~/sk_eegm2_data").expanduser() / "eegmat"
    if not any(folder.glob(EEGMAT_FILE_PATTERN)):
        state = "holds no EEGMAT file (SubjectXX_1.edf, SubjectXX_2.edf)"
        raise FileNotFoundError(
            f"The EEGMAT folder given by {named_by}, {folder} (absolute: {folder.absolute()}), "
            f"{state if folder.is_dir() else 'does not exist'}. Point {named_by} to the "
            f"folder holding the EEGMAT EDF files (a relative path is taken from the working "
            f"directory, {Path.cwd()}). To download EEGMAT from {EEGMAT_URL} instead, leave "
            f"path= and {EEGMAT_PATH_ENV} unset: the files then go to the cache folder "
            f"eegmat under ${DATA_HOME_ENV} (default ~/sk_eegm2_data)."
        )
    return folder


def _fetch(fname: str, folder: Path, download: bool) -> Path:
    """Path to ``folder / fname``, downloading the file from ``EEGMAT_URL`` if it is missing."""
    target = folder / fname
    if target.exists():
        return target
    advice = (
        f"Pass path= the folder holding a local copy of the EEGMAT EDF files, or set the "
        f"environment variable {EEGMAT_PATH_ENV} to it."
    )
    if not download:
        raise FileNotFoundError(
            f"EEGMAT file {fname} is not in {folder} and download=False. {advice} Or use "
            f"download=True to fetch it from {EEGMAT_URL}."
        )
    url = EEGMAT_URL + fname
    try:
        # No checksums of PhysioNet's files ship with this package, so the download is not
        # verified against any (pooch logs the SHA256 of what it received).
        pooch.retrieve(url, known_hash=None, fname=fname, path=folder, progressbar=False)
    except OSError as err:  # requests' errors derive from OSError too
        raise OSError(
            f"Could not download {url} into {folder}: PhysioNet could not be reached or did not "
            f"serve the file ({err}). {advice}"
        ) from err
    return target


def _read_recording(fname: Path) -> mne.io.BaseRaw:
    """Read one EEGMAT EDF file: its 19 EEG channels, named as in the 10-20 system."""
    raw = read_recording(fname, mne.io.read_raw_edf)
    # EDF labels read "EEG Fp1"; look them up case-insensitively, as files from other copies
    # of the dataset may differ in case. Picking by name drops "EEG A2-A1" (an ear-to-ear
    # derivation) and "ECG ECG", which are not scalp EEG, and fixes the channel order.
    by_lower_name = {name.lower(): name for name in raw.ch_names}
    file_names = [by_lower_name.get(f"eeg {channel}".lower()) for channel in EEGMAT_CHANNELS]
    missing = [ch for ch, name in zip(EEGMAT_CHANNELS, file_names, strict=True) if name is None]
    if missing:
        raise ValueError(f"{fname} lacks the EEG channels {missing}: is it an EEGMAT recording?")
    raw.pick(file_names)
    raw.rename_channels(dict(zip(file_names, EEGMAT_CHANNELS, strict=True)))
    raw.set_montage(_standard_1020())
    return raw
