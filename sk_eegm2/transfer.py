"""Transfer across datasets: EEGMAT-pretrained EEGM2 on EEGBCI motor imagery.

The protocol (:data:`TRANSFER`), declared before its runs:

- **Source**: one :class:`~sk_eegm2.EEGM2Pretrainer`, pretrained without labels on the 2 s
  windows of EEGMAT's subjects (19 channels at 128 Hz), with the network and pretraining
  settings chosen on EEGMAT's development subjects (``CONFIGS["heldout"]``).
- **Target**: imagined left vs right fist of EEGBCI subject S001 (runs 4, 8 and 12: 45
  trials, 64 channels at 160 Hz), a 2 s window from 0.5 s after each cue, brought to
  EEGMAT's 19 channels by name (``channels="match"``, T3/T7 and the like as aliases) and
  resampled to 128 Hz (:func:`~sk_eegm2.montage.adapt_windows`), then evaluated within the
  subject by stratified K-fold. Each seed seeds every encoder's pretraining and shuffles
  the folds.
- **Models**, on the same adapted windows and folds: a readout (standardised features,
  logistic regression) of the frozen features of the EEGMAT-pretrained encoder; of the same
  network pretrained in-domain, on S001's other runs (the baselines and the executed or
  fists/feet runs, cut into 2 s windows and adapted alike: no trial of the target runs is
  seen, with or without labels); of the untrained twin (the same network and seed at random
  weights, its amplitude scale set on those in-domain windows); each of the three
  encoders fine-tuned whole (EEGM2 Fine, the untrained one giving Scratch) with the
  settings of ``CONFIGS["heldout"]``; and the baselines (log band power and Riemannian
  tangent space, each into a logistic regression).

One subject and 45 trials: 9 test trials per fold, so a fold's balanced accuracy moves in
steps of about 0.1 and the spread over folds and seeds is large.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mne
import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline

from . import report
from .baselines import log_band_power_pipeline, tangent_space_pipeline
from .benchmark import CONFIGS, METRICS, READOUTS, _scores, include_runs, summarise_runs
from .classifier import EEGM2Classifier
from .datasets import load_eegbci, load_eegmat, make_windows
from .datasets.eegbci import _mne_data_path
from .datasets.windows import _standard_1020, read_recording
from .montage import adapt_windows
from .nn.compute import Compute
from .pretrainer import EEGM2Pretrainer
from .validation import EEGData, check_eeg

__all__ = ["TRANSFER", "include_runs", "run_transfer", "save_transfer", "transfer_markdown"]

#: The transfer protocol, declared before any run.
TRANSFER: dict[str, Any] = {
    "source": "EEGMAT (PhysioNet eegmat 1.0.0), every subject's rest and arithmetic windows, "
    "no labels",
    "target": "EEGBCI (PhysioNet eegmmidb 1.0.0) subject S001, imagined left vs right fist",
    "target_subject": 1,
    "target_runs": [4, 8, 12],
    # S001's runs without a trial of the target runs: baselines, executed left/right fist,
    # executed and imagined fists/feet.
    "in_domain_runs": [1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14],
    "window_seconds": 2.0,
    "trial_start_seconds": 0.5,  # after the cue: the visual response to it settles first
    "channels": "match",
    "resample": True,
    "n_folds": 5,
    # Each seeds every encoder's pretraining and shuffles the folds.
    "seeds": [0, 1, 2],
    "readout": "logistic",
}
#: Model names, as in the other results files: the frozen encoders' readouts, and the
#: same encoders fine-tuned.
SOURCE, IN_DOMAIN, UNTRAINED = (
    "EEGM2 (Linear, pretrained on EEGMAT)",
    "EEGM2 (Linear, pretrained in-domain)",
    "EEGM2 (Linear, untrained)",
)
FINE_TUNED = {
    SOURCE: "EEGM2 (Fine, pretrained on EEGMAT)",
    IN_DOMAIN: "EEGM2 (Fine, pretrained in-domain)",
    UNTRAINED: "EEGM2 (Scratch = Fine, untrained)",
}
#: The baselines, each given the adapted windows' rate.
BASELINES: dict[str, Callable[[float | None], Any]] = {
    "Log band power + LR": lambda sfreq: log_band_power_pipeline(sfreq, class_weight="balanced"),
    "Riemann tangent space + LR": lambda sfreq: tangent_space_pipeline(class_weight="balanced"),
}


def _in_domain_windows(subject: int, runs: list[int], path: Any, window_seconds: float) -> list:
    """Back-to-back windows of each of ``subject``'s ``runs`` of EEGBCI, as Epochs."""
    with mne.use_log_level(False):
        fnames = mne.datasets.eegbci.load_data(
            subject, runs, path=_mne_data_path(path), update_path=False
        )
        windows = []
        for fname in fnames:
            raw = read_recording(fname, mne.io.read_raw_edf, preload=True)
            mne.datasets.eegbci.standardize(raw)
            raw.set_montage(_standard_1020())
            windows.append(make_windows(raw, window_seconds, verbose=False))
    return windows


def _adapt(windows: Any, target: EEGData, protocol: dict[str, Any]) -> tuple[np.ndarray, str]:
    """``windows`` brought to the channels and rate of ``target``, and what was done."""
    adapted, adaptation = adapt_windows(
        check_eeg(windows), target.shape, protocol["channels"], protocol["resample"]
    )
    if adapted.X.shape[1:] != target.X.shape[1:]:
        raise ValueError(
            f"Adapted windows of shape {adapted.X.shape[1:]} differ from the source's "
            f"{target.X.shape[1:]}: the window lengths in seconds must match."
        )
    return adapted.X, str(adaptation)


def run_transfer(
    path: str | Path | None = None,
    *,
    eegbci_path: str | Path | None = None,
    eegmat_subjects: list[int] | None = None,
    config: str | dict[str, Any] = "heldout",
    protocol: dict[str, Any] | None = None,
    aligned: bool = False,
    threads: int | None = None,
    n_jobs: int | None = None,
    log: Callable[[str], None] = print,
    verbose: int = 0,
) -> dict[str, Any]:
    """EEGM2 pretrained on EEGMAT, in-domain and untrained, on EEGBCI motor imagery.

    Parameters
    ----------
    path : str, Path or None
        EEGMAT folder (see :func:`~sk_eegm2.datasets.load_eegmat`).
    eegbci_path : str, Path or None
        Folder holding MNE's ``MNE-eegbci-data`` folder, or that folder (see
        :func:`~sk_eegm2.datasets.load_eegbci`).
    eegmat_subjects : list of int or None
        EEGMAT subjects to pretrain on (None: all 36).
    config : str or dict
        Network and pretraining settings (``sk_eegm2.benchmark.CONFIGS``).
    protocol : dict or None
        The protocol (None: :data:`TRANSFER`); a dict of the same keys, e.g. fewer folds.
    aligned : bool
        Not part of this protocol (with one target subject, aligning would use the test
        trials); True is refused. Accepted for the command line's common call.
    threads : int or None
        PyTorch threads, restored afterwards (None: PyTorch's setting). Recorded.
    n_jobs : int or None
        Seeds side by side in joblib's processes (None: one at a time, or as a surrounding
        ``joblib.parallel_config`` says).
    log : callable
        Receives progress lines.
    verbose : int
        1 prints a line per pretraining epoch.

    Returns
    -------
    dict
        ``runs`` (model -> one record per seed and fold: balanced accuracy, ROC AUC, fit
        time), ``summary`` (mean and std over seeds of the per-seed means over folds), what
        the adaptation did, the protocol, the settings, the machine and the total time.
    """
    if aligned:
        raise ValueError(
            "The transfer protocol has no aligned variant: its one target subject's "
            "alignment would be computed on the test trials."
        )
    settings = CONFIGS[config] if isinstance(config, str) else config
    protocol = TRANSFER if protocol is None else protocol
    started = time.perf_counter()
    window = protocol["window_seconds"]
    with Compute(threads=threads).scope():  # MNE's resampling too
        source_epochs, _, source_groups = load_eegmat(
            eegmat_subjects, path=path, window_seconds=window, return_epochs=True, verbose=False
        )
        source = check_eeg(source_epochs)
        trials, y, _ = load_eegbci(
            protocol["target_subject"], protocol["target_runs"], path=eegbci_path,
            window_seconds=window, tmin=protocol["trial_start_seconds"],
        )  # fmt: skip
        X, adaptation = _adapt(trials, source, protocol)
        in_domain = _in_domain_windows(
            protocol["target_subject"], protocol["in_domain_runs"], eegbci_path, window
        )
        X_in_domain = np.concatenate([_adapt(w, source, protocol)[0] for w in in_domain])
    log(
        f"Source: {len(source.X)} EEGMAT windows of {len(np.unique(source_groups))} "
        f"subjects. Target: {len(X)} trials ({np.bincount(y).tolist()} per class), "
        f"{adaptation}; in-domain: {len(X_in_domain)} windows of runs "
        f"{protocol['in_domain_runs']}."
    )
    runs: dict[str, list[dict[str, Any]]] = {}
    outcomes = Parallel(n_jobs=n_jobs)(
        delayed(_run_seed)(
            settings, (source.X, X_in_domain), X, y, seed, source.sfreq, protocol, threads, log,
            verbose,
        )
        for seed in protocol["seeds"]
    )  # fmt: skip
    for records in outcomes:
        for name, seed_records in records.items():
            runs.setdefault(name, []).extend(seed_records)
    with Compute(threads=threads).scope():  # the machine as the runs saw it
        machine = report.machine_info()
    return {
        "dataset": f"{protocol['source']} -> {protocol['target']}",
        "protocol": protocol,
        "n_source_windows": len(source.X),
        "n_source_subjects": len(np.unique(source_groups)),
        "n_trials": len(X),
        "n_in_domain_windows": len(X_in_domain),
        "adaptation": adaptation,
        "seeds": protocol["seeds"],
        "n_folds": protocol["n_folds"],
        "threads": threads,
        "config": config if isinstance(config, str) else "custom",
        "settings": settings,
        "summary": summarise_runs(runs),
        "runs": runs,
        "included": [],
        "total_seconds": time.perf_counter() - started,
        "machine": machine,
    }


def _pretrain(
    settings: dict[str, Any],
    unlabelled: tuple[np.ndarray, np.ndarray],
    seed: int,
    log: Callable[[str], None],
    verbose: int,
) -> dict[str, EEGM2Pretrainer]:
    """The encoders of one seed: pretrained on the source, in-domain, and the untrained twin."""
    source, in_domain = unlabelled
    pretrain = {
        **settings["network"], **settings["pretrain"], "random_state": seed, "verbose": verbose
    }  # fmt: skip
    encoders: dict[str, EEGM2Pretrainer] = {}
    for name, windows in ((SOURCE, source), (IN_DOMAIN, in_domain)):
        tick = time.perf_counter()
        encoders[name] = EEGM2Pretrainer(**pretrain).fit(windows)
        log(
            f"[seed {seed}] {name}: pretrained on {len(windows)} windows in "
            f"{time.perf_counter() - tick:.0f} s ({len(encoders[name].history_)} epochs)"
        )
    untrained = {**pretrain, "max_epochs": 0, "validation_fraction": 0}
    encoders[UNTRAINED] = EEGM2Pretrainer(**untrained).fit(in_domain)
    return encoders


def _run_seed(
    settings: dict[str, Any],
    unlabelled: tuple[np.ndarray, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    seed: int,
    sfreq: float | None,
    protocol: dict[str, Any],
    threads: int | None,
    log: Callable[[str], None],
    verbose: int,
) -> dict[str, list[dict[str, Any]]]:
    """Pretrain the encoders with ``seed`` (``unlabelled``: source and in-domain windows),
    then every model over the stratified folds it shuffles: name -> fold records."""
    folds = StratifiedKFold(protocol["n_folds"], shuffle=True, random_state=seed)
    with Compute(threads=threads).scope():
        encoders = _pretrain(settings, unlabelled, seed, log, verbose)
        models: dict[str, Any] = {
            name: make_pipeline(FrozenEstimator(encoder), READOUTS[protocol["readout"]]())
            for name, encoder in encoders.items()
        }
        models |= {
            FINE_TUNED[name]: EEGM2Classifier(
                pretrained=FrozenEstimator(encoder), mode="fine", **settings["finetune"],
                random_state=seed,
            )
            for name, encoder in encoders.items()
        }  # fmt: skip
        models |= {name: make(sfreq) for name, make in BASELINES.items()}
        records: dict[str, list[dict[str, Any]]] = {name: [] for name in models}
        for fold, (train, test) in enumerate(folds.split(X, y)):
            for name, model in models.items():
                tick = time.perf_counter()
                scores = _scores(clone(model).fit(X[train], y[train]), X[test], y[test])
                records[name].append(
                    {"seed": seed, "fold": fold, **scores,
                     "fit_seconds": time.perf_counter() - tick}
                )  # fmt: skip
    for name, fold_records in records.items():
        shown = "  ".join(f"{m} {np.mean([r[m] for r in fold_records]):.3f}" for m in METRICS)
        log(f"[seed {seed}] {name:38s} {shown}")
    return records


def transfer_markdown(results: dict[str, Any]) -> str:
    """The summary as a Markdown table (mean ± std over seeds), with the protocol."""
    protocol = results["protocol"]
    lines = [
        f"Pretrained on {results['n_source_windows']} windows of "
        f"{protocol['window_seconds']:g} s from {results['n_source_subjects']} EEGMAT "
        f"subjects (no labels); evaluated on {protocol['target']} (runs "
        f"{protocol['target_runs']}, {results['n_trials']} trials, a "
        f"{protocol['window_seconds']:g} s window from {protocol['trial_start_seconds']:g} s "
        f"after each cue; {results['adaptation']}), {results['n_folds']}-fold stratified "
        f"K-fold within the subject, seeds {results['seeds']} (each pretrains every encoder "
        "and shuffles the folds): mean ± std over seeds of the per-seed mean over folds "
        "(fold std: over all seeds and folds). In-domain: pretrained "
        f"on {results['n_in_domain_windows']} windows of the subject's runs "
        f"{protocol['in_domain_runs']} (no target trial). Network and pretraining settings "
        f"`{results['config']}`. One subject and {results['n_trials']} trials: the spread is "
        "large.",
        "",
    ]
    header = ["model", "balanced accuracy", "ROC AUC", "fold std (BA)"]
    summary = results["summary"]
    rows = [
        [name]
        + [f"{summary[name][m]['mean']:.3f} ± {summary[name][m]['std']:.3f}" for m in METRICS]
        + [f"{summary[name]['balanced_accuracy']['fold_std']:.3f}"]
        for name in summary
    ]
    lines += [*report.markdown_table(header, rows), ""]
    lines += report.run_footer(results)
    return "\n".join(lines) + "\n"


def save_transfer(results: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``eegmat_transfer.json`` and ``eegmat_transfer.md`` into ``out_dir``."""
    return report.save_results(results, transfer_markdown(results), out_dir, "eegmat_transfer")
