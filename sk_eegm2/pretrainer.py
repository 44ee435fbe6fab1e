"""EEGM2Pretrainer: self-supervised EEGM2 pretraining as a scikit-learn transformer."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import LRScheduler
from skorch.utils import to_tensor

from ._base import EEGM2Estimator, restore_net
from .distributed import DistributedMixin, make_accelerator
from .nn import (
    EEGM2,
    MaskedAutoencoder,
    MaskedSpatioTemporalLoss,
    SpatioTemporalLoss,
    encoder_features,
    feature_names,
    parse_features,
)
from .validation import as_window_dataset


class ReconstructionNet(NeuralNet):
    """A skorch net whose target is its input: the loss compares the reconstruction with X."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(y_pred, to_tensor(X, device=self.device))


class DistributedReconstructionNet(DistributedMixin, ReconstructionNet):
    """:class:`ReconstructionNet` trained by Accelerate over several processes."""


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
    widths : tuple of int, default=(64, 128, 256)
        Encoder widths; the depth is ``len(widths)`` and windows need at least
        ``2 ** len(widths)`` time points.
    d_state, d_conv, expand, headdim, chunk_size : int
        Mamba-2 settings (paper: 16, 2, 8, 64, 256).
    bidirectional : bool, default=False
        Weight-tied time-reversed pass in each Mamba-2 layer (not in the paper).
    backend : {"auto", "torch", "mamba_ssm"}, default="auto"
        Mamba-2 kernels: mamba-ssm's fused Triton kernels on CUDA when installed, else PyTorch.
    alpha, beta : float, default=1.0
        Weights of the L1 and spectral terms of the loss.
    fft_norm : {"backward", "ortho", "forward"}, default="backward"
        FFT normalisation of the spectral term ("backward": none, as in the paper).
    scaling : {"window", "global", None}, default="window"
        Amplitude scaling before the network. "window": each window and channel divided by
        its 95th percentile of ``|x|`` (the paper's TUAB preprocessing); "global": one such
        percentile over the whole training set; None: as given.
    features : str, default="light"
        What ``transform`` returns: one or more of "light" (nine statistics of the last
        pooled encoder output: the paper's Light features), "bottleneck" (the same after the
        bottleneck), "logvar" (log-variance of every encoder level's channels) and "bins"
        (the last pooled output averaged in ``n_time_bins`` time bins), joined by "+", e.g.
        "light+logvar". See :func:`sk_eegm2.nn.encoder_features`.
    n_time_bins : int, default=8
        Time bins of the "bins" features.
    mask_ratio : float, default=0.0
        Masked pretraining (not the paper's, which masks nothing): the share of time spans
        of each window hidden from the network (set to 0, on all channels), the loss then
        counting masked positions only (:class:`sk_eegm2.nn.MaskedAutoencoder`).
    mask_span : int, default=32
        Length of the masked time spans, in samples.
    channel_mask_ratio : float, default=0.0
        Share of channels of each window hidden as a whole (masked pretraining).
    skip_dropout : float, default=0.0
        Probability, per window and decoder level, that a skip connection is zeroed while
        pretraining, so that the decoder must use the deep path (0: the paper).
    max_epochs : int, default=100
        Training epochs (the paper used 500 on a GPU).
    batch_size : int, default=64
        Windows per batch, for training and inference. With ``distributed=True`` this is the
        global batch, shared out among the processes (it must be a multiple of their number).
    lr : float, default=5e-4
        Peak learning rate of the one-cycle schedule (it starts at ``lr / 2``, ends at
        ``lr / 200``).
    weight_decay : float, default=1e-2
        AdamW weight decay.
    patience : int or None, default=10
        Early stopping: epochs without validation improvement (None: never stop early;
        the best epoch is kept either way).
    validation_fraction : float, default=0.1
        Share of windows (of subjects, when ``groups`` is given; of recordings, for
        recordings) held out for validation. 0 trains on everything and keeps the last epoch.
    window_seconds : float, default=10.0
        Window length for recordings passed to ``fit`` (paths or Raw objects), cut
        back-to-back; other inputs are windows already. For other strides or channels pass a
        :class:`~sk_eegm2.streaming.RecordingWindows`.
    num_workers : int, default=0
        Processes of the PyTorch DataLoader that read and scale training and validation
        windows (0: the training process itself). Worth setting when windows stream from
        disk, so that reading overlaps computing.
    checkpoint_dir : str or None, default=None
        If set, a checkpoint (weights, optimizer, schedule, early stopping, history, random
        state) is written there after every epoch, atomically.
    resume : bool, default=False
        With ``checkpoint_dir``: continue from its checkpoint, if any, instead of starting
        over (same data and settings). A resumed run ends as the uninterrupted run would.
    device : str, default="auto"
        "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
    distributed : bool, default=False
        Train data-parallel with Hugging Face Accelerate (``pip install
        'sk_eegm2[distributed]'``): run the same script under ``torchrun --nproc_per_node N``
        or ``accelerate launch``, and each process trains on its share of every batch, one
        GPU each (``device="auto"``) or on CPUs (``device="cpu"``, gloo). Every process ends
        with the same fitted estimator, which equals a single-process run with the same
        ``batch_size`` when the training windows are a multiple of ``batch_size`` (else
        Accelerate fills the last batch up with windows from the start of the epoch). One
        process without a launcher works too. See the scaling guide.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, shuffling and the validation split (distributed: process 0's).
    verbose : int, default=0
        1 prints a line per epoch (losses, time).

    Attributes
    ----------
    net_ : ReconstructionNet
        The trained skorch net; ``net_.module_`` is the :class:`~sk_eegm2.nn.EEGM2` network.
    history_ : skorch.History
        Per-epoch losses.
    n_chans_, n_times_ : int
        Channels and window length seen in ``fit``.
    sfreq_ : float or None
        Sampling rate of MNE input and recordings (or of a dataset with an ``sfreq``
        attribute), else None.
    ch_names_ : list of str or None
        Channel names of MNE input and recordings (or of a dataset with ``ch_names``), else
        None.
    n_features_in_ : int
        ``n_chans_ * n_times_``.
    device_ : str
        The device used.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> pipe = make_pipeline(EEGM2Pretrainer(max_epochs=20), LogisticRegression())
    >>> pipe.fit(epochs, y).predict(epochs)  # doctest: +SKIP
    """

    def __init__(
        self,
        widths: tuple[int, ...] = (64, 128, 256),
        d_state: int = 16,
        d_conv: int = 2,
        expand: int = 8,
        headdim: int = 64,
        chunk_size: int = 256,
        bidirectional: bool = False,
        backend: str = "auto",
        alpha: float = 1.0,
        beta: float = 1.0,
        fft_norm: str = "backward",
        scaling: Literal["window", "global"] | None = "window",
        features: str = "light",
        n_time_bins: int = 8,
        mask_ratio: float = 0.0,
        mask_span: int = 32,
        channel_mask_ratio: float = 0.0,
        skip_dropout: float = 0.0,
        max_epochs: int = 100,
        batch_size: int = 64,
        lr: float = 5e-4,
        weight_decay: float = 1e-2,
        patience: int | None = 10,
        validation_fraction: float = 0.1,
        window_seconds: float = 10.0,
        num_workers: int = 0,
        checkpoint_dir: str | None = None,
        resume: bool = False,
        device: str = "auto",
        distributed: bool = False,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
    ) -> None:
        self.widths = widths
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.headdim = headdim
        self.chunk_size = chunk_size
        self.bidirectional = bidirectional
        self.backend = backend
        self.alpha = alpha
        self.beta = beta
        self.fft_norm = fft_norm
        self.scaling = scaling
        self.features = features
        self.n_time_bins = n_time_bins
        self.mask_ratio = mask_ratio
        self.mask_span = mask_span
        self.channel_mask_ratio = channel_mask_ratio
        self.skip_dropout = skip_dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.window_seconds = window_seconds
        self.num_workers = num_workers
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.device = device
        self.distributed = distributed
        self.random_state = random_state
        self.verbose = verbose

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
            (n_chans, n_times), or tuples starting with one, all of one shape.
        y : ignored
            Pretraining uses no labels.
        groups : array-like, optional
            Subject of each window (of each recording, for recordings): the validation split
            then holds out whole subjects. Reaches ``fit`` through Pipeline / GridSearchCV
            with metadata routing enabled (``set_fit_request(groups=True)``).

        Returns
        -------
        self

        Notes
        -----
        With "global" ``scaling`` and windows on disk, the scale is estimated from up to
        1,000 windows spread evenly over the data; "window" scaling needs no estimate.
        """
        parse_features(self.features)
        stream = as_window_dataset(X, self.window_seconds)
        accelerator = make_accelerator(self.device) if self.distributed else None
        seed = self._draw_seed(accelerator)
        if stream is None:
            data = self._check_X(X, reset=True).X
            self._fit_scaling(data)
            data, _ = self._scale(data)
            train: tuple[Any, Any]
            valid: Any
            train, valid = self._split_arrays(data, None, groups, seed)
        else:
            self._check_stream(stream)
            self._fit_scaling(stream)
            train, valid = self._split_stream(stream, groups, seed)
        # Workers start anew each epoch: persistent ones would draw less from the random
        # state than a loader without workers, and results would depend on num_workers.
        loaders = {
            f"{loader}__num_workers": self.num_workers
            for loader in ("iterator_train", "iterator_valid")
        }
        with self._seeded(seed):
            network = self._build_network(self.n_chans_)
            masked = any((self.mask_ratio, self.channel_mask_ratio, self.skip_dropout))
            module = self._masked(network) if masked else network
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
            self._fit_net(
                ReconstructionNet,
                module,
                train,
                valid,
                criterion=MaskedSpatioTemporalLoss if masked else SpatioTemporalLoss,
                optimizer=torch.optim.AdamW,
                optimizer_params={"weight_decay": self.weight_decay},
                callbacks=[("one_cycle", schedule)],
                accelerator=accelerator,
                distributed_class=DistributedReconstructionNet,
                criterion__alpha=self.alpha,
                criterion__beta=self.beta,
                criterion__fft_norm=self.fft_norm,
                **loaders,
            )
        if masked:  # the fitted estimator holds the bare network, as without masking
            history = self.history_
            self.net_ = restore_net(ReconstructionNet, network, self.device_)
            self.net_.history = history
        return self

    def _masked(self, network: EEGM2) -> MaskedAutoencoder:
        """``network`` inside the masked-pretraining wrapper, with validated options."""
        if not 0 <= self.skip_dropout <= 1:
            raise ValueError(f"skip_dropout must be in [0, 1], got {self.skip_dropout}.")
        return MaskedAutoencoder(
            network, self.mask_ratio, self.mask_span, self.channel_mask_ratio, self.skip_dropout
        )

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
        data = self._check_X(X, reset=False).X
        module = self.net_.module_.eval()
        return self._map_batches(
            lambda x: encoder_features(module, x, self.features, self.n_time_bins),
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
        data = self._check_X(X, reset=False).X
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
        data = self._check_X(X, reset=False).X
        module = self.net_.module_.eval()
        criterion = SpatioTemporalLoss(self.alpha, self.beta, self.fft_norm)  # type: ignore[arg-type]
        losses = self._map_batches(
            lambda x: criterion(module(x), x).reshape(1) * len(x), data, self.net_.device
        )
        return -float(losses.sum() / len(data))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the ``transform`` outputs (see :func:`sk_eegm2.nn.feature_names`).

        "light" gives ``"pool_{statistic}_{channel}"``, statistic-major.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self)
        names = feature_names(self._widths(), self.features, self.n_time_bins)
        return np.asarray(names, dtype=object)

    # persistence hooks used by save_pretrained / from_pretrained
    def _tensors(self) -> dict[str, torch.Tensor]:
        return dict(self.net_.module_.state_dict())

    def _restore(self, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        network = self._build_network(self.n_chans_)
        network.load_state_dict(tensors)
        self.device_ = self._resolve_device()
        self.net_ = restore_net(ReconstructionNet, network, self.device_)
