"""Supervised CNN peers from braindecode on the held-out and bci.report EEGMAT protocols.

ShallowFBCSPNet (Schirrmeister et al. 2017) and EEGNet (Lawhern et al. 2018), trained by
braindecode's ``EEGClassifier``, on exactly the protocol the EEGM2 held-out results use:
windows of 2 s at 128 Hz from ``load_eegmat``, held-out subjects 12..35 only,
``GroupKFold(4).split`` on their windows in load order (train on 18 subjects, test on 6),
seeds 0, 1, 2 (same folds for every seed), balanced accuracy of ``p > 0.5`` and ROC AUC of
``p = predict_proba(X)[:, 1]``. Nothing is chosen on the held-out subjects: every setting is
declared in :data:`SETTINGS` below, from braindecode's documented defaults and examples, and
no development subject (0..11) is used either, as nothing is tuned.

braindecode 1.8 needs torchaudio, whose wheels pair with an older torch than the project's
(torch 2.13), so this script runs in its own environment, outside the repository::

    python -m venv /work/venv-bd
    /work/venv-bd/bin/pip install torch==2.9.1 torchvision==0.24.1
    /work/venv-bd/bin/pip install torch==2.9.1 'torchaudio==2.9.*'
    /work/venv-bd/bin/pip install torch==2.9.1 torchaudio==2.9.1 'braindecode==1.8.*' \\
        scikit-learn skorch mne pooch edfio pandas scipy safetensors
    /work/venv-bd/bin/pip install --no-deps -e .   # sk_eegm2, for its loader

(torch 2.11 with torchaudio 2.11 from PyPI work as well: the bci.report run used them)

and, from the repository root::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 /work/venv-bd/bin/python benchmarks/braindecode_peer.py

Writes ``eegmat_heldout_braindecode.json`` (per-run scores, summary, settings, machine and
versions) and ``eegmat_heldout_braindecode.md`` into ``--out`` (default
``benchmarks/results``).

Settings and why:

- Inputs in microvolts, as the loader returns them, with no further scaling: braindecode's
  tutorials convert volts to microvolts for these models. EEGMAT's channels have a standard
  deviation of about 10 uV; both networks normalise with batch norm after their first layers.
  (The tutorials' exponential moving standardisation runs over whole recordings; the
  protocol gives windows, so it is left out.)
- Class-balanced cross-entropy: class weights ``n / (2 n_c)`` from each fold's training
  labels (scikit-learn's "balanced"), as every classifier of the protocol.
- Optimiser as braindecode's trialwise decoding tutorial (BCI IV 2a): AdamW with cosine
  annealing of the learning rate over the epochs, batches of 64, weight decay 0, learning
  rate 0.0625 * 0.01 for ShallowFBCSPNet (the tutorial's value for it); 1e-3 for EEGNet, the
  Adam default its authors trained with. Architectures at braindecode's defaults.
- No early stopping and no validation split: a fixed number of epochs, as in the tutorial.
  :data:`MAX_EPOCHS` is sized to the time budget: one epoch on a fold's 2145 training
  windows took 2.2 to 2.5 s (ShallowFBCSPNet) and 3.4 to 3.9 s (EEGNet) on one thread of
  the shared 2-core AMD EPYC machine the results come from, so 2 models x 3 seeds x 4 folds
  x 30 epochs take 34 to 38 minutes, within the 40-minute budget. The recorded run took
  51 minutes: the machine's load rose (load average about 5 on its 2 cores) and epochs took
  3.2 s and 5.3 s on average (``mean_epoch_seconds`` in the results).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import braindecode
import numpy as np
import torch
import torchaudio
from braindecode import EEGClassifier
from braindecode.models import EEGNet, ShallowFBCSPNet
from braindecode.util import set_random_seeds
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.utils.class_weight import compute_class_weight
from skorch.callbacks import LRScheduler
from threadpoolctl import threadpool_limits

from sk_eegm2 import SubjectAlignment
from sk_eegm2.datasets import load_eegmat
from sk_eegm2.leaderboard import BCIREPORT, load_bcireport_windows, subject_scores
from sk_eegm2.report import machine_info

HELDOUT_SUBJECTS = range(12, 36)
N_FOLDS = 4
SEEDS = (0, 1, 2)
WINDOW_SECONDS = 2.0
SFREQ = 128.0
TIME_BUDGET_MINUTES = 40
MAX_EPOCHS = 30
BATCH_SIZE = 64

#: Per model: the braindecode class and the optimiser's learning rate (see the module's
#: docstring for where each value comes from).
MODELS: dict[str, tuple[type[torch.nn.Module], float]] = {
    "ShallowFBCSPNet (braindecode)": (ShallowFBCSPNet, 0.0625 * 0.01),
    "EEGNet (braindecode)": (EEGNet, 1e-3),
}

SETTINGS: dict[str, Any] = {
    "input_scaling": "microvolts as loaded, no further scaling",
    "architectures": "braindecode defaults",
    "optimizer": "AdamW",
    "weight_decay": 0.0,
    "learning_rate": {name: lr for name, (_, lr) in MODELS.items()},
    "lr_schedule": f"CosineAnnealingLR(T_max={MAX_EPOCHS - 1}), per epoch",
    "batch_size": BATCH_SIZE,
    "max_epochs": MAX_EPOCHS,
    "early_stopping": None,
    "validation_split": None,
    "class_weight": "balanced (n / (2 n_c) from each fold's training labels)",
    "threads": 1,
    "time_budget_minutes": TIME_BUDGET_MINUTES,
}


def make_classifier(
    module: type[torch.nn.Module],
    lr: float,
    y_train: np.ndarray,
    n_chans: int,
    n_times: int,
    max_epochs: int = MAX_EPOCHS,
) -> EEGClassifier:
    """An EEGClassifier with class-balanced cross-entropy and the pre-declared recipe.

    Parameters
    ----------
    module : type of torch.nn.Module
        A braindecode model class, built with its default architecture.
    lr : float
        Learning rate of AdamW.
    y_train : ndarray of shape (n_windows,)
        Training labels (0 or 1), for the class weights.
    n_chans, n_times : int
        Channels and samples per window.
    max_epochs : int
        Training epochs (the cosine schedule spans them).

    Returns
    -------
    EEGClassifier
        Unfitted classifier.
    """
    weights = compute_class_weight("balanced", classes=np.array([0, 1]), y=y_train)
    return EEGClassifier(
        module,
        module__n_chans=n_chans,
        module__n_outputs=2,
        module__n_times=n_times,
        module__sfreq=SFREQ,
        criterion=torch.nn.CrossEntropyLoss,
        criterion__weight=torch.as_tensor(weights, dtype=torch.float32),
        optimizer=torch.optim.AdamW,
        optimizer__lr=lr,
        optimizer__weight_decay=SETTINGS["weight_decay"],
        batch_size=BATCH_SIZE,
        max_epochs=max_epochs,
        train_split=None,
        callbacks=[("lr_scheduler", LRScheduler("CosineAnnealingLR", T_max=max_epochs - 1))],
        classes=[0, 1],
        device="cpu",
        verbose=0,
    )


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and std over seeds of the per-seed mean over folds, and std over all runs."""
    summary = {}
    for metric in ("balanced_accuracy", "roc_auc"):
        seed_means = [np.mean([r[metric] for r in runs if r["seed"] == s]) for s in SEEDS]
        summary[metric] = {
            "mean": float(np.mean(seed_means)),
            "std": float(np.std(seed_means)),
            "fold_std": float(np.std([r[metric] for r in runs])),
        }
    return summary


def run(data_path: str) -> dict[str, Any]:
    """Every (model, seed, fold) of the held-out protocol; returns the results document."""
    started = time.perf_counter()
    X, y, groups = load_eegmat(
        None, path=data_path, window_seconds=WINDOW_SECONDS, return_epochs=False, verbose=False
    )
    assert isinstance(X, np.ndarray)
    heldout = np.isin(groups, HELDOUT_SUBJECTS)
    Xh, yh, gh = X[heldout], y[heldout], groups[heldout]
    folds = list(GroupKFold(n_splits=N_FOLDS).split(Xh, yh, gh))
    test_subjects = [sorted(int(s) for s in np.unique(gh[test])) for _, test in folds]
    # Each fold tests 6 subjects not seen in its training, and the folds cover all 24.
    for (train, _), subjects in zip(folds, test_subjects, strict=True):
        assert len(subjects) == 6 and not set(gh[train]) & set(subjects)
    assert sorted(s for subjects in test_subjects for s in subjects) == list(HELDOUT_SUBJECTS)
    print(
        f"{len(Xh)} held-out windows ({np.mean(yh == 1):.0%} arithmetic) from "
        f"{len(np.unique(gh))} subjects; test subjects per fold: {test_subjects}",
        flush=True,
    )
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in MODELS}
    epoch_seconds: dict[str, list[float]] = {name: [] for name in MODELS}
    for seed in SEEDS:
        for fold, (train, test) in enumerate(folds):
            for name, (module, lr) in MODELS.items():
                tick = time.perf_counter()
                set_random_seeds(seed, cuda=False)
                clf = make_classifier(module, lr, yh[train], Xh.shape[1], Xh.shape[2])
                clf.fit(Xh[train], yh[train])
                proba = clf.predict_proba(Xh[test])[:, 1]
                result = {
                    "seed": seed,
                    "fold": fold,
                    "balanced_accuracy": float(
                        balanced_accuracy_score(yh[test], (proba > 0.5).astype(int))
                    ),
                    "roc_auc": float(roc_auc_score(yh[test], proba)),
                    "final_train_loss": float(clf.history[-1, "train_loss"]),
                    "fit_seconds": time.perf_counter() - tick,
                }
                runs[name].append(result)
                epoch_seconds[name] += clf.history[:, "dur"]
                print(
                    f"[seed {seed} fold {fold}] {name:30s} balanced accuracy "
                    f"{result['balanced_accuracy']:.3f}  ROC AUC {result['roc_auc']:.3f}  "
                    f"loss {result['final_train_loss']:.3f}  ({result['fit_seconds']:.0f} s)",
                    flush=True,
                )
    machine = machine_info()
    machine["versions"].update(
        {"braindecode": braindecode.__version__, "torchaudio": torchaudio.__version__}
    )
    return {
        "dataset": "EEGMAT (PhysioNet eegmat 1.0.0): rest vs mental arithmetic",
        "protocol": "held-out subjects 12..35, GroupKFold(4) in load order, seeds 0, 1, 2",
        "n_windows": len(Xh),
        "n_subjects": len(np.unique(gh)),
        "window_seconds": WINDOW_SECONDS,
        "n_folds": N_FOLDS,
        "seeds": list(SEEDS),
        "test_subjects": test_subjects,
        "settings": SETTINGS,
        "mean_epoch_seconds": {name: float(np.mean(d)) for name, d in epoch_seconds.items()},
        "runs": runs,
        "summary": {name: summarise(model_runs) for name, model_runs in runs.items()},
        "total_seconds": time.perf_counter() - started,
        "machine": machine,
    }


#: The bci.report protocol trains its EEGNet for 20 epochs per fold.
BCIREPORT_EPOCHS = 20


def run_bcireport(data_path: str, seed: int) -> dict[str, Any]:
    """Both peers on the bci.report protocol (``sk_eegm2.leaderboard``), inductive and aligned.

    The recipe is the held-out protocol's with the leaderboard's 20 epochs; the runs (of one
    seed) have the schema of :func:`sk_eegm2.leaderboard.run_bcireport`'s, to be included in
    its results.
    """
    started = time.perf_counter()
    X, y, groups = load_bcireport_windows(data_path)
    variants = {"": X, ", aligned": SubjectAlignment().fit_transform(X, groups=groups)}
    folds = list(GroupKFold(BCIREPORT["n_folds"]).split(X, y, groups))
    runs: dict[str, list[dict[str, Any]]] = {}
    for suffix, data in variants.items():
        for name, (module, lr) in MODELS.items():
            tick = time.perf_counter()
            predicted, score = np.zeros(len(y), dtype=int), np.zeros(len(y))
            for train, test in folds:
                set_random_seeds(seed, cuda=False)
                clf = make_classifier(
                    module, lr, y[train], X.shape[1], X.shape[2], BCIREPORT_EPOCHS
                )
                clf.fit(data[train], y[train])
                score[test] = clf.predict_proba(data[test])[:, 1]
                predicted[test] = score[test] > 0.5
            record = subject_scores(y, predicted, score, groups)
            runs[name + suffix] = [
                {"seed": seed, **record, "fit_seconds": time.perf_counter() - tick,
                 "predicted": predicted.tolist()}
            ]  # fmt: skip
            print(
                f"[seed {seed}] {name + suffix:40s} balanced accuracy "
                f"{record['balanced_accuracy']:.3f}  ({time.perf_counter() - tick:.0f} s)",
                flush=True,
            )
    machine = machine_info()
    machine["versions"].update(
        {"braindecode": braindecode.__version__, "torchaudio": torchaudio.__version__}
    )
    settings = {**SETTINGS, "max_epochs": BCIREPORT_EPOCHS}
    settings["lr_schedule"] = f"CosineAnnealingLR(T_max={BCIREPORT_EPOCHS - 1}), per epoch"
    return {
        "protocol": BCIREPORT,
        "settings": settings,
        "runs": runs,
        "total_seconds": time.perf_counter() - started,
        "machine": machine,
    }


def markdown_table(results: dict[str, Any]) -> str:
    """The summary as a Markdown table, with what was run where."""
    machine = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    lines = [
        f"EEGMAT, rest vs mental arithmetic, held-out protocol: {results['n_subjects']} "
        f"subjects (12..35), {results['n_windows']} windows of "
        f"{results['window_seconds']:g} s, {results['n_folds']}-fold GroupKFold by subject, "
        f"seeds {', '.join(map(str, results['seeds']))} (mean ± std over seeds of the mean "
        "over folds; std over all seed-fold runs in brackets).",
        "",
        "| model | balanced accuracy | ROC AUC |",
        "|---|---|---|",
    ]
    for name, metrics in results["summary"].items():
        cells = [
            f"{m['mean']:.3f} ± {m['std']:.3f} ({m['fold_std']:.3f})"
            for m in (metrics["balanced_accuracy"], metrics["roc_auc"])
        ]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    settings = results["settings"]
    lines += [
        "",
        f"{settings['max_epochs']} epochs of AdamW (cosine annealing, batches of "
        f"{settings['batch_size']}), class-balanced cross-entropy, inputs in microvolts, "
        "braindecode's default architectures; no early stopping.",
        "",
        f"Run on {machine['date']}: {machine['cpu']} ({machine['cores']} threads), "
        f"GPU: {machine['gpu'] or 'none'}; {versions}. "
        f"Total time {results['total_seconds'] / 60:.1f} min.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/eegmat", help="EEGMAT folder")
    parser.add_argument("--out", default="benchmarks/results", type=Path)
    parser.add_argument(
        "--protocol",
        choices=["heldout", "bci-report"],
        default="heldout",
        help="bci-report writes eegmat_bcireport_braindecode.json, for the main job's "
        "--protocol bci-report --include",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="with bci-report: only these seeds (default: the protocol's), e.g. to run them in "
        "separate processes; the main job's --include adds each file's seeds",
    )
    args = parser.parse_args()
    # One thread everywhere: torch's own pool and the BLAS/OpenMP pools of numpy and torch.
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.protocol == "bci-report":
        # Written after each seed, so that an interrupted run keeps its complete seeds.
        seeds = BCIREPORT["seeds"] if args.seeds is None else args.seeds
        suffix = "" if args.seeds is None else "_seeds_" + "_".join(map(str, seeds))
        path = args.out / f"eegmat_bcireport_braindecode{suffix}.json"
        results: dict[str, Any] = {}
        for seed in seeds:
            with threadpool_limits(limits=1):
                one_seed = run_bcireport(args.data, seed)
            runs = results.get("runs", {})
            for name, records in one_seed["runs"].items():
                runs.setdefault(name, []).extend(records)
            total = results.get("total_seconds", 0.0) + one_seed["total_seconds"]
            results = {**one_seed, "runs": runs, "total_seconds": total}
            path.write_text(json.dumps(results, indent=2) + "\n")
            print(f"Wrote {path} (seeds up to {seed})", flush=True)
        return
    with threadpool_limits(limits=1):
        results = run(args.data)
    stem = args.out / "eegmat_heldout_braindecode"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown_table(results))
    print(markdown_table(results))


if __name__ == "__main__":
    main()
