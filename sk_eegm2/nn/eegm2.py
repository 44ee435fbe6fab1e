"""The EEGM2 network: a U-shaped Mamba-2 autoencoder for multichannel EEG.

References
----------
.. [1] J. Hong, G. Mackellar, S. Ghane, "EEGM2: An Efficient Mamba-2-Based Self-Supervised
   Framework for Long-Sequence EEG Modeling", arXiv:2502.17873, 2025.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .config import EEGM2Config
from .embedding import MultiBranchEmbedding
from .mamba2 import Backend, Mamba2, cpu_slice_steps

FeatureLayer = Literal["pool", "bottleneck"]
_PAPER = EEGM2Config()


class MambaBlock(nn.Module):
    """``x + LayerNorm(Mamba2(x))`` on (B, L, d): the norm on the branch, then the residual.

    The block does not mix the sequences of a batch. On CPU it runs over slices of the batch
    (``sk_eegm2.nn.mamba2.CPU_SLICE_VALUES``; the layer slices long sequences in time
    too): the same results, faster and with less memory for the temporaries. On other
    devices the whole batch goes through at once.

    Parameters
    ----------
    d_model : int
        Width d.
    checkpointing : bool
        Activation recomputation: keep only the block's input for the backward pass and run
        the block again there, one slice of the batch at a time (on CUDA one sequence)
        with :func:`torch.utils.checkpoint.checkpoint` (non-reentrant). The block's
        activations, about 20 times its input's size with ``expand=8``, then exist for one
        slice of one block at a time; training takes one more forward pass of the blocks.
    **mamba_kwargs
        Passed to :class:`~sk_eegm2.nn.mamba2.Mamba2`.
    """

    def __init__(self, d_model: int, checkpointing: bool = False, **mamba_kwargs: object) -> None:
        super().__init__()
        self.checkpointing = checkpointing
        self.mamba = Mamba2(d_model, **mamba_kwargs)  # type: ignore[arg-type]
        self.norm = nn.LayerNorm(d_model, eps=1e-5)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block to ``x`` (B, L, d)."""
        recompute = self.checkpointing and torch.is_grad_enabled()
        slices = x.split(self._sequences_per_slice(x, recompute))
        if recompute:
            return x + torch.cat([checkpoint(self._branch, s, use_reentrant=False) for s in slices])
        if len(slices) <= 1:
            return x + self._branch(x)
        return x + torch.cat([self._branch(s) for s in slices])

    def _sequences_per_slice(self, x: Tensor, recompute: bool) -> int:
        if x.device.type == "cpu":
            return max(1, cpu_slice_steps(self.mamba.d_inner) // x.shape[1])
        return 1 if recompute else max(1, len(x))

    def _branch(self, x: Tensor) -> Tensor:
        return self.norm(self.mamba(x))


def _over_time(module: nn.Module, x: Tensor) -> Tensor:
    """Apply a (B, L, d) module, such as a Linear or a Mamba block, to (B, d, L) features."""
    return module(x.transpose(1, 2)).transpose(1, 2)


class EEGM2(nn.Module):
    """EEGM2 autoencoder: (B, n_chans, T) -> (B, n_chans, T), any ``T >= 2 ** len(widths)``.

    With ``widths=(64, 128, 256)`` (the default, 8 <= T):

    ========================  ==============================================  ==============
    module                    operation                                       output
    ========================  ==============================================  ==============
    ``input_embedding``       :class:`MultiBranchEmbedding` (kernels 1, 3, 7)  (B, 64, T)
    ``encoder1``              Linear(64, 64), MambaBlock(64) over time        x1 (B, 64, T)
    ``pool1``                 MaxPool1d(2)                                    (B, 64, T/2)
    ``encoder2``              Conv1d(64 -> 128, k=3)                          x2 (B, 128, T/2)
    ``pool2``                 MaxPool1d(2)                                    (B, 128, T/4)
    ``encoder3``              Conv1d(128 -> 256, k=3)                         x3 (B, 256, T/4)
    ``pool3``                 MaxPool1d(2): the frozen-feature point          (B, 256, T/8)
    ``bottleneck``            Linear, MambaBlock(256), Linear                 (B, 256, T/8)
    ``decoder3``              upsample to x3, cat [x3, up], Conv1d(512->256)  (B, 256, T/4)
    ``decodeMamba3``          MambaBlock(256)                                 (B, 256, T/4)
    ``decoder2``              upsample to x2, cat [x2, up], Conv1d(384->128)  (B, 128, T/2)
    ``decodeMamba2``          MambaBlock(128)                                 (B, 128, T/2)
    ``decoder1``              upsample to x1, cat [x1, up], Conv1d(192->64)   (B, 64, T)
    ``onput_embedding``       Conv1d(64 -> n_chans, k=1)                      (B, C, T)
    ========================  ==============================================  ==============

    Upsampling is linear interpolation (align_corners=False) to the skip's length, so odd
    lengths work. Module names (including the reference's spelling ``onput_embedding``)
    follow the authors' code, so their checkpoints load without renaming. With the default
    arguments the network has 4,565,144 parameters for 16 channels.

    Parameters
    ----------
    n_chans : int
        EEG channels C (input and output).
    widths, d_state, d_conv, expand, headdim, bidirectional
        The architecture; see :class:`~sk_eegm2.nn.EEGM2Config`, whose defaults (the
        paper's) these are. :meth:`from_config` builds a network from one.
    chunk_size : int
        Mamba-2 chunk length of the SSD scan (speed and memory only, not results).
    kernel_sizes : tuple of int
        Branch kernels of the input embedding.
    backend : {"auto", "torch", "mamba_ssm"}
        Mamba-2 backend (see :class:`Mamba2`).
    checkpointing : bool
        Recompute each Mamba block's activations in the backward pass instead of keeping
        them (see :class:`MambaBlock`): less training memory for one more forward pass of
        the blocks. Same results, and gradients up to float rounding.
    """

    def __init__(
        self,
        n_chans: int,
        widths: tuple[int, ...] = _PAPER.widths,
        d_state: int = _PAPER.d_state,
        d_conv: int = _PAPER.d_conv,
        expand: int = _PAPER.expand,
        headdim: int = _PAPER.headdim,
        chunk_size: int = 256,
        kernel_sizes: tuple[int, ...] = (1, 3, 7),
        bidirectional: bool = _PAPER.bidirectional,
        backend: Backend = "auto",
        checkpointing: bool = False,
    ) -> None:
        super().__init__()
        if len(widths) < 1:
            raise ValueError("widths needs at least one level, e.g. (64, 128, 256).")
        self.n_chans = n_chans
        self.widths = tuple(widths)
        self.depth = len(widths)
        mamba: dict[str, Any] = {
            "d_state": d_state,
            "d_conv": d_conv,
            "expand": expand,
            "headdim": headdim,
            "chunk_size": chunk_size,
            "bidirectional": bidirectional,
            "backend": backend,
            "checkpointing": checkpointing,
        }
        w = self.widths
        # Registration order follows the reference, so state dicts list keys in its order.
        self.input_embedding = MultiBranchEmbedding(n_chans, w[0], kernel_sizes)
        for level in range(1, self.depth + 1):
            if level == 1:
                encoder: nn.Module = nn.Sequential(nn.Linear(w[0], w[0]), MambaBlock(w[0], **mamba))
            else:
                encoder = nn.Conv1d(w[level - 2], w[level - 1], 3, padding=1)
            self.add_module(f"encoder{level}", encoder)
            self.add_module(f"pool{level}", nn.MaxPool1d(2))
        self.bottleneck = nn.Sequential(
            nn.Linear(w[-1], w[-1]), MambaBlock(w[-1], **mamba), nn.Linear(w[-1], w[-1])
        )
        for level in range(self.depth, 0, -1):
            from_below = w[min(level, self.depth - 1)]  # width of what comes up to this level
            self.add_module(
                f"decoder{level}", nn.Conv1d(w[level - 1] + from_below, w[level - 1], 3, padding=1)
            )
            if level > 1:  # the top decoder level has no Mamba block
                self.add_module(f"decodeMamba{level}", MambaBlock(w[level - 1], **mamba))
        self.onput_embedding = nn.Conv1d(w[0], n_chans, 1)

    @classmethod
    def from_config(cls, n_chans: int, config: EEGM2Config, **compute: Any) -> EEGM2:
        """The network of architecture ``config`` for ``n_chans`` channels.

        Parameters
        ----------
        n_chans : int
            EEG channels C.
        config : EEGM2Config
            The architecture.
        **compute
            Settings that do not change results: ``chunk_size``, ``backend``,
            ``checkpointing``.

        Returns
        -------
        EEGM2
        """
        return cls(
            n_chans,
            widths=config.widths,
            d_state=config.d_state,
            d_conv=config.d_conv,
            expand=config.expand,
            headdim=config.headdim,
            bidirectional=config.bidirectional,
            **compute,
        )

    @property
    def min_times(self) -> int:
        """The shortest input length: every pooling level halves it."""
        return 2**self.depth

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 3 or x.shape[1] != self.n_chans:
            raise ValueError(
                f"EEGM2 expects input of shape (batch, {self.n_chans}, times), got "
                f"{tuple(x.shape)}."
            )
        if x.shape[-1] < self.min_times:
            raise ValueError(
                f"EEGM2 needs at least {self.min_times} time points (one per pooling level: "
                f"2**{self.depth}), got {x.shape[-1]}."
            )

    def encode(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        """Run the encoder only.

        Parameters
        ----------
        x : Tensor, shape (B, n_chans, T)

        Returns
        -------
        skips : list of Tensor
            ``[x1, x2, ...]``, each (B, widths[i], T / 2**i), for the decoder's skips.
        pooled : Tensor, shape (B, widths[-1], T / 2**depth)
            The last pooled encoder output (``pool3`` in the paper), the frozen features.
        """
        self._check_input(x)
        h = self.input_embedding(x)
        skips = []
        for level in range(1, self.depth + 1):
            encoder = getattr(self, f"encoder{level}")
            h = _over_time(encoder, h) if level == 1 else encoder(h)
            skips.append(h)
            h = getattr(self, f"pool{level}")(h)
        return skips, h

    def forward_features(self, x: Tensor, layer: FeatureLayer = "pool") -> Tensor:
        """Encoder features without running the decoder.

        Parameters
        ----------
        x : Tensor, shape (B, n_chans, T)
        layer : {"pool", "bottleneck"}
            ``"pool"``: the last pooled encoder output; ``"bottleneck"``: after the bottleneck.

        Returns
        -------
        Tensor, shape (B, widths[-1], T / 2**depth)
        """
        _, pooled = self.encode(x)
        if layer == "pool":
            return pooled
        if layer == "bottleneck":
            return _over_time(self.bottleneck, pooled)
        raise ValueError(f"layer must be 'pool' or 'bottleneck', got {layer!r}.")

    def forward(self, x: Tensor, skip_dropout: float = 0.0) -> Tensor:
        """Reconstruct ``x`` (B, n_chans, T); returns (B, n_chans, T).

        ``skip_dropout`` (a pretraining option, not the paper's): the probability that a
        skip connection is replaced by zeros, drawn per window and level, so that the
        decoder cannot always copy the input from the full-resolution levels and must use
        the deep path. Kept skips are not rescaled.
        """
        skips, pooled = self.encode(x)
        h = _over_time(self.bottleneck, pooled)
        for level in range(self.depth, 0, -1):
            skip = skips[level - 1]
            if skip_dropout:
                keep = torch.rand(len(skip), 1, 1, device=skip.device) >= skip_dropout
                skip = skip * keep
            h = F.interpolate(h, size=skip.shape[-1], mode="linear", align_corners=False)
            h = getattr(self, f"decoder{level}")(torch.cat([skip, h], dim=1))
            if level > 1:
                h = _over_time(getattr(self, f"decodeMamba{level}"), h)
        return self.onput_embedding(h)
