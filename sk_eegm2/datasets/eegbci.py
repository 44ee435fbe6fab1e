"""EEG Motor Movement/Imagery (EEGBCI, PhysioNet EEGMMIDB 1.0.0) trials, through MNE's loader."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from .windows import _epochs_to_xyg, _standard_1020, read_recording

#: Environment variable naming the folder that holds MNE's ``MNE-eegbci-data`` folder.
EEGBCI_PATH_ENV = "SK_EEGM2_EEGBCI_PATH"

N_SUBJECTS = 109
# Runs by task, executed or imagined; T1 and T2 mark the two classes of each task.
_LEFT_RIGHT_RUNS = frozenset({3, 4, 7, 8, 11, 12})
_FISTS_FEET_RUNS = frozenset({5, 6, 9, 10, 13, 14})
_LEFT_RIGHT_EVENTS = {"left_fist": 0, "right_fist": 1}
_FISTS_FEET_EVENTS = {"both_fists": 0, "both_feet": 1}


def load_eegbci(
    subject: int = 1,
    runs: int | Iterable[int] = (4, 8, 12),
    *,
    path: str | os.PathLike[str] | None = None,
    window_seconds: float | None = None,
    tmin: float = 0.0,
    tmax: float = 4.0,
    sfreq: float | None = None,
    return_epochs: bool = True,
    verbose: bool | str | int | None = None,
) -> tuple[mne.BaseEpochs | np.ndarray, np.ndarray, np.ndarray]:
    """Load the motor trials of one EEGBCI subject, labelled by the movement cued.

    EEGBCI (PhysioNet's EEG Motor Movement/Imagery Dataset) [1]_ holds 14 runs for each of 109
    subjects, with 64 EEG channels at 160 Hz. In runs 3 to 14 the subject performs or
    imagines, for about 4 s after each cue, a movement of one of two kinds, marked ``T1``
    and ``T2`` in the annotations (15 trials per run):

    ==========  =======================  =============  =============
    runs        task                     label 0 (T1)   label 1 (T2)
    ==========  =======================  =============  =============
    3, 7, 11    executed movement        left fist      right fist
    4, 8, 12    imagined movement        left fist      right fist
    5, 9, 13    executed movement        both fists     both feet
    6, 10, 14   imagined movement        both fists     both feet
    ==========  =======================  =============  =============

    Files are found, or downloaded, by :func:`mne.datasets.eegbci.load_data`. Channel names
    are standardised with :func:`mne.datasets.eegbci.standardize` and electrode positions set
    from the 10-20 template montage.

    Parameters
    ----------
    subject : int
        Subject number, from 1 to 109.
    runs : int | iterable of int
        Runs to load, all from the left/right fist runs (3, 4, 7, 8, 11, 12) or all from the
        fists/feet runs (5, 6, 9, 10, 13, 14), so that labels mean the same in every run.
        Defaults to the three left/right fist motor imagery runs.
    path : str | os.PathLike | None
        Folder holding MNE's ``MNE-eegbci-data`` folder, or that folder itself; missing files
        are downloaded there. ``None`` uses the environment variable
        ``SK_EEGM2_EEGBCI_PATH`` when set, else MNE's default (the ``MNE_DATASETS_EEGBCI_PATH``
        configuration, or ``~/mne_data``).
    window_seconds : float | None
        If given, trials span ``window_seconds`` from ``tmin``, exactly
        ``round(window_seconds * sfreq)`` samples (as :func:`make_windows` cuts them), and
        ``tmax`` is ignored. If None (default), trials span ``tmin`` to ``tmax`` inclusive.
    tmin : float
        Start of each trial relative to its cue, in seconds.
    tmax : float
        End of each trial relative to its cue, in seconds (the sample at ``tmax`` included).
    sfreq : float | None
        Sampling rate in Hz to resample to; ``None`` (default) keeps the 160 Hz of the files.
    return_epochs : bool
        If True (default), return ``X`` as :class:`mne.Epochs`; if False, as a NumPy array.
    verbose : bool | str | int | None
        MNE's logging while reading: ``None`` (default) or False shows only MNE's warnings
        and errors; True, ``"info"`` or another MNE level shows more.

    Returns
    -------
    X : mne.Epochs | ndarray of shape (n_trials, 64, n_times)
        The trials, run after run, with ``n_times = round((tmax - tmin) * sfreq) + 1``, or
        ``round(window_seconds * sfreq)`` when ``window_seconds`` is given. As epochs (in
        volts, as MNE stores them), with event ids ``{"left_fist": 0, "right_fist": 1}`` or
        ``{"both_fists": 0, "both_feet": 1}`` and ``metadata``, a :class:`pandas.DataFrame`
        with one row per trial and int columns ``subject``, ``label`` and ``run``. As an
        array, float32 in microvolts.
    y : ndarray of shape (n_trials,), dtype int64
        Labels: 0 for ``T1`` (left fist, or both fists), 1 for ``T2`` (right fist, or both
        feet); see the table above.
    groups : ndarray of shape (n_trials,), dtype int64
        The subject number, repeated.

    Raises
    ------
    OSError
        If a missing file cannot be downloaded.
    ValueError
        If ``subject`` or ``runs`` are out of range, ``runs`` mixes the two tasks, or the
        trial span is empty.

    References
    ----------
    .. [1] G. Schalk, D. J. McFarland, T. Hinterberger, N. Birbaumer and J. R. Wolpaw,
       "BCI2000: A General-Purpose Brain-Computer Interface (BCI) System", IEEE Transactions
       on Biomedical Engineering 51(6):1034-1043, 2004. Data:
       https://physionet.org/content/eegmmidb/1.0.0/
    """
    if isinstance(subject, bool) or not isinstance(subject, numbers.Integral):
        raise TypeError(f"subject must be an int from 1 to {N_SUBJECTS}, got {subject!r}")
    if not 1 <= subject <= N_SUBJECTS:
        raise ValueError(f"EEGBCI subjects are numbered 1 to {N_SUBJECTS}, got {subject}.")
    runs, event_id = _check_runs(runs)
    if window_seconds is not None and not 0 < window_seconds < math.inf:
        raise ValueError(
            f"window_seconds must be positive and finite (seconds) or None, got {window_seconds}."
        )
    if window_seconds is None and not tmax > tmin:
        raise ValueError(f"tmax ({tmax}) must be greater than tmin ({tmin}).")

    mne_path = _mne_data_path(path)
    with mne.use_log_level(False if verbose is None else verbose):
        try:
            fnames = mne.datasets.eegbci.load_data(subject, runs, path=mne_path, update_path=False)
        except OSError as err:  # requests' errors derive from OSError too
            raise OSError(
                f"Could not get runs {runs} of EEGBCI subject {subject}: PhysioNet could not "
                f"be reached or did not serve the files ({err}). Pass path= the folder holding "
                f"a local copy of MNE's MNE-eegbci-data folder, or set the environment "
                f"variable {EEGBCI_PATH_ENV} to it."
            ) from err

        trials = []
        # Epoching run by run, rather than after concatenating the runs, keeps each trial's run
        # number at hand for the metadata; no trial spans two runs either way.
        for run, fname in zip(runs, fnames, strict=True):
            raw = read_recording(fname, mne.io.read_raw_edf, preload=True)
            mne.datasets.eegbci.standardize(raw)  # "Fc5." -> "FC5", as in the montage
            raw.set_montage(_standard_1020())
            if sfreq is not None and sfreq != raw.info["sfreq"]:
                raw.resample(sfreq)
            # T0 marks the rest between trials; only T1 and T2 are trials.
            events, _ = mne.events_from_annotations(raw, event_id={"T1": 0, "T2": 1})
            if window_seconds is None:
                stop = tmax
            else:
                # As in make_windows: the last sample is one period before tmin + window_seconds.
                stop = tmin + window_seconds - 1.0 / raw.info["sfreq"]
            epochs = mne.Epochs(
                raw,
                events,
                event_id,
                tmin=tmin,
                tmax=stop,
                baseline=None,
                picks="eeg",
                preload=True,
            )
            epochs.metadata = pd.DataFrame(
                {"subject": subject, "label": epochs.events[:, 2], "run": run},
                index=range(len(epochs)),
            )
            trials.append(epochs)
        return _epochs_to_xyg(trials, return_epochs)


def _check_runs(runs: int | Iterable[int]) -> tuple[list[int], dict[str, int]]:
    """Validate ``runs``; return them as a list, and the event ids their labels stand for."""
    if isinstance(runs, numbers.Integral):
        runs = [int(runs)]
    if isinstance(runs, str) or not isinstance(runs, Iterable):
        raise TypeError(f"runs must be an int or an iterable of ints, got {runs!r}")
    runs = list(runs)
    if not runs:
        raise ValueError("runs is empty; the motor imagery runs are for example (4, 8, 12).")
    if len(set(runs)) < len(runs):
        raise ValueError(f"runs must not repeat a run, got {runs}.")
    if set(runs) <= _LEFT_RIGHT_RUNS:
        return [int(run) for run in runs], _LEFT_RIGHT_EVENTS
    if set(runs) <= _FISTS_FEET_RUNS:
        return [int(run) for run in runs], _FISTS_FEET_EVENTS
    raise ValueError(
        f"runs must all come from the left/right fist runs {sorted(_LEFT_RIGHT_RUNS)} or all "
        f"from the fists/feet runs {sorted(_FISTS_FEET_RUNS)}, got {runs}: labels T1/T2 mean "
        "different movements in the two, and runs 1 and 2 (baselines) have no trials."
    )


def _mne_data_path(path: str | os.PathLike[str] | None) -> Path | None:
    """The ``path`` to give MNE's loader: the argument, else the environment variable."""
    if path is None:
        path = os.environ.get(EEGBCI_PATH_ENV) or None
    if path is None:
        return None  # MNE's own default
    folder = Path(path).expanduser()
    # MNE's loader wants the folder that contains "MNE-eegbci-data"; accept that folder too.
    if folder.name == "MNE-eegbci-data":
        return folder.parent
    return folder
