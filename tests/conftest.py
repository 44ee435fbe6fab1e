"""Shared fixtures: where the real EEG lives, and tiny network configurations."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

# Tests use tiny networks, for which threads only add synchronisation; on a busy machine
# OpenMP's spinning threads can make them 40 times slower.
torch.set_num_threads(1)

# The real recordings sit beside the repository (``../shared/data``), never inside it.
SHARED_DATA = Path(
    os.environ.get("SK_EEGM2_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


#: Fixtures that read real recordings: tests that use them, directly or through another
#: fixture, are marked slow (``pytest -m "not slow"`` leaves them out).
REAL_EEG_FIXTURES = frozenset({"eegmat_path", "eegbci_path"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_EEG_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def eegmat_path() -> Path:
    """Folder with the EEGMAT EDF files (skips the test where it is absent)."""
    path = SHARED_DATA / "eegmat"
    if not (path / "Subject00_1.edf").exists():
        pytest.skip(f"EEGMAT not found in {path}")
    return path


@pytest.fixture(scope="session")
def eegbci_path() -> Path:
    """Folder laid out as MNE's ``eegbci`` loader expects (subject 1 only)."""
    path = SHARED_DATA / "MNE-eegbci-data"
    if not path.exists():
        pytest.skip(f"EEGMMIDB not found in {path}")
    return path


def toy_data(n=48, n_chans=3, n_times=32, seed=0):
    """Two classes that differ in amplitude and rhythm, so even tiny networks separate them.

    Returns (X, y): float32 windows (n, n_chans, n_times) and labels 0, 1, 0, 1, ...
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.arange(n_times) / 32
    X = rng.standard_normal((n, n_chans, n_times))
    X += (1 + y[:, None, None]) * np.sin(2 * np.pi * (2 + 3 * y[:, None, None]) * t)
    return X.astype(np.float32), y


#: A tiny network and budget in the form of the main job's configurations
#: (``sk_eegm2.benchmark.CONFIGS``), for the protocols' tests.
TINY_PROTOCOL = {
    "network": {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16,
                "scaling": "global"},
    "pretrain": {"max_epochs": 1, "batch_size": 64},
    "finetune": {"max_epochs": 1, "batch_size": 64},
}  # fmt: skip
