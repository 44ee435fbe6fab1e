"""EEGM2Classifier: fine-tuning (or training from scratch) as a scikit-learn classifier."""

from __future__ import annotations

import copy
import logging
import os
from functools import partial
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import ClassifierMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import Callback, Freezer, LRScheduler, Unfreezer
from torch.optim.lr_scheduler import LambdaLR

from ._base import EEGM2Estimator
from ._nets import resolve_device
from ._parameters import (
    POSITIVE_INT,
    FeatureSpec,
    FittedAttribute,
    declared,
    estimator_parameters,
    fitted,
    parameter,
)
from ._training import (
    AutocastMixin,
    InterruptFlagMixin,
    draw_seed,
    seeded,
    split_arrays,
    untrained,
)
from .nn import (
    EEGM2,
    FineTuneNetwork,
    LightHead,
    PooledHeadNetwork,
    summary_statistics,
)
from .nn.authors import load_authors_head_weights
from .pretrainer import EEGM2Pretrainer
from .scaling import fit_scale
from .validation import (
    EEGData,
    amplitude,
    braindecode_targets,
    check_amplitude,
    check_labels,
    check_same_input,
)

logger = logging.getLogger(__name__)


#: The parameters of the network under a fine-mode head (FineTuneNetwork, PooledHeadNetwork),
#: as skorch names them: those that ``backbone_lr``, ``probe_epochs`` and ``warmup_epochs``
#: address.
BACKBONE = "backbone.*"


def _epoch_at_most(net: NeuralNet, last: int) -> bool:
    """Whether the epoch that begins is one of the first ``last`` (skorch counts from 1)."""
    return len(net.history) <= last


def _epoch_is(net: NeuralNet, epoch: int) -> bool:
    return len(net.history) == epoch


def _warmup_factor(step: int, start: int, length: int) -> float:
    """The learning-rate factor at optimiser ``step``: 1 before ``start``, then a linear rise
    over ``length`` steps from ``1 / length`` to 1, then 1."""
    if step < start:
        return 1.0
    return min(1.0, (step - start + 1) / length)


class ClassifierNet(AutocastMixin, InterruptFlagMixin, NeuralNetClassifier):
    """skorch's classifier net, which lets the estimator raise a Ctrl-C in training again."""


@estimator_parameters
class EEGM2Classifier(ClassifierMixin, EEGM2Estimator):
    """EEGM2 for classification: fine-tune a pretrained network, or train one from scratch.

    - ``mode="fine"`` (EEGM2 Fine; Scratch when ``pretrained=None``): the whole network,
      then its reconstruction flattened into ``Linear(C*T, 128) -> ReLU -> Linear(128, K)``;
      every weight is trained. Windows must keep the length seen in ``fit``.
    - ``mode="light"`` (EEGM2 Light): the encoder is frozen; nine statistics over time of its
      last pooled output (2,304 features by default), standardised (``standardize``), feed
      an MLP ``2304 -> 128 -> 32 -> K`` with ReLU and dropout 0.5. Any window length works.

    Parameters
    ----------
    %(parameters)s

    Attributes
    ----------
    %(fitted)s

    Notes
    -----
    %(interruption)s
    """

    pretrained: Any = parameter(
        None,
        [EEGM2Pretrainer, FrozenEstimator, str, os.PathLike, None],
        "EEGM2Pretrainer, FrozenEstimator, str, Path or None",
        """Where the network comes from. A fitted :class:`EEGM2Pretrainer` (or one wrapped in
:class:`sklearn.frozen.FrozenEstimator`) gives its weights, copied, and its architecture and
scaling (the parameters above are then not used); ``X`` must have its channels (names and
order, where known) and sampling rate. A folder loads
:meth:`EEGM2Pretrainer.from_pretrained`; a file is a state dict of the authors' network
(``best_model.pth``; see ``init_weights`` of :class:`EEGM2Pretrainer`), whose architecture
the parameters above must then give (the paper's is the preset "paper"). An *unfitted*
pretrainer is first fitted on the ``X`` given to ``fit`` (self-supervised, no labels): this
is what happens inside GridSearchCV or cross_validate, which clone their estimators; wrap a
fitted pretrainer in ``FrozenEstimator`` (or pass its saved folder) to reuse it across
folds. None: a fresh network of the architecture above (EEGM2 Scratch).""",
        role="model",
        saved=False,
        fingerprinted=False,
    )
    mode: str = parameter(
        "fine",
        [StrOptions({"fine", "light"})],
        '{"fine", "light"}',
        "Fine-tune the whole network, or train a head on frozen features (see above).",
        role="model",
    )
    hidden: int = parameter(
        128, [POSITIVE_INT], "int", "Hidden width of the fine-mode head.", role="model"
    )
    dropout: float = parameter(
        0.5,
        [Interval(Real, 0, 1, closed="left")],
        "float",
        "Dropout of the light-mode MLP.",
        role="model",
    )
    standardize: bool = parameter(
        True,
        ["boolean"],
        "bool",
        """Light mode: standardise each frozen feature (mean and standard deviation over the
training windows) before the MLP. False feeds them as they are, as the authors' Light code
does (``feature_mean_`` is then 0 and ``feature_scale_`` 1).""",
        role="model",
    )
    feature_order: str = parameter(
        "statistic",
        [StrOptions({"statistic", "authors"})],
        '{"statistic", "authors"}',
        """Light mode: order of the nine statistics' columns, ``order`` of
:func:`sk_eegm2.nn.summary_statistics`; "authors" is that of the authors' Light code and
checkpoints.""",
        role="model",
    )
    max_epochs: int = parameter(
        30,
        [Interval(Integral, 0, None, closed="left")],
        "int",
        """Training epochs. 0 (only with ``init_head``) trains nothing: the net keeps the
weights of ``init_head``, and ``fit`` only records the input, the classes and, in light mode,
the feature standardisation.""",
        role="training",
    )
    init_head: str | os.PathLike | None = parameter(
        None,
        [str, os.PathLike, None],
        "str, Path or None",
        """A downstream state dict of the authors whose weights start the trained net (see
:func:`sk_eegm2.nn.authors.load_authors_classifier`): in fine mode their Fine classifier
(network and head; ``pretrained`` then only sets the architecture), in light mode their Light
MLP (with ``feature_order="authors"`` and ``standardize=False``, as they trained it). The
sorted labels of ``y`` must be their classes 0, 1, ..., and the windows their length (fine).
With ``max_epochs=0`` the estimator predicts as their checkpoint does. None: fresh heads.""",
        role="model",
        saved=False,
        fingerprinted=False,
    )
    head: str = parameter(
        "reconstruction",
        [StrOptions({"reconstruction", "pooled"})],
        '{"reconstruction", "pooled"}',
        """Fine mode's head: the paper's, on the flattened reconstruction (``C * T * hidden``
weights; windows keep the length seen in ``fit``), or a linear head on pooled encoder
features (``head_features``; :class:`sk_eegm2.nn.PooledHeadNetwork`): far fewer weights,
any window length.""",
        role="model",
    )
    head_features: str = parameter(
        "logvar",
        [FeatureSpec()],
        "str",
        """Encoder features of the "pooled" head, as ``features`` of
:class:`EEGM2Pretrainer` (see :func:`sk_eegm2.nn.encoder_features`).""",
        role="model",
    )
    backbone_lr: float | None = parameter(
        None,
        [Interval(Real, 0, None, closed="neither"), None],
        "float or None",
        """Fine mode: learning rate of the network's own weights (the head's is ``lr``), e.g.
lower than ``lr`` so that fine-tuning keeps what pretraining learned. None: ``lr``.""",
        role="training",
    )
    probe_epochs: int = parameter(
        0,
        [Interval(Integral, 0, None, closed="left")],
        "int",
        """Fine mode: train only the head for this many epochs first, the network's own weights
frozen, then the whole network (linear probing, then fine-tuning: LP-FT, Kumar et al. 2022),
so that the randomly initialised head does not send large gradients into pretrained weights.
With early stopping, ``patience`` counts these epochs too. 0: the whole network from the
first epoch.""",
        role="training",
    )
    warmup_epochs: int = parameter(
        0,
        [Interval(Integral, 0, None, closed="left")],
        "int",
        """Fine mode: the learning rates (``lr`` and ``backbone_lr``) rise linearly, batch by
batch, from a step's share to their full value over this many epochs, counted from the first
epoch that trains the network's own weights (after ``probe_epochs``); constant afterwards.
0: no warm-up.""",
        role="training",
    )
    class_weight: str | dict | None = parameter(
        None,
        [StrOptions({"balanced"}), dict, None],
        '"balanced", dict or None',
        """Weights of the classes in the cross-entropy, as in scikit-learn: "balanced" weighs
each class inversely to its frequency, so an imbalanced training set (e.g. rest three times
as long as the task) does not collapse predictions onto the majority class. A dict maps
labels (as in ``y``) to weights; every key must be a label of ``y``.""",
        role="training",
    )

    _fitted_attributes: ClassVar[dict[str, FittedAttribute]] = {
        "classes_": fitted(
            "ndarray of shape (n_classes,)",
            "The labels, in the order of ``predict_proba``'s columns.",
            [np.ndarray],
        ),
        **EEGM2Estimator._fitted_attributes,
        "net_": fitted(
            "skorch.NeuralNetClassifier",
            "The trained net (fine: the whole network and head; light: the MLP).",
            [NeuralNetClassifier],
        ),
        "encoder_": fitted(
            "EEGM2 or None",
            "Light mode: the frozen network, on the device of ``net_``; None in fine mode.",
            [EEGM2, None],
        ),
        "feature_mean_": fitted(
            "ndarray of shape (9 * widths[-1],) or None",
            """Light mode: the mean that standardises the frozen features (0 when
``standardize`` is False); None in fine mode.""",
            [np.ndarray, None],
        ),
        "feature_scale_": fitted(
            "ndarray of shape (9 * widths[-1],) or None",
            """Light mode: the scale that standardises the frozen features (1 when
``standardize`` is False); None in fine mode.""",
            [np.ndarray, None],
        ),
    }
    _net_class = ClassifierNet

    def _takes_any_length(self) -> bool:
        # the reconstruction head is a Linear over C * T inputs
        return self.mode == "light" or self.head == "pooled"

    def _pretrainer_source(self) -> Any:
        """``pretrained`` unwrapped from a FrozenEstimator, its type checked."""
        source = self.pretrained
        if isinstance(source, FrozenEstimator):
            source = source.estimator
        if source is None or isinstance(source, (str, os.PathLike, EEGM2Pretrainer)):
            return source
        raise TypeError(
            "pretrained must be None, an EEGM2Pretrainer (optionally in a FrozenEstimator) "
            f"or a folder written by save_pretrained; got {type(source).__name__}."
        )

    def _fitted_pretrainer(self) -> EEGM2Pretrainer | None:
        """The pretrainer that ``pretrained`` designates if it is fitted (or saved), else None."""
        source = self._pretrainer_source()
        if isinstance(source, (str, os.PathLike)) and not _names_a_file(source):
            return EEGM2Pretrainer.from_pretrained(source, device=self.device)
        if isinstance(source, EEGM2Pretrainer) and hasattr(source, "net_"):
            return source
        return None

    def _fit_pretrainer(self, eeg: EEGData, groups: Any) -> EEGM2Pretrainer | None:
        """The pretrainer that ``pretrained`` designates when not fitted, fitted on ``eeg``."""
        source = self._pretrainer_source()
        if source is None:
            return None
        if isinstance(source, (str, os.PathLike)):
            # A state-dict file of the authors' network, as it is: no pretraining here.
            return EEGM2Pretrainer(
                init_weights=source,
                max_epochs=0,
                **{name: getattr(self, name) for name in declared(type(self), "architecture")},
                scaling=self.scaling,
                device=self.device,
            ).fit(eeg)
        logger.info("pretrained is not fitted: pretraining it on the training data first.")
        return clone(source).fit(eeg, groups=groups)

    def fit(self, X: Any, y: Any = None, groups: Any = None) -> EEGM2Classifier:
        """Train (or fine-tune) on windows ``X`` with labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_chans, n_times), mne.Epochs, or braindecode dataset
            Windows; a list of Epochs of several montages or rates is adapted as
            ``channels`` and ``resample`` allow, and a braindecode windows dataset is read
            whole (see :func:`sk_eegm2.validation.check_eeg_parts`).
        y : array-like of shape (n_samples,), optional
            Class labels of any type (strings, non-contiguous integers, ...). None: those of
            a braindecode dataset.
        groups : array-like of shape (n_samples,), optional
            Subject of each window; early stopping then validates on held-out subjects.

        Returns
        -------
        self
        """
        with self._fitting():
            self._fit(X, y, groups)
        return self

    def _fit(self, X: Any, y: Any, groups: Any) -> None:
        if self.max_epochs == 0 and self.init_head is None:
            raise InvalidParameterError(
                "The 'max_epochs' parameter of EEGM2Classifier must be at least 1 without "
                "init_head (a head that is not trained predicts nothing); got 0."
            )
        if self.mode == "light":
            if self.augment is not None:
                raise ValueError(
                    "augment transforms windows, but light mode trains its head on features "
                    "of the frozen encoder, computed once: use augment=None, or mode='fine'."
                )
            if self.probe_epochs or self.warmup_epochs:
                raise ValueError(
                    "probe_epochs and warmup_epochs schedule the training of the network's "
                    "own weights, which light mode keeps frozen: set them to 0, or use "
                    "mode='fine'."
                )
        if self.mode == "fine" and self.head == "pooled" and self.init_head is not None:
            raise ValueError(
                "init_head holds the authors' head, on the reconstruction: it needs "
                'head="reconstruction" in fine mode.'
            )
        fitted = self._fitted_pretrainer()
        # Windows are brought to the pretrained network's channels and rate where it has them
        # (as channels and resample allow), and bad windows are reported before the labels.
        eeg = self._adapted(X, None if fitted is None else fitted._fitted_shape())
        if y is None:  # a braindecode dataset holds its targets
            y = braindecode_targets(X)
        y = check_labels(y, len(eeg.X))
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has 1 class ({self.classes_[0]}); a classifier needs at least 2 classes."
            )
        labels = encoder.transform(y).astype(np.int64)
        class_weights = self._class_weights(labels)
        pretrainer = fitted if fitted is not None else self._fit_pretrainer(eeg, groups)
        if pretrainer is None:
            config = self._network_config()
            self.scaling_ = self.scaling
        else:
            check_same_input(
                eeg.shape, pretrainer._fitted_shape(), source="the pretrained network",
                any_length=True,
            )  # fmt: skip
            # Units too: the network learnt from windows of the pretrainer's amplitude.
            check_amplitude(eeg.X, pretrainer.amplitude_, source="the pretrained network")
            config = pretrainer.config_
            self.scaling_ = pretrainer.scaling_
        self._record_input(eeg.shape, len(eeg.X), config)
        data = eeg.X
        self.amplitude_ = amplitude(data)
        self.scale_ = fit_scale(data, self.scaling_) if pretrainer is None else pretrainer.scale_
        seed = draw_seed(self.random_state)
        with seeded(seed):
            if pretrainer is None:
                network = self._build_network(self.n_chans_, config)
            else:  # a copy: fine-tuning must not change the user's pretrainer
                network = copy.deepcopy(pretrainer.net_.module_).cpu()
            if self.mode == "fine":
                self.encoder_ = None
                self.feature_mean_ = self.feature_scale_ = None
                module: torch.nn.Module = self._fine_network(network, len(self.classes_))
                inputs, _ = self._scale(data)
            else:  # the encoder is frozen: its features are computed once, not every epoch
                device = resolve_device(self.device)
                self.encoder_ = network.eval().requires_grad_(False).to(device)
                features = self._map_batches(self._light_features, data, device)
                if self.standardize:
                    self.feature_mean_ = features.mean(0)
                    self.feature_scale_ = features.std(0) + 1e-8
                else:
                    self.feature_mean_ = np.zeros_like(features[0])
                    self.feature_scale_ = np.ones_like(features[0])
                inputs = (features - self.feature_mean_) / self.feature_scale_
                module = LightHead(inputs.shape[1], len(self.classes_), dropout=self.dropout)
            if self.init_head is not None:  # the pooled head was refused above
                assert isinstance(module, (FineTuneNetwork, LightHead))
                module = load_authors_head_weights(module, self.init_head)
            if self.max_epochs == 0:  # the net as initialised: no training, no history
                self._keep(untrained(ClassifierNet, module, self.device))
                return
            train, valid = split_arrays(inputs, labels, groups, self.validation_fraction, seed)
            self._train(
                ClassifierNet,
                module,
                train,
                valid,
                criterion=torch.nn.CrossEntropyLoss,
                criterion__weight=class_weights,
                optimizer=torch.optim.Adam,
                optimizer_params={"weight_decay": self.weight_decay, **self._param_groups()},
                callbacks=[
                    *self._fine_tuning_callbacks(
                        steps_per_epoch=-(-len(train[0]) // self.batch_size)
                    ),
                    *self._augment_callbacks(seed),
                ],
                classes=np.arange(len(self.classes_)),
            )

    def _fine_network(self, network: EEGM2, n_classes: int) -> torch.nn.Module:
        """The fine-mode network: ``network`` with the head that ``head`` names."""
        if self.head == "pooled":
            return PooledHeadNetwork(network, n_classes, self.head_features)
        return FineTuneNetwork(network, self.n_times_, n_classes, self.hidden)

    def _param_groups(self) -> dict[str, Any]:
        """skorch's optimizer parameter groups that give the backbone ``backbone_lr``."""
        if self.mode != "fine" or self.backbone_lr is None:
            return {}
        return {"param_groups": [(BACKBONE, {"lr": self.backbone_lr})]}

    def _fine_tuning_callbacks(self, steps_per_epoch: int) -> list[tuple[str, Callback]]:
        """skorch callbacks of ``probe_epochs`` (freezing) and ``warmup_epochs`` (schedule)."""
        callbacks: list[tuple[str, Callback]] = []
        if self.probe_epochs:
            # Frozen at every probe epoch, not only the first, so a run resumed from a
            # checkpoint of a probe epoch freezes too.
            probing = partial(_epoch_at_most, last=self.probe_epochs)
            unfreezing = partial(_epoch_is, epoch=self.probe_epochs + 1)
            callbacks += [
                ("probe", Freezer(BACKBONE, at=probing)),
                ("fine_tune", Unfreezer(BACKBONE, at=unfreezing)),
            ]
        if self.warmup_epochs:
            factor = partial(
                _warmup_factor,
                start=self.probe_epochs * steps_per_epoch,
                length=self.warmup_epochs * steps_per_epoch,
            )
            schedule = LRScheduler(policy=LambdaLR, lr_lambda=factor, step_every="batch")
            callbacks.append(("warmup", schedule))
        return callbacks

    def _class_weights(self, labels: np.ndarray) -> torch.Tensor | None:
        if self.class_weight is None:
            return None
        weight: str | dict = self.class_weight
        if isinstance(weight, dict):  # keyed by the original labels
            known = self.classes_.tolist()
            unknown = [k for k in weight if k not in known]
            if unknown:
                raise ValueError(
                    f"class_weight has weights for {unknown}, which are not labels of y "
                    f"(its classes are {known})."
                )
            weight = {known.index(k): v for k, v in weight.items()}
        classes = np.arange(len(self.classes_))
        weights = compute_class_weight(weight, classes=classes, y=labels)
        return torch.tensor(weights, dtype=torch.float32)

    def _light_features(self, x: torch.Tensor) -> torch.Tensor:
        """Summary statistics of the frozen encoder's pooled output, (B, 9 * widths[-1])."""
        assert self.encoder_ is not None
        return summary_statistics(self.encoder_.forward_features(x), order=self.feature_order)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a scaled batch of windows."""
        if self.mode == "fine":
            return self.net_.module_(x)
        mean, scale = (
            torch.from_numpy(a).to(x.device) for a in (self.feature_mean_, self.feature_scale_)
        )
        return self.net_.module_((self._light_features(x) - mean) / scale)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_chans, n_times), or mne.Epochs

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        data = self._check_X(X)
        self.net_.module_.eval()
        logits = self._map_batches(self._logits, data, self.net_.device)
        return torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (of the type given in ``fit``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_chans, n_times), or mne.Epochs

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def _network_modules(self) -> dict[str, torch.nn.Module]:
        network = self._build_network(self.n_chans_, self.config_)
        n_classes = len(self.classes_)
        if self.mode == "fine":
            return {"net_": self._fine_network(network, n_classes)}
        assert self.feature_mean_ is not None
        head = LightHead(len(self.feature_mean_), n_classes, dropout=self.dropout)
        return {"net_": head, "encoder_": network}

    def _check_saved_attributes(self, where: str) -> None:
        super()._check_saved_attributes(where)
        light = self.mode == "light"
        for name in ("feature_mean_", "feature_scale_"):
            value = getattr(self, name)
            if (value is None) == light or (
                light and value.shape != (9 * self.config_.widths[-1],)
            ):
                raise ValueError(f"{where}: {name} does not fit mode={self.mode!r}.")
        if len(self.classes_) < 2:
            raise ValueError(f"{where}: classes_ needs at least 2 classes.")


def _names_a_file(path: str | os.PathLike[str]) -> bool:
    """Whether something other than a folder is at ``path`` (a special file is refused later)."""
    return Path(path).exists() and not Path(path).is_dir()
