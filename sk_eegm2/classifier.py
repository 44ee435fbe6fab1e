"""EEGM2Classifier: fine-tuning (or training from scratch) as a scikit-learn classifier."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import ClassifierMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch import NeuralNetClassifier

from ._base import EEGM2Estimator, restore_net
from .nn import FineTuneNetwork, LightHead, PooledHeadNetwork, summary_statistics
from .pretrainer import EEGM2Pretrainer
from .validation import check_eeg

logger = logging.getLogger(__name__)
MODES = ("fine", "light")
HEADS = ("reconstruction", "pooled")


class EEGM2Classifier(ClassifierMixin, EEGM2Estimator):
    """EEGM2 for classification: fine-tune a pretrained network, or train one from scratch.

    - ``mode="fine"`` (EEGM2 Fine; Scratch when ``pretrained=None``): the whole network,
      then its reconstruction flattened into ``Linear(C*T, 128) -> ReLU -> Linear(128, K)``;
      every weight is trained. Windows must keep the length seen in ``fit``.
    - ``mode="light"`` (EEGM2 Light): the encoder is frozen; nine statistics over time of its
      last pooled output (2,304 features by default), standardised, feed an MLP
      ``2304 -> 128 -> 32 -> K`` with ReLU and dropout 0.5. Any window length works.

    Parameters
    ----------
    pretrained : EEGM2Pretrainer, FrozenEstimator, str, Path or None, default=None
        Where the network comes from. A fitted :class:`EEGM2Pretrainer` (or one wrapped in
        :class:`sklearn.frozen.FrozenEstimator`) gives its weights, copied. A path loads
        :meth:`EEGM2Pretrainer.from_pretrained`. An *unfitted* pretrainer is first fitted on
        the ``X`` given to ``fit`` (self-supervised, no labels): this is what happens inside
        GridSearchCV or cross_validate, which clone their estimators; wrap a fitted
        pretrainer in ``FrozenEstimator`` (or pass its saved folder) to reuse it across folds.
        None: a fresh network built from the architecture arguments below.
    mode : {"fine", "light"}, default="fine"
    widths, d_state, d_conv, expand, headdim, chunk_size, bidirectional, backend
        Architecture, used when ``pretrained`` is None (else the pretrained network's).
        See :class:`EEGM2Pretrainer`.
    scaling : {"window", "global", None}, default="window"
        Amplitude scaling, used when ``pretrained`` is None (else the pretrainer's).
    hidden : int, default=128
        Hidden width of the fine-mode head.
    dropout : float, default=0.5
        Dropout of the light-mode MLP.
    head : {"reconstruction", "pooled"}, default="reconstruction"
        Fine mode's head: the paper's, on the flattened reconstruction, or a linear head on
        pooled encoder features (``head_features``; :class:`sk_eegm2.nn.PooledHeadNetwork`),
        with far fewer weights and any window length.
    head_features : str, default="logvar"
        Encoder features of the "pooled" head (see :func:`sk_eegm2.nn.encoder_features`).
    backbone_lr : float or None, default=None
        Fine mode: learning rate of the network's weights (the head's is ``lr``), e.g. lower
        than ``lr`` so that fine-tuning keeps what pretraining learned. None: ``lr``.
    class_weight : "balanced", dict or None, default=None
        Weights of the classes in the cross-entropy, as in scikit-learn: "balanced" weighs
        each class inversely to its frequency, so an imbalanced training set (e.g. rest three
        times as long as the task) does not collapse predictions onto the majority class.
    max_epochs : int, default=30
    batch_size : int, default=64
    lr : float, default=1e-4
        Adam learning rate.
    weight_decay : float, default=0.0
    patience : int or None, default=10
        Early stopping on the validation loss (None: never early; the best epoch is kept).
    validation_fraction : float, default=0.1
        Share of windows (of subjects, with ``groups``) held out for early stopping.
    checkpoint_dir : str or None, default=None
        If set, a checkpoint (weights, optimizer, schedule, early stopping, history, random
        state) is written there after every epoch, atomically.
    resume : bool, default=False
        With ``checkpoint_dir``: continue from its checkpoint, if any, instead of starting
        over (same data and settings). A resumed run ends as the uninterrupted run would.
    device : str, default="auto"
    random_state : int, RandomState or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, in the order of ``predict_proba``'s columns.
    net_ : skorch.NeuralNetClassifier
        The trained net (fine: the whole network and head; light: the MLP).
    encoder_ : EEGM2 or None
        Light mode: the frozen network, on the device of ``net_``; None in fine mode.
    architecture_ : dict
        The network settings used (the pretrained network's, or the arguments above).
    history_ : skorch.History
    n_chans_, n_times_, n_features_in_, sfreq_, ch_names_, device_
        As in :class:`EEGM2Pretrainer`.
    """

    def __init__(
        self,
        pretrained: Any = None,
        mode: str = "fine",
        widths: tuple[int, ...] = (64, 128, 256),
        d_state: int = 16,
        d_conv: int = 2,
        expand: int = 8,
        headdim: int = 64,
        chunk_size: int = 256,
        bidirectional: bool = False,
        backend: str = "auto",
        scaling: str | None = "window",
        hidden: int = 128,
        dropout: float = 0.5,
        head: str = "reconstruction",
        head_features: str = "logvar",
        backbone_lr: float | None = None,
        class_weight: str | dict | None = None,
        max_epochs: int = 30,
        batch_size: int = 64,
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        patience: int | None = 10,
        validation_fraction: float = 0.1,
        checkpoint_dir: str | None = None,
        resume: bool = False,
        device: str = "auto",
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
    ) -> None:
        self.pretrained = pretrained
        self.mode = mode
        self.widths = widths
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.headdim = headdim
        self.chunk_size = chunk_size
        self.bidirectional = bidirectional
        self.backend = backend
        self.scaling = scaling
        self.hidden = hidden
        self.dropout = dropout
        self.head = head
        self.head_features = head_features
        self.backbone_lr = backbone_lr
        self.class_weight = class_weight
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _architecture(self) -> dict[str, Any]:
        fitted = getattr(self, "architecture_", None)
        return dict(fitted) if fitted is not None else super()._architecture()

    def _takes_any_length(self) -> bool:
        # the reconstruction head is a Linear over C * T inputs
        return self.mode == "light" or self.head == "pooled"

    def _resolve_pretrainer(self, X: Any, groups: Any) -> EEGM2Pretrainer | None:
        """The fitted pretrainer that ``pretrained`` designates (fitting it if needed)."""
        source = self.pretrained
        if source is None:
            return None
        if isinstance(source, FrozenEstimator):
            source = source.estimator
        if isinstance(source, (str, Path)):
            return EEGM2Pretrainer.from_pretrained(source, device=self.device)
        if not isinstance(source, EEGM2Pretrainer):
            raise TypeError(
                "pretrained must be None, an EEGM2Pretrainer (optionally in a FrozenEstimator) "
                f"or a folder written by save_pretrained; got {type(source).__name__}."
            )
        if hasattr(source, "net_"):
            return source
        logger.info("pretrained is not fitted: pretraining it on the training data first.")
        return clone(source).fit(X, groups=groups)

    def fit(self, X: Any, y: Any, groups: Any = None) -> EEGM2Classifier:
        """Train (or fine-tune) on windows ``X`` with labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_chans, n_times), or mne.Epochs
        y : array-like of shape (n_samples,)
            Class labels of any type (strings, non-contiguous integers, ...).
        groups : array-like of shape (n_samples,), optional
            Subject of each window; early stopping then validates on held-out subjects.

        Returns
        -------
        self
        """
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}.")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}.")
        if y is None:
            raise ValueError(
                "EEGM2Classifier requires y to be passed, but the target y is None; use "
                "EEGM2Pretrainer for training without labels."
            )
        eeg = check_eeg(X)  # bad windows are reported before anything about the labels
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if len(y) != len(eeg.X):
            raise ValueError(f"X has {len(eeg.X)} windows but y has {len(y)} labels.")
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has 1 class ({self.classes_[0]}); a classifier needs at least 2 classes."
            )
        labels = encoder.transform(y).astype(np.int64)
        pretrainer = self._resolve_pretrainer(eeg, groups)
        source = pretrainer if pretrainer is not None else self
        self.architecture_ = {name: getattr(source, name) for name in self._ARCHITECTURE}
        data = self._check_X(eeg, reset=True).X
        if pretrainer is None:
            self._fit_scaling(data)
        elif pretrainer.n_chans_ != self.n_chans_:
            raise ValueError(
                f"The pretrained network has {pretrainer.n_chans_} channels but X has "
                f"{self.n_chans_}; pretrain on the same channels."
            )
        else:
            self.scale_ = pretrainer.scale_
        seed = self._draw_seed()
        with self._seeded(seed):
            if pretrainer is None:
                network = self._build_network(self.n_chans_)
            else:  # a copy: fine-tuning must not change the user's pretrainer
                network = copy.deepcopy(pretrainer.net_.module_).cpu()
            if self.mode == "fine":
                self.encoder_ = None
                module: torch.nn.Module = self._fine_network(network, len(self.classes_))
                inputs, _ = self._scale(data)
            else:  # the encoder is frozen: its features are computed once, not every epoch
                device = self._resolve_device()
                self.encoder_ = network.eval().requires_grad_(False).to(device)
                features = self._map_batches(self._light_features, data, device)
                self.feature_mean_ = features.mean(0)
                self.feature_scale_ = features.std(0) + 1e-8
                inputs = (features - self.feature_mean_) / self.feature_scale_
                module = LightHead(inputs.shape[1], len(self.classes_), dropout=self.dropout)
            train, valid = self._split_arrays(inputs, labels, groups, seed)
            self._fit_net(
                NeuralNetClassifier,
                module,
                train,
                valid,
                criterion=torch.nn.CrossEntropyLoss,
                criterion__weight=self._class_weights(labels),
                optimizer=torch.optim.Adam,
                optimizer_params={"weight_decay": self.weight_decay, **self._param_groups()},
                callbacks=[],
                classes=np.arange(len(self.classes_)),
            )
        return self

    def _fine_network(self, network: Any, n_classes: int) -> torch.nn.Module:
        """The fine-mode network: ``network`` with the head named by ``head``."""
        if self.head == "pooled":
            return PooledHeadNetwork(network, n_classes, self.head_features)
        return FineTuneNetwork(network, self.n_times_, n_classes, self.hidden)

    def _param_groups(self) -> dict[str, Any]:
        """skorch's optimizer parameter groups giving the backbone ``backbone_lr``."""
        if self.mode != "fine" or self.backbone_lr is None:
            return {}
        return {"param_groups": [("backbone.*", {"lr": self.backbone_lr})]}

    def _class_weights(self, labels: np.ndarray) -> torch.Tensor | None:
        if self.class_weight is None:
            return None
        weight: str | dict = self.class_weight
        if isinstance(weight, dict):  # keyed by the original labels
            weight = {self.classes_.tolist().index(k): v for k, v in weight.items()}
        classes = np.arange(len(self.classes_))
        weights = compute_class_weight(weight, classes=classes, y=labels)
        return torch.tensor(weights, dtype=torch.float32)

    def _light_features(self, x: torch.Tensor) -> torch.Tensor:
        """Summary statistics of the frozen encoder's pooled output, (B, 9 * widths[-1])."""
        assert self.encoder_ is not None
        return summary_statistics(self.encoder_.forward_features(x))

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
        check_is_fitted(self)
        data = self._check_X(X, reset=False).X
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

    # persistence hooks used by save_pretrained / from_pretrained
    def _fitted_config(self) -> dict[str, Any]:
        config = super()._fitted_config()
        config["classes_"] = self.classes_.tolist()
        config["classes_dtype"] = self.classes_.dtype.str
        config["architecture_"] = self.architecture_
        return config

    def _tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"net.{k}": v for k, v in self.net_.module_.state_dict().items()}
        if self.mode == "light":
            assert self.encoder_ is not None
            tensors |= {f"encoder.{k}": v for k, v in self.encoder_.state_dict().items()}
            tensors["feature_mean"] = torch.from_numpy(self.feature_mean_)
            tensors["feature_scale"] = torch.from_numpy(self.feature_scale_)
        return tensors

    def _restore(self, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.architecture_ = config["architecture_"]
        self.classes_ = np.asarray(config["classes_"], dtype=np.dtype(config["classes_dtype"]))
        n_classes = len(self.classes_)

        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

        network = self._build_network(self.n_chans_)
        if self.mode == "fine":
            self.encoder_ = None
            module: torch.nn.Module = self._fine_network(network, n_classes)
        else:
            network.load_state_dict(part("encoder."))
            self.encoder_ = network.eval().requires_grad_(False)
            self.feature_mean_ = tensors["feature_mean"].numpy()
            self.feature_scale_ = tensors["feature_scale"].numpy()
            module = LightHead(len(self.feature_mean_), n_classes, dropout=self.dropout)
        module.load_state_dict(part("net."))
        self.device_ = self._resolve_device()
        self.net_ = restore_net(NeuralNetClassifier, module, self.device_)
