"""EEGMAT as a MOABB dataset, so that MOABB's paradigms and evaluations read the local copy.

Needs MOABB: ``pip install "sk_eegm2[moabb]"``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import mne
import numpy as np

try:
    from moabb.datasets.base import BaseDataset
except ImportError as err:
    raise ImportError(
        "sk_eegm2.datasets.moabb needs MOABB, which is not installed. Install it with "
        f'pip install "sk_eegm2[moabb]" (or pip install moabb). ({err})'
    ) from err

from .eegmat import _RECORDINGS, _check_subjects, _data_folder, _fetch, _read_recording

__all__ = ["EEGMAT"]

#: MOABB event name and code of each EEGMAT recording number (``SubjectXX_N.edf``), in
#: MOABB's vocabulary of events ("subtraction" is serial subtraction, as in ``Shin2017B``).
EVENTS = {1: ("rest", 1), 2: ("subtraction", 2)}


class EEGMAT(BaseDataset):
    """EEG During Mental Arithmetic Tasks (EEGMAT) as a MOABB dataset, from local files.

    The dataset of :func:`~sk_eegm2.datasets.load_eegmat`, laid out as MOABB expects: for
    each subject (0 to 35), one session (``"0"``) of two runs, ``"1"`` (the recording at
    rest, ``SubjectXX_1.edf``) and ``"2"`` (serial subtraction, ``SubjectXX_2.edf``), with
    19 EEG channels of the 10-20 system. Each run is marked with back-to-back events every
    ``window_seconds``, named ``"rest"`` or ``"subtraction"`` (MOABB's name for mental
    arithmetic), and the dataset's interval is one window, so that a paradigm cuts the
    windows :func:`~sk_eegm2.datasets.load_eegmat` returns (``round(window_seconds *
    sfreq)`` samples each). MOABB files mental arithmetic under its ``"imagery"`` paradigm,
    as for ``Shin2017B``: use :class:`moabb.paradigms.MotorImagery` with
    ``events=["rest", "subtraction"]``, ``n_classes=2`` and a pass band that keeps what the
    models need, such as ``fmin=0.5, fmax=45`` (the recordings are band-limited to 0.5-45 Hz).

    Parameters
    ----------
    path : str | os.PathLike | None
        Folder holding the ``SubjectXX_N.edf`` files; ``None`` uses the environment variable
        ``SK_EEGM2_EEGMAT_PATH``, else the cache folder, as
        :func:`~sk_eegm2.datasets.load_eegmat` does (a named folder must hold EEGMAT files
        already). Read when the data are.
    subjects : int | iterable of int | None
        Subjects to include, from 0 to 35; ``None`` (default) includes all 36.
    window_seconds : float, default=2.0
        Length of the windows (trials) in seconds.
    sfreq : float, default=128.0
        Sampling rate in Hz of the runs; recordings at another rate are resampled.
    download : bool, default=True
        Download files missing from the folder from PhysioNet, as
        :func:`~sk_eegm2.datasets.load_eegmat`.

    Examples
    --------
    >>> from moabb.paradigms import MotorImagery
    >>> dataset = EEGMAT("../shared/data/eegmat", subjects=[0, 1])  # doctest: +SKIP
    >>> paradigm = MotorImagery(events=["rest", "subtraction"], n_classes=2, fmin=0.5, fmax=45)
    >>> X, labels, metadata = paradigm.get_data(dataset)  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        subjects: int | Iterable[int] | None = None,
        window_seconds: float = 2.0,
        sfreq: float = 128.0,
        download: bool = True,
    ) -> None:
        if not window_seconds > 0 or not sfreq > 0:
            raise ValueError(
                f"window_seconds and sfreq must be positive, got {window_seconds} and {sfreq}."
            )
        if round(window_seconds * sfreq) < 1:
            raise ValueError(f"A window of {window_seconds} s at {sfreq} Hz holds no sample.")
        self.path = path
        self.window_seconds = float(window_seconds)
        self.sfreq = float(sfreq)
        self.download = download
        n_window = round(self.window_seconds * self.sfreq)
        super().__init__(
            subjects=_check_subjects(subjects),
            sessions_per_subject=1,
            events=dict(EVENTS.values()),
            code="EEGMAT",
            # Epochs include their last sample: one sample less than the window, so that
            # each trial has n_window samples and back-to-back trials do not overlap.
            interval=[0.0, (n_window - 1) / self.sfreq],
            paradigm="imagery",
            doi="10.3390/data4010014",
        )

    def _get_single_subject_data(self, subject: int) -> dict[str, dict[str, mne.io.BaseRaw]]:
        """The two runs of ``subject``, resampled, with an event at each window's start."""
        runs = {}
        with mne.use_log_level("warning"):
            for recording, fname in zip(_RECORDINGS, self.data_path(subject), strict=True):
                raw = _read_recording(Path(fname)).load_data()
                if raw.info["sfreq"] != self.sfreq:
                    raw.resample(self.sfreq)
                n_window = round(self.window_seconds * self.sfreq)
                onsets = np.arange(0, raw.n_times - n_window + 1, n_window) / self.sfreq
                name, _ = EVENTS[recording]
                raw.set_annotations(mne.Annotations(onsets, self.window_seconds, name))
                runs[str(recording)] = raw
        return {"0": runs}

    def data_path(
        self,
        subject: int,
        path: str | os.PathLike[str] | None = None,
        force_update: bool = False,
        update_path: bool | None = None,
        verbose: bool | str | int | None = None,
    ) -> list[str]:
        """Paths of the two EDF files of ``subject``, downloaded first if missing.

        ``path`` overrides the dataset's folder; ``force_update`` and ``update_path`` (part
        of MOABB's interface) are not used, as files are only downloaded when missing.
        """
        if subject not in self.subject_list:
            raise ValueError(f"Subject {subject} is not among {self.subject_list}.")
        folder = _data_folder(self.path if path is None else path)
        with mne.use_log_level(verbose):
            return [
                str(_fetch(f"Subject{subject:02d}_{recording}.edf", folder, self.download))
                for recording in _RECORDINGS
            ]
