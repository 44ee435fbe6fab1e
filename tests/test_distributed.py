"""Data-parallel pretraining: two CPU processes under torchrun (gloo) against one process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from sk_eegm2 import EEGM2Pretrainer

TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

# Each process pretrains on the same seeded windows and saves what it ends with. 40 windows,
# 8 held out for validation: 4 batches of 8 per epoch, 4 windows of each on each of 2 ranks.
WORKER = """
import os, sys, numpy as np, torch
torch.set_num_threads(1)
from sk_eegm2 import EEGM2Pretrainer
out, distributed, checkpoint_dir = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
X = np.random.default_rng(0).standard_normal((40, 3, 32)).astype(np.float32)
pretrainer = EEGM2Pretrainer(
    widths=(4, 8), d_state=4, expand=2, headdim=4, chunk_size=16, max_epochs=4, batch_size=8,
    lr=1e-2, validation_fraction=0.2, device="cpu", distributed=distributed, random_state=0,
    checkpoint_dir=checkpoint_dir or None,
).fit(X)
torch.save(
    {
        "weights": pretrainer.net_.module_.state_dict(),
        "history": [[row["train_loss"], row["valid_loss"]] for row in pretrainer.history_],
        "features": torch.from_numpy(pretrainer.transform(X)),
        "device": pretrainer.device_,
        "batch_sizes": [b["train_batch_size"] for b in pretrainer.history_[-1]["batches"]
                        if "train_batch_size" in b],
    },
    os.path.join(out, os.environ.get("RANK", "single") + ".pt"),
)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def max_difference(a: dict, b: dict) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """What rank 0, rank 1 and a single process (no launcher) end with."""
    pytest.importorskip("accelerate", reason="distributed=True trains with Accelerate")
    folder = tmp_path_factory.mktemp("ddp")
    script = folder / "worker.py"
    script.write_text(WORKER)
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    loopback = ["--master_addr", "127.0.0.1", "--master_port", str(free_port())]
    checkpoints = folder / "checkpoints"
    subprocess.run(
        [*launch, *loopback, str(script), str(folder), "1", str(checkpoints)],
        check=True, env=ENV, capture_output=True, timeout=240,
    )  # fmt: skip
    subprocess.run(
        [sys.executable, str(script), str(folder), "0", ""], check=True, env=ENV, timeout=120
    )
    loaded = {n: torch.load(folder / f"{n}.pt", weights_only=False) for n in ("0", "1", "single")}
    return loaded, checkpoints


@pytest.mark.slow
def test_two_processes_stay_in_sync(runs):
    (results, _) = runs
    rank0, rank1 = results["0"], results["1"]
    assert rank0["device"].startswith("cpu")
    # Each rank computed its half of every batch of 8.
    assert rank0["batch_sizes"] == rank1["batch_sizes"] == [4, 4, 4, 4]
    assert results["single"]["batch_sizes"] == [8, 8, 8, 8]
    difference = max_difference(rank0["weights"], rank1["weights"])
    print(f"max |rank 0 - rank 1| over all weights: {difference:.3g}")
    assert difference == 0.0
    assert rank0["history"] == rank1["history"]  # losses averaged over ranks: one history
    torch.testing.assert_close(rank0["features"], rank1["features"], rtol=0, atol=0)


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_global_batch(runs):
    (results, _) = runs
    rank0, single = results["0"], results["single"]
    difference = max_difference(rank0["weights"], single["weights"])
    print(f"max |2 processes - 1 process| over all weights: {difference:.3g}")
    assert difference < 1e-5
    # A training that went somewhere: the weights moved far more than they differ.
    np.testing.assert_allclose(rank0["history"], single["history"], rtol=1e-5)
    assert single["history"][-1][0] < 0.8 * single["history"][0][0]
    torch.testing.assert_close(rank0["features"], single["features"], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_a_distributed_checkpoint_resumes_in_one_process(runs):
    (results, checkpoints) = runs
    assert sorted(p.name for p in checkpoints.iterdir()) == ["checkpoint.pt"]  # rank 0 wrote
    X = np.random.default_rng(0).standard_normal((40, 3, 32)).astype(np.float32)
    resumed = EEGM2Pretrainer(
        **TINY, max_epochs=4, batch_size=8, lr=1e-2, validation_fraction=0.2, random_state=0,
        checkpoint_dir=str(checkpoints), resume=True,
    ).fit(X)  # fmt: skip
    weights = {k: v.cpu() for k, v in resumed.net_.module_.state_dict().items()}
    assert max_difference(weights, results["0"]["weights"]) == 0.0


def test_one_process_without_a_launcher_trains_as_without_accelerate():
    pytest.importorskip("accelerate", reason="distributed=True trains with Accelerate")
    X = np.random.default_rng(1).standard_normal((24, 2, 32)).astype(np.float32)
    settings = {**TINY, "max_epochs": 2, "batch_size": 8, "device": "cpu", "random_state": 0}
    accelerated = EEGM2Pretrainer(**settings, distributed=True).fit(X)
    plain = EEGM2Pretrainer(**settings).fit(X)
    assert type(accelerated.net_) is type(plain.net_)  # a plain net: it pickles as usual
    assert (
        max_difference(accelerated.net_.module_.state_dict(), plain.net_.module_.state_dict())
        < 1e-6
    )
    np.testing.assert_allclose(accelerated.transform(X), plain.transform(X), rtol=1e-4, atol=1e-5)


def test_distributed_refuses_a_named_gpu_and_says_what_to_install(monkeypatch):
    pytest.importorskip("accelerate", reason="distributed=True trains with Accelerate")
    X = np.zeros((8, 2, 32), np.float32)
    with pytest.raises(ValueError, match="launcher"):
        EEGM2Pretrainer(**TINY, distributed=True, device="cuda:1").fit(X)
    monkeypatch.setitem(sys.modules, "accelerate", None)  # as if not installed
    with pytest.raises(ImportError, match=r"sk_eegm2\[distributed\]"):
        EEGM2Pretrainer(**TINY, distributed=True).fit(X)
