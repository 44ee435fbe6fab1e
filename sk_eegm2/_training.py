"""Training: seeds, validation split, the skorch loop with its callbacks, resuming.

Functions here take values and return values. :func:`train` trains a network on data
under a :class:`TrainingPlan` (the loop's settings) and a
:class:`~sk_eegm2.nn.compute.Compute` (how the network runs), and returns what it trained
as a :class:`Trained`; it never sees an estimator: a run stopped by Ctrl-C or a non-finite
loss raises :class:`TrainingStopped`, which carries what was trained until then: the
estimator's ``fit`` decides what it keeps.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from sklearn.model_selection import (
    GroupShuffleSplit,
    ShuffleSplit,
    StratifiedGroupKFold,
    StratifiedShuffleSplit,
)
from sklearn.utils import check_random_state
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, GradientNormClipping, ProgressBar
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from skorch.history import History
from torch.utils.data import Sampler, Subset

from ._nets import resolve_device, restore_net
from .callbacks import NonFiniteLossError, StopOnNonFiniteLoss, TrainingCheckpoint
from .distributed import broadcast_seed, unwrap
from .nn.compute import Compute
from .scaling import TrainingWindows
from .streaming import RecordingWindows
from .validation import sample_windows


@dataclass(frozen=True)
class TrainingPlan:
    """How to train: the settings of the training loop.

    They are the estimator's parameters of the "training" role that :func:`train` reads
    (see :func:`~sk_eegm2._parameters.declared`), and the fingerprinted ones.

    Parameters
    ----------
    max_epochs : int
        Epochs to train (those of a resumed checkpoint included).
    batch_size : int
        Windows per batch.
    lr : float
        Learning rate.
    patience : int or None
        Epochs without validation improvement before stopping (None: ``max_epochs``).
    device : str
        "auto", "cpu", "cuda", ...; ignored in a distributed run (Accelerate places it).
    verbose : int
        0: silent; 1: a line per epoch; 2: also a progress bar.
    checkpoint_dir : str, path-like or None
        Where to write a checkpoint after every epoch; None: nowhere.
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir``, if any.
    fingerprinted : Mapping
        The parameters that decide the run (declared ``fingerprinted``), by name: a
        checkpoint resumes only under the same values.
    """

    max_epochs: int
    batch_size: int
    lr: float
    patience: int | None
    device: str
    verbose: int
    checkpoint_dir: str | os.PathLike[str] | None
    resume: bool
    fingerprinted: Mapping[str, Any]


class Trained(NamedTuple):
    """What :func:`train` returns: the trained net, its history, and the device it used."""

    net: NeuralNet
    history: History
    device: str


class TrainingStopped(BaseException):
    """Training stopped before its end, by Ctrl-C or by a non-finite loss.

    A BaseException, as KeyboardInterrupt is: no ``except Exception`` on its way from
    :func:`train` to the estimator's ``fit`` may swallow a Ctrl-C.

    Parameters
    ----------
    trained : Trained
        The net of the last complete epoch (with a validation split, of the best one), the
        history of the complete epochs (a resumed checkpoint's included), and the device.
    error : NonFiniteLossError or None
        What stopped training; None: Ctrl-C.
    """

    def __init__(self, trained: Trained, error: NonFiniteLossError | None = None) -> None:
        super().__init__("Ctrl-C" if error is None else str(error))
        self.trained = trained
        self.error = error


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training; the message says what the estimator kept."""


class InterruptFlagMixin(NeuralNet):
    """Records a Ctrl-C in training, which skorch's ``partial_fit`` swallows.

    skorch ends training quietly on KeyboardInterrupt, so that a notebook keeps its model;
    inside ``cross_validate`` or ``GridSearchCV`` that would score a truncated model and go
    on. :func:`train` reads ``interrupted_`` after training and raises
    :class:`TrainingStopped`. skorch's early stopping ends training by raising
    KeyboardInterrupt too: that one is no Ctrl-C. A Ctrl-C puts back the weights of the
    start of the epoch it stopped
    (:meth:`~sk_eegm2.callbacks.StopOnNonFiniteLoss.rewind`), before early stopping, at the
    end of training, puts back those of the best epoch if there is one.
    """

    interrupted_ = False

    def fit_loop(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        self.interrupted_ = False
        try:
            return super().fit_loop(X, y, **fit_params)
        except KeyboardInterrupt:
            self.interrupted_ = not any(
                isinstance(callback, EarlyStopping) and callback.misses_ >= callback.patience
                for _, callback in self.callbacks_
            )
            if self.interrupted_:
                for _, callback in self.callbacks_:
                    if isinstance(callback, StopOnNonFiniteLoss):
                        callback.rewind(self)
            raise


class AutocastMixin(NeuralNet):
    """Runs the network's forward pass under autocast to ``precision``.

    Outputs come back in float32, so losses are computed, and gradients accumulated, in
    float32 whatever the precision.

    Parameters
    ----------
    *args, **kwargs
        Those of the net class.
    precision : {"float32", "bfloat16"}
        Autocast dtype (see :class:`~sk_eegm2.nn.compute.Compute`); "float32": none.
    """

    def __init__(self, *args: Any, precision: str = "float32", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.precision = precision

    def infer(self, x: Any, **fit_params: Any) -> Any:
        if self.precision == "float32":
            return super().infer(x, **fit_params)
        # Where the weights are: under Accelerate skorch's device is None.
        device = next(self.module_.parameters()).device
        with Compute(precision=self.precision).autocast(device):  # type: ignore[arg-type]
            out = super().infer(x, **fit_params)
        return _as_float32(out)


def _as_float32(out: Any) -> Any:
    """Floating tensors of a network's output (a tensor or a tuple) in float32."""
    if isinstance(out, tuple):
        return tuple(_as_float32(part) for part in out)
    if isinstance(out, torch.Tensor) and out.is_floating_point():
        return out.float()
    return out


# ------------------------------------------------------------------ randomness and device
def draw_seed(random_state: Any, accelerator: Any = None) -> int:
    """One seed from ``random_state``; distributed: process 0's, even for None.

    None draws from a generator of its own, seeded by the system, not from numpy's global
    one: fitting leaves the user's random stream as it was.
    """
    generator = np.random.RandomState() if random_state is None else random_state
    seed = int(check_random_state(generator).randint(np.iinfo(np.int32).max))
    return seed if accelerator is None else broadcast_seed(accelerator, seed)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch (initialisation, shuffling, dropout); the caller's RNG state is restored."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class ShuffleSampler(Sampler[int]):
    """A new random order of ``range(n)`` each epoch, drawn from torch's global generator.

    It yields exactly what ``DataLoader(shuffle=True)`` (a :class:`~torch.utils.data.
    RandomSampler` without a generator) yields from the same global random state, so seeded
    runs keep their results. Unlike it, it has no ``generator`` attribute, which Accelerate
    would otherwise replace by one of its own in distributed runs, drawing another order than
    a single process; and it converts the order to Python integers a block at a time rather
    than all at once (36 bytes per window less for corpora of millions of windows).

    Parameters
    ----------
    n : int
        Dataset length.
    """

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        seed = int(torch.empty((), dtype=torch.int64).random_().item())
        generator = torch.Generator()
        generator.manual_seed(seed)
        order = torch.randperm(self.n, generator=generator)
        for block in order.split(1 << 16):
            yield from block.tolist()


# --------------------------------------------------------------------- validation split
def validation_split(
    n: int, y: np.ndarray | None, groups: Any, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Train and validation indices; with groups, whole groups (subjects) are held out.

    With labels and groups, the held-out groups are chosen so that, where the groups allow
    it, they hold every class (early stopping on one class says little); a warning says
    when they cannot.
    """
    if not fraction or n < 2 or round(n * fraction) < 1:
        return np.arange(n), None  # nothing to hold out
    if groups is not None:
        groups = np.asarray(groups)
        if len(groups) != n:
            raise ValueError(f"groups has {len(groups)} entries for {n} samples.")
        n_groups = len(np.unique(groups))
        if n_groups < 2:
            return np.arange(n), None  # one subject: nothing to hold out
        if y is not None:
            return _stratified_group_split(y, groups, n_groups, fraction, seed)
        splitter: Any = GroupShuffleSplit(1, test_size=fraction, random_state=seed)
    elif y is not None and _can_stratify(y, fraction):
        splitter = StratifiedShuffleSplit(1, test_size=fraction, random_state=seed)
    else:
        splitter = ShuffleSplit(1, test_size=fraction, random_state=seed)
    train, valid = next(splitter.split(np.zeros(n), y, groups))
    return train, valid


def _stratified_group_split(
    y: np.ndarray, groups: np.ndarray, n_groups: int, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    n_splits = min(n_groups, max(2, round(1 / fraction)))
    splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # "least populated class": judged below, on the result
        warnings.simplefilter("ignore", UserWarning)
        train, valid = next(splitter.split(np.zeros(len(y)), y, groups))
    missing = sorted(set(np.unique(y)) - set(np.unique(y[valid])), key=str)
    if missing:
        warnings.warn(
            f"The groups held out for early stopping lack the classes {missing}: no split "
            "of these groups holds every class on both sides (a class in one group only?). "
            "Early stopping then watches the other classes; pass groups with every class in "
            "several of them, or validation_fraction=0.",
            UserWarning,
            stacklevel=4,
        )
    return train, valid


def _can_stratify(y: np.ndarray, fraction: float) -> bool:
    """Whether every class can appear on both sides of a stratified split."""
    _, counts = np.unique(y, return_counts=True)
    n_valid = round(len(y) * fraction)
    return counts.min() >= 2 and len(counts) <= min(n_valid, len(y) - n_valid)


def split_arrays(
    X: np.ndarray, y: np.ndarray | None, groups: Any, fraction: float, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray | None], Dataset | None]:
    """``(X_train, y_train)`` and the validation dataset (None without validation)."""
    train, valid = validation_split(len(X), y, groups, fraction, seed)
    y_train = None if y is None else y[train]
    if valid is None:
        return (X[train], y_train), None
    return (X[train], y_train), Dataset(X[valid], None if y is None else y[valid])


def split_stream(
    windows: torch.utils.data.Dataset,
    groups: Any,
    fraction: float,
    seed: int,
    scaling: str | None,
    scale: float,
) -> tuple[tuple[TrainingWindows, None], TrainingWindows | None]:
    """Training and validation windows of a dataset, scaled as the network wants them.

    Whole recordings (whole groups of recordings, with ``groups``) of a
    :class:`~sk_eegm2.streaming.RecordingWindows` are held out; other datasets are split by
    window.
    """
    parts: list[torch.utils.data.Dataset | None]
    if isinstance(windows, RecordingWindows):
        if groups is not None and len(groups) != windows.n_recordings:
            raise ValueError(
                f"groups has {len(groups)} entries; with recordings it needs one per "
                f"recording ({windows.n_recordings}), e.g. the subject of each."
            )
        # Recordings shorter than a window would leave a split without windows.
        usable = np.flatnonzero(windows.window_counts)
        groups = None if groups is None else np.asarray(groups)[usable]
        train, valid = validation_split(len(usable), None, groups, fraction, seed)
        parts = [None if part is None else windows.select(usable[part]) for part in (train, valid)]
    else:
        n = len(windows)  # type: ignore[arg-type]
        train, valid = validation_split(n, None, groups, fraction, seed)
        parts = [
            None if part is None else Subset(windows, part.tolist()) for part in (train, valid)
        ]
    train_part, valid_part = (
        None if part is None else TrainingWindows(part, scaling, scale) for part in parts
    )
    assert train_part is not None
    return (train_part, None), valid_part


# -------------------------------------------------------------------------- checkpoints
def check_checkpoint_dir(directory: str | os.PathLike[str]) -> None:
    """Create ``directory`` if needed and make sure checkpoints can be written there."""
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise ValueError(f"checkpoint_dir={str(directory)!r} is a file, not a folder.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ValueError(
            f"checkpoint_dir={str(directory)!r} cannot hold checkpoints: {error}."
        ) from error


def fingerprint(settings: Mapping[str, Any], module: torch.nn.Module, *data: Any) -> str:
    """A digest of what decides a training run: settings, initial weights and data.

    Parameters
    ----------
    settings : Mapping
        The parameters that decide the run (those declared ``fingerprinted``).
    module : torch.nn.Module
        The network before training (its initialisation, or the pretrained weights).
    *data
        Arrays, skorch Datasets, PyTorch datasets (a sample of 8 windows) or None.

    Returns
    -------
    str
    """
    digest = hashlib.blake2b(digest_size=16)
    kept = {
        name: type(value).__name__ if isinstance(value, np.random.RandomState) else repr(value)
        for name, value in sorted(settings.items())
    }
    digest.update(repr(kept).encode())
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    for part in data:
        _digest_data(digest, part)
    return digest.hexdigest()


def _digest_data(digest: Any, data: Any) -> None:
    if data is None:
        digest.update(b"none")
    elif isinstance(data, np.ndarray):
        digest.update(f"{data.shape}{data.dtype}".encode())
        digest.update(np.ascontiguousarray(data).view(np.uint8).data)
    elif isinstance(data, Dataset):  # skorch's (X, y) dataset
        _digest_data(digest, data.X)
        _digest_data(digest, data.y)
    else:  # windows read from disk: their number and a sample
        digest.update(str(len(data)).encode())
        _digest_data(digest, sample_windows(data, 8))


# ----------------------------------------------------------------------------- training
def train(
    net_class: type[NeuralNet],
    module: torch.nn.Module,
    data: tuple[Any, np.ndarray | None],
    valid: torch.utils.data.Dataset | None,
    plan: TrainingPlan,
    compute: Compute,
    *,
    criterion: Any,
    optimizer: type[torch.optim.Optimizer],
    optimizer_params: dict[str, Any],
    callbacks: list[tuple[str, Callback]],
    accelerator: Any = None,
    distributed_class: type[NeuralNet] | None = None,
    **net_params: Any,
) -> Trained:
    """Train ``module`` with skorch: early stopping on ``valid``, clipping, logging.

    With ``plan.checkpoint_dir`` every epoch is saved with a :func:`fingerprint` of the run,
    and ``plan.resume`` continues from a checkpoint of the same run only. With an
    ``accelerator``, ``distributed_class`` (``net_class`` with
    :class:`~sk_eegm2.distributed.DistributedMixin`) trains, and the net returned is a plain
    ``net_class`` around the trained network.

    Parameters
    ----------
    net_class : type of skorch.NeuralNet
        With :class:`AutocastMixin` and :class:`InterruptFlagMixin`.
    module : torch.nn.Module
        The network, trained in place (``compute`` may compile it or set recomputation).
    data : tuple
        ``(X, y)``: arrays (X of shape (n_windows, ...), y of shape (n_windows,) or None),
        or a dataset of ``(X, y)`` pairs and None.
    valid : Dataset or None
        Held-out windows for early stopping; None: no validation, the last epoch is kept.
    plan : TrainingPlan
        The loop's settings.
    compute : Compute
        How the network runs.
    criterion, optimizer : type
        skorch's ``criterion`` and ``optimizer``.
    optimizer_params : dict
        Keyword arguments of the optimizer (skorch's ``optimizer__*``).
    callbacks : list of (str, Callback)
        Callbacks before those added here (clipping, the non-finite-loss check, progress
        bar, early stopping, checkpoint).
    accelerator : accelerate.Accelerator or None
        For a distributed run.
    distributed_class : type of skorch.NeuralNet or None
        The net class of a distributed run.
    **net_params
        Further arguments of the net (``criterion__*``, ``iterator_*``, ``classes``, ...).

    Returns
    -------
    Trained
        The trained net (without its training data or copies of weights), its history and
        the device it ran on.

    Raises
    ------
    TrainingStopped
        On Ctrl-C or a non-finite loss, with the net as it stopped.
    """
    X_train, y_train = data
    module = compute.prepare(module)  # recomputation, torch.compile
    callbacks = [
        *callbacks,
        ("clip", GradientNormClipping(1.0)),
        ("finite_loss", StopOnNonFiniteLoss()),
    ]
    if plan.verbose >= 2:
        callbacks.append(("progress", ProgressBar()))
    if valid is not None:
        patience = plan.patience or plan.max_epochs
        callbacks.append(("early_stopping", EarlyStopping(patience=patience, load_best=True)))
    checkpoint = None
    if plan.checkpoint_dir is not None:  # last: it saves the state of those before it
        run = fingerprint(plan.fingerprinted, module, X_train, y_train, valid)
        checkpoint = TrainingCheckpoint(plan.checkpoint_dir, resume=plan.resume, fingerprint=run)
        callbacks.append(("checkpoint", checkpoint))
    placement: dict[str, Any]
    if accelerator is None:
        device = resolve_device(plan.device)
        trainer, placement = net_class, {"device": device}
    else:  # Accelerate places the network on the process's device
        assert distributed_class is not None
        device = str(accelerator.device)
        trainer = distributed_class
        placement = {
            "accelerator": accelerator,
            "device": None,
            "unwrap_after_train": False,
            # The log through Accelerate's print (process 0 only); it ignores verbose.
            "callbacks__print_log__sink": "auto" if plan.verbose else _discard,
        }
    net = trainer(
        module,
        criterion=criterion,
        optimizer=optimizer,
        lr=plan.lr,
        max_epochs=plan.max_epochs,
        batch_size=plan.batch_size,
        train_split=None if valid is None else predefined_split(valid),
        # The order of DataLoader(shuffle=True), also in distributed runs.
        iterator_train__sampler=ShuffleSampler(len(X_train)),
        callbacks=callbacks,
        verbose=plan.verbose,
        precision=compute.precision,
        **placement,
        **{f"optimizer__{k}": v for k, v in optimizer_params.items()},
        **net_params,
    )
    done = checkpoint.completed_epochs() if checkpoint is not None else 0
    error = None
    try:
        if done:
            net.initialize()
            net.partial_fit(X_train, y_train, epochs=max(plan.max_epochs - done, 0))
        else:
            net.fit(X_train, y_train)
    except NonFiniteLossError as stop:  # the net holds the weights of the epoch's start
        error = stop
    trained = _finished(net, net_class, device, accelerator)
    if error is not None or net.interrupted_:
        raise TrainingStopped(trained, error) from error
    return trained


def _finished(net: NeuralNet, net_class: type[NeuralNet], device: str, accelerator: Any) -> Trained:
    """``net`` without what training alone needed, as a plain net of ``net_class``, and its
    history without the row of an epoch that a stop cut short."""
    # Copies of weights, and the held-out windows: pickles of fitted estimators must not
    # carry training EEG.
    net.train_split = None
    for _, callback in net.callbacks_:
        if isinstance(callback, EarlyStopping):
            callback.best_model_weights_ = None
    history = net.history
    if history and "dur" not in history[-1]:  # recorded at its end: an epoch a stop cut short
        history.pop()  # its weights were put back
    if accelerator is not None:
        # A plain net, which pickles and runs inference like one trained alone.
        net = restore_net(net_class, unwrap(net.module_), device)
        net.history = history
    return Trained(net, history, device)


def untrained(net_class: type[NeuralNet], module: torch.nn.Module, device: str) -> Trained:
    """``max_epochs=0``: ``module`` as it is, on ``device`` ("auto" resolved), no history."""
    device = resolve_device(device)
    return Trained(restore_net(net_class, module, device), History(), device)


def _discard(*args: Any, **kwargs: Any) -> None:
    """A log sink that prints nothing."""
