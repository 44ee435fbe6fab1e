"""Reading the authors' checkpoints: state dicts written with torch.save."""

from __future__ import annotations

import pytest
import torch

from sk_eegm2.nn import EEGM2
from sk_eegm2.nn.authors import (
    architecture_from_state_dict,
    load_authors_eegm2,
    read_authors_checkpoint,
)

TINY = {"widths": (8, 16), "d_state": 4, "d_conv": 3, "expand": 2, "headdim": 4}


def test_the_paper_network_is_read_off_its_shapes():
    architecture = architecture_from_state_dict(EEGM2(16).state_dict())
    assert architecture == {
        "n_chans": 16,
        "widths": (64, 128, 256),
        "kernel_sizes": (1, 3, 7),
        "d_state": 16,
        "d_conv": 2,
        "expand": 8,
        "headdim": 64,
    }


def test_a_file_written_the_authors_way_gives_the_same_network(tmp_path):
    torch.manual_seed(0)
    net = EEGM2(5, **TINY).eval()
    path = tmp_path / "best_model.pth"
    torch.save(net.state_dict(), path)  # as the authors' training script does
    loaded = load_authors_eegm2(path, chunk_size=8)
    assert architecture_from_state_dict(loaded.state_dict())["widths"] == (8, 16)
    x = torch.randn(2, 5, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=1e-5, atol=1e-6)


def test_nested_and_data_parallel_checkpoints_are_unwrapped(tmp_path):
    net = EEGM2(3, **TINY)
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    path = tmp_path / "checkpoint.pt"
    torch.save({"epoch": 7, "model_state_dict": state}, path)
    read = read_authors_checkpoint(path)
    assert read.keys() == net.state_dict().keys()


def test_wrong_shapes_and_missing_keys_are_refused(tmp_path):
    state = EEGM2(3, **TINY).state_dict()
    state["encoder2.bias"] = torch.zeros(99)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"encoder2\.bias"):
        load_authors_eegm2(path)
    del state["encoder1.0.weight"]
    torch.save(state, path)
    with pytest.raises(ValueError, match="not a checkpoint of EEGM2"):
        load_authors_eegm2(path)


def test_a_pickled_module_is_refused_not_executed(tmp_path):
    path = tmp_path / "module.pth"
    torch.save(EEGM2(3, **TINY), path)  # a whole pickled module, not a state dict
    with pytest.raises(ValueError, match="weights_only"):
        read_authors_checkpoint(path)
    torch.save({"weights": [1, 2, 3]}, path)
    with pytest.raises(ValueError, match="not a tensor"):
        read_authors_checkpoint(path)
    with pytest.raises(FileNotFoundError):
        read_authors_checkpoint(tmp_path / "missing.pth")
