"""EEGM2Pretrainer: self-supervised EEGM2 pretraining as a scikit-learn transformer."""

from __future__ import annotations

import os
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import LRScheduler
from skorch.utils import to_tensor
from torch.utils.data import Dataset

from ._base import EEGM2Estimator
from ._nets import restore_net
from ._parameters import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    FeatureSpec,
    FittedAttribute,
    estimator_parameters,
    fitted,
    parameter,
)
from ._training import (
    AutocastMixin,
    InterruptFlagMixin,
    Trained,
    draw_seed,
    seeded,
    split_arrays,
    split_stream,
    untrained,
)
from .distributed import DistributedMixin, make_accelerator
from .montage import Adaptation, ConcatWindows, adapt_stream, warn_adaptation
from .nn import (
    MaskedAutoencoder,
    MaskedSpatioTemporalLoss,
    SpatioTemporalLoss,
    encoder_features,
    feature_names,
    parse_features,
)
from .nn.authors import load_authors_weights
from .scaling import fit_scale
from .validation import amplitude, as_window_dataset, describe_stream


class ReconstructionNet(AutocastMixin, InterruptFlagMixin, NeuralNet):
    """A skorch net whose target is its input: the loss compares the reconstruction with X."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(y_pred, to_tensor(X, device=self.device))


class DistributedReconstructionNet(DistributedMixin, ReconstructionNet):
    """:class:`ReconstructionNet` trained by Accelerate over several processes."""


@estimator_parameters
class EEGM2Pretrainer(TransformerMixin, EEGM2Estimator):
    """Self-supervised EEGM2 pretraining; ``transform`` gives frozen-encoder features.

    ``fit`` trains the EEGM2 autoencoder to reconstruct its input under the spatiotemporal
    loss (no labels). ``transform`` runs the encoder up to its last pooling layer and returns
    nine statistics per feature channel over time, EEGM2's "Light" representation (2,304
    features for the default widths), so that
    ``Pipeline([("eegm2", EEGM2Pretrainer()), ("clf", LogisticRegression())])`` is the
    paper's EEGM2 (Linear). Training defaults follow the paper's recipe: AdamW, one-cycle
    learning rate stepped per batch, gradient clipping at norm 1, best validation loss kept.

    Parameters
    ----------
    %(parameters)s

    Attributes
    ----------
    %(fitted)s

    Notes
    -----
    %(interruption)s

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> pipe = make_pipeline(EEGM2Pretrainer(max_epochs=20), LogisticRegression())
    >>> pipe.fit(epochs, y).predict(epochs)  # doctest: +SKIP
    """

    _net_class = ReconstructionNet
    _fitted_attributes: ClassVar[dict[str, FittedAttribute]] = {
        **EEGM2Estimator._fitted_attributes,
        "net_": fitted(
            "ReconstructionNet",
            "The trained skorch net; ``net_.module_`` is the :class:`~sk_eegm2.nn.EEGM2` network.",
            [NeuralNet],
        ),
        "features_": fitted(
            "tuple of str",
            "The parts of ``features``, parsed in ``fit``: what ``transform`` returns.",
            [FeatureSpec(tuple)],
        ),
        "n_time_bins_": fitted(
            "int",
            "``n_time_bins`` in ``fit``: the bins that ``transform`` returns.",
            [POSITIVE_INT],
        ),
    }

    init_weights: str | os.PathLike[str] | None = parameter(
        None,
        [str, os.PathLike, None],
        "str, path-like or None",
        """A state-dict file of the authors' EEGM2 (their ``best_model.pth``, written by
``torch.save(model.state_dict(), path)``) to start from instead of random weights. It is read
with ``weights_only=True`` (no code runs) and its keys and shapes must match the network
that the preset, the settings below and the channels of ``X`` give (else ValueError). With
``max_epochs=0``, ``fit`` only records the input and the scaling: the authors' network, as
it is, for ``transform`` or for an :class:`EEGM2Classifier` to fine-tune.""",
        role="model",
        saved=False,
        fingerprinted=False,
    )
    max_epochs: int = parameter(
        100,
        [Interval(Integral, 0, None, closed="left")],
        "int",
        """Training epochs (the paper used 500 on a GPU). 0 trains nothing: ``fit`` records
the input and the scaling and keeps the network as initialised (random weights, e.g. an
untrained twin to compare pretraining with, or those of ``init_weights``).""",
        role="training",
    )
    batch_size: int = parameter(
        64,
        [POSITIVE_INT],
        "int",
        """Windows per batch, for training and inference. With ``distributed=True`` this is the
global batch, shared out among the processes (it must be a multiple of their number).""",
        role="training",
    )
    lr: float = parameter(
        5e-4,
        [POSITIVE],
        "float",
        """Peak learning rate of the one-cycle schedule (it starts at ``lr / 2``, ends at
``lr / 200``).""",
        role="training",
    )
    weight_decay: float = parameter(
        1e-2, [NON_NEGATIVE], "float", "AdamW weight decay.", role="training"
    )
    alpha: float = parameter(
        1.0, [NON_NEGATIVE], "float", "Weight of the L1 term of the loss.", role="training"
    )
    beta: float = parameter(
        1.0, [NON_NEGATIVE], "float", "Weight of the spectral term of the loss.", role="training"
    )
    fft_norm: str = parameter(
        "backward",
        [StrOptions({"backward", "ortho", "forward"})],
        '{"backward", "ortho", "forward"}',
        'FFT normalisation of the spectral term ("backward": none, as in the paper).',
        role="training",
    )
    features: str = parameter(
        "light",
        [FeatureSpec()],
        "str",
        """What ``transform`` returns: one or more of "light" (nine statistics of the last
pooled encoder output: the paper's Light features), "bottleneck" (the same after the
bottleneck), "logvar" (log-variance of every encoder level's channels: log-power of learned
filters, for tasks that differ in band power) and "bins" (the last pooled output averaged
in ``n_time_bins`` time bins: for tasks with a time course, such as ERPs), joined by "+",
e.g. "light+logvar". See :func:`sk_eegm2.nn.encoder_features`. Read in ``fit``
(``features_``): changing it afterwards takes a refit.""",
        role="model",
    )
    n_time_bins: int = parameter(
        8,
        [POSITIVE_INT],
        "int",
        'Time bins of the "bins" features; read in ``fit`` (``n_time_bins_``).',
        role="model",
    )
    mask_ratio: float = parameter(
        0.0,
        [Interval(Real, 0, 1, closed="left")],
        "float",
        """Masked pretraining (not the paper's, which masks nothing): the share of each
window's time hidden from the network in spans of ``mask_span`` samples (set to 0 on all
channels); the loss then counts masked positions only
(:class:`sk_eegm2.nn.MaskedAutoencoder`).""",
        role="training",
    )
    mask_span: int = parameter(
        32, [POSITIVE_INT], "int", "Length of the masked time spans, in samples.", role="training"
    )
    channel_mask_ratio: float = parameter(
        0.0,
        [Interval(Real, 0, 1, closed="left")],
        "float",
        "Share of the channels of each window hidden as a whole (masked pretraining).",
        role="training",
    )
    skip_dropout: float = parameter(
        0.0,
        [Interval(Real, 0, 1, closed="both")],
        "float",
        """Probability, per window and decoder level, that a skip connection is zeroed while
pretraining, so that the decoder must use the deep path (0: the paper).""",
        role="training",
    )
    window_seconds: float = parameter(
        10.0,
        [POSITIVE],
        "float",
        """Window length for recordings passed to ``fit`` (paths or Raw objects), cut
back-to-back; other inputs are windows already. For other strides or channels pass a
:class:`~sk_eegm2.streaming.RecordingWindows`.""",
        role="data",
    )
    num_workers: int = parameter(
        0,
        [Interval(Integral, 0, None, closed="left")],
        "int",
        """Processes of the PyTorch DataLoader that read and scale training and validation
windows (0: the training process itself). Worth setting when windows stream from disk, so
that reading overlaps computing.""",
        role="training",
        fingerprinted=False,
    )
    distributed: bool = parameter(
        False,
        ["boolean"],
        "bool",
        """Train data-parallel with Hugging Face Accelerate (``pip install
'sk_eegm2[distributed]'``): run the same script under ``torchrun --nproc_per_node N`` or
``accelerate launch``, and each process trains on its share of every batch, one GPU each
(``device="auto"``) or on CPUs (``device="cpu"``, gloo). Every process ends with the same
fitted estimator, which equals a single-process run with the same ``batch_size`` when the
training windows are a multiple of ``batch_size`` (else Accelerate fills the last batch up
with windows from the start of the epoch). One process without a launcher works too;
``random_state`` is then process 0's. See the scaling guide.""",
        role="training",
        fingerprinted=False,
    )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def fit(self, X: Any, y: Any = None, groups: Any = None) -> EEGM2Pretrainer:
        """Pretrain the network to reconstruct ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_chans, n_times), mne.Epochs, recordings or Dataset
            EEG windows in memory (see :func:`sk_eegm2.validation.check_eeg`), or windows read
            from disk as training goes, so that the corpus never has to fit in memory: paths
            to EEG files (EDF, BDF, FIF, ...) or :class:`mne.io.BaseRaw` objects, alone or in
            a list (cut into windows of ``window_seconds``), a
            :class:`~sk_eegm2.streaming.RecordingWindows`, or any map-style
            :class:`torch.utils.data.Dataset` whose items are windows of shape
            (n_chans, n_times), or tuples starting with one, all of one shape (braindecode's
            windowed datasets among them). Several datasets, or a list of Epochs, of
            different montages or rates are brought to the first one's channels and rate
            as ``channels`` and ``resample`` allow, and pretrained on together.
        y : ignored
            Pretraining uses no labels.
        groups : array-like, optional
            Subject of each window (of each recording, for recordings; of each window of
            all datasets together, for several datasets): the validation split then holds
            out whole subjects. Reaches ``fit`` through Pipeline / GridSearchCV
            with metadata routing enabled (``set_fit_request(groups=True)``).

        Returns
        -------
        self

        Notes
        -----
        With "global" ``scaling`` and windows on disk, the scale is estimated from up to
        1,000 windows spread evenly over the data; "window" scaling needs no estimate.
        """
        with self._fitting():
            self._fit(X, groups)
        return self

    def _fit(self, X: Any, groups: Any) -> None:
        self.features_ = parse_features(self.features)
        self.n_time_bins_ = self.n_time_bins
        config = self._network_config()
        stream, adaptation = self._stream(X)
        accelerator = make_accelerator(self.device) if self.distributed else None
        seed = draw_seed(self.random_state, accelerator)
        self.scaling_ = self.scaling
        train: tuple[Any, Any]
        valid: Any
        if stream is None:
            eeg = self._adapted(X, None)
            self._record_input(eeg.shape, len(eeg.X), config)
            self.scale_ = fit_scale(eeg.X, self.scaling_)
            self.amplitude_ = amplitude(eeg.X)
            data, _ = self._scale(eeg.X)
            train, valid = split_arrays(data, None, groups, self.validation_fraction, seed)
        else:
            shape = describe_stream(stream)
            self.adaptation_ = adaptation
            n_windows = len(stream)  # type: ignore[arg-type]  # describe_stream checked it
            self._record_input(shape, n_windows, config, "the dataset's windows")
            self.scale_ = fit_scale(stream, self.scaling_)
            self.amplitude_ = amplitude(stream)
            train, valid = split_stream(
                stream, groups, self.validation_fraction, seed, self.scaling_, self.scale_
            )
        # Workers start anew each epoch: persistent ones would draw less from the random
        # state than a loader without workers, and results would depend on num_workers.
        loaders = {
            f"{loader}__num_workers": self.num_workers
            for loader in ("iterator_train", "iterator_valid")
        }
        with seeded(seed):
            network = self._build_network(self.n_chans_, config)
            if self.init_weights is not None:
                load_authors_weights(network, self.init_weights)
            if self.max_epochs == 0:  # the network as initialised: no training, no history
                self._keep(untrained(ReconstructionNet, network, self.device))
                return
            masked = any((self.mask_ratio, self.channel_mask_ratio, self.skip_dropout))
            module: torch.nn.Module = network
            if masked:
                module = MaskedAutoencoder(
                    network,
                    self.mask_ratio,
                    self.mask_span,
                    self.channel_mask_ratio,
                    self.skip_dropout,
                )
            steps = self.max_epochs * -(-len(train[0]) // self.batch_size)
            # OneCycleLR divides by zero when its warm-up is under one step or ends at the
            # last step, which only very short runs hit: give those a longer warm-up.
            total_steps = max(3, steps)
            schedule = LRScheduler(
                policy=torch.optim.lr_scheduler.OneCycleLR,
                step_every="batch",
                max_lr=self.lr,
                total_steps=total_steps,
                pct_start=max(0.1, 2 / total_steps),
                div_factor=2.0,
                final_div_factor=100.0,
                anneal_strategy="cos",
            )
            self._train(
                ReconstructionNet,
                module,
                train,
                valid,
                criterion=MaskedSpatioTemporalLoss if masked else SpatioTemporalLoss,
                optimizer=torch.optim.AdamW,
                optimizer_params={"weight_decay": self.weight_decay},
                callbacks=[("one_cycle", schedule), *self._augment_callbacks(seed)],
                accelerator=accelerator,
                distributed_class=DistributedReconstructionNet,
                criterion__alpha=self.alpha,
                criterion__beta=self.beta,
                criterion__fft_norm=self.fft_norm,
                **loaders,
            )

    def _stream(self, X: Any) -> tuple[Dataset | None, tuple[Adaptation, ...]]:
        """``X`` as a dataset of windows read on demand (None for windows in memory), and
        what was done to bring several datasets to the first one's channels and rate."""
        if not (isinstance(X, (list, tuple)) and X and all(isinstance(d, Dataset) for d in X)):
            return as_window_dataset(X, self.window_seconds), ()
        target = describe_stream(X[0])
        parts, records = [X[0]], []
        for windows in X[1:]:
            adapted, record = adapt_stream(windows, target, self.channels, self.resample)
            warn_adaptation(record, type(self).__name__, "a dataset")
            parts.append(adapted)
            records += [record] if record is not None else []
        for part in parts[1:]:
            shape = describe_stream(part)
            if (shape.ch_names, shape.sfreq, shape.n_chans) != (
                target.ch_names, target.sfreq, target.n_chans,
            ):  # fmt: skip
                raise ValueError(
                    "The datasets differ in sampling rate or channels; let the estimator "
                    "adapt them (channels='match' or 'interpolate', resample=True)."
                )
            if shape.n_times != target.n_times:
                raise ValueError(
                    f"After adaptation, the datasets' windows have {target.n_times} and "
                    f"{shape.n_times} time points; cut windows of the same duration in each."
                )
        return ConcatWindows(parts, target.sfreq, target.ch_names), tuple(records)

    def _keep(self, trained: Trained) -> None:
        """Keep the bare network of masked pretraining (transform and reuse need it)."""
        net, history, device = trained
        if isinstance(net.module_, MaskedAutoencoder):
            net = restore_net(ReconstructionNet, net.module_.network, device)
            net.history = history
        super()._keep(Trained(net, history, device))

    def transform(self, X: Any) -> np.ndarray:
        """Encoder features (``features``; by default nine statistics of each channel).

        Works on any window length of at least ``2 ** len(widths)`` time points.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_chans, n_times), or mne.Epochs

        Returns
        -------
        ndarray of float32, shape (n_samples, n_features)
            ``9 * widths[-1]`` for "light", in the order of :meth:`get_feature_names_out`.
        """
        data = self._check_X(X)
        module = self.net_.module_.eval()
        return self._map_batches(
            lambda x: encoder_features(module, x, self.features_, self.n_time_bins_),
            data,
            self.net_.device,
        )

    def reconstruct(self, X: Any) -> np.ndarray:
        """The network's reconstruction of ``X``, in the units of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_chans, n_times), or mne.Epochs

        Returns
        -------
        ndarray of float32, shape (n_samples, n_chans, n_times)
        """
        data = self._check_X(X)
        module = self.net_.module_.eval()
        return self._map_batches(module, data, self.net_.device, rescale=True)

    def score(self, X: Any, y: Any = None) -> float:
        """Negative reconstruction loss (higher is better), in network units.

        Lets a pretrainer alone be tuned with GridSearchCV.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_chans, n_times), or mne.Epochs
        y : ignored

        Returns
        -------
        float
        """
        data = self._check_X(X)
        module = self.net_.module_.eval()
        criterion = SpatioTemporalLoss(self.alpha, self.beta, self.fft_norm)  # type: ignore[arg-type]
        losses = self._map_batches(
            lambda x: criterion(module(x), x).reshape(1) * len(x), data, self.net_.device
        )
        return -float(losses.sum() / len(data))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the ``transform`` outputs, in its order.

        For "light": ``"pool_{statistic}_{channel}"``, statistic-major, with ``statistic``
        one of :data:`~sk_eegm2.nn.STATISTICS` and ``channel`` from 0 to
        ``config_.widths[-1] - 1`` (``"pool_min_0"``, ``"pool_min_1"``, ...); the other
        feature sets are named by :func:`sk_eegm2.nn.feature_names`.

        Parameters
        ----------
        input_features : ignored
            Present for scikit-learn's API.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self)
        names = feature_names(self.config_.widths, self.features_, self.n_time_bins_)
        return np.asarray(names, dtype=object)

    def _network_modules(self) -> dict[str, torch.nn.Module]:
        return {"net_": self._build_network(self.n_chans_, self.config_)}
