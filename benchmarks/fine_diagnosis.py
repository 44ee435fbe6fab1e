"""Why is EEGM2 (Fine) at chance on EEGMAT? A diagnosis on the 12 development subjects only.

Subjects 0-11 are split by GroupKFold(3) (train on 8, test on 4), seed 0; subjects 12-35,
the held-out set, are never loaded. In each fold one EEGM2Pretrainer is fitted without
labels with the held-out recipe's pretraining (``CONFIGS["heldout"]``), and EEGM2Classifier
fine-tunes it with the CPU configuration's budget (``CONFIGS["cpu"]["finetune"]``, the one
that scored 0.509 in ``eegmat.json``), then with each variant declared in :data:`VARIANTS`
before any run. For every fit it records what the question asks:

- which epoch early stopping keeps, and the per-epoch training and validation losses;
- the class balance of the predictions on the test subjects (against the true share);
- whether the network fits its training windows at all (balanced accuracy on them).

What the paper's head sees is its network's reconstruction of the window, flattened: the
script measures how close that reconstruction is to the input (R^2) and scores a logistic
regression on it, and on the raw window, beside log band power. The frozen-feature readouts
(logistic and ridge) and subject alignment of the baselines are scored on the same folds.

Run from the repository root (about 20 minutes on one free core)::

    OMP_NUM_THREADS=1 nice python benchmarks/fine_diagnosis.py

It writes ``benchmarks/results/fine_diagnosis.json`` and ``.md``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer, SubjectAlignment
from sk_eegm2.baselines import log_band_power_pipeline, raw_window_pipeline
from sk_eegm2.benchmark import CONFIGS, HELDOUT, READOUTS
from sk_eegm2.datasets import load_eegmat
from sk_eegm2.report import machine_info

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "eegmat"
OUT = Path(__file__).resolve().parent / "results"
DEV_SUBJECTS = HELDOUT["dev_subjects"]
N_FOLDS = 3
SEED = 0
NETWORK = CONFIGS["heldout"]["network"]
PRETRAIN = CONFIGS["heldout"]["pretrain"]
FINETUNE = CONFIGS["cpu"]["finetune"]
POOLED = {"head": "pooled", "head_features": "logvar"}
AUGMENT = {"shift": 0.1, "scale": 0.2, "noise": 0.1, "channel_dropout": 0.1}
#: Fine-tuning variants, each on the pretrained network and, where named "Scratch", on its
#: untrained twin; settings over FINETUNE.
VARIANTS: dict[str, tuple[bool, dict[str, Any]]] = {
    "Fine (paper head)": (True, {}),
    "Scratch (paper head)": (False, {}),
    "Fine (paper head), no early stopping": (True, {"validation_fraction": 0}),
    "Fine (paper head), 20 epochs, no early stopping": (
        True,
        {"validation_fraction": 0, "max_epochs": 20},
    ),
    "Fine (pooled logvar head)": (True, POOLED),
    "Scratch (pooled logvar head)": (False, POOLED),
    "Fine (pooled), LP-FT: probe 2, warm-up 1, backbone lr / 10": (
        True,
        {**POOLED, "probe_epochs": 2, "warmup_epochs": 1, "backbone_lr": FINETUNE["lr"] / 10},
    ),
    "Fine (pooled), augmented": (True, {**POOLED, "augment": AUGMENT}),
}


def binary_scores(y: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, float]:
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y, score > threshold)),
        "roc_auc": float(roc_auc_score(y, score)),
        "predicted_arithmetic_share": float(np.mean(score > threshold)),
    }


def model_scores(model: Any, X: np.ndarray, y: np.ndarray, **routed: Any) -> dict[str, float]:
    if hasattr(model, "predict_proba"):
        return binary_scores(y, model.predict_proba(X, **routed)[:, 1], 0.5)
    return binary_scores(y, model.decision_function(X, **routed), 0.0)


def training_record(model: EEGM2Classifier) -> dict[str, Any]:
    """Per-epoch losses and the epoch whose weights the model kept."""
    history = model.history_
    record: dict[str, Any] = {
        "epochs_run": len(history),
        "train_loss": [float(v) for v in history[:, "train_loss"]],
    }
    if "valid_loss" in history[-1]:
        valid = [float(v) for v in history[:, "valid_loss"]]
        record["valid_loss"] = valid
        record["valid_acc"] = [float(v) for v in history[:, "valid_acc"]]
        record["kept_epoch"] = int(np.argmin(valid)) + 1  # EarlyStopping(load_best=True)
    else:
        record["kept_epoch"] = len(history)
    return record


def reconstruction_r2(pretrainer: EEGM2Pretrainer, X: np.ndarray) -> float:
    """1 - residual energy / energy of the windows (each channel's mean removed)."""
    residual = pretrainer.reconstruct(X) - X
    centred = X - X.mean(axis=-1, keepdims=True)
    return float(1 - np.sum(residual**2) / np.sum(centred**2))


def flat_lr() -> Any:
    return make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced")
    )


def run() -> dict[str, Any]:
    started = time.perf_counter()
    X, y, groups = load_eegmat(
        DEV_SUBJECTS, path=DATA, window_seconds=HELDOUT["window_seconds"],
        return_epochs=False, verbose=False,
    )  # fmt: skip
    runs: dict[str, list[dict[str, Any]]] = {}
    probes: list[dict[str, Any]] = []

    def record(name: str, fold: int, result: dict[str, Any]) -> None:
        runs.setdefault(name, []).append({"fold": fold, **result})
        kept = (
            f" kept epoch {result['kept_epoch']}/{result['epochs_run']}"
            if "kept_epoch" in result
            else ""
        )
        print(f"[fold {fold}] {name:60s} BA {result['balanced_accuracy']:.3f} "
              f"AUC {result['roc_auc']:.3f} predicted arithmetic "
              f"{result['predicted_arithmetic_share']:.2f}{kept}", flush=True)  # fmt: skip

    for fold, (train, test) in enumerate(GroupKFold(N_FOLDS).split(X, y, groups)):
        Xtr, ytr, gtr, Xte, yte, gte = (
            X[train],
            y[train],
            groups[train],
            X[test],
            y[test],
            groups[test],
        )
        tick = time.perf_counter()
        pretrained = EEGM2Pretrainer(**NETWORK, **PRETRAIN, random_state=SEED).fit(Xtr, groups=gtr)
        untrained = EEGM2Pretrainer(
            **NETWORK, **{**PRETRAIN, "max_epochs": 0, "validation_fraction": 0},
            random_state=SEED,
        ).fit(Xtr)  # fmt: skip
        print(f"[fold {fold}] pretrained in {time.perf_counter() - tick:.0f} s", flush=True)

        # What the paper's head sees: the reconstruction, flattened.
        seen = pretrained.reconstruct(Xte)
        seen_train = pretrained.reconstruct(Xtr)
        probe = {
            "fold": fold,
            "test_subjects": sorted(int(s) for s in np.unique(gte)),
            "true_arithmetic_share": float(np.mean(yte)),
            "reconstruction_r2_pretrained": reconstruction_r2(pretrained, Xte),
            "reconstruction_r2_untrained": reconstruction_r2(untrained, Xte),
        }
        flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
        probe["lr_on_flattened_reconstruction"] = model_scores(
            flat_lr().fit(flat(seen_train), ytr), flat(seen), yte
        )
        probe["lr_on_flattened_raw_window"] = model_scores(
            flat_lr().fit(flat(Xtr), ytr), flat(Xte), yte
        )
        probes.append(probe)
        print(f"[fold {fold}] head's input: R^2 {probe['reconstruction_r2_pretrained']:.3f}; "
              f"LR on it BA {probe['lr_on_flattened_reconstruction']['balanced_accuracy']:.3f}, "
              f"on raw {probe['lr_on_flattened_raw_window']['balanced_accuracy']:.3f}",
              flush=True)  # fmt: skip

        for name, (use_pretrained, change) in VARIANTS.items():
            tick = time.perf_counter()
            source = FrozenEstimator(pretrained if use_pretrained else untrained)
            model = EEGM2Classifier(
                pretrained=source, mode="fine", **{**FINETUNE, **change}, random_state=SEED
            ).fit(Xtr, ytr, groups=gtr)
            result = {
                **model_scores(model, Xte, yte),
                "train_balanced_accuracy": float(balanced_accuracy_score(ytr, model.predict(Xtr))),
                **training_record(model),
                "fit_seconds": time.perf_counter() - tick,
            }
            record(name, fold, result)

        for readout, make in READOUTS.items():
            for twin, encoder in (("", pretrained), (", untrained", untrained)):
                model = make_pipeline(FrozenEstimator(encoder), make()).fit(Xtr, ytr)
                record(f"EEGM2 (Linear, {readout}{twin})", fold, model_scores(model, Xte, yte))
        baselines = {
            "Log band power + LR": log_band_power_pipeline(128.0, class_weight="balanced"),
            "LR on raw windows (16 Hz)": raw_window_pipeline(8, class_weight="balanced"),
        }
        for name, baseline in baselines.items():
            record(name, fold, model_scores(baseline.fit(Xtr, ytr), Xte, yte))
            for method in ("euclidean", "standardize"):
                with sklearn.config_context(enable_metadata_routing=True):
                    aligned = make_pipeline(
                        SubjectAlignment(method=method), sklearn.clone(baseline)
                    )
                    aligned.fit(Xtr, ytr, groups=gtr)
                    result = model_scores(aligned, Xte, yte, groups=gte)
                record(f"{name}, aligned ({method}; transductive)", fold, result)

    summary = {
        name: {
            key: float(np.mean([r[key] for r in records]))
            for key in records[0]
            if key != "fold" and isinstance(records[0][key], (int, float))
        }
        for name, records in runs.items()
    }
    return {
        "protocol": (
            f"EEGMAT development subjects {DEV_SUBJECTS[0]}-{DEV_SUBJECTS[-1]} only, "
            f"GroupKFold({N_FOLDS}) by subject, seed {SEED}, "
            f"{HELDOUT['window_seconds']:g} s windows"
        ),
        "settings": {"network": NETWORK, "pretrain": PRETRAIN, "finetune": FINETUNE,
                     "variants": {k: v[1] for k, v in VARIANTS.items()}},
        "probes": probes,
        "runs": runs,
        "summary": summary,
        "total_seconds": time.perf_counter() - started,
        "machine": machine_info(),
    }  # fmt: skip


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Why EEGM2 (Fine) is at chance on EEGMAT: diagnosis on the development subjects",
        "",
        results["protocol"] + f". Means over the {len(results['probes'])} folds.",
        "",
        "## What the paper's head sees: the reconstruction of the window",
        "",
        "| fold | test subjects | R^2 of the reconstruction (pretrained / untrained) | "
        "LR on the flattened reconstruction (BA) | LR on the flattened raw window (BA) |",
        "|---|---|---|---|---|",
    ]
    for p in results["probes"]:
        lines.append(
            f"| {p['fold']} | {p['test_subjects']} | {p['reconstruction_r2_pretrained']:.3f} / "
            f"{p['reconstruction_r2_untrained']:.3f} | "
            f"{p['lr_on_flattened_reconstruction']['balanced_accuracy']:.3f} | "
            f"{p['lr_on_flattened_raw_window']['balanced_accuracy']:.3f} |"
        )
    lines += [
        "",
        "## Fine-tuning: scores, class balance of the predictions, epoch kept",
        "",
        'Predicted arithmetic share: windows of the test subjects predicted "arithmetic" '
        f"(true share {np.mean([p['true_arithmetic_share'] for p in results['probes']]):.2f}).",
        "",
        "| model | balanced accuracy | ROC AUC | predicted arithmetic share | train BA | "
        "kept epoch per fold (of epochs run) |",
        "|---|---|---|---|---|---|",
    ]
    for name, records in results["runs"].items():
        s = results["summary"][name]
        kept = ", ".join(
            f"{r['kept_epoch']}/{r['epochs_run']}" for r in records if "kept_epoch" in r
        )
        train = f"{s['train_balanced_accuracy']:.3f}" if "train_balanced_accuracy" in s else ""
        lines.append(
            f"| {name} | {s['balanced_accuracy']:.3f} | {s['roc_auc']:.3f} | "
            f"{s['predicted_arithmetic_share']:.2f} | {train} | {kept} |"
        )
    lines += ["", f"Total time {results['total_seconds'] / 60:.0f} min."]
    return "\n".join(lines) + "\n"


def main() -> None:
    torch.set_num_threads(1)
    results = run()
    OUT.mkdir(exist_ok=True)
    (OUT / "fine_diagnosis.json").write_text(json.dumps(results, indent=1))
    (OUT / "fine_diagnosis.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
