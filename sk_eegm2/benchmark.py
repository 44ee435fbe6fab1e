"""The main job: pretrain EEGM2 and evaluate it across subjects on EEGMAT, beside baselines.

In each fold of a GroupKFold by subject, one EEGM2Pretrainer is fitted on the training
subjects' windows without labels; EEGM2 (Linear), (Light) and (Fine) reuse it, each beside its
untrained twin (the same network and seed at random weights, the same head; Fine's twin is
Scratch), and the baselines are fitted on the same windows. :func:`run_heldout` is the
held-out protocol, with settings chosen on development subjects. Every setting is declared
in :data:`CONFIGS` before any run: nothing is chosen on the test folds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from . import report
from .alignment import SubjectAlignment
from .baselines import log_band_power_pipeline, raw_window_pipeline, tangent_space_pipeline
from .classifier import EEGM2Classifier
from .datasets import load_eegmat
from .nn.compute import Compute
from .pretrainer import EEGM2Pretrainer

#: Pre-declared settings. "cpu" is sized to finish within 20 minutes on 2 CPU cores;
#: "full" is the paper's network and recipe, for a GPU. Rest is three times as long as the
#: task in EEGMAT, and the metric is balanced accuracy, so every classifier (EEGM2's heads
#: and the baselines' logistic regressions alike) weighs classes inversely to frequency.
#: An optional "readouts" lists the readouts of EEGM2 (Linear)'s frozen features
#: (:data:`READOUTS`; "logistic" alone when absent).
CONFIGS: dict[str, dict[str, Any]] = {
    "cpu": {
        "network": {
            "preset": "cpu",  # widths (16, 32, 64), expand 2, headdim 16: sk_eegm2.nn.PRESETS
            "chunk_size": 64,
            # One amplitude for the training set: keeps the differences in power between
            # windows that per-window scaling would remove.
            "scaling": "global",
        },
        "pretrain": {"max_epochs": 6, "batch_size": 64, "lr": 2e-3, "patience": 3},
        "finetune": {
            "max_epochs": 5,
            "batch_size": 64,
            "lr": 5e-4,
            "patience": 3,
            "class_weight": "balanced",
        },
    },
    "full": {
        "network": {"scaling": "global"},
        "pretrain": {"max_epochs": 100, "batch_size": 64, "lr": 5e-4, "patience": 10},
        "finetune": {
            "max_epochs": 30,
            "batch_size": 64,
            "lr": 1e-4,
            "patience": 10,
            "class_weight": "balanced",
        },
    },
}

#: Chosen on EEGMAT's development subjects only (benchmarks/eegmat_dev.py, rounds 1 and 2;
#: docs/results.rst): the CPU network, pretrained longer (the only change that helped there;
#: masking and skip dropout did not), Linear on "light+logvar" features, and a Light head
#: trained for a fixed budget without early stopping. Budgets are matched to the dev runs in
#: optimiser steps: the held-out training folds (18 subjects) have about 2.3 times the
#: windows of the dev ones (8 subjects). Fine and its Scratch twin fine-tune with the pooled
#: log-variance head, the one change with which pretraining helped fine-tuning on the dev
#: subjects (benchmarks/fine_diagnosis.py, round 1; the paper's head, on the reconstruction,
#: stayed at chance there), at the CPU configuration's budget with early stopping.
CONFIGS["heldout"] = {
    "network": CONFIGS["cpu"]["network"],
    # dev: 20 epochs of about 14 batches, patience 5
    "pretrain": {**CONFIGS["cpu"]["pretrain"], "max_epochs": 9, "patience": 3,
                 "features": "light+logvar"},
    "finetune": {**CONFIGS["cpu"]["finetune"], "head": "pooled", "head_features": "logvar"},
    # dev: 30 epochs of about 15 batches, no early stopping
    "light": {**CONFIGS["cpu"]["finetune"], "max_epochs": 13, "validation_fraction": 0},
}  # fmt: skip


#: The bci.report protocol (:mod:`sk_eegm2.leaderboard`): the held-out settings, with the
#: leaderboard's ridge readout beside the logistic one. Fine and Scratch are left out: they
#: train the whole network, many times the Light head's time per fold, and the leaderboard
#: ranks frozen encoders.
CONFIGS["bcireport"] = {**CONFIGS["heldout"], "readouts": ("logistic", "ridge"), "fine": False}


def _scores(model: Any, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Balanced accuracy and ROC AUC of a binary classifier: of its probability of class 1,
    or of its decision function where it gives no probabilities (ridge readouts)."""
    if hasattr(model, "predict_proba"):
        score, threshold = model.predict_proba(X)[:, 1], 0.5
    else:
        score, threshold = model.decision_function(X), 0.0
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y, score > threshold)),
        "roc_auc": float(roc_auc_score(y, score)),
    }


#: Readouts of frozen features, each on standardised features, classes weighed inversely to
#: frequency: a logistic regression, or the ridge classifier (alpha 100) that the bci.report
#: leaderboard puts on every frozen encoder (github.com/twu3202/bci-report).
READOUTS: dict[str, Callable[[], Pipeline]] = {
    "logistic": lambda: make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced")
    ),
    "ridge": lambda: make_pipeline(
        StandardScaler(), RidgeClassifier(alpha=100.0, class_weight="balanced")
    ),
}


#: A model: (pretrained, untrained, X, y, groups) -> fitted classifier, where ``untrained``
#: is the pretrainer's twin (the same network and seed, random weights).
Model = Callable[[EEGM2Pretrainer, EEGM2Pretrainer, np.ndarray, np.ndarray, np.ndarray], Any]


def _models(config: dict[str, Any], seed: int) -> dict[str, Model]:
    """Every EEGM2 mode beside its untrained twin (same network and head), and baselines."""
    fine = config["finetune"]
    light = config.get("light", fine)

    def linear(readout: str, untrained: bool) -> Model:
        def fit(pretrained, random, X, y, groups):
            encoder = random if untrained else pretrained
            return make_pipeline(FrozenEstimator(encoder), READOUTS[readout]()).fit(X, y)

        return fit

    def classifier(mode: str, settings: dict[str, Any], untrained: bool) -> Model:
        def fit(pretrained, random, X, y, groups):
            source = FrozenEstimator(random if untrained else pretrained)
            model = EEGM2Classifier(pretrained=source, mode=mode, **settings, random_state=seed)
            return model.fit(X, y, groups=groups)

        return fit

    models: dict[str, Model] = {}
    # The logistic readout keeps the plain name "EEGM2 (Linear)"; others are named.
    for readout in config.get("readouts", ("logistic",)):
        kind = "" if readout == "logistic" else f", {readout}"
        models[f"EEGM2 (Linear{kind})"] = linear(readout, False)
        models[f"EEGM2 (Linear{kind}, untrained)"] = linear(readout, True)
    models |= {
        "EEGM2 (Light)": classifier("light", light, False),
        "EEGM2 (Light, untrained)": classifier("light", light, True),
    }
    if config.get("fine", True):
        models["EEGM2 (Fine)"] = classifier("fine", fine, False)
        models["EEGM2 (Scratch = Fine, untrained)"] = classifier("fine", fine, True)
    models["Log band power + LR"] = lambda p, r, X, y, g: log_band_power_pipeline(
        128.0, class_weight="balanced"
    ).fit(X, y)
    # pyRiemann comes with the extras "baselines" and "test"; without it this says how to add it.
    tangent = tangent_space_pipeline(class_weight="balanced")
    models["Riemann tangent space + LR"] = lambda p, r, X, y, g: clone(tangent).fit(X, y)
    models["LR on raw windows (16 Hz)"] = lambda p, r, X, y, g: raw_window_pipeline(
        8, class_weight="balanced"
    ).fit(X, y)
    return models


def _evaluate_fold(
    settings: dict[str, Any],
    seed: int,
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    train: np.ndarray,
    test: np.ndarray,
    prefix: str,
    log: Callable[[str], None],
    verbose: int,
    score: Callable[[Any, np.ndarray, np.ndarray], dict[str, Any]] = _scores,
) -> dict[str, dict[str, Any]]:
    """Pretrain on ``train`` (no labels), then fit every model of :func:`_models`.

    ``score(model, X_test, y_test)`` gives each model's result on ``test``.
    """
    X, y, groups = data
    tick = time.perf_counter()
    pretrain = {**settings["network"], **settings["pretrain"], "random_state": seed}
    pretrainer = EEGM2Pretrainer(**pretrain, verbose=verbose).fit(X[train], groups=groups[train])
    untrained = EEGM2Pretrainer(**{**pretrain, "max_epochs": 0, "validation_fraction": 0})
    untrained.fit(X[train])
    # Without a validation split (one training subject) there is no valid_loss.
    loss = "valid_loss" if "valid_loss" in pretrainer.history_[-1] else "train_loss"
    log(
        f"{prefix} pretrained on {len(train)} unlabelled windows in "
        f"{time.perf_counter() - tick:.0f} s ({len(pretrainer.history_)} epochs, best "
        f"{loss.replace('_', ' ')} {min(pretrainer.history_[:, loss]):.3g})"
    )
    results = {}
    for name, fit in _models(settings, seed).items():
        tick = time.perf_counter()
        model = fit(pretrainer, untrained, X[train], y[train], groups[train])
        scores = score(model, X[test], y[test])
        scores["fit_seconds"] = time.perf_counter() - tick
        results[name] = scores
        shown = "  ".join(f"{METRIC_NAMES[k]} {scores[k]:.3f}" for k in METRICS if k in scores)
        log(f"{prefix} {name:34s} {shown}  ({scores['fit_seconds']:.0f} s)")
    return results


def run_eegmat(
    path: str | Path | None = None,
    *,
    config: str | dict[str, Any] = "cpu",
    n_folds: int = 6,
    window_seconds: float = 2.0,
    subjects: list[int] | None = None,
    random_state: int = 0,
    threads: int | None = None,
    log: Callable[[str], None] = print,
    verbose: int = 0,
) -> dict[str, Any]:
    """Cross-subject evaluation on EEGMAT (rest vs mental arithmetic).

    Parameters
    ----------
    path : str, Path or None
        EEGMAT folder (else ``SK_EEGM2_EEGMAT_PATH``, else download; see
        :func:`~sk_eegm2.datasets.load_eegmat`).
    config : {"cpu", "full"} or dict
        Pre-declared settings (:data:`CONFIGS`), or a dict of the same form.
    n_folds : int
        Folds of the GroupKFold by subject.
    window_seconds : float
        Window length (non-overlapping windows).
    subjects : list of int or None
        Subjects to use (None: all 36).
    random_state : int
        Seeds every model.
    threads : int or None
        PyTorch threads for the run, restored afterwards (None: PyTorch's setting, by
        default one per core). Recorded in the results.
    log : callable
        Receives progress lines.
    verbose : int
        1 prints a line per pretraining epoch.

    Returns
    -------
    dict
        Per-fold and summary scores per model, the settings, and the machine.
    """
    with Compute(threads=threads).scope():
        return _run_eegmat(
            path, config, n_folds, window_seconds, subjects, random_state, log, verbose
        )


def _run_eegmat(
    path: str | Path | None,
    config: str | dict[str, Any],
    n_folds: int,
    window_seconds: float,
    subjects: list[int] | None,
    random_state: int,
    log: Callable[[str], None],
    verbose: int,
) -> dict[str, Any]:
    settings = CONFIGS[config] if isinstance(config, str) else config
    started = time.perf_counter()
    X, y, groups = load_eegmat(
        subjects, path=path, window_seconds=window_seconds, return_epochs=False, verbose=False
    )
    assert isinstance(X, np.ndarray)
    log(
        f"EEGMAT: {len(X)} windows of {X.shape[1]} channels x {X.shape[2]} samples from "
        f"{len(np.unique(groups))} subjects ({np.mean(y == 1):.0%} arithmetic); "
        f"{n_folds}-fold GroupKFold by subject."
    )
    folds: dict[str, list[dict[str, float]]] = {}
    for fold, (train, test) in enumerate(GroupKFold(n_folds).split(X, y, groups), start=1):
        scores = _evaluate_fold(
            settings, random_state, (X, y, groups), train, test, f"[fold {fold}/{n_folds}]", log,
            verbose,
        )  # fmt: skip
        for name, result in scores.items():
            folds.setdefault(name, []).append(result)
    summary = {
        name: {
            metric: {
                "mean": float(np.mean([f[metric] for f in runs])),
                "std": float(np.std([f[metric] for f in runs])),
            }
            for metric in ("balanced_accuracy", "roc_auc")
        }
        for name, runs in folds.items()
    }
    return {
        "dataset": "EEGMAT (PhysioNet eegmat 1.0.0): rest vs mental arithmetic",
        "n_windows": len(X),
        "n_subjects": len(np.unique(groups)),
        "window_seconds": window_seconds,
        "n_folds": n_folds,
        "config": config if isinstance(config, str) else "custom",
        "settings": settings,
        "random_state": random_state,
        "summary": summary,
        "folds": folds,
        "total_seconds": time.perf_counter() - started,
        "machine": report.machine_info(),
    }


#: The held-out protocol: settings are chosen on the development subjects only
#: (benchmarks/eegmat_dev.py), then reported once on the held-out subjects.
HELDOUT: dict[str, Any] = {
    "dev_subjects": list(range(12)),
    "heldout_subjects": list(range(12, 36)),
    "n_folds": 4,
    "seeds": [0, 1, 2],
    "window_seconds": 2.0,
}
METRICS = ("balanced_accuracy", "roc_auc")
#: The title of the models that see each subject's windows aligned (never mixed with the rest).
TRANSDUCTIVE = "Transductive: aligned with each test subject's unlabelled windows"
METRIC_NAMES = {"balanced_accuracy": "balanced accuracy", "roc_auc": "ROC AUC"}


def summarise_runs(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per model and metric: mean and std over seeds of the per-seed means over folds.

    ``fold_std`` is the std over all (seed, fold) values.
    """
    summary: dict[str, Any] = {}
    for name, records in runs.items():
        seeds = sorted({r["seed"] for r in records})
        summary[name] = {}
        for metric in METRICS:
            per_seed = [np.mean([r[metric] for r in records if r["seed"] == s]) for s in seeds]
            summary[name][metric] = {
                "mean": float(np.mean(per_seed)),
                "std": float(np.std(per_seed)),
                "fold_std": float(np.std([r[metric] for r in records])),
            }
    return summary


def run_heldout(
    path: str | Path | None = None,
    *,
    config: str | dict[str, Any] = "heldout",
    seeds: list[int] | None = None,
    folds: list[int] | None = None,
    aligned: bool = False,
    threads: int | None = None,
    n_jobs: int | None = None,
    log: Callable[[str], None] = print,
    verbose: int = 0,
) -> dict[str, Any]:
    """The held-out EEGMAT protocol (:data:`HELDOUT`) with settings chosen on the dev subjects.

    Only the 24 held-out subjects are loaded: GroupKFold(4) by subject on their windows in
    load order, each seed seeding every model (the folds are the same for every seed).

    Parameters
    ----------
    path : str, Path or None
        EEGMAT folder (see :func:`run_eegmat`).
    config : str or dict
        Settings (:data:`CONFIGS`); "heldout" holds those chosen on the development set.
    seeds : list of int or None
        Seeds (None: the protocol's 0, 1, 2).
    folds : list of int or None
        Only these folds (0-based), e.g. to time one; None: all.
    aligned : bool
        Also run every model on windows aligned per subject with
        :class:`~sk_eegm2.SubjectAlignment` (transductive: each test subject's unlabelled
        windows are used; names end in ", aligned").
    threads : int or None
        PyTorch threads of each fold's run (see :func:`run_eegmat`).
    n_jobs : int or None
        Folds run side by side in joblib's processes (None: one at a time, or as a
        surrounding ``joblib.parallel_config`` says).
    log : callable
        Receives progress lines (in the worker processes, with ``n_jobs``).
    verbose : int
        1 prints a line per pretraining epoch.

    Returns
    -------
    dict
        ``runs`` (model -> list of per (seed, fold) scores), ``summary`` (see
        :func:`summarise_runs`), the settings and the machine.
    """
    settings = CONFIGS[config] if isinstance(config, str) else config
    seeds = HELDOUT["seeds"] if seeds is None else seeds
    started = time.perf_counter()
    X, y, groups = load_eegmat(
        HELDOUT["heldout_subjects"], path=path, window_seconds=HELDOUT["window_seconds"],
        return_epochs=False, verbose=False,
    )  # fmt: skip
    assert isinstance(X, np.ndarray)
    variants = {"": X}
    if aligned:
        # A subject's aligned windows depend on that subject's windows only, so aligning all
        # at once equals aligning each fold's training and test subjects apart.
        variants[", aligned"] = SubjectAlignment().fit_transform(X, groups=groups)
    n_folds = HELDOUT["n_folds"]
    log(
        f"EEGMAT held-out subjects: {len(X)} windows from {len(np.unique(groups))} subjects; "
        f"{n_folds}-fold GroupKFold by subject, seeds {seeds}."
    )
    jobs = [
        (seed, fold, suffix, train, test)
        for seed in seeds
        for fold, (train, test) in enumerate(GroupKFold(n_folds).split(X, y, groups))
        if folds is None or fold in folds
        for suffix in variants
    ]
    outcomes = Parallel(n_jobs=n_jobs)(
        delayed(_evaluate_fold_with_threads)(
            threads, settings, seed, (variants[suffix], y, groups), train, test,
            f"[seed {seed}{suffix}, fold {fold + 1}/{n_folds}]", log, verbose,
        )
        for seed, fold, suffix, train, test in jobs
    )  # fmt: skip
    runs: dict[str, list[dict[str, Any]]] = {}
    for (seed, fold, suffix, _, _), scores in zip(jobs, outcomes, strict=True):
        for name, result in scores.items():
            runs.setdefault(name + suffix, []).append({"seed": seed, "fold": fold, **result})
    with Compute(threads=threads).scope():  # the machine as the runs saw it
        machine = report.machine_info()
    return {
        "dataset": "EEGMAT (PhysioNet eegmat 1.0.0): rest vs mental arithmetic",
        "protocol": HELDOUT,
        "n_windows": len(X),
        "n_subjects": len(np.unique(groups)),
        "window_seconds": HELDOUT["window_seconds"],
        "n_folds": n_folds,
        "seeds": seeds,
        "threads": threads,
        "config": config if isinstance(config, str) else "custom",
        "settings": settings,
        "summary": summarise_runs(runs),
        "runs": runs,
        "included": [],
        "total_seconds": time.perf_counter() - started,
        "machine": machine,
    }


def _evaluate_fold_with_threads(threads: int | None, *args: Any) -> dict[str, dict[str, Any]]:
    """:func:`_evaluate_fold` with ``threads`` PyTorch threads (in a joblib worker too)."""
    with Compute(threads=threads).scope():
        return _evaluate_fold(*args)


def include_runs(results: dict[str, Any], other: dict[str, Any], source: str) -> None:
    """Append the models of ``other`` (same schema, e.g. a braindecode peer) to ``results``."""
    results["runs"].update(other["runs"])
    results["summary"].update(summarise_runs(other["runs"]))
    results["included"].append({"source": source, "models": list(other["runs"])})


def heldout_markdown(results: dict[str, Any]) -> str:
    """The held-out summary as a Markdown table (mean ± std over seeds)."""
    protocol = results["protocol"]
    lines = [
        f"EEGMAT held-out subjects {protocol['heldout_subjects'][0]}-"
        f"{protocol['heldout_subjects'][-1]} ({results['n_subjects']} subjects, "
        f"{results['n_windows']} windows of {results['window_seconds']:g} s), "
        f"{results['n_folds']}-fold GroupKFold by subject, seeds {results['seeds']}: mean ± "
        "std over seeds of the per-seed mean over folds (fold std: over all seeds and folds). "
        f"Settings `{results['config']}`, chosen on subjects {protocol['dev_subjects'][0]}-"
        f"{protocol['dev_subjects'][-1]} only.",
        "",
    ]
    header = ["model", "balanced accuracy", "ROC AUC", "fold std (BA)"]
    summary = results["summary"]
    transductive = [name for name in summary if "aligned" in name]
    for title, names in (
        ("", [name for name in summary if "aligned" not in name]),
        (TRANSDUCTIVE, transductive),
    ):
        if not names:
            continue
        rows = [
            [name]
            + [f"{summary[name][m]['mean']:.3f} ± {summary[name][m]['std']:.3f}" for m in METRICS]
            + [f"{summary[name]['balanced_accuracy']['fold_std']:.3f}"]
            for name in names
        ]
        lines += ["", f"**{title}**", ""] if title else []
        lines += report.markdown_table(header, rows)
    lines += report.run_footer(results)
    return "\n".join(lines) + "\n"


def save_heldout(results: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``eegmat_heldout.json`` and ``eegmat_heldout.md`` into ``out_dir``."""
    return report.save_results(results, heldout_markdown(results), out_dir, "eegmat_heldout")


def markdown_table(results: dict[str, Any]) -> str:
    """The summary as a Markdown table, with what was run where."""
    lines = [
        f"EEGMAT, rest vs mental arithmetic: {results['n_subjects']} subjects, "
        f"{results['n_windows']} windows of {results['window_seconds']:g} s, "
        f"{results['n_folds']}-fold GroupKFold by subject (mean ± std over folds), "
        f"config `{results['config']}`.",
        "",
    ]
    rows = [
        [name] + [f"{m[metric]['mean']:.3f} ± {m[metric]['std']:.3f}" for metric in METRICS]
        for name, m in results["summary"].items()
    ]
    lines += report.markdown_table(["model", "balanced accuracy", "ROC AUC"], rows)
    lines += report.run_footer(results)
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], filename: str | Path) -> None:
    """Bar chart of balanced accuracy and ROC AUC per model, with the spread over folds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["summary"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, metric, title in zip(
        axes, ("balanced_accuracy", "roc_auc"), ("Balanced accuracy", "ROC AUC"), strict=True
    ):
        means = [results["summary"][n][metric]["mean"] for n in names]
        stds = [results["summary"][n][metric]["std"] for n in names]
        ax.barh(names, means, xerr=stds, color="tab:blue", alpha=0.8)
        for i, runs in enumerate(results["folds"][n] for n in names):
            ax.plot([r[metric] for r in runs], [i] * len(runs), "k.", alpha=0.5)
        ax.axvline(0.5, color="grey", lw=1, ls="--")
        ax.set(xlim=(0.3, 1.0), title=title)
    axes[0].invert_yaxis()
    fig.suptitle(
        f"EEGMAT cross-subject ({results['n_folds']}-fold by subject, "
        f"{results['window_seconds']:g} s windows)"
    )
    fig.tight_layout()
    fig.savefig(filename, dpi=110)
    plt.close(fig)


def save(results: dict[str, Any], out_dir: str | Path, name: str = "eegmat") -> list[Path]:
    """Write ``{name}.json``, ``{name}.md`` and ``{name}.png`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.json", out / f"{name}.md", out / f"{name}.png"]
    report.write_json(results, paths[0])
    paths[1].write_text(markdown_table(results))
    plot(results, paths[2])
    return paths
