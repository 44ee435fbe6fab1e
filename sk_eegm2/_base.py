"""What EEGM2Pretrainer and EEGM2Classifier share: input checks, seeding, skorch training, I/O.

The estimators hand the training loop, callbacks, history and device handling to skorch
and keep only what scikit-learn needs: plain constructor arguments, fitted attributes
ending in ``_``, and deterministic behaviour for a given ``random_state``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from sklearn.base import BaseEstimator
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, GradientNormClipping
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from torch.utils.data import Subset

from . import __version__
from .callbacks import StopOnNonFiniteLoss, TrainingCheckpoint
from .distributed import broadcast_seed, unwrap
from .nn import EEGM2
from .streaming import (
    RecordingWindows,
    ShuffleSampler,
    TrainingWindows,
    scale_windows,
    window_array,
)
from .validation import EEGData, check_eeg

SCALINGS = ("window", "global", None)
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
#: Windows read to estimate "global" scaling on data streamed from disk.
SCALING_SAMPLE = 1000


class EEGM2Estimator(BaseEstimator):
    """Base class: architecture, data checks and the skorch training loop. Not for direct use."""

    #: Constructor arguments that define the network and what it expects as input.
    _ARCHITECTURE = (
        "widths", "d_state", "d_conv", "expand", "headdim", "chunk_size", "bidirectional",
        "backend", "scaling",
    )  # fmt: skip

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    # ------------------------------------------------------------------ input
    def _check_X(self, X: Any, *, reset: bool) -> EEGData:
        """Convert ``X``; at fit (reset) record its shape, afterwards check it still fits."""
        eeg = check_eeg(X)
        _, n_chans, n_times = eeg.X.shape
        if reset:
            self._record_input(n_chans, n_times, eeg.sfreq, eeg.ch_names)
        else:
            check_is_fitted(self)
            if n_chans != self.n_chans_:
                raise ValueError(
                    f"X has {n_chans} channels, but {type(self).__name__} was fitted on "
                    f"{self.n_chans_}. Pass the same channels, in the same order."
                )
            if eeg.ch_names is not None and self.ch_names_ is not None:
                if eeg.ch_names != self.ch_names_:
                    raise ValueError(
                        f"X has channels {eeg.ch_names}, but {type(self).__name__} was fitted "
                        f"on {self.ch_names_}; reorder them with epochs.reorder_channels(...)."
                    )
            if eeg.sfreq is not None and self.sfreq_ is not None and eeg.sfreq != self.sfreq_:
                raise ValueError(
                    f"X is sampled at {eeg.sfreq} Hz, but {type(self).__name__} was fitted at "
                    f"{self.sfreq_} Hz; resample first (epochs.resample({self.sfreq_}))."
                )
            if n_times != self.n_times_ and not self._takes_any_length():
                raise ValueError(
                    f"X has {n_chans * n_times} features, but {type(self).__name__} is "
                    f"expecting {self.n_features_in_} features as input: windows of {n_times} "
                    f"time points, but fit saw {self.n_times_}. Cut windows of that length."
                )
        self._check_length(n_times, f"X has {n_times} (n_features = {n_times} for 2D input)")
        return eeg

    def _check_stream(self, windows: torch.utils.data.Dataset) -> None:
        """Record the shape of a dataset's windows (from its first) at fit."""
        try:
            n = len(windows)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(
                f"The dataset {type(windows).__name__} has no length; pass a map-style "
                "torch.utils.data.Dataset (with __len__ and __getitem__)."
            ) from None
        if n == 0:
            raise ValueError("The dataset holds no window.")
        first = window_array(windows[0])
        if first.ndim != 2:
            raise ValueError(
                f"The dataset's windows have shape {first.shape}; they must be "
                "(n_chans, n_times) arrays or tensors, or tuples starting with one."
            )
        n_chans, n_times = first.shape
        sfreq = getattr(windows, "sfreq", None)
        ch_names = getattr(windows, "ch_names", None)
        self._record_input(n_chans, n_times, sfreq, None if ch_names is None else list(ch_names))
        self._check_length(n_times, f"the dataset's windows have {n_times}")

    def _record_input(
        self, n_chans: int, n_times: int, sfreq: float | None, ch_names: list[str] | None
    ) -> None:
        self.n_chans_ = n_chans
        self.n_times_ = n_times
        self.n_features_in_ = n_chans * n_times
        self.sfreq_ = sfreq
        self.ch_names_ = ch_names

    def _check_length(self, n_times: int, what: str) -> None:
        min_times = 2 ** len(self._widths())
        if n_times < min_times:
            raise ValueError(
                f"EEGM2 needs at least {min_times} time points per window (2**{len(self._widths())}"
                f" for {len(self._widths())} pooling levels); {what}. Use longer windows, or "
                "fewer levels in widths."
            )

    def _takes_any_length(self) -> bool:
        """Whether windows after fit may differ in length from those seen in fit."""
        return True

    def _architecture(self) -> dict[str, Any]:
        """The network's settings (a classifier takes them from its pretrained network)."""
        return {name: getattr(self, name) for name in self._ARCHITECTURE}

    def _widths(self) -> tuple[int, ...]:
        return tuple(self._architecture()["widths"])

    # ---------------------------------------------------------------- scaling
    def _fit_scaling(self, X: np.ndarray | torch.utils.data.Dataset) -> None:
        scaling = self._architecture()["scaling"]
        if scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}.")
        if scaling != "global":
            self.scale_ = 1.0
            return
        if not isinstance(X, np.ndarray):
            # A corpus on disk is not read whole for one number: windows spread evenly over
            # it (across recordings, in proportion to their length) estimate it.
            n = len(X)  # type: ignore[arg-type]
            picked = np.unique(np.linspace(0, n - 1, min(n, SCALING_SAMPLE)).astype(np.int64))
            X = np.stack([window_array(X[int(i)]) for i in picked])
        # "global": one amplitude for the whole training set keeps differences in power
        # between windows, which per-window scaling removes.
        self.scale_ = float(np.percentile(np.abs(X), 95)) + 1e-8

    def _scale(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | float]:
        """``X`` in network units, and the factor that brings network output back to X's units."""
        return scale_windows(X, self._architecture()["scaling"], self.scale_)

    # ------------------------------------------------------------- randomness
    def _draw_seed(self, accelerator: Any = None) -> int:
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        # Distributed: process 0's seed everywhere, even when random_state is None.
        return seed if accelerator is None else broadcast_seed(accelerator, seed)

    @staticmethod
    @contextmanager
    def _seeded(seed: int) -> Iterator[None]:
        """Seed torch (initialisation, shuffling, dropout); the caller's RNG state is restored."""
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def _resolve_device(self) -> str:
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(
                f"device={self.device!r}, but CUDA is not available here; use device='auto' "
                "or 'cpu'."
            )
        return str(self.device)

    # ------------------------------------------------------------ the network
    def _build_network(self, n_chans: int) -> EEGM2:
        settings = self._architecture()
        del settings["scaling"]
        settings["widths"] = tuple(settings["widths"])
        return EEGM2(n_chans, **settings)

    # --------------------------------------------------------------- training
    def _validation_indices(
        self, n: int, y: np.ndarray | None, groups: Any, seed: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Train/validation indices; with groups, whole groups (subjects) are held out."""
        fraction = self.validation_fraction
        if not fraction:
            return np.arange(n), None
        if not 0 < fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {fraction}.")
        if groups is not None:
            groups = np.asarray(groups)
            if len(groups) != n:
                raise ValueError(f"groups has {len(groups)} entries for {n} samples.")
            if len(np.unique(groups)) < 2:
                return np.arange(n), None  # one subject: nothing to hold out
            splitter: Any = GroupShuffleSplit(1, test_size=fraction, random_state=seed)
        elif y is not None and _can_stratify(y, fraction):
            splitter = StratifiedShuffleSplit(1, test_size=fraction, random_state=seed)
        else:
            splitter = ShuffleSplit(1, test_size=fraction, random_state=seed)
        if n < 2 or round(n * fraction) < 1:
            return np.arange(n), None  # too few samples to hold any out
        train, valid = next(splitter.split(np.zeros(n), y, groups))
        return train, valid

    def _split_arrays(
        self, X: np.ndarray, y: np.ndarray | None, groups: Any, seed: int
    ) -> tuple[tuple[np.ndarray, np.ndarray | None], Dataset | None]:
        """``(X_train, y_train)`` and the validation dataset (None without validation)."""
        train, valid = self._validation_indices(len(X), y, groups, seed)
        y_train = None if y is None else y[train]
        if valid is None:
            return (X[train], y_train), None
        return (X[train], y_train), Dataset(X[valid], None if y is None else y[valid])

    def _split_stream(
        self, windows: torch.utils.data.Dataset, groups: Any, seed: int
    ) -> tuple[tuple[TrainingWindows, None], TrainingWindows | None]:
        """Training and validation windows of a dataset, scaled as the network wants them.

        Whole recordings (whole groups of recordings, with ``groups``) of a
        :class:`RecordingWindows` are held out; other datasets are split by window.
        """
        scaling = self._architecture()["scaling"]
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
            train, valid = self._validation_indices(len(usable), None, groups, seed)
            parts = [
                None if part is None else windows.select(usable[part]) for part in (train, valid)
            ]
        else:
            train, valid = self._validation_indices(len(windows), None, groups, seed)  # type: ignore[arg-type]
            parts = [
                None if part is None else Subset(windows, part.tolist()) for part in (train, valid)
            ]
        train_part, valid_part = (
            None if part is None else TrainingWindows(part, scaling, self.scale_) for part in parts
        )
        assert train_part is not None
        return (train_part, None), valid_part

    def _fit_net(
        self,
        net_class: type[NeuralNet],
        module: torch.nn.Module,
        train: tuple[Any, np.ndarray | None],
        valid: torch.utils.data.Dataset | None,
        *,
        criterion: Any,
        optimizer: type[torch.optim.Optimizer],
        optimizer_params: dict[str, Any],
        callbacks: list[tuple[str, Callback]],
        accelerator: Any = None,
        distributed_class: type[NeuralNet] | None = None,
        **net_params: Any,
    ) -> NeuralNet:
        """Train ``module`` with skorch: early stopping on ``valid``, clipping, logging.

        ``train`` is ``(X, y)``: arrays, or a dataset of ``(X, y)`` pairs and None. A
        non-finite loss or Ctrl-C stops training and keeps the last good weights in ``net_``;
        with ``checkpoint_dir`` every epoch is saved and ``resume`` continues. With an
        ``accelerator``, ``distributed_class`` (``net_class`` with
        :class:`~sk_eegm2.distributed.DistributedMixin`) trains, and ``net_`` is a plain
        ``net_class`` around the trained network afterwards.
        """
        X_train, y_train = train
        callbacks = [
            *callbacks,
            ("clip", GradientNormClipping(1.0)),
            ("finite_loss", StopOnNonFiniteLoss()),
        ]
        if valid is not None:
            patience = self.patience if self.patience else self.max_epochs
            callbacks.append(("early_stopping", EarlyStopping(patience=patience, load_best=True)))
        checkpoint = None
        if self.checkpoint_dir is not None:  # last: it saves the state of those before it
            checkpoint = TrainingCheckpoint(self.checkpoint_dir, resume=self.resume)
            callbacks.append(("checkpoint", checkpoint))
        placement: dict[str, Any]
        if accelerator is None:
            self.device_ = self._resolve_device()
            trainer, placement = net_class, {"device": self.device_}
        else:  # Accelerate places the network on the process's device
            assert distributed_class is not None
            self.device_ = str(accelerator.device)
            trainer = distributed_class
            placement = {
                "accelerator": accelerator,
                "device": None,
                "unwrap_after_train": False,
                # The log through Accelerate's print (process 0 only); it ignores verbose.
                "callbacks__print_log__sink": "auto" if self.verbose else _discard,
            }
        net = trainer(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=None if valid is None else predefined_split(valid),
            # The order of DataLoader(shuffle=True), also in distributed runs.
            iterator_train__sampler=ShuffleSampler(len(X_train)),
            callbacks=callbacks,
            verbose=self.verbose,
            **placement,
            **{f"optimizer__{k}": v for k, v in optimizer_params.items()},
            **net_params,
        )
        done = checkpoint.completed_epochs() if checkpoint is not None else 0
        try:
            # skorch stops cleanly on Ctrl-C (KeyboardInterrupt) and keeps the net usable.
            if done:
                net.initialize()
                net.partial_fit(X_train, y_train, epochs=max(self.max_epochs - done, 0))
            else:
                net.fit(X_train, y_train)
        finally:  # also on a non-finite loss: the net holds the last good weights
            # Drop what training alone needed: copies of weights, and the held-out windows
            # (pickles of fitted estimators must not carry training EEG).
            net.train_split = None
            for _, callback in net.callbacks_:
                if isinstance(callback, EarlyStopping):
                    callback.best_model_weights_ = None
            self.history_ = net.history
            if accelerator is not None:
                # A plain net, which pickles and runs inference like one trained alone.
                trained = unwrap(net.module_)
                net = restore_net(net_class, trained, self.device_)
                net.history = self.history_
            self.net_ = net
        return net

    # -------------------------------------------------------------- inference
    @torch.no_grad()
    def _map_batches(
        self, fn: Any, X: np.ndarray, device: Any, rescale: bool = False
    ) -> np.ndarray:
        """``fn`` on scaled batches of ``X``: memory is bounded by the batch, not by ``X``.

        With ``rescale``, outputs are brought back to the units of ``X``.
        """
        outputs = []
        for start in range(0, len(X), self.batch_size):
            batch, factor = self._scale(X[start : start + self.batch_size])
            out = fn(torch.from_numpy(batch).to(device)).float().cpu().numpy()
            outputs.append(out * factor if rescale else out)
        return np.concatenate(outputs)

    # ----------------------------------------------------------- persistence
    def _fitted_config(self) -> dict[str, Any]:
        return {
            "n_chans_": self.n_chans_,
            "n_times_": self.n_times_,
            "sfreq_": self.sfreq_,
            "ch_names_": self.ch_names_,
            "scale_": self.scale_,
        }

    def _tensors(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _restore(self, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        raise NotImplementedError

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the fitted estimator as ``config.json`` and ``model.safetensors``.

        Loading (:meth:`from_pretrained`) reads only JSON and safetensors, so, unlike pickle
        or joblib files, it never executes code from the files.

        Parameters
        ----------
        directory : str or Path
            Created if needed; existing files of the same names are replaced.

        Returns
        -------
        Path
            The directory.
        """
        check_is_fitted(self)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "pretrained"}
        config = {
            "class": type(self).__name__,
            "sk_eegm2_version": __version__,
            "params": params,
            "fitted": self._fitted_config(),
        }
        tensors = {k: v.detach().cpu().contiguous() for k, v in self._tensors().items()}
        save_file(tensors, str(directory / WEIGHTS_FILE))
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=_json_default))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "auto") -> Any:
        """Load an estimator written by :meth:`save_pretrained`.

        Parameters
        ----------
        directory : str or Path
            Folder with ``config.json`` and ``model.safetensors``.
        device : str
            Where to put the network ("auto": CUDA when available).

        Returns
        -------
        estimator
            Fitted, ready for ``transform`` / ``predict``.
        """
        directory = Path(directory)
        try:
            config = json.loads((directory / CONFIG_FILE).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(
                f"No {CONFIG_FILE} in {directory}; is this a folder written by save_pretrained?"
            ) from None
        except json.JSONDecodeError as error:
            raise ValueError(f"{directory / CONFIG_FILE} is not valid JSON: {error}.") from None
        if config.get("class") != cls.__name__:
            raise ValueError(
                f"{directory} holds a {config.get('class')}, not a {cls.__name__}; load it with "
                f"{config.get('class')}.from_pretrained."
            )
        try:
            tensors = load_file(str(directory / WEIGHTS_FILE))
        except FileNotFoundError:
            raise FileNotFoundError(f"No {WEIGHTS_FILE} in {directory}.") from None
        except (SafetensorError, OSError) as error:
            raise ValueError(
                f"{directory / WEIGHTS_FILE} is corrupted or truncated ({error}); save it again."
            ) from None
        params = _from_json(config["params"])
        estimator = cls(**{**params, "device": device})
        fitted = config["fitted"]
        for name in ("n_chans_", "n_times_", "sfreq_", "ch_names_", "scale_"):
            setattr(estimator, name, fitted[name])
        estimator.n_features_in_ = estimator.n_chans_ * estimator.n_times_
        estimator._restore(fitted, tensors)
        return estimator

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        if getattr(self, "encoder_", None) is not None:  # pickles must load without a GPU
            state = {**state, "encoder_": copy.deepcopy(self.encoder_).cpu()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # skorch maps a network fitted on a GPU to the CPU when no GPU is here: follow it.
        self.__dict__.update(state)
        if "net_" in state:
            self.device_ = str(self.net_.device)
            if getattr(self, "encoder_", None) is not None:
                self.encoder_.to(self.device_)


def _can_stratify(y: np.ndarray, fraction: float) -> bool:
    """Whether every class can appear on both sides of a stratified split."""
    _, counts = np.unique(y, return_counts=True)
    n_valid = round(len(y) * fraction)
    return counts.min() >= 2 and len(counts) <= min(n_valid, len(y) - n_valid)


def _discard(*args: Any, **kwargs: Any) -> None:
    """A log sink that prints nothing."""


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _from_json(params: dict[str, Any]) -> dict[str, Any]:
    """JSON turns tuples into lists; the network arguments are tuples again."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}


def restore_net(net_class: type[NeuralNet], module: torch.nn.Module, device: str) -> NeuralNet:
    """A skorch net around an already trained ``module``, ready for inference."""
    net = net_class(copy.deepcopy(module), criterion=torch.nn.Identity, device=device)
    net.initialize()
    return net
