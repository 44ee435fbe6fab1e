"""The parameters both estimators share: their constraints and their documentation, once.

A shared parameter is declared here twice side by side, its constraint (checked at the start
of ``fit`` by scikit-learn's ``_validate_params``) and its documentation (put into both
estimators' docstrings by :func:`fill_doc`); save and load follow ``get_params`` and need
nothing. An estimator's own parameters sit in its class the same way. scikit-learn reads
parameters from ``__init__``'s signature, so each estimator's ``__init__`` also names them.
"""

from __future__ import annotations

import os
import re
from numbers import Integral, Real
from typing import Any, TypeVar

from sklearn.utils._param_validation import Interval, Options, StrOptions

from .nn import PRESETS


class _Widths(Options):
    """A non-empty tuple of positive integers (sklearn's constraints have none for it).

    An :class:`~sklearn.utils._param_validation.Options` only to pass sklearn's check of
    constraint types; it is satisfied by any such tuple, not by a list of options.
    """

    def __init__(self) -> None:
        super().__init__(tuple, set())

    def is_satisfied_by(self, val: Any) -> bool:
        return (
            isinstance(val, tuple)
            and len(val) > 0
            and all(isinstance(w, Integral) and not isinstance(w, bool) and int(w) > 0 for w in val)
        )

    def __str__(self) -> str:
        return "a non-empty tuple of positive int"


POSITIVE_INT = Interval(Integral, 1, None, closed="left")

#: The architecture: the preset, and the settings that override it (None: the preset's).
ARCHITECTURE_CONSTRAINTS: dict[str, list[Any]] = {
    "preset": [StrOptions(set(PRESETS))],
    "widths": [_Widths(), None],
    "d_state": [POSITIVE_INT, None],
    "d_conv": [POSITIVE_INT, None],
    "expand": [POSITIVE_INT, None],
    "headdim": [POSITIVE_INT, None],
    "bidirectional": ["boolean", None],
}

SHARED_CONSTRAINTS: dict[str, list[Any]] = {
    **ARCHITECTURE_CONSTRAINTS,
    "chunk_size": [POSITIVE_INT],
    "backend": [StrOptions({"auto", "torch", "mamba_ssm"})],
    "scaling": [StrOptions({"window", "global"}), None],
    "max_epochs": [POSITIVE_INT],
    "batch_size": [POSITIVE_INT],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "patience": [POSITIVE_INT, None],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "checkpoint_dir": [str, os.PathLike, None],
    "resume": ["boolean"],
    "device": [str],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}

#: Documentation of the shared parameters and attributes, by group, for :func:`fill_doc`.
DOCS: dict[str, str] = {
    "architecture": f"""\
preset : {{{", ".join(repr(name) for name in PRESETS)}}}, default="paper"
    Named architecture (:data:`sk_eegm2.nn.PRESETS`): "paper" is EEGM2 as published
    (widths (64, 128, 256), expand 8, headdim 64); "cpu" a small network that trains on a
    CPU in minutes (widths (16, 32, 64), expand 2, headdim 16). The settings below
    override single values of it.
widths : tuple of int or None, default=None
    Encoder widths; the depth is ``len(widths)`` and windows need at least
    ``2 ** len(widths)`` time points. None: the preset's.
d_state, d_conv, expand, headdim : int or None, default=None
    Mamba-2 state size, convolution width, expansion and head dimension (paper: 16, 2, 8,
    64). None: the preset's.
bidirectional : bool or None, default=None
    Weight-tied time-reversed pass in each Mamba-2 layer (not in the paper; the presets
    have none). None: the preset's.
chunk_size : int, default=256
    Chunk length of Mamba-2's scan: speed and memory only, not results.
backend : {{"auto", "torch", "mamba_ssm"}}, default="auto"
    Mamba-2 kernels: mamba-ssm's fused Triton kernels on CUDA when installed, else PyTorch.
scaling : {{"window", "global", None}}, default="window"
    Amplitude scaling before the network. "window": each window and channel divided by
    its 95th percentile of ``|x|`` (the paper's TUAB preprocessing); "global": one such
    percentile over the whole training set; None: as given.""",
    "early_stopping": """\
patience : int or None, default=10
    Early stopping: epochs without validation improvement (None: never stop early;
    the best epoch is kept either way).
validation_fraction : float, default=0.1
    Share of windows (of groups, when ``groups`` is given; of recordings, for recordings)
    held out for early stopping. With labels and groups, the held-out groups are chosen
    to hold every class where the groups allow it (a warning says when they cannot). 0
    trains on everything and keeps the last epoch.""",
    "run": """\
checkpoint_dir : str, path-like or None, default=None
    If set, ``checkpoint.pt`` is written there after every epoch, atomically: weights,
    optimizer, schedule, early stopping, history, and the random states (CPU, and CUDA
    where it is used), with a fingerprint of the settings and the data. The folder is
    checked before training starts.
resume : bool, default=False
    With ``checkpoint_dir``: continue from its checkpoint, if any, instead of starting
    over. The checkpoint must come from the same settings and data (else ValueError); a
    resumed run ends as the uninterrupted run would, on the same device.
device : str, default="auto"
    "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
random_state : int, RandomState or None, default=None
    Seeds initialisation, shuffling, dropout and the validation split.
verbose : int, default=0
    1 prints a line per epoch (losses, time).""",
    "fitted": """\
config_ : EEGM2Config
    The architecture of the network (see :class:`~sk_eegm2.nn.EEGM2Config`).
scaling_ : {"window", "global", None}
    The amplitude scaling applied before the network.
scale_ : float
    The divisor of "global" scaling (1 otherwise).
amplitude_ : float
    95th percentile of ``|x|`` over the training windows (a sample of them, for datasets);
    input orders of magnitude away from it at prediction warns
    (:class:`~sk_eegm2.validation.AmplitudeWarning`).
n_chans_, n_times_ : int
    Channels and window length seen in ``fit``.
sfreq_ : float or None
    Sampling rate of MNE input and recordings (or of a dataset with an ``sfreq``
    attribute), else None.
ch_names_ : list of str or None
    Channel names of MNE input and recordings (or of a dataset with ``ch_names``), else
    None. Later input must have the same names in the same order.
n_features_in_ : int
    ``n_chans_ * n_times_``.
history_ : skorch.History
    Per-epoch losses (``valid_loss`` only with a validation split).
device_ : str
    The device used.""",
    "interruption": """\
Ctrl-C (KeyboardInterrupt) during training stops it: the estimator keeps the network of the
last complete epoch, fitted and consistent, and the KeyboardInterrupt is raised again, so
that a cross-validation or a search stops too instead of scoring a truncated model. A
non-finite loss ends the same way with :class:`~sk_eegm2.callbacks.NonFiniteLossError`. Any
other error in ``fit`` leaves the estimator as it was before.""",
}

_PLACEHOLDER = re.compile(r"^(?P<indent>[ ]*)%\((?P<name>\w+)\)s$", re.MULTILINE)
Documented = TypeVar("Documented")


def fill_doc(obj: Documented) -> Documented:
    """Put the :data:`DOCS` entries into ``obj``'s docstring, at its ``%(name)s`` lines.

    Each placeholder stands alone on its line; the entry takes its indentation.
    """

    def entry(match: re.Match[str]) -> str:
        indent = match["indent"]
        return "\n".join(
            indent + line if line else line for line in DOCS[match["name"]].split("\n")
        )

    obj.__doc__ = _PLACEHOLDER.sub(entry, obj.__doc__ or "")
    return obj
