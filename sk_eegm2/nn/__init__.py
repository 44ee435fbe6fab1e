"""The EEGM2 network in PyTorch; knows nothing of scikit-learn."""

from .config import PRESETS, EEGM2Config
from .eegm2 import EEGM2, MambaBlock
from .embedding import MultiBranchEmbedding
from .heads import STATISTICS, FineTuneNetwork, LightHead, summary_statistics
from .loss import SpatioTemporalLoss, spatiotemporal_loss, spectral_loss
from .mamba2 import Mamba2, RMSNormGated
from .ssd import ssd_scan

__all__ = [
    "EEGM2",
    "PRESETS",
    "STATISTICS",
    "EEGM2Config",
    "FineTuneNetwork",
    "LightHead",
    "Mamba2",
    "MambaBlock",
    "MultiBranchEmbedding",
    "RMSNormGated",
    "SpatioTemporalLoss",
    "spatiotemporal_loss",
    "spectral_loss",
    "ssd_scan",
    "summary_statistics",
]
