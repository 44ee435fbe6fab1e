"""What the estimators leave behind in the process: nothing.

After ``fit``, ``transform`` and ``predict`` the thread counts, the global random states
(Python's, numpy's and torch's) and glibc's malloc settings are what they were before.
Each test sets its own values first, so that it checks values the library did not choose.
"""

from __future__ import annotations

import ctypes
import os
import platform
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer

TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}
X = np.random.default_rng(0).standard_normal((16, 3, 32)).astype(np.float32)
Y = np.arange(16) % 2


def process_state() -> dict:
    return {
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "python_random": random.getstate(),
        "numpy_random": np.random.get_state(legacy=False),  # noqa: NPY002 (the global one)
        "torch_random": torch.get_rng_state(),
    }


def assert_unchanged(before: dict, call: str) -> None:
    after = process_state()
    for key in ("threads", "interop_threads", "python_random"):
        assert after[key] == before[key], f"{call} changed {key}"
    numpy_before, numpy_after = before["numpy_random"], after["numpy_random"]
    assert numpy_after["state"]["pos"] == numpy_before["state"]["pos"], f"{call}: numpy's"
    assert np.array_equal(numpy_after["state"]["key"], numpy_before["state"]["key"]), call
    assert torch.equal(after["torch_random"], before["torch_random"]), f"{call}: torch's"


@pytest.fixture
def own_settings():
    """Thread count and seeds that the estimators do not use (they run with 1 thread)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    random.seed(11)
    np.random.seed(12)  # noqa: NPY002 (the global stream a user may seed)
    torch.manual_seed(13)
    yield process_state()
    torch.set_num_threads(previous)


@pytest.mark.parametrize(
    ("estimator", "calls"),
    [
        (EEGM2Pretrainer, ("transform", "reconstruct", "score")),
        (EEGM2Classifier, ("predict", "predict_proba", "score")),
    ],
)
def test_fit_and_inference_leave_threads_and_random_states_as_they_were(
    own_settings, estimator, calls
):
    # random_state=None: the seed comes from the system, not from numpy's global stream
    model = estimator(**TINY, max_epochs=1, threads=1, random_state=None)
    model.fit(X, Y)
    assert_unchanged(own_settings, f"{estimator.__name__}.fit")
    for call in calls:
        getattr(model, call)(X, Y) if call == "score" else getattr(model, call)(X)
        assert_unchanged(own_settings, f"{estimator.__name__}.{call}")


MALLOC_CHECK = """
import ctypes

import numpy as np

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer


class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = Mallinfo2
M_MMAP_THRESHOLD, MIB = -3, 2**20
assert libc.mallopt(M_MMAP_THRESHOLD, MIB) == 1  # the user's setting: map blocks >= 1 MiB


def maps_two_mib_blocks():
    before = libc.mallinfo2().hblks
    block = libc.malloc(2 * MIB)
    mapped = libc.mallinfo2().hblks - before
    libc.free(block)
    return mapped == 1


assert maps_two_mib_blocks()  # the check sees the setting
X = np.random.default_rng(0).standard_normal((16, 3, 32)).astype(np.float32)
tiny = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}
pretrainer = EEGM2Pretrainer(**tiny, max_epochs=1, random_state=0).fit(X)
pretrainer.transform(X)
classifier = EEGM2Classifier(**tiny, max_epochs=1, random_state=0).fit(X, np.arange(16) % 2)
classifier.predict(X)
assert maps_two_mib_blocks(), "the user's mmap threshold no longer applies"
"""


def _has_mallinfo2() -> bool:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    return hasattr(ctypes.CDLL(None), "mallinfo2")  # glibc >= 2.33


@pytest.mark.slow
@pytest.mark.skipif(not _has_mallinfo2(), reason="glibc's malloc (mallinfo2, glibc >= 2.33)")
def test_the_users_malloc_settings_still_apply_after_fit_and_inference():
    """A fresh process, whose malloc settings no earlier test changed."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MALLOC_CHECK)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
