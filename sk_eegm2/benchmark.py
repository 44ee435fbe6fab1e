"""The main job: pretrain EEGM2 and evaluate it across subjects on EEGMAT, beside baselines.

In each fold of a GroupKFold by subject, one EEGM2Pretrainer is fitted on the training
subjects' windows without labels; EEGM2 (Linear), (Light) and (Fine) reuse it, EEGM2 (Scratch)
trains the same network from random weights, and the classical baselines are fitted on the
same windows. Every setting is declared in :data:`CONFIGS` before any run: nothing is chosen
on the test folds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import report
from .baselines import log_band_power_pipeline, tangent_space_pipeline
from .classifier import EEGM2Classifier
from .datasets import load_eegmat
from .pretrainer import EEGM2Pretrainer

#: Pre-declared settings. "cpu" is sized to finish within 20 minutes on 2 CPU cores;
#: "full" is the paper's network and recipe, for a GPU. Rest is three times as long as the
#: task in EEGMAT, and the metric is balanced accuracy, so every classifier (EEGM2's heads
#: and the baselines' logistic regressions alike) weighs classes inversely to frequency.
CONFIGS: dict[str, dict[str, Any]] = {
    "cpu": {
        "network": {
            "widths": (16, 32, 64),
            "d_state": 16,
            "d_conv": 2,
            "expand": 2,
            "headdim": 16,
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


def _scores(model: Any, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    proba = model.predict_proba(X)[:, 1]
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y, proba > 0.5)),
        "roc_auc": float(roc_auc_score(y, proba)),
    }


def _models(config: dict[str, Any], seed: int) -> dict[str, Callable[..., Any]]:
    """Each model as a function (pretrainer, X, y, groups) -> fitted classifier."""
    net, fine = config["network"], config["finetune"]

    def linear(pretrainer, X, y, groups):
        head = make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced")
        )
        return make_pipeline(FrozenEstimator(pretrainer), head).fit(X, y)

    def classifier(mode: str, pretrained: bool) -> Callable[..., Any]:
        def fit(pretrainer, X, y, groups):
            source = FrozenEstimator(pretrainer) if pretrained else None
            settings = {} if pretrained else net
            model = EEGM2Classifier(
                pretrained=source, mode=mode, **settings, **fine, random_state=seed
            )
            return model.fit(X, y, groups=groups)

        return fit

    models: dict[str, Callable[..., Any]] = {
        "EEGM2 (Linear)": linear,
        "EEGM2 (Light)": classifier("light", True),
        "EEGM2 (Fine)": classifier("fine", True),
        "EEGM2 (Scratch)": classifier("fine", False),
        "Log band power + LR": lambda p, X, y, g: log_band_power_pipeline(
            128.0, class_weight="balanced"
        ).fit(X, y),
    }
    tangent = tangent_space_pipeline(class_weight="balanced")
    if tangent is not None:
        models["Riemann tangent space + LR"] = lambda p, X, y, g: clone(tangent).fit(X, y)
    return models


def run_eegmat(
    path: str | Path | None = None,
    *,
    config: str | dict[str, Any] = "cpu",
    n_folds: int = 6,
    window_seconds: float = 2.0,
    subjects: list[int] | None = None,
    random_state: int = 0,
    log: Callable[[str], None] = print,
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
    log : callable
        Receives progress lines.

    Returns
    -------
    dict
        Per-fold and summary scores per model, the settings, and the machine.
    """
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
        tick = time.perf_counter()
        pretrainer = EEGM2Pretrainer(
            **settings["network"], **settings["pretrain"], random_state=random_state
        ).fit(X[train], groups=groups[train])
        # Without a validation split (one training subject) there is no valid_loss.
        loss = "valid_loss" if "valid_loss" in pretrainer.history_[-1] else "train_loss"
        log(
            f"[fold {fold}/{n_folds}] pretrained on {len(train)} unlabelled windows in "
            f"{time.perf_counter() - tick:.0f} s ({len(pretrainer.history_)} epochs, best "
            f"{loss.replace('_', ' ')} {min(pretrainer.history_[:, loss]):.3g})"
        )
        for name, fit in _models(settings, random_state).items():
            tick = time.perf_counter()
            model = fit(pretrainer, X[train], y[train], groups[train])
            scores = _scores(model, X[test], y[test])
            scores["fit_seconds"] = time.perf_counter() - tick
            folds.setdefault(name, []).append(scores)
            log(
                f"[fold {fold}/{n_folds}] {name:28s} balanced accuracy "
                f"{scores['balanced_accuracy']:.3f}  ROC AUC {scores['roc_auc']:.3f}  "
                f"({scores['fit_seconds']:.0f} s)"
            )
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
        [name]
        + [
            f"{m[metric]['mean']:.3f} ± {m[metric]['std']:.3f}"
            for metric in ("balanced_accuracy", "roc_auc")
        ]
        for name, m in results["summary"].items()
    ]
    lines += report.markdown_table(["model", "balanced accuracy", "ROC AUC"], rows)
    lines += [
        "",
        f"Run on {report.machine_summary(results['machine'])}. "
        f"Total time {results['total_seconds'] / 60:.1f} min.",
    ]
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
