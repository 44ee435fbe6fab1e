"""The EEGM2 architecture as one value: :class:`EEGM2Config` and its named presets.

Every default of the network's shape is written here, once; the network
(:meth:`EEGM2.from_config <sk_eegm2.nn.EEGM2.from_config>`) and both estimators read it.
What only changes how fast the same numbers are computed (the Mamba-2 backend, its chunk
size) is not part of the architecture and is passed beside it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EEGM2Config:
    """The shape of an EEGM2 network, apart from its channel count.

    Parameters
    ----------
    widths : tuple of int, default=(64, 128, 256)
        Width of each encoder level; the depth is ``len(widths)`` and windows need at
        least ``2 ** len(widths)`` time points.
    d_state : int, default=16
        Mamba-2 state size N.
    d_conv : int, default=2
        Width of Mamba-2's causal depthwise convolution.
    expand : int, default=8
        Mamba-2 inner width as a multiple of the level's width.
    headdim : int, default=64
        Mamba-2 head dimension; it must divide ``expand * width`` at every Mamba level.
    bidirectional : bool, default=False
        Weight-tied time-reversed pass in each Mamba-2 layer (not in the paper).
    """

    widths: tuple[int, ...] = (64, 128, 256)
    d_state: int = 16
    d_conv: int = 2
    expand: int = 8
    headdim: int = 64
    bidirectional: bool = False


#: Named architectures. "paper": EEGM2 as published (4.6 M parameters for 16 channels);
#: "cpu": a network of about 60 k parameters that trains on a laptop's CPU in minutes.
PRESETS: dict[str, EEGM2Config] = {
    "paper": EEGM2Config(),
    "cpu": EEGM2Config(widths=(16, 32, 64), expand=2, headdim=16),
}
