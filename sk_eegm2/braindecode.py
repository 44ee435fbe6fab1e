"""EEGM2 as a braindecode model, for braindecode's ``EEGClassifier`` and training pipelines.

braindecode's models take the signal's description in their constructor (``n_chans``,
``n_outputs``, ``n_times``, ``sfreq``, ``chs_info``), which its :class:`EEGClassifier`
fills in from the training data. :class:`EEGM2Net` follows that convention: EEGM2's network
with a classification head, its windows scaled inside the model as the estimators scale
them. ``pretrained`` starts it from a network pretrained with
:class:`~sk_eegm2.EEGM2Pretrainer` (fitted, a saved folder, or a Hub repository).

The estimators take braindecode's windowed datasets directly (see
:func:`sk_eegm2.validation.braindecode_info`); this module is only needed for the model.
It needs braindecode (``pip install 'sk_eegm2[braindecode]'``), whose pins on torch and
torchaudio may differ from this project's: ``make test-braindecode`` runs its tests in an
environment of their own.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import torch
from braindecode.models.base import EEGModuleMixin
from torch import nn

from .nn import EEGM2, PRESETS, FineTuneNetwork, PooledHeadNetwork
from .pretrainer import EEGM2Pretrainer
from .scaling import SCALINGS

__all__ = ["EEGM2Net"]


class EEGM2Net(EEGModuleMixin, nn.Module):
    """EEGM2 with a classification head, as a braindecode model.

    ``x (B, n_chans, n_times) -> scaling -> EEGM2 -> head -> (B, n_outputs)``. The head is
    "pooled" (a linear layer on pooled encoder features, any window length; see
    :class:`sk_eegm2.nn.PooledHeadNetwork`) or "reconstruction" (the paper's Fine head on
    the flattened reconstruction, :class:`sk_eegm2.nn.FineTuneNetwork`; needs ``n_times``).

    Parameters
    ----------
    n_outputs, n_chans, chs_info, n_times, input_window_seconds, sfreq
        braindecode's description of the signal (:class:`braindecode.EEGClassifier` infers
        them from the training data).
    preset : str
        The architecture (:data:`sk_eegm2.nn.PRESETS`); with ``pretrained``, the pretrained
        network's instead.
    head : {"pooled", "reconstruction"}
        The classification head.
    features : str
        Encoder features of the "pooled" head (see :func:`sk_eegm2.nn.encoder_features`).
    hidden : int
        Hidden width of the "reconstruction" head.
    scaling : {"window", "global", None} or "pretrained"
        How windows are scaled in ``forward``: "window" divides each window and channel by
        its 95th percentile of ``|x|``, as the estimators do; None leaves them as given.
        "pretrained" (the default): the pretrained network's scaling (and its "global"
        divisor), else "window".
    pretrained : EEGM2Pretrainer, str, path-like or None
        A fitted pretrainer, a folder written by its ``save_pretrained`` or a Hub
        repository ``"owner/name"``: the network starts from its weights, copied. Its
        channels must be the data's (count, and names where ``chs_info`` gives them).
    """

    # braindecode's signal properties, typed for where braindecode is not installed.
    n_outputs: int
    n_chans: int
    n_times: int
    _chs_info: list[dict[str, Any]] | None
    scale: torch.Tensor

    def __init__(
        self,
        n_outputs: int | None = None,
        n_chans: int | None = None,
        chs_info: list[dict[str, Any]] | None = None,
        n_times: int | None = None,
        input_window_seconds: float | None = None,
        sfreq: float | None = None,
        *,
        preset: str = "cpu",
        head: str = "pooled",
        features: str = "logvar",
        hidden: int = 128,
        scaling: str | None = "pretrained",
        pretrained: EEGM2Pretrainer | str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(
            n_outputs=n_outputs,
            n_chans=n_chans,
            chs_info=chs_info,
            n_times=n_times,
            input_window_seconds=input_window_seconds,
            sfreq=sfreq,
        )
        del n_outputs, n_chans, chs_info, n_times, input_window_seconds, sfreq
        if head not in ("pooled", "reconstruction"):
            raise ValueError(f"head must be 'pooled' or 'reconstruction', got {head!r}.")
        if scaling not in (*SCALINGS, "pretrained"):
            choices = (*SCALINGS, "pretrained")
            raise ValueError(f"scaling must be one of {choices}, got {scaling!r}.")
        scale = 1.0
        if pretrained is None:
            if scaling == "global":
                raise ValueError('scaling="global" takes its divisor from a pretrained network.')
            backbone = EEGM2.from_config(self.n_chans, PRESETS[preset])
            scaling = "window" if scaling == "pretrained" else scaling
        else:
            source = _pretrainer(pretrained)
            self._check_channels(source)
            backbone = copy.deepcopy(source.net_.module_).cpu()
            if scaling == "pretrained":
                scaling, scale = source.scaling_, source.scale_
            elif scaling == "global":
                scale = source.scale_
        self.scaling = scaling
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))
        self.network: nn.Module
        if head == "pooled":
            self.network = PooledHeadNetwork(backbone, self.n_outputs, features)
        else:
            self.network = FineTuneNetwork(backbone, self.n_times, self.n_outputs, hidden)

    def _check_channels(self, source: EEGM2Pretrainer) -> None:
        """Refuse data whose channels are not those the network was pretrained on."""
        if source.n_chans_ != self.n_chans:
            raise ValueError(
                f"The pretrained network takes {source.n_chans_} channels, the data has "
                f"{self.n_chans}; pick its channels ({source.ch_names_}) in the dataset's "
                "preprocessing."
            )
        names = [ch["ch_name"] for ch in self._chs_info] if self._chs_info else None
        if names is not None and source.ch_names_ is not None and names != source.ch_names_:
            raise ValueError(
                f"The data has channels {names}, the pretrained network {source.ch_names_}; "
                "pick and reorder them in the dataset's preprocessing (Preprocessor('pick', "
                "picks=...), Preprocessor('reorder_channels', ch_names=...))."
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_outputs) for windows ``x`` (B, n_chans, n_times)."""
        if self.scaling == "window":
            x = x / (torch.quantile(x.abs(), 0.95, dim=-1, keepdim=True) + 1e-8)
        else:
            x = x / self.scale
        return self.network(x)


def _pretrainer(source: Any) -> EEGM2Pretrainer:
    """The fitted pretrainer ``source`` designates."""
    if isinstance(source, EEGM2Pretrainer):
        if not hasattr(source, "net_"):
            raise ValueError("pretrained must be a fitted EEGM2Pretrainer.")
        return source
    return EEGM2Pretrainer.from_pretrained(source, device="cpu")
