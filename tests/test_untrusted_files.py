"""Untrusted files stay untrusted (issue 19, faults 2 to 9).

Each test crafts a small hostile file and checks that it is refused with an error that names
the file and what is wrong, before anything large is allocated and without blocking.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch

from sk_eegm2.nn import EEGM2, FineTuneNetwork
from sk_eegm2.nn.authors import authors_state_dict, load_authors_classifier, load_authors_eegm2

TINY_NETWORK = {"widths": (8, 16), "d_state": 4, "d_conv": 3, "expand": 2, "headdim": 4}


def authors_fine_state(n_times: int = 32, hidden: int = 8) -> dict[str, torch.Tensor]:
    """A state dict of the authors' Fine classifier (their names) on 3 channels."""
    return authors_state_dict(FineTuneNetwork(EEGM2(3, **TINY_NETWORK), n_times, 2, hidden))


def test_fault_2_nan_and_non_floating_weights_are_refused(tmp_path):
    """Fault 2: NaN weights and integer, bool or complex tensors were loaded (cast silently)."""
    path = tmp_path / "best_model.pth"
    for loader, state, key in [
        (load_authors_eegm2, EEGM2(3, **TINY_NETWORK).state_dict(), "encoder2.bias"),
        (load_authors_classifier, authors_fine_state(), "fc.0.weight"),
    ]:
        nan = dict(state)
        nan[key] = torch.full_like(state[key], float("nan"))
        torch.save(nan, path)
        with pytest.raises(ValueError, match=rf"{path}.*'{key}'.*not finite"):
            loader(path)
        for dtype in (torch.int64, torch.bool, torch.complex64):
            cast = dict(state)
            cast[key] = state[key].to(dtype)
            torch.save(cast, path)
            with pytest.raises(ValueError, match=rf"{path}.*'{key}'.*{dtype}.*floating"):
                loader(path)


def deflated_checkpoint(path: Path, state: dict[str, torch.Tensor]) -> None:
    """``state`` as torch.save writes it, its tensors' records then deflated (all zeros)."""
    skipped = io.BytesIO()
    with torch.serialization.skip_data():  # the records' sizes without their bytes
        torch.save(state, skipped)
    with zipfile.ZipFile(skipped) as saved, zipfile.ZipFile(path, "w") as deflated:
        for info in saved.infolist():
            if "/data/" not in info.filename:
                deflated.writestr(info, saved.read(info))
                continue
            record = zipfile.ZipInfo(info.filename)
            record.compress_type = zipfile.ZIP_DEFLATED
            with deflated.open(record, "w") as file:
                file.write(bytes(info.file_size))


def peak_memory_of_loads(calls: list[str]) -> list[tuple[str, float]]:
    """For each call, in a fresh process: its error message and the MiB its peak grew by."""
    script = textwrap.dedent(
        """
        import resource, sys
        from sk_eegm2.nn.authors import load_authors_classifier, load_authors_eegm2
        for call in sys.argv[1:]:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            try:
                eval(call)
                message = "accepted"
            except Exception as error:
                message = f"{type(error).__name__}: {error}"
            grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
            print(repr((message, grown)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *calls],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return [eval(line) for line in done.stdout.splitlines()]


def test_fault_3_size_bombs_are_refused_before_anything_large_is_allocated(tmp_path):
    """Fault 3: stride-0 tensors in a small file made load_authors_eegm2 build a network of
    their claimed size (5.4 GB) before refusing; a stride-0 head of 2 GB was accepted; a
    deflated record was unpacked (1 GB) before the refusal."""
    network = EEGM2(3, **TINY_NETWORK).state_dict()
    # The first level claims 4096 channels: its Mamba block alone would take 0.5 GB.
    wide = dict(network)
    wide["encoder1.0.weight"] = torch.zeros(1).expand(4096, *network["encoder1.0.weight"].shape[1:])
    torch.save(wide, tmp_path / "wide.pth")
    head = authors_fine_state()
    head["fc.0.weight"] = torch.zeros(1).expand(8, 3 * 2**25)  # 800 M weights: 3 GB
    torch.save(head, tmp_path / "head.pth")
    deflated_checkpoint(tmp_path / "deflated.pth", {**network, "encoder2.bias": torch.empty(2**22)})
    results = peak_memory_of_loads(
        [
            f"load_authors_eegm2({str(tmp_path / 'wide.pth')!r})",
            f"load_authors_classifier({str(tmp_path / 'head.pth')!r})",
            f"load_authors_eegm2({str(tmp_path / 'deflated.pth')!r})",
        ]
    )
    expected = [
        ("wide.pth", r"'encoder1\.0\.weight'.*4096.*stride"),
        ("head.pth", r"'fc\.0\.weight'.*stride"),
        ("deflated.pth", r"compressed.*torch\.save"),
    ]
    for (message, grown_mib), (name, what) in zip(results, expected, strict=True):
        assert grown_mib < 64, f"{name}: the peak grew by {grown_mib:.0f} MiB: {message[:200]}"
        assert message.startswith("ValueError"), message
        assert name in message
        assert re.search(what, message, re.DOTALL), message


def test_fault_9_empty_files_and_zero_size_tensors_get_a_clear_refusal(tmp_path):
    """Fault 9: an empty .pth gave IndexError, zero-size tensors ZeroDivisionError."""
    empty = tmp_path / "empty.pth"
    empty.touch()
    with pytest.raises(ValueError, match=rf"{empty} is empty"):
        load_authors_eegm2(empty)
    state = EEGM2(3, **TINY_NETWORK).state_dict()
    path = tmp_path / "zero.pth"
    for key in ("encoder1.1.mamba.A_log", "encoder1.1.mamba.out_proj.weight"):
        torch.save({**state, key: state[key][:0]}, path)
        with pytest.raises(ValueError, match=rf"{path}.*'{re.escape(key)}'.*no elements"):
            load_authors_eegm2(path)
    head = authors_fine_state()
    torch.save({**head, "fc.0.weight": head["fc.0.weight"][:, :0]}, path)
    with pytest.raises(ValueError, match=rf"{path}.*'fc\.0\.weight'.*no elements"):
        load_authors_classifier(path)
