"""What EEGM2Pretrainer and EEGM2Classifier share: parameters, tags, input checks, inference.

The estimators hand the training loop, callbacks, history and device handling to skorch
(through :mod:`sk_eegm2._training`) and keep only what scikit-learn needs: plain
constructor arguments checked at the start of ``fit`` (:mod:`sk_eegm2._parameters`), fitted
attributes ending in ``_`` that change all together or not at all, and deterministic
behaviour for a given ``random_state``. Saving and loading live in
:mod:`sk_eegm2._persistence`, input checks in :mod:`sk_eegm2.validation`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields, replace
from numbers import Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import Callback

from . import _persistence, hub
from ._parameters import (
    MAX_THREADS,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    THREAD_COUNT,
    FittedAttribute,
    Widths,
    declared,
    estimator_parameters,
    fitted,
    parameter,
    refuse_undecorated,
)
from ._training import (
    Trained,
    TrainingInterrupted,
    TrainingPlan,
    TrainingStopped,
    check_checkpoint_dir,
    draw_seed,
    train,
)
from .callbacks import AugmentBatches
from .montage import CHANNEL_MODES, adapt_windows, warn_adaptation
from .nn import EEGM2, PRESETS, EEGM2Config
from .nn.augment import make_augmentation
from .nn.compute import Compute
from .scaling import scale_windows
from .validation import (
    EEGData,
    InputShape,
    check_amplitude,
    check_eeg_parts,
    check_min_length,
    check_same_input,
    declare_rate,
    parts_differ,
)


@estimator_parameters
class EEGM2Estimator(BaseEstimator):
    """Base class: shared parameters, input checks and batched inference. Not for direct use.

    Parameters
    ----------
    %(parameters)s
    """

    preset: str = parameter(
        "paper",
        [StrOptions(set(PRESETS))],
        "{" + ", ".join(f'"{name}"' for name in PRESETS) + "}",
        """Named architecture (:data:`sk_eegm2.nn.PRESETS`): "paper" is EEGM2 as published
(widths (64, 128, 256), expand 8, headdim 64); "cpu" a small network that trains on a CPU
in minutes (widths (16, 32, 64), expand 2, headdim 16). The five settings below override
single values of it; ``config_`` holds the result.""",
        role="architecture",
    )
    widths: tuple[int, ...] | None = parameter(
        None,
        [Widths(), None],
        "tuple of int or None",
        """Encoder widths; the depth is ``len(widths)`` and windows need at least
``2 ** len(widths)`` time points. None: the preset's.""",
        role="architecture",
    )
    d_state: int | None = parameter(
        None,
        [POSITIVE_INT, None],
        "int or None",
        "Mamba-2 state size. None: the preset's.",
        role="architecture",
    )
    d_conv: int | None = parameter(
        None,
        [POSITIVE_INT, None],
        "int or None",
        "Width of Mamba-2's causal convolution. None: the preset's.",
        role="architecture",
    )
    expand: int | None = parameter(
        None,
        [POSITIVE_INT, None],
        "int or None",
        "Mamba-2 inner width over the level's width. None: the preset's.",
        role="architecture",
    )
    headdim: int | None = parameter(
        None,
        [POSITIVE_INT, None],
        "int or None",
        """Mamba-2 head dimension; it must divide ``expand * width`` at every level. None:
the preset's.""",
        role="architecture",
    )
    bidirectional: bool | None = parameter(
        None,
        ["boolean", None],
        "bool or None",
        """Weight-tied time-reversed pass in each Mamba-2 layer (not in the paper, nor in the
presets). None: the preset's.""",
        role="architecture",
    )
    chunk_size: int = parameter(
        256,
        [POSITIVE_INT],
        "int",
        """Chunk length of Mamba-2's scan: speed and memory, and results by rounding only
(see :doc:`/compute_options`).""",
        role="compute",
    )
    backend: str = parameter(
        "auto",
        [StrOptions({"auto", "torch", "mamba_ssm"})],
        '{"auto", "torch", "mamba_ssm"}',
        """Mamba-2 kernels: mamba-ssm's fused Triton kernels on CUDA when installed, else
PyTorch (see :doc:`/compute_options`).""",
        role="compute",
    )
    precision: str = parameter(
        "float32",
        [StrOptions({"float32", "bfloat16"})],
        '{"float32", "bfloat16"}',
        """Autocast precision of the network's matmuls and convolutions, in training and
inference (the SSD scan, norms, losses and weights stay in float32). "bfloat16" trains
faster on CPUs with bfloat16 units, the paper network more than the "cpu" preset, at a
small rounding error in the gradients: see :doc:`/compute_options` and
:ref:`the measurements <measured-bfloat16>`.""",
        role="compute",
    )
    compile: bool = parameter(
        False,
        ["boolean"],
        "bool",
        """``torch.compile`` the network for training (same results up to rounding). On CPU
the first step compiles for a long time and no speed-up was measured
(:ref:`measurements <measured-compile>`); for GPUs.""",
        role="compute",
    )
    threads: int | None = parameter(
        None,
        [THREAD_COUNT, None],
        "int or None",
        f"""PyTorch threads during ``fit`` and inference, restored afterwards, at most
{MAX_THREADS}. None (default): PyTorch's setting, ``torch.get_num_threads()``, which is one
per core unless changed. 1 suits small networks, is faster where other processes share the
cores (``benchmarks/results/threads.md``) and lets joblib run folds side by side (see
:doc:`/compute_options`).""",
        role="compute",
    )
    checkpointing: bool = parameter(
        False,
        ["boolean"],
        "bool",
        """Activation recomputation in every Mamba block: less memory for a training step,
more time (:ref:`measurements <measured-checkpointing>`); for long windows on small
machines.""",
        role="compute",
    )
    scaling: str | None = parameter(
        "window",
        [StrOptions({"window", "global"}), None],
        '{"window", "global", None}',
        """Amplitude scaling before the network. "window": each window and channel divided by
its 95th percentile of ``|x|`` (the paper's TUAB preprocessing); "global": one such
percentile over the whole training set; None: as given.""",
        role="data",
    )
    sfreq: float | None = parameter(
        None,
        [POSITIVE, None],
        "float or None",
        """Sampling rate in Hz of array inputs, which carry none (MNE Epochs carry theirs, which
must then agree). Recorded as ``sfreq_`` in ``fit`` and compared at ``transform`` /
``predict``, and with a pretrained network's, like an Epochs' rate. None: arrays' rate
unknown, not checked.""",
        role="data",
    )
    channels: str = parameter(
        "strict",
        [StrOptions(set(CHANNEL_MODES))],
        "{" + ", ".join(f'"{mode}"' for mode in CHANNEL_MODES) + "}",
        """What may be done to input whose channels differ from the fitted ones
(``ch_names_``, or a pretrained network's): "strict" refuses it; "match" picks and reorders
its channels by name, case, an "EEG " prefix and the aliases T3/T7, T4/T8, T5/P7, T6/P8
aside, and refuses it, naming them, if fitted channels are missing; "interpolate" also fills
the missing ones with MNE's spherical splines at template 10-20 positions (see
:mod:`sk_eegm2.montage`). Needs channel names (MNE Epochs). For a list of Epochs of several
montages in ``fit``, the first one's channels are the target.""",
        role="data",
    )
    resample: bool = parameter(
        False,
        ["boolean"],
        "bool",
        """Resample input at another sampling rate than the fitted one (``sfreq_``, or a
pretrained network's) to it, window by window with MNE (as :meth:`mne.Epochs.resample`);
False refuses it. For a list of Epochs of several rates in ``fit``, the first one's rate is
the target. Adaptations warn (:class:`~sk_eegm2.montage.AdaptationWarning`) and are recorded
in ``adaptation_``.""",
        role="data",
    )
    max_epochs: int = parameter(30, [POSITIVE_INT], "int", "Training epochs.", role="training")
    batch_size: int = parameter(
        64, [POSITIVE_INT], "int", "Windows per batch, for training and inference.", role="training"
    )
    lr: float = parameter(1e-4, [POSITIVE], "float", "Adam learning rate.", role="training")
    weight_decay: float = parameter(
        0.0, [NON_NEGATIVE], "float", "Adam weight decay.", role="training"
    )
    augment: dict[str, float] | None = parameter(
        None,
        [dict, None],
        "dict or None",
        """Random transformations of the windows of training batches (never of validation
batches, nor at inference): a mapping of names of :data:`sk_eegm2.nn.augment.AUGMENTATIONS`
to strengths (:func:`sk_eegm2.nn.augment.make_augmentation`), e.g. ``{"shift": 0.1,
"scale": 0.2, "noise": 0.1, "channel_dropout": 0.1}``: shifts of up to a tenth of the window
(zeros fill in), amplitudes times 0.8 to 1.2, Gaussian noise of a tenth of each channel's
standard deviation, each channel zeroed with probability 0.1. They apply to the windows the
network takes (after ``scaling``) and draw from a generator of their own seeded by
``random_state``, so shuffling and dropout are the same with and without them. The
classifier's light mode, which trains on features computed once, refuses them. None: no
augmentation.""",
        role="training",
    )
    patience: int | None = parameter(
        10,
        [POSITIVE_INT, None],
        "int or None",
        """Early stopping: epochs without validation improvement (None: never stop early;
the best epoch is kept either way).""",
        role="training",
    )
    validation_fraction: float = parameter(
        0.1,
        [Interval(Real, 0, 1, closed="left")],
        "float",
        """Share of windows (of groups, when ``groups`` is given; of recordings, for
recordings) held out for early stopping. With labels and groups, the held-out groups are
chosen to hold every class where the groups allow it (a warning says when they cannot).
0 trains on everything and keeps the last epoch.""",
        role="data",
    )
    checkpoint_dir: str | os.PathLike[str] | None = parameter(
        None,
        [str, os.PathLike, None],
        "str, path-like or None",
        """If set, ``checkpoint.pt`` is written there after every epoch, atomically: weights,
optimizer, schedule, early stopping, history, and the random states (CPU, and CUDA where
it is used), with a fingerprint of the settings, initial weights and data. The folder is
checked before training starts.""",
        role="training",
        saved=False,
        fingerprinted=False,
    )
    resume: bool = parameter(
        False,
        ["boolean"],
        "bool",
        """With ``checkpoint_dir``: continue from its checkpoint, if any, instead of starting
over. The checkpoint must come from the same settings and data (else ValueError): the same
values of every parameter that changes the run's numbers, rounding included (``threads``
and ``compile`` too; not ``verbose``, ``device`` or ``num_workers``). A resumed run ends as
the uninterrupted run would, on the same device.""",
        role="training",
        saved=False,
        fingerprinted=False,
    )
    device: str = parameter(
        "auto",
        [str],
        "str",
        '"auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...',
        role="training",
        saved=False,
        fingerprinted=False,
    )
    random_state: int | np.random.RandomState | None = parameter(
        None,
        ["random_state"],
        "int, RandomState or None",
        """Seeds initialisation, shuffling, dropout and the validation split. None: a seed from
the system; the process's global random states (numpy's, torch's) are left as they were.""",
        role="training",
    )
    verbose: int = parameter(
        0,
        ["verbose"],
        "int",
        """0: silent; 1: a line per epoch (losses, time); 2: also a progress bar over each
epoch's batches (skorch's ProgressBar).""",
        role="training",
        fingerprinted=False,
    )

    #: The fitted attributes: their documentation, and the constraints of those that
    #: save_pretrained writes, from_pretrained checks and restores, and pickling moves to the
    #: CPU (networks). The decorator derives ``_saved_attributes`` from it.
    _fitted_attributes: ClassVar[dict[str, FittedAttribute]] = {
        "net_": fitted("skorch.NeuralNet", "The trained skorch net.", [NeuralNet]),
        "config_": fitted(
            "EEGM2Config",
            "The architecture of the network (see :class:`~sk_eegm2.nn.EEGM2Config`).",
            [EEGM2Config],
        ),
        "scaling_": fitted(
            '{"window", "global", None}',
            "The amplitude scaling applied before the network.",
            [StrOptions({"window", "global"}), None],
        ),
        "scale_": fitted("float", 'The divisor of "global" scaling (1 otherwise).', [POSITIVE]),
        "amplitude_": fitted(
            "float",
            """95th percentile of ``|x|`` over the training windows (a sample of them, for
datasets); input orders of magnitude away from it at prediction warns
(:class:`~sk_eegm2.validation.AmplitudeWarning`).""",
            [NON_NEGATIVE],
        ),
        "n_chans_": fitted("int", "Channels seen in ``fit``.", [POSITIVE_INT]),
        "n_times_": fitted("int", "Window length seen in ``fit``.", [POSITIVE_INT]),
        "sfreq_": fitted(
            "float or None",
            """Sampling rate of MNE input and recordings (or of a dataset with an ``sfreq``
attribute), or the ``sfreq`` declared for arrays, else None.""",
            [POSITIVE, None],
        ),
        "ch_names_": fitted(
            "list of str or None",
            """Channel names of MNE input and recordings (or of a dataset with ``ch_names``), else
None. Later input must have the same names in the same order.""",
            [list, None],
        ),
        "n_features_in_": fitted("int", "``n_chans_ * n_times_``."),
        "n_windows_": fitted(
            "int",
            """Windows given to ``fit`` (for the model card; not saved, so a loaded estimator
has none).""",
        ),
        "history_": fitted(
            "skorch.History", "Per-epoch losses (``valid_loss`` only with a validation split)."
        ),
        "device_": fitted("str", "The device used."),
        "adaptation_": fitted(
            "tuple of Adaptation",
            """What ``channels`` and ``resample`` did to the input of the last ``fit``,
``transform``, ``predict``, ... (one :class:`~sk_eegm2.montage.Adaptation` per group of
windows adapted; empty when none was). Not saved.""",
        ),
    }
    #: The skorch net class that holds the trained network.
    _net_class: ClassVar[type[NeuralNet]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        refuse_undecorated(cls)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    # ---------------------------------------------------------------- architecture
    def _network_config(self) -> EEGM2Config:
        """The preset, with the architecture parameters that are set in place of its values."""
        params = self.get_params(deep=False)
        overrides = {
            f.name: params[f.name] for f in fields(EEGM2Config) if params[f.name] is not None
        }
        config = replace(PRESETS[self.preset], **overrides)
        for width in config.widths:  # every level has a Mamba block, inner width expand * w
            if (config.expand * width) % config.headdim:
                raise ValueError(
                    f"headdim={config.headdim} must divide expand * width at every level "
                    f"(expand={config.expand}, widths={config.widths}); e.g. headdim="
                    f"{np.gcd.reduce([config.expand * w for w in config.widths])}."
                )
        return config

    def _compute(self) -> Compute:
        """How the network runs: the parameters of the "compute" role."""
        return Compute(**{name: getattr(self, name) for name in declared(type(self), "compute")})

    def _augment_callbacks(self, seed: int) -> list[tuple[str, Callback]]:
        """The callback that augments training batches as ``augment`` says (none for None)."""
        if self.augment is None:
            return []
        augmentation = make_augmentation(self.augment)
        return [("augment", AugmentBatches(augmentation, draw_seed(seed)))]

    def _build_network(self, n_chans: int, config: EEGM2Config) -> EEGM2:
        compute = self._compute()
        return EEGM2.from_config(
            n_chans, config, chunk_size=compute.chunk_size, backend=compute.backend
        )

    def _network_modules(self) -> dict[str, torch.nn.Module]:
        """Untrained networks of the fitted architecture, keyed by attribute (for loading)."""
        raise NotImplementedError

    def _check_saved_attributes(self, where: str) -> None:
        """Cross-checks of loaded fitted attributes, beyond each one's constraint."""
        architecture = {f.name: self._parameter_constraints[f.name] for f in fields(EEGM2Config)}
        validate_parameter_constraints(architecture, asdict(self.config_), f"{where}, config_,")
        if self.ch_names_ is not None and (
            len(self.ch_names_) != self.n_chans_
            or not all(isinstance(name, str) for name in self.ch_names_)
        ):
            raise ValueError(f"{where}: ch_names_ must name the {self.n_chans_} channels.")

    # ----------------------------------------------------------------------- input
    def _takes_any_length(self) -> bool:
        """Whether windows after fit may differ in length from those seen in fit."""
        return True

    def _record_input(
        self, shape: InputShape, n_windows: int, config: EEGM2Config, what: str = "X"
    ) -> None:
        """At fit: check the windows against the architecture and record their shape."""
        check_min_length(shape, len(config.widths), what)
        self.n_windows_ = n_windows
        self.n_chans_ = shape.n_chans
        self.n_times_ = shape.n_times
        self.n_features_in_ = shape.n_chans * shape.n_times
        self.sfreq_ = shape.sfreq
        self.ch_names_ = shape.ch_names
        self.config_ = config

    def _adapted(self, X: Any, target: InputShape | None) -> EEGData:
        """``X`` validated and brought to ``target``'s channels and rate as far as ``channels``
        and ``resample`` allow (None: to those of its first part); recorded in ``adaptation_``.

        Arrays take the rate that ``sfreq`` declares.
        """
        parts = [declare_rate(part, self.sfreq) for part in check_eeg_parts(X)]
        adapted, records = [], []
        if target is None:  # the first part is the target, as it is
            adapted.append(parts.pop(0))
            target = adapted[0].shape
        for part in parts:
            eeg, record = adapt_windows(part, target, self.channels, self.resample)
            warn_adaptation(record, type(self).__name__)
            adapted.append(eeg)
            records += [record] if record is not None else []
        self.adaptation_ = tuple(records)
        if len(adapted) == 1:
            return adapted[0]
        first = adapted[0]
        for eeg in adapted[1:]:
            if (eeg.ch_names, eeg.sfreq) != (first.ch_names, first.sfreq):
                raise parts_differ()
            if eeg.X.shape[1:] != first.X.shape[1:]:
                raise ValueError(
                    f"After adaptation, windows of X have {first.X.shape[2]} and "
                    f"{eeg.X.shape[2]} time points; cut windows of the same duration in every "
                    "part."
                )
        return EEGData(np.concatenate([eeg.X for eeg in adapted]), first.sfreq, first.ch_names)

    def _fitted_shape(self) -> InputShape:
        return InputShape(self.n_chans_, self.n_times_, self.sfreq_, self.ch_names_)

    def _check_X(self, X: Any) -> np.ndarray:
        """Windows for inference: like those of fit in channels, rate, length and units."""
        check_is_fitted(self)
        eeg = self._adapted(X, self._fitted_shape())
        name = type(self).__name__
        check_same_input(
            eeg.shape, self._fitted_shape(), source=name, any_length=self._takes_any_length()
        )
        check_min_length(eeg.shape, len(self.config_.widths), "X")
        check_amplitude(eeg.X, self.amplitude_, source=name)
        return eeg.X

    # ------------------------------------------------------------------------- fit
    @contextmanager
    def _fitting(self) -> Iterator[None]:
        """Check the parameters, then fit all or nothing.

        An error leaves the fitted attributes as they were before. Training stopped by
        Ctrl-C or a non-finite loss (:class:`~sk_eegm2._training.TrainingStopped`) keeps
        what its complete epochs trained if there is one, else it too leaves them as they
        were; a Ctrl-C is then raised again as a
        :class:`~sk_eegm2._training.TrainingInterrupted`, a non-finite loss as its
        :class:`~sk_eegm2.callbacks.NonFiniteLossError`.
        """
        self._validate_params()
        if self.augment is not None:  # names and strengths are refused before any training
            make_augmentation(self.augment)
        if self.checkpoint_dir is not None:
            check_checkpoint_dir(self.checkpoint_dir)
        before = self._fitted_state()
        try:
            with self._compute().scope():  # threads
                yield
        except TrainingStopped as stopped:
            epochs = len(stopped.trained.history)
            if epochs:
                self._keep(stopped.trained)
            else:
                self._restore(before)
            if stopped.error is not None:
                raise stopped.error from None
            name = type(self).__name__
            kept = (
                f"{name} holds the network of the last complete epoch (of the best one, with "
                "a validation split)"
                if epochs
                else f"no epoch was complete, so {name} was left as it was before fit"
            )
            raise TrainingInterrupted(
                f"Training was interrupted (Ctrl-C) in epoch {epochs + 1}; {kept}."
            ) from None
        except BaseException:
            self._restore(before)
            raise

    def _training_plan(self) -> TrainingPlan:
        """The loop's settings: the parameters of the "training" role that it reads."""
        return TrainingPlan(
            **{
                name: getattr(self, name)
                for name in declared(type(self), "training")
                if name in {f.name for f in fields(TrainingPlan)}
            },
            fingerprinted={
                name: getattr(self, name) for name in declared(type(self), fingerprinted=True)
            },
        )

    def _train(
        self,
        net_class: type[NeuralNet],
        module: torch.nn.Module,
        data: tuple[Any, np.ndarray | None],
        valid: Any,
        **training: Any,
    ) -> None:
        """Train ``module`` under this estimator's plan and compute settings; keep the result.

        ``training`` holds the further arguments of :func:`~sk_eegm2._training.train`.
        """
        self._keep(
            train(
                net_class, module, data, valid, self._training_plan(), self._compute(), **training
            )
        )

    def _keep(self, trained: Trained) -> None:
        """Make what training returned the fitted net, history and device."""
        self.net_, self.history_, self.device_ = trained

    def _restore(self, state: dict[str, Any]) -> None:
        """Make ``state`` (of :meth:`_fitted_state`) the fitted attributes, and only it."""
        for name in self._fitted_state():
            delattr(self, name)
        self.__dict__.update(state)

    def _fitted_state(self) -> dict[str, Any]:
        return {
            name: value
            for name, value in vars(self).items()
            if name.endswith("_") and not name.startswith("_")
        }

    # ------------------------------------------------------------------- inference
    def _scale(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | float]:
        """``X`` in network units, and the factor that brings network output back to X's units."""
        return scale_windows(X, self.scaling_, self.scale_)

    @torch.no_grad()
    def _map_batches(
        self, fn: Any, X: np.ndarray, device: Any, rescale: bool = False
    ) -> np.ndarray:
        """``fn`` on scaled batches of ``X``: memory is bounded by the batch, not by ``X``.

        With ``rescale``, outputs are brought back to the units of ``X``.
        """
        outputs = []
        compute = self._compute()
        with compute.scope():
            for start in range(0, len(X), self.batch_size):
                batch, factor = self._scale(X[start : start + self.batch_size])
                with compute.autocast(device):
                    out = fn(torch.from_numpy(batch).to(device))
                out = out.float().cpu().numpy()
                outputs.append(out * factor if rescale else out)
        return np.concatenate(outputs)

    # ----------------------------------------------------------------- persistence
    def save_pretrained(
        self,
        directory: str | Path,
        *,
        training_data: str | None = None,
        metrics: dict[str, float] | None = None,
    ) -> Path:
        """Write the fitted estimator as ``config.json``, ``model.safetensors`` and a model card.

        Loading (:meth:`from_pretrained`) reads only JSON and safetensors, so, unlike pickle
        or joblib files, it never executes code from the files. The folder is replaced as a
        whole, atomically: at any moment, even if the process is killed while saving, it
        holds the old model or the new one, whole. ``checkpoint_dir`` and ``resume`` are not
        saved; a ``random_state`` given as a RandomState is saved as None. The model card,
        ``README.md``, is what the Hugging Face Hub shows (:func:`sk_eegm2.hub.model_card`):
        the training data's channels, rate, window length and number of windows, the
        architecture, ``metrics`` and the paper to cite.

        Parameters
        ----------
        directory : str or Path
            A new folder, or one written by ``save_pretrained`` before (other files in it
            are refused: the folder is replaced). A symlink to a folder stays a link: the
            folder it points to gets the model. Of two saves racing to one folder, the
            last one wins, each model whole.
        training_data : str, optional
            What the model was trained on, in words, for the model card.
        metrics : dict of str to float, optional
            Scores for the model card, by name (say how they were measured in
            ``training_data``).

        Returns
        -------
        Path
            The directory.
        """
        check_is_fitted(self)
        card = hub.model_card(self, training_data=training_data, metrics=metrics)
        return _persistence.save(self, directory, card)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        training_data: str | None = None,
        metrics: dict[str, float] | None = None,
        private: bool | None = None,
        revision: str | None = None,
        commit_message: str | None = None,
        token: str | bool | None = None,
    ) -> str:
        """Upload the fitted estimator, as :meth:`save_pretrained` writes it, to the Hub.

        Needs ``huggingface_hub`` (``pip install 'sk_eegm2[hub]'``) and a login with write
        access (``hf auth login``, or ``token``). See :func:`sk_eegm2.hub.push_to_hub`.

        Parameters
        ----------
        repo_id : str
            ``"owner/name"``; created if it does not exist.
        training_data, metrics : optional
            For the model card, as in :meth:`save_pretrained`.
        private : bool, optional
            Visibility of a new repository.
        revision : str, optional
            The branch to commit to (default: main).
        commit_message : str, optional
        token : str or bool, optional

        Returns
        -------
        str
            The URL of the commit.
        """
        check_is_fitted(self)
        return hub.push_to_hub(
            self,
            repo_id,
            training_data=training_data,
            metrics=metrics,
            private=private,
            revision=revision,
            commit_message=commit_message,
            token=token,
        )

    @classmethod
    def from_pretrained(
        cls,
        directory: str | os.PathLike[str],
        device: str = "auto",
        *,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        token: str | bool | None = None,
    ) -> Any:
        """Load an estimator written by :meth:`save_pretrained`, from a folder or the Hub.

        Every parameter and fitted attribute in ``config.json`` is checked (names, types,
        values), and the networks it describes against the weights' shapes, before the
        networks are allocated. A Hub repository's files are downloaded into the Hub cache
        (``HF_HUB_CACHE``; offline, ``HF_HUB_OFFLINE=1``, they are read from it) and read the
        same way.

        Parameters
        ----------
        directory : str or Path
            Folder with ``config.json`` and ``model.safetensors``, or, where no such folder
            exists, a Hugging Face Hub repository ``"owner/name"`` (needs
            ``pip install 'sk_eegm2[hub]'``).
        device : str
            Where to put the networks ("auto": CUDA when available).
        revision : str, optional
            Hub only: a branch, tag or commit hash (default: main).
        cache_dir : str or Path, optional
            Hub only: the cache folder (default: ``HF_HUB_CACHE``).
        token : str or bool, optional
            Hub only: for private repositories.

        Returns
        -------
        estimator
            Fitted, ready for ``transform`` / ``predict``.
        """
        if not Path(directory).exists() and hub.is_repo_id(directory):
            try:
                directory = hub.download(
                    str(directory), revision=revision, cache_dir=cache_dir, token=token
                )
            except FileNotFoundError as error:
                raise FileNotFoundError(f"No folder {directory} here. {error}") from None
        elif revision is not None:
            raise ValueError(
                f"revision={revision!r} selects a version of a Hub repository, but "
                f"{directory} is a local folder."
            )
        return _persistence.load(cls, directory, device)

    def __getstate__(self) -> dict[str, Any]:
        return _persistence.get_state(self, super().__getstate__())

    def __setstate__(self, state: dict[str, Any]) -> None:
        _persistence.set_state(self, state)
