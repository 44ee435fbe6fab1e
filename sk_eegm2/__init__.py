"""sk_eegm2: EEGM2, self-supervised Mamba-2 for long EEG sequences, in scikit-learn."""

__version__ = "0.1.0.dev0"
