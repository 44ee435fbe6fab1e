"""Why is EEGM2 (Fine) at chance on EEGMAT? A diagnosis on the 12 development subjects only.

Subjects 0-11 are split by GroupKFold(3) (train on 8, test on 4), seed 0; subjects 12-35,
the held-out set, are never loaded. In each fold one EEGM2Pretrainer is fitted without
labels with the held-out recipe's pretraining (``CONFIGS["heldout"]``), and EEGM2Classifier
fine-tunes it with the CPU configuration's budget (``CONFIGS["cpu"]["finetune"]``, the one
that scored 0.509 in ``eegmat.json``), then with each model of the rounds in :data:`ROUNDS`, each
declared before its run. For every fit it records what the question asks:

- which epoch early stopping keeps, and the per-epoch training and validation losses;
- the class balance of the predictions on the test subjects (against the true share);
- whether the network fits its training windows at all (balanced accuracy on them).

What the paper's head sees is its network's reconstruction of the window, flattened: the
script measures how close that reconstruction is to the input (R^2) and scores a logistic
regression on it, and on the raw window, beside log band power. The frozen-feature readouts
(logistic and ridge) and subject alignment of the baselines are scored on the same folds.

Models come in rounds, each declared in code before it ran (round 2 after round 1's
results, on these subjects only). Run from the repository root (round 1: 26 minutes on a
machine shared with other jobs)::

    PYTHONPATH=. OMP_NUM_THREADS=1 nice python benchmarks/fine_diagnosis.py 1

It adds the round to ``benchmarks/results/fine_diagnosis.json`` and rewrites ``.md``.
"""

from __future__ import annotations

import argparse
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
#: A model: (network, kind, settings). network: "pretrained" or "untrained" (its twin), on
#: the windows as they are or, with " aligned", on windows aligned per subject (Euclidean
#: alignment with each subject's own windows: transductive) for pretraining and fine-tuning
#: alike. kind: "fine" (EEGM2Classifier, mode="fine", settings over FINETUNE) or "linear"
#: (the frozen features into READOUTS[settings["readout"]]).
Model = tuple[str, str, dict[str, Any]]
#: Round 1: the CPU configuration's Fine beside its Scratch twin, without early stopping,
#: with the pooled head, and the new fine-tuning options on the pooled head; with probes
#: of the head's input, the readouts and the baselines, aligned or not.
ROUND_1: dict[str, Any] = {
    "models": {
        "Fine (paper head)": ("pretrained", "fine", {}),
        "Scratch (paper head)": ("untrained", "fine", {}),
        "Fine (paper head), no early stopping": (
            "pretrained", "fine", {"validation_fraction": 0}
        ),
        "Fine (paper head), 20 epochs, no early stopping": (
            "pretrained", "fine", {"validation_fraction": 0, "max_epochs": 20}
        ),
        "Fine (pooled logvar head)": ("pretrained", "fine", POOLED),
        "Scratch (pooled logvar head)": ("untrained", "fine", POOLED),
        "Fine (pooled), LP-FT: probe 2, warm-up 1, backbone lr / 10": (
            "pretrained", "fine",
            {**POOLED, "probe_epochs": 2, "warmup_epochs": 1, "backbone_lr": FINETUNE["lr"] / 10},
        ),
        "Fine (pooled), augmented": ("pretrained", "fine", {**POOLED, "augment": AUGMENT}),
        **{
            f"EEGM2 (Linear, {readout}{twin})": (network, "linear", {"readout": readout})
            for readout in READOUTS
            for twin, network in (("", "pretrained"), (", untrained", "untrained"))
        },
    },
    "extras": True,
}  # fmt: skip
#: Round 2, declared after round 1: early stopping kept epochs 1 to 5 of the pooled head
#: (one validation subject), so a fixed budget without it; and Euclidean alignment, which
#: raised log band power by 0.06 to 0.13 on every fold, in front of EEGM2.
FIXED = {**POOLED, "max_epochs": 10, "validation_fraction": 0}
ROUND_2: dict[str, Any] = {
    "models": {
        "Fine (pooled), 10 epochs, no early stopping": ("pretrained", "fine", FIXED),
        "Scratch (pooled), 10 epochs, no early stopping": ("untrained", "fine", FIXED),
        "Fine (pooled), aligned (euclidean; transductive)": ("pretrained aligned", "fine", POOLED),
        "Scratch (pooled), aligned (euclidean; transductive)": (
            "untrained aligned", "fine", POOLED
        ),
        "EEGM2 (Linear, logistic), aligned (euclidean; transductive)": (
            "pretrained aligned", "linear", {"readout": "logistic"}
        ),
        "EEGM2 (Linear, logistic, untrained), aligned (euclidean; transductive)": (
            "untrained aligned", "linear", {"readout": "logistic"}
        ),
    },
    "extras": False,
}  # fmt: skip
ROUNDS = {"1": ROUND_1, "2": ROUND_2}


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


def run(declared: dict[str, Any]) -> dict[str, Any]:
    """Fit and score one round's models on the development folds."""
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
        Xtr, ytr, gtr = X[train], y[train], groups[train]
        Xte, yte, gte = X[test], y[test], groups[test]
        windows = {"": (Xtr, Xte)}
        if any(network.endswith("aligned") for network, _, _ in declared["models"].values()):
            alignment = SubjectAlignment().fit(Xtr)
            windows[" aligned"] = (
                alignment.transform(Xtr, groups=gtr),
                alignment.transform(Xte, groups=gte),
            )
        networks: dict[str, EEGM2Pretrainer] = {}
        for variant, (train_windows, _) in windows.items():
            tick = time.perf_counter()
            networks["pretrained" + variant] = EEGM2Pretrainer(
                **NETWORK, **PRETRAIN, random_state=SEED
            ).fit(train_windows, groups=gtr)
            networks["untrained" + variant] = EEGM2Pretrainer(
                **NETWORK, **{**PRETRAIN, "max_epochs": 0, "validation_fraction": 0},
                random_state=SEED,
            ).fit(train_windows)  # fmt: skip
            print(f"[fold {fold}] pretrained{variant} in {time.perf_counter() - tick:.0f} s",
                  flush=True)  # fmt: skip

        if declared["extras"]:
            probes.append(probe_head_input(networks, Xtr, ytr, Xte, yte, gte, fold))

        for name, (network, kind, settings) in declared["models"].items():
            tick = time.perf_counter()
            variant = " aligned" if network.endswith(" aligned") else ""
            train_windows, test_windows = windows[variant]
            source = FrozenEstimator(networks[network])
            if kind == "linear":
                model = make_pipeline(source, READOUTS[settings["readout"]]())
                record(name, fold, model_scores(model.fit(train_windows, ytr), test_windows, yte))
                continue
            model = EEGM2Classifier(
                pretrained=source, mode="fine", **{**FINETUNE, **settings}, random_state=SEED
            ).fit(train_windows, ytr, groups=gtr)
            result = {
                **model_scores(model, test_windows, yte),
                "train_balanced_accuracy": float(
                    balanced_accuracy_score(ytr, model.predict(train_windows))
                ),
                **training_record(model),
                "fit_seconds": time.perf_counter() - tick,
            }
            record(name, fold, result)

        if declared["extras"]:
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
                     "models": declared["models"]},
        "probes": probes,
        "runs": runs,
        "summary": summary,
        "total_seconds": time.perf_counter() - started,
        "machine": machine_info(),
    }  # fmt: skip


def probe_head_input(
    networks: dict[str, EEGM2Pretrainer],
    Xtr: np.ndarray,
    ytr: np.ndarray,
    Xte: np.ndarray,
    yte: np.ndarray,
    gte: np.ndarray,
    fold: int,
) -> dict[str, Any]:
    """What the paper's head sees, the reconstruction: its fidelity, and LR on it flattened."""
    pretrained = networks["pretrained"]

    def flat(windows: np.ndarray) -> np.ndarray:
        return windows.reshape(len(windows), -1)

    probe = {
        "fold": fold,
        "test_subjects": sorted(int(s) for s in np.unique(gte)),
        "true_arithmetic_share": float(np.mean(yte)),
        "reconstruction_r2_pretrained": reconstruction_r2(pretrained, Xte),
        "reconstruction_r2_untrained": reconstruction_r2(networks["untrained"], Xte),
        "lr_on_flattened_reconstruction": model_scores(
            flat_lr().fit(flat(pretrained.reconstruct(Xtr)), ytr),
            flat(pretrained.reconstruct(Xte)), yte,
        ),
        "lr_on_flattened_raw_window": model_scores(flat_lr().fit(flat(Xtr), ytr), flat(Xte), yte),
    }  # fmt: skip
    print(f"[fold {fold}] head's input: R^2 {probe['reconstruction_r2_pretrained']:.3f}; "
          f"LR on it BA {probe['lr_on_flattened_reconstruction']['balanced_accuracy']:.3f}, "
          f"on raw {probe['lr_on_flattened_raw_window']['balanced_accuracy']:.3f}",
          flush=True)  # fmt: skip
    return probe


def markdown(rounds: dict[str, dict[str, Any]]) -> str:
    """Every round's tables: the head's input, then scores, class balance and epochs kept."""
    lines = ["# Why EEGM2 (Fine) is at chance on EEGMAT: diagnosis on the development subjects"]
    for number, results in rounds.items():
        n_folds = len(next(iter(results["runs"].values())))
        minutes = results["total_seconds"] / 60
        lines += ["", f"## Round {number}", "", results["protocol"] + f"; means over the "
                  f"{n_folds} folds. Total time {minutes:.0f} min."]  # fmt: skip
        if results["probes"]:
            lines += [
                "",
                "What the paper's head sees, the reconstruction of the window:",
                "",
                "| fold | test subjects | R^2 of the reconstruction (pretrained / untrained) "
                "| LR on the flattened reconstruction (BA) | LR on the flattened raw window "
                "(BA) |",
                "|---|---|---|---|---|",
            ]
            for p in results["probes"]:
                lines.append(
                    f"| {p['fold']} | {p['test_subjects']} | "
                    f"{p['reconstruction_r2_pretrained']:.3f} / "
                    f"{p['reconstruction_r2_untrained']:.3f} | "
                    f"{p['lr_on_flattened_reconstruction']['balanced_accuracy']:.3f} | "
                    f"{p['lr_on_flattened_raw_window']['balanced_accuracy']:.3f} |"
                )
        lines += [
            "",
            'Predicted arithmetic share: test windows predicted "arithmetic" (the true share '
            "is 0.25 in every fold). Train BA: balanced accuracy on the training windows.",
            "",
            "| model | balanced accuracy (per fold) | ROC AUC | predicted arithmetic share "
            "| train BA | kept epoch per fold (of epochs run) |",
            "|---|---|---|---|---|---|",
        ]
        for name, records in results["runs"].items():
            s = results["summary"][name]
            folds = ", ".join(f"{r['balanced_accuracy']:.3f}" for r in records)
            kept = ", ".join(
                f"{r['kept_epoch']}/{r['epochs_run']}" for r in records if "kept_epoch" in r
            )
            train = f"{s['train_balanced_accuracy']:.3f}" if "train_balanced_accuracy" in s else ""
            lines.append(
                f"| {name} | {s['balanced_accuracy']:.3f} ({folds}) | {s['roc_auc']:.3f} | "
                f"{s['predicted_arithmetic_share']:.2f} | {train} | {kept} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("round", choices=sorted(ROUNDS))
    number = parser.parse_args().round
    torch.set_num_threads(1)
    path = OUT / "fine_diagnosis.json"
    rounds = json.loads(path.read_text())["rounds"] if path.exists() else {}
    rounds[number] = run(ROUNDS[number])
    OUT.mkdir(exist_ok=True)
    path.write_text(json.dumps({"rounds": dict(sorted(rounds.items()))}, indent=1))
    (OUT / "fine_diagnosis.md").write_text(markdown(rounds))
    print(markdown(rounds))


if __name__ == "__main__":
    main()
