"""The EEGM2 network in PyTorch; knows nothing of scikit-learn."""

from .config import PRESETS, EEGM2Config
from .eegm2 import EEGM2, MambaBlock
from .embedding import MultiBranchEmbedding
from .heads import (
    FEATURE_SETS,
    STATISTICS,
    STATISTICS_ORDERS,
    FineTuneNetwork,
    LightHead,
    PooledHeadNetwork,
    encoder_features,
    feature_names,
    log_variance,
    parse_features,
    summary_statistics,
    time_bins,
)
from .loss import (
    MaskedSpatioTemporalLoss,
    SpatioTemporalLoss,
    masked_spatiotemporal_loss,
    spatiotemporal_loss,
    spectral_loss,
)
from .mamba2 import Mamba2, RMSNormGated
from .masking import MaskedAutoencoder, random_mask
from .ssd import ssd_scan

__all__ = [
    "EEGM2",
    "FEATURE_SETS",
    "PRESETS",
    "STATISTICS",
    "STATISTICS_ORDERS",
    "EEGM2Config",
    "FineTuneNetwork",
    "LightHead",
    "Mamba2",
    "MambaBlock",
    "MaskedAutoencoder",
    "MaskedSpatioTemporalLoss",
    "MultiBranchEmbedding",
    "PooledHeadNetwork",
    "RMSNormGated",
    "SpatioTemporalLoss",
    "encoder_features",
    "feature_names",
    "log_variance",
    "masked_spatiotemporal_loss",
    "parse_features",
    "random_mask",
    "spatiotemporal_loss",
    "spectral_loss",
    "ssd_scan",
    "summary_statistics",
    "time_bins",
]
