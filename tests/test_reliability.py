"""Interrupted training loses nothing; bad losses stop cleanly; inference memory is bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, cross_validate

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2._training import TrainingInterrupted
from sk_eegm2.callbacks import NonFiniteLossError, TrainingCheckpoint
from sk_eegm2.classifier import ClassifierNet
from sk_eegm2.pretrainer import ReconstructionNet

TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def data(n=96, n_chans=3, n_times=32):
    return np.random.default_rng(0).standard_normal((n, n_chans, n_times)).astype(np.float32)


def weights(estimator):
    return {k: v.detach().cpu().clone() for k, v in estimator.net_.module_.state_dict().items()}


# A child process pretrains with checkpoints; after writing the checkpoint of epoch 3 it
# pauses, so the parent can kill it at a known point: mid-training, between two epochs.
CHILD = """
import sys, time, numpy as np, torch
torch.set_num_threads(1)
from sk_eegm2 import EEGM2Pretrainer
from sk_eegm2.callbacks import TrainingCheckpoint
save = TrainingCheckpoint.on_epoch_end
def save_then_pause(self, net, **kwargs):
    save(self, net, **kwargs)
    if len(net.history) == 3:
        print("checkpointed", flush=True)
        time.sleep(60)
TrainingCheckpoint.on_epoch_end = save_then_pause
X = np.random.default_rng(0).standard_normal((96, 3, 32)).astype(np.float32)
EEGM2Pretrainer(widths=(4, 8), d_state=4, expand=2, headdim=4, chunk_size=16, max_epochs=6,
                patience=None, random_state=0, checkpoint_dir=sys.argv[1]).fit(X)
"""


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    settings = {**TINY, "max_epochs": 6, "patience": None, "random_state": 0}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "checkpointed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    checkpoint = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert len(checkpoint["history"]) == 3

    resumed = EEGM2Pretrainer(**settings, checkpoint_dir=str(tmp_path), resume=True).fit(data())
    assert [row["epoch"] for row in resumed.history_] == [1, 2, 3, 4, 5, 6]
    uninterrupted = EEGM2Pretrainer(**settings).fit(data())
    for key, value in weights(uninterrupted).items():
        assert torch.equal(value, weights(resumed)[key]), key
    np.testing.assert_array_equal(resumed.transform(data()), uninterrupted.transform(data()))


def test_resume_without_a_checkpoint_starts_from_scratch(tmp_path):
    fresh = EEGM2Pretrainer(**TINY, max_epochs=2, random_state=0)
    resumed = EEGM2Pretrainer(
        **TINY, max_epochs=2, random_state=0, checkpoint_dir=str(tmp_path), resume=True
    )
    a, b = weights(fresh.fit(data())), weights(resumed.fit(data()))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "checkpoint.pt").exists()


def test_resume_after_early_stopping_keeps_the_best_epoch(tmp_path):
    X = data()
    settings = {**TINY, "max_epochs": 8, "patience": 1, "lr": 5e-2, "random_state": 3}
    first = EEGM2Pretrainer(**settings, checkpoint_dir=str(tmp_path)).fit(X)
    again = EEGM2Pretrainer(**settings, checkpoint_dir=str(tmp_path), resume=True).fit(X)
    for key, value in weights(first).items():
        assert torch.equal(value, weights(again)[key])


def test_a_crash_while_writing_leaves_the_last_checkpoint_intact(tmp_path, monkeypatch):
    X = data()
    EEGM2Pretrainer(**TINY, max_epochs=2, random_state=0, checkpoint_dir=str(tmp_path)).fit(X)
    before = (tmp_path / "checkpoint.pt").read_bytes()

    def crash(obj, handle, *args, **kwargs):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        EEGM2Pretrainer(**TINY, max_epochs=2, checkpoint_dir=str(tmp_path)).fit(X)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def interrupt_in_epoch(monkeypatch, net_class, epoch):
    """Make training of ``net_class`` raise KeyboardInterrupt in its ``epoch``-th epoch."""
    run_epoch = net_class.run_single_epoch
    epochs = []

    def interrupting(self, iterator, training, *args, **kwargs):
        if training:
            epochs.append(1)
            if len(epochs) == epoch:
                raise KeyboardInterrupt
        return run_epoch(self, iterator, training, *args, **kwargs)

    monkeypatch.setattr(net_class, "run_single_epoch", interrupting)


def test_ctrl_c_stops_training_and_leaves_a_usable_estimator(monkeypatch):
    interrupt_in_epoch(monkeypatch, ReconstructionNet, 3)
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=10, random_state=0)
    with pytest.raises(TrainingInterrupted, match=r"in epoch 3; .* last complete epoch"):
        pretrainer.fit(data())
    assert len(pretrainer.history_) == len(pretrainer.history_[:, "valid_loss"]) == 2
    features = pretrainer.transform(data())
    assert np.isfinite(features).all()


@pytest.mark.parametrize("estimator", [EEGM2Pretrainer, EEGM2Classifier])
def test_ctrl_c_in_the_first_epoch_of_a_refit_keeps_the_previous_model(estimator, monkeypatch):
    """Fault 1: the fitted model was replaced by an untrained one that counted as fitted."""
    X, y = data(48), np.arange(48) % 2
    model = estimator(**TINY, max_epochs=2, random_state=0).fit(X, y)
    before = {k: v for k, v in vars(model).items() if k.endswith("_")}
    previous = weights(model)
    interrupt_in_epoch(monkeypatch, model._net_class, 1)
    with pytest.raises(KeyboardInterrupt, match="no epoch was complete"):
        model.set_params(random_state=1).fit(X * 2, y)
    after = {k: v for k, v in vars(model).items() if k.endswith("_")}
    assert after.keys() == before.keys() and all(after[k] is before[k] for k in before)
    assert all(torch.equal(previous[k], v) for k, v in weights(model).items())


def test_ctrl_c_in_the_first_epoch_of_a_first_fit_leaves_the_estimator_unfitted(monkeypatch):
    """Fault 1: a first fit interrupted before any complete epoch left net_ set."""
    interrupt_in_epoch(monkeypatch, ReconstructionNet, 1)
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=3, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        pretrainer.fit(data())
    assert not [name for name in vars(pretrainer) if name.endswith("_")]


def test_ctrl_c_while_a_classifier_pretrains_leaves_the_classifier_unfitted(monkeypatch):
    interrupt_in_epoch(monkeypatch, ReconstructionNet, 2)
    X, y = data(48), np.arange(48) % 2
    clf = EEGM2Classifier(pretrained=EEGM2Pretrainer(**TINY, max_epochs=3), max_epochs=1)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert not [name for name in vars(clf) if name.endswith("_")]


@pytest.mark.parametrize("search", ["cross_validate", "grid_search"])
def test_ctrl_c_stops_a_whole_cross_validation_or_search(monkeypatch, search):
    """Fault 1: skorch swallowed Ctrl-C, so only the fold stopped and the run went on."""
    interrupt_in_epoch(monkeypatch, ClassifierNet, 1)
    X, y = data(48), np.arange(48) % 2
    clf = EEGM2Classifier(**TINY, max_epochs=2, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        if search == "cross_validate":
            cross_validate(clf, X, y, cv=3)
        else:
            GridSearchCV(clf, {"lr": [1e-4, 1e-3]}, cv=2).fit(X, y)


def non_finite_loss_in_epoch(monkeypatch, net_class, epoch):
    """Make the loss of ``net_class`` NaN from its ``epoch``-th epoch on."""
    get_loss = net_class.get_loss

    def poisoned(self, *args, **kwargs):
        loss = get_loss(self, *args, **kwargs)
        return loss * float("nan") if len(self.history) >= epoch else loss

    monkeypatch.setattr(net_class, "get_loss", poisoned)


@pytest.mark.parametrize("estimator", [EEGM2Pretrainer, EEGM2Classifier])
def test_non_finite_loss_stops_with_a_clear_error_and_good_weights(
    estimator, tmp_path, monkeypatch
):
    model = estimator(**TINY, max_epochs=5, random_state=0, checkpoint_dir=str(tmp_path))
    non_finite_loss_in_epoch(monkeypatch, model._net_class, 2)
    labels = np.arange(96) % 2  # ignored by the pretrainer
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, batch 1\b.*learning rate"):
        model.fit(data(), labels)
    assert len(model.history_) == 1  # the complete epoch
    for value in weights(model).values():
        assert torch.isfinite(value).all()
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["module"]  # epoch 1's
    assert all(torch.isfinite(v).all() for v in saved.values())


@pytest.mark.parametrize("estimator", [EEGM2Pretrainer, EEGM2Classifier])
def test_non_finite_loss_in_the_first_epoch_leaves_the_estimator_unfitted(estimator):
    model = estimator(**TINY, max_epochs=5, lr=1e25, scaling=None, random_state=0)
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, batch \d+.*learning rate"):
        model.fit(data() * 1e3, np.arange(96) % 2)
    assert not [name for name in vars(model) if name.endswith("_")]


def test_checkpoint_callback_reports_completed_epochs(tmp_path):
    EEGM2Pretrainer(**TINY, max_epochs=3, checkpoint_dir=str(tmp_path)).fit(data())
    assert TrainingCheckpoint(tmp_path, resume=True).completed_epochs() == 3
    assert TrainingCheckpoint(tmp_path, resume=False).completed_epochs() == 0


# The peak is Linux's VmHWM, reset just before transform: ru_maxrss would not do, as a child
# started with subprocess inherits in it its parent's peak, which can hide its own.
MEMORY = """
import numpy as np, torch
torch.set_num_threads(1)
from sk_eegm2 import EEGM2Pretrainer

def status_mb(key):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(key)) / 1024

rng = np.random.default_rng(0)
fit = EEGM2Pretrainer(widths=(8, 16), d_state=4, expand=2, headdim=4, chunk_size=16,
                      max_epochs=1, batch_size=32).fit(rng.standard_normal((64, 19, 128)))
X = rng.standard_normal((20_000, 19, 128), dtype=np.float32)  # 186 MB
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak (VmHWM) starts again from the current size
before = status_mb("VmRSS:")
features = fit.transform(X)
print(status_mb("VmHWM:") - before, X.nbytes / 2**20, features.shape[0])
"""


@pytest.mark.slow
@pytest.mark.skipif(
    not os.path.exists("/proc/self/clear_refs"), reason="measures peak memory through Linux's /proc"
)
def test_transforming_20000_windows_keeps_memory_bounded_by_the_batch():
    out = subprocess.run(
        [sys.executable, "-c", MEMORY], check=True, capture_output=True, text=True, env=ENV
    ).stdout.split()
    growth_mb, input_mb, n = float(out[0]), float(out[1]), int(out[2])
    assert n == 20_000
    # A batch of 32 windows needs a few MB of activations; converting or scaling the whole
    # input at once would add another 186 MB, and running it as one batch many GB.
    assert growth_mb < 0.3 * input_mb, (growth_mb, input_mb)


def test_early_stopping_is_no_interruption():
    """skorch's early stopping raises KeyboardInterrupt inside; fit must end normally."""
    X, y = data(48), np.arange(48) % 2
    clf = EEGM2Classifier(**TINY, lr=1e-9, patience=1, max_epochs=20, random_state=0).fit(X, y)
    assert len(clf.history_) < 20


# ------------------------------------------------------------ checkpoints tied to their run
def test_resume_refuses_a_checkpoint_of_other_data_or_settings(tmp_path):
    """Fault 2: a checkpoint resumed whatever data and settings it came from."""
    settings = {**TINY, "max_epochs": 2, "random_state": 0, "checkpoint_dir": str(tmp_path)}
    EEGM2Pretrainer(**settings).fit(data())
    other_data = data() + 1.0
    with pytest.raises(ValueError, match="another run"):
        EEGM2Pretrainer(**settings, resume=True).fit(other_data)
    with pytest.raises(ValueError, match="another run"):
        EEGM2Pretrainer(**{**settings, "lr": 1e-3}, resume=True).fit(data())
    # What changes no result (verbosity, the folder's spelling) still resumes.
    resumed = EEGM2Pretrainer(**settings, resume=True, verbose=0).fit(data())
    assert len(resumed.history_) == 2


def test_cross_validation_with_one_checkpoint_dir_does_not_share_networks(tmp_path):
    """Fault 2: every fold resumed fold 1's network, trained on other folds' test windows."""
    X, y = data(48), np.arange(48) % 2
    clf = EEGM2Classifier(
        **TINY, max_epochs=1, random_state=0, checkpoint_dir=str(tmp_path), resume=True
    )
    with pytest.raises(ValueError, match="one per fold"):
        cross_validate(clf, X, y, cv=2, error_score="raise")


def test_two_writers_in_one_checkpoint_dir_do_not_collide(tmp_path, monkeypatch):
    """Faults 2 and 10: a shared temporary name made the second writer's rename fail."""
    save, nets = torch.save, []
    write_epoch = TrainingCheckpoint.on_epoch_end

    def remember_net(self, net, **kwargs):
        nets.append(net)
        write_epoch(self, net, **kwargs)

    def save_while_another_process_saves(obj, handle, *args, **kwargs):
        save(obj, handle, *args, **kwargs)
        if len(nets) == 1:  # the other writer starts and ends while this one writes
            nets.append(None)
            write_epoch(TrainingCheckpoint(tmp_path), nets[0])

    monkeypatch.setattr(TrainingCheckpoint, "on_epoch_end", remember_net)
    monkeypatch.setattr(torch, "save", save_while_another_process_saves)
    EEGM2Pretrainer(**TINY, max_epochs=1, checkpoint_dir=str(tmp_path)).fit(data())
    assert (tmp_path / "checkpoint.pt").exists()
    assert not list(tmp_path.glob("*.partial"))


def test_a_checkpoint_dir_that_is_a_file_is_refused_before_training(tmp_path, monkeypatch):
    path = tmp_path / "file"
    path.write_text("not a folder")
    monkeypatch.setattr(ReconstructionNet, "fit", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match="is a file"):
        EEGM2Pretrainer(**TINY, max_epochs=1, checkpoint_dir=str(path)).fit(data())


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_checkpoint_dir_is_refused_before_training(tmp_path, monkeypatch):
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o500)
    monkeypatch.setattr(ReconstructionNet, "fit", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match="cannot hold checkpoints"):
        EEGM2Pretrainer(**TINY, max_epochs=1, checkpoint_dir=str(folder)).fit(data())


def test_the_cuda_random_state_is_checkpointed_and_restored(tmp_path, monkeypatch):
    """Fault 11: only the CPU random state was saved, so CUDA dropout would not resume."""
    net = EEGM2Pretrainer(**TINY, max_epochs=1).fit(data()).net_
    cuda_state = [torch.arange(16, dtype=torch.uint8)]
    restored = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: cuda_state)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    checkpoint = TrainingCheckpoint(tmp_path / "cuda", resume=True)
    checkpoint.on_epoch_end(net)
    saved = torch.load(checkpoint.path, weights_only=True)
    assert torch.equal(saved["cuda_rng"][0], cuda_state[0])
    checkpoint.on_train_begin(net)
    assert len(restored) == 1 and torch.equal(restored[0][0], cuda_state[0])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_resume_on_cuda_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    """Dropout of the light head draws from CUDA's random state, which resuming restores."""
    X, y = data(48), np.arange(48) % 2
    settings = {**TINY, "mode": "light", "max_epochs": 4, "patience": None, "random_state": 0,
                "device": "cuda", "checkpoint_dir": str(tmp_path)}  # fmt: skip
    uninterrupted = EEGM2Classifier(**{**settings, "checkpoint_dir": None}).fit(X, y)
    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, ClassifierNet, 3)
        with pytest.raises(KeyboardInterrupt):
            EEGM2Classifier(**settings).fit(X, y)
    resumed = EEGM2Classifier(**settings, resume=True).fit(X, y)
    for key, value in weights(uninterrupted).items():
        assert torch.equal(value, weights(resumed)[key]), key
