"""skorch callbacks: resumable checkpoints, non-finite losses, augmentation of training batches."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, LRScheduler
from skorch.history import History

from ._files import torch_archive
from .distributed import is_main_process, unwrap

CHECKPOINT_FILE = "checkpoint.pt"


def _plain(value: Any) -> Any:
    """Numpy scalars as Python numbers, so the checkpoint loads with ``weights_only=True``."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class StopOnNonFiniteLoss(Callback):
    """Stop at the first NaN or infinite training loss and put back the last good weights.

    The weights at the start of each epoch are kept; a non-finite loss restores them (so
    nothing downstream, such as a checkpoint, ever sees NaN weights) and raises
    :class:`NonFiniteLossError` naming the epoch, the batch and the likely causes. Others
    that stop an epoch midway restore them with :meth:`rewind`.
    """

    def initialize(self) -> StopOnNonFiniteLoss:
        self.good_weights_: dict[str, torch.Tensor] = {}
        self.batch_ = 0
        return self

    def rewind(self, net: NeuralNet) -> None:
        """Put back the weights of ``net`` at the start of the current epoch, if one began."""
        if self.good_weights_:
            net.module_.load_state_dict(self.good_weights_)

    def on_epoch_begin(self, net: NeuralNet, **kwargs: Any) -> None:
        self.good_weights_ = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
        self.batch_ = 0

    def on_train_end(self, net: NeuralNet, **kwargs: Any) -> None:
        self.good_weights_ = {}  # no copy of the weights in pickles of the fitted net

    def on_batch_end(
        self, net: NeuralNet, batch: Any = None, training: bool = False, **kwargs: Any
    ) -> None:
        if not training:
            return
        self.batch_ += 1
        loss = kwargs.get("loss")
        if loss is not None and not torch.isfinite(loss).all():
            self.rewind(net)
            epoch = len(net.history)
            raise NonFiniteLossError(
                f"The training loss became {loss.item()} in epoch {epoch}, batch {self.batch_}. "
                f"The weights from the start of epoch {epoch} were restored. Likely causes: a "
                f"learning rate too high (lr={net.lr}), input far from unit scale (microvolts "
                "without scaling: use scaling='window' or 'global'), or corrupt windows "
                "(flat or saturated channels)."
            )


class AugmentBatches(Callback):
    """Transform the windows of each training batch (never validation or inference batches).

    The batch's windows are replaced in place, before the training step sees them, by
    ``augmentation(windows, generator)``; the windows the DataLoader stacked for the batch
    are a copy, so the training data stay as they are. The generator is the callback's own,
    seeded by ``seed``: shuffling and dropout draw the same numbers with and without
    augmentation, and :class:`TrainingCheckpoint` saves and restores its state.

    Parameters
    ----------
    augmentation : callable
        ``(windows, generator) -> windows`` on a (batch, channels, time) CPU tensor, e.g. a
        :class:`sk_eegm2.nn.augment.Compose`.
    seed : int
        Seed of the generator, set at every ``initialize`` (every ``fit``).
    """

    def __init__(
        self, augmentation: Callable[[torch.Tensor, torch.Generator], torch.Tensor], seed: int
    ) -> None:
        self.augmentation = augmentation
        self.seed = seed

    def initialize(self) -> AugmentBatches:
        self.generator_ = torch.Generator().manual_seed(self.seed)
        return self

    def on_batch_begin(
        self, net: NeuralNet, batch: Any = None, training: bool = False, **kwargs: Any
    ) -> None:
        if training:
            windows = batch[0]
            windows.copy_(self.augmentation(windows, self.generator_))


class TrainingCheckpoint(Callback):
    """After each epoch, write all that resuming needs; with ``resume``, start from it.

    The file holds the network, the optimizer, the learning-rate schedule, early stopping's
    state, the history and the random number generators (the CPU's, CUDA's where CUDA is in
    use, and that of :class:`AugmentBatches`), so a resumed run continues exactly where the
    last complete epoch ended, on the same device. It is written to a temporary file of a
    unique name and renamed, so a kill mid-write leaves the previous checkpoint intact and
    processes writing into one folder do not trip over each other's files. In a distributed
    run, process 0 writes it and every process reads it (``directory`` must be on a file
    system they all see); weights are stored without the DistributedDataParallel wrapper, so
    a run may resume on another number of processes. Place it after the
    :class:`~skorch.callbacks.LRScheduler`, :class:`~skorch.callbacks.EarlyStopping` and
    :class:`AugmentBatches` callbacks, whose state it restores.

    Parameters
    ----------
    directory : str or Path
        Where ``checkpoint.pt`` lives.
    resume : bool
        Restore the checkpoint (if there is one) when training begins.
    fingerprint : str or None
        What identifies the run (settings, initial weights, data), stored with every
        checkpoint; resuming from a checkpoint of another fingerprint raises ValueError.
        None: not checked.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        resume: bool = False,
        fingerprint: str | None = None,
    ) -> None:
        self.directory = directory
        self.resume = resume
        self.fingerprint = fingerprint

    @property
    def path(self) -> Path:
        return Path(self.directory) / CHECKPOINT_FILE

    def completed_epochs(self) -> int:
        """Epochs in the checkpoint that ``resume`` would continue from (0 if none)."""
        if not (self.resume and self.path.exists()):
            return 0
        return len(self._load()["history"])

    def _load(self) -> dict[str, Any]:
        try:
            checkpoint = torch_archive(self.path, "training checkpoint")
            state = torch.load(checkpoint, weights_only=True, mmap=True)
        except Exception as error:  # a partial file cannot exist: writes are atomic
            raise ValueError(f"Cannot read the checkpoint {self.path}: {error}") from error
        if self.fingerprint is not None and state.get("fingerprint") != self.fingerprint:
            raise ValueError(
                f"The checkpoint {self.path} comes from another run (other settings, "
                "initial weights or data), so resume=True cannot continue it. Give each run "
                "its own checkpoint_dir (in cross-validation, one per fold), or fit with "
                "resume=False to start over."
            )
        return state

    def on_train_begin(self, net: NeuralNet, **kwargs: Any) -> None:
        if not (self.resume and self.path.exists()):
            return
        state = self._load()
        unwrap(net.module_).load_state_dict(state["module"])
        net.optimizer_.load_state_dict(state["optimizer"])
        net.history = History(state["history"])
        for _, callback in net.callbacks_:
            if isinstance(callback, LRScheduler) and "scheduler" in state:
                callback.lr_scheduler_.load_state_dict(state["scheduler"])
                callback.batch_idx_ = state["scheduler_batch_idx"]
            elif isinstance(callback, AugmentBatches) and "augment_rng" in state:
                callback.generator_.set_state(state["augment_rng"])
            elif isinstance(callback, EarlyStopping) and "early_stopping" in state:
                for name, value in state["early_stopping"].items():
                    setattr(callback, name, value)
                if callback.best_model_weights_ is not None:  # keys as the module names them
                    callback.best_model_weights_ = {
                        _prefix(net) + k: v for k, v in callback.best_model_weights_.items()
                    }
        torch.set_rng_state(state["rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    def on_epoch_end(self, net: NeuralNet, **kwargs: Any) -> None:
        if not is_main_process():
            return
        state: dict[str, Any] = {
            "module": unwrap(net.module_).state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "history": _plain(net.history.to_list()),
            "rng": torch.get_rng_state(),
            "fingerprint": self.fingerprint,
        }
        if torch.cuda.is_initialized():  # dropout and shuffling on the GPU draw from these
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        for _, callback in net.callbacks_:
            if isinstance(callback, LRScheduler):
                state["scheduler"] = callback.lr_scheduler_.state_dict()
                state["scheduler_batch_idx"] = callback.batch_idx_
            elif isinstance(callback, AugmentBatches):
                state["augment_rng"] = callback.generator_.get_state()
            elif isinstance(callback, EarlyStopping):
                state["early_stopping"] = {
                    name: _plain(getattr(callback, name))
                    for name in ("misses_", "dynamic_threshold_", "best_epoch_")
                }
                best = callback.best_model_weights_
                if best is not None:
                    best = {k.removeprefix(_prefix(net)): v for k, v in best.items()}
                state["early_stopping"]["best_model_weights_"] = best
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{CHECKPOINT_FILE}.", suffix=".partial"
        )
        try:
            with os.fdopen(handle, "wb") as file:
                torch.save(state, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, self.path)  # atomic: readers see the old or the new file
        except BaseException:
            os.unlink(partial)
            raise


def _prefix(net: NeuralNet) -> str:
    """What DistributedDataParallel puts before the network's parameter names."""
    return "" if unwrap(net.module_) is net.module_ else "module."
