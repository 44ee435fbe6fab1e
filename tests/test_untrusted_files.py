"""Untrusted files stay untrusted (issue 19, faults 2 to 9).

Each test crafts a small hostile file and checks that it is refused with an error that names
the file and what is wrong, before anything large is allocated and without blocking.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import mne
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2.__main__ import main
from sk_eegm2._persistence import MAX_CONFIG_BYTES
from sk_eegm2.datasets import load_eegbci, load_eegmat, make_windows
from sk_eegm2.nn import EEGM2, FineTuneNetwork
from sk_eegm2.nn.authors import authors_state_dict, load_authors_classifier, load_authors_eegm2
from sk_eegm2.streaming import RecordingWindows
from sk_eegm2.validation import AmplitudeWarning

TINY_NETWORK = {"widths": (8, 16), "d_state": 4, "d_conv": 3, "expand": 2, "headdim": 4}
TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}
X = np.random.default_rng(0).standard_normal((24, 3, 32)).astype(np.float32)
Y = np.arange(24) % 2


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The folder a fitted tiny pretrainer was saved in."""
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(X)
    return pretrainer.save_pretrained(tmp_path_factory.mktemp("saved") / "model")


def copy_of(folder: Path, tmp_path: Path) -> Path:
    """A copy of a saved folder, to edit."""
    return Path(shutil.copytree(folder, tmp_path / f"copy-of-{folder.name}"))


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


def test_fault_2_also_holds_for_saved_folders(saved, tmp_path):
    """A saved model's weights are read with the same care as the authors' files."""
    folder = copy_of(saved, tmp_path)
    weights = folder / "model.safetensors"
    tensors = load_file(weights)
    key = next(k for k in tensors if k.endswith(".bias"))
    for value, what in [
        (torch.full_like(tensors[key], float("nan")), "not finite"),
        (tensors[key].to(torch.int32), "torch.int32; the network .* takes torch.float32"),
    ]:
        save_file({**tensors, key: value}, weights)
        with pytest.raises(ValueError, match=rf"{weights}.*'{key}'.*{what}"):
            EEGM2Pretrainer.from_pretrained(folder)


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


def peak_memory_of_loads(warm_up: str, calls: list[str]) -> list[tuple[str, float]]:
    """For each call, in a fresh process after ``warm_up`` (a load that imports what loads
    need): its error message and the MiB its peak grew by."""
    script = textwrap.dedent(
        """
        import resource, sys
        from sk_eegm2.nn.authors import load_authors_classifier, load_authors_eegm2
        eval(sys.argv[1])
        for call in sys.argv[2:]:
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
        [sys.executable, "-c", script, warm_up, *calls],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return [eval(line) for line in done.stdout.splitlines()]


@pytest.mark.slow  # a fresh process per load, to measure its peak memory
@pytest.mark.slow  # a fresh process, to measure its peak memory alone
def test_fault_3_size_bombs_are_refused_before_anything_large_is_allocated(tmp_path):
    """Fault 3: stride-0 tensors in a small file made load_authors_eegm2 build a network of
    their claimed size (5.4 GB) before refusing; a stride-0 head of 2 GB was accepted; a
    deflated record was unpacked (1 GB) before the refusal."""
    network = EEGM2(3, **TINY_NETWORK).state_dict()
    # The first level claims 4096 channels: the network that implies takes 0.8 GB.
    wide = dict(network)
    wide["encoder1.0.weight"] = torch.zeros(1).expand(4096, *network["encoder1.0.weight"].shape[1:])
    torch.save(wide, tmp_path / "wide.pth")
    # The same width in a real tensor of 128 KB: the network it implies does not fit the
    # file's other tensors, and is not built to find out.
    wide["encoder1.0.weight"] = torch.zeros(4096, *network["encoder1.0.weight"].shape[1:])
    torch.save(wide, tmp_path / "wide_real.pth")
    head = authors_fine_state()
    head["fc.0.weight"] = torch.zeros(1).expand(8, 3 * 2**25)  # 800 M weights: 3 GB
    torch.save(head, tmp_path / "head.pth")
    deflated_checkpoint(tmp_path / "deflated.pth", {**network, "encoder2.bias": torch.empty(2**22)})
    torch.save(network, tmp_path / "valid.pth")
    results = peak_memory_of_loads(
        f"load_authors_eegm2({str(tmp_path / 'valid.pth')!r})",
        [
            f"load_authors_eegm2({str(tmp_path / 'wide.pth')!r})",
            f"load_authors_eegm2({str(tmp_path / 'wide_real.pth')!r})",
            f"load_authors_classifier({str(tmp_path / 'head.pth')!r})",
            f"load_authors_eegm2({str(tmp_path / 'deflated.pth')!r})",
        ],
    )
    expected = [
        ("wide.pth", r"'encoder1\.0\.weight'.*4096.*stride"),
        ("wide_real.pth", r"does not fit the network.*encoder1\.0\.weight"),
        ("head.pth", r"'fc\.0\.weight'.*stride"),
        ("deflated.pth", r"compressed.*torch\.save"),
    ]
    for (message, grown_mib), (name, what) in zip(results, expected, strict=True):
        assert grown_mib < 16, f"{name}: the peak grew by {grown_mib:.0f} MiB: {message[:200]}"
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
    for key, value in [
        ("encoder1.1.mamba.out_proj.weight", torch.zeros(2, 2, 2)),  # 3 dimensions, not 2
        ("onput_embedding.weight", torch.zeros(())),  # none, not 3
    ]:
        torch.save({**state, key: value}, path)
        with pytest.raises(ValueError, match=rf"{path}: the tensors that give the architecture"):
            load_authors_eegm2(path)
    del state["encoder1.0.weight"]
    torch.save(state, path)
    with pytest.raises(ValueError, match=rf"{path} has no 'encoder1\.0\.weight'"):
        load_authors_eegm2(path)
    head = authors_fine_state()
    torch.save({**head, "fc.0.weight": head["fc.0.weight"][:, :0]}, path)
    with pytest.raises(ValueError, match=rf"{path}.*'fc\.0\.weight'.*no elements"):
        load_authors_classifier(path)


@pytest.mark.filterwarnings("ignore:Invalid measurement date")  # MNE, reading a bad header
def test_fault_9_deep_json_bad_edf_files_and_infinite_windows_get_a_clear_refusal(saved, tmp_path):
    """Fault 9: RecursionError for deeply nested JSON, "Bad EDF file provided." without the
    file's name, OverflowError for window_seconds=inf."""
    folder = copy_of(saved, tmp_path)
    config = folder / "config.json"
    config.write_text(
        '{"class": "EEGM2Pretrainer", "params": ' + "[" * 100_000 + "]" * 100_000 + "}"
    )
    with pytest.raises(ValueError, match=rf"{config} nests arrays or objects more than \d+ deep"):
        EEGM2Pretrainer.from_pretrained(folder)
    with pytest.raises(FileNotFoundError, match="is this a folder written by save_pretrained"):
        EEGM2Pretrainer.from_pretrained(saved / "model.safetensors")  # a file, not a folder

    eegmat = tmp_path / "eegmat"
    eegmat.mkdir()
    for name in ("Subject00_1.edf", "Subject00_2.edf"):
        (eegmat / name).write_bytes(b"not an EDF header")
    bad = eegmat / "Subject00_1.edf"
    with pytest.raises(ValueError, match=rf"{bad} could not be read as a recording.*Bad EDF"):
        load_eegmat(subjects=[0], path=eegmat)
    with pytest.raises(ValueError, match=rf"{bad} could not be read as a recording"):
        RecordingWindows([bad], 2.0)

    raw = mne.io.RawArray(np.zeros((2, 640)), mne.create_info(2, 64.0, "eeg"), verbose=False)
    finite = "window_seconds must be positive and finite"
    for window in (math.inf, math.nan):
        with pytest.raises(ValueError, match=finite):
            make_windows(raw, window)
        with pytest.raises(ValueError, match=finite):
            load_eegmat(subjects=[0], path=tmp_path / "nowhere", window_seconds=window)
        with pytest.raises(ValueError, match=finite):
            load_eegbci(path=tmp_path / "nowhere", window_seconds=window)
        with pytest.raises(ValueError, match=finite):
            RecordingWindows([raw], window)


def refused_without_blocking(call: Callable[[], object], fifos: list[Path]) -> Exception:
    """The error ``call`` raises, failing the test if it waited on one of the ``fifos``.

    A read blocked on a FIFO may hold the GIL (safetensors opens files in Rust), so no thread
    of this process could end it: a shell started beforehand opens each FIFO for writing
    after a patience, which gives a blocked reader its end of file.
    """
    patience = 20.0
    opener = 'sleep "$0"; for f; do timeout 1 sh -c \': > "$0"\' "$f"; done'
    writer = subprocess.Popen(["sh", "-c", opener, str(patience), *map(str, fifos)])
    start = time.monotonic()
    raised: Exception | None = None
    try:
        call()
    except Exception as error:
        raised = error
    finally:
        waited = time.monotonic() - start
        writer.kill()
        writer.wait()
    assert waited < patience, f"it waited on a FIFO ({[f.name for f in fifos]}), then: {raised}"
    assert raised is not None, "it accepted the file"
    return raised


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev/zero are POSIX")
def test_fault_4_special_files_are_refused_before_reading(saved, tmp_path):
    """Fault 4: config.json linked to /dev/zero was read until MemoryError; a FIFO as
    config.json, model.safetensors, init_weights (or an EDF file) blocked forever."""
    folder = copy_of(saved, tmp_path)
    config = folder / "config.json"
    config.unlink()
    config.symlink_to("/dev/zero")
    with pytest.raises(ValueError, match=rf"{config} \(a link to /dev/zero\) is a character dev"):
        EEGM2Pretrainer.from_pretrained(folder)
    config.unlink()
    with open(config, "wb") as file:  # sparse: a size, no bytes written
        file.truncate(MAX_CONFIG_BYTES + 1)
    with pytest.raises(ValueError, match=rf"{config} is larger than {MAX_CONFIG_BYTES} bytes"):
        EEGM2Pretrainer.from_pretrained(folder)
    config.unlink()
    config.mkdir()
    with pytest.raises(ValueError, match=rf"{config} is a folder, not a regular file"):
        EEGM2Pretrainer.from_pretrained(folder)
    config.rmdir()

    os.mkfifo(config)
    error = refused_without_blocking(lambda: EEGM2Pretrainer.from_pretrained(folder), [config])
    assert isinstance(error, ValueError) and f"{config} is a FIFO" in str(error), error
    config.unlink()
    shutil.copy(saved / "config.json", config)
    weights = folder / "model.safetensors"
    weights.unlink()
    os.mkfifo(weights)
    error = refused_without_blocking(lambda: EEGM2Pretrainer.from_pretrained(folder), [weights])
    assert isinstance(error, ValueError) and f"{weights} is a FIFO" in str(error), error

    init = tmp_path / "best_model.pth"
    os.mkfifo(init)
    for estimator in (EEGM2Pretrainer(init_weights=init), EEGM2Classifier(pretrained=init)):
        error = refused_without_blocking(partial(estimator.fit, X, Y), [init])
        assert isinstance(error, ValueError) and f"{init} is a FIFO" in str(error), error
    edf = tmp_path / "a.edf"
    os.mkfifo(edf)
    error = refused_without_blocking(lambda: RecordingWindows([edf], 2.0), [edf])
    assert isinstance(error, ValueError) and f"{edf} is a FIFO" in str(error), error
    eegmat = tmp_path / "eegmat"
    eegmat.mkdir()
    fifos = [eegmat / "Subject00_1.edf", eegmat / "Subject00_2.edf"]
    for fifo in fifos:
        os.mkfifo(fifo)
    error = refused_without_blocking(lambda: load_eegmat(subjects=[0], path=eegmat), fifos)
    assert isinstance(error, ValueError) and f"{fifos[0]} is a FIFO" in str(error), error
    results = tmp_path / "results"
    results.mkdir()
    os.mkfifo(results / "eegmat_heldout.json")
    reuse = ["benchmark", "eegmat", "--protocol", "heldout", "--reuse", "--out", str(results)]
    error = refused_without_blocking(lambda: main(reuse), [results / "eegmat_heldout.json"])
    assert isinstance(error, ValueError) and "eegmat_heldout.json is a FIFO" in str(error), error


def test_fault_5_loaded_parameters_pass_the_checks_of_fit(saved, tmp_path):
    """Fault 5: from_pretrained accepted "threads": 1000000 from an edited config.json, and
    transform then tried to start a million threads."""
    folder = copy_of(saved, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["params"]["threads"] = 1_000_000
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=rf"(?s){folder / 'config.json'}.*'threads' parameter"):
        EEGM2Pretrainer.from_pretrained(folder)
    with pytest.raises(ValueError, match="'threads' parameter"):
        EEGM2Pretrainer(**TINY, max_epochs=1, threads=1_000_000).fit(X)


def test_fault_6_a_classifier_warns_of_other_units_than_its_pretrained_network(saved):
    """Fault 6: a classifier fitted on volts over a pretrainer fitted on microvolts gave no
    units warning (pretrainer.transform on the same data did)."""
    pretrainer = EEGM2Pretrainer.from_pretrained(saved)
    volts = X * 1e-6
    with pytest.warns(AmplitudeWarning, match="other units"):
        pretrainer.transform(volts)
    for mode in ("fine", "light"):
        classifier = EEGM2Classifier(pretrained=pretrainer, mode=mode, max_epochs=1)
        with pytest.warns(AmplitudeWarning, match="the pretrained network saw in fit"):
            classifier.fit(volts, Y)


def saved_max_epochs(folder: Path) -> int:
    """The max_epochs in a saved folder's config.json: which of two models it holds."""
    return json.loads((folder / "config.json").read_text())["params"]["max_epochs"]


def test_fault_7_two_saves_racing_to_one_new_folder_leave_the_last_model_whole(
    saved, tmp_path, monkeypatch
):
    """Fault 7: of two processes saving to the same new folder, the loser got a raw
    OSError: [Errno 39] Directory not empty."""
    first = EEGM2Pretrainer.from_pretrained(saved).set_params(max_epochs=7)
    second = EEGM2Pretrainer.from_pretrained(saved).set_params(max_epochs=8)
    target = tmp_path / "models" / "new"
    rename = os.rename

    def first_saves_while_second_renames(source, destination):
        # The race: after the second save found no folder, the first one creates it.
        monkeypatch.setattr(os, "rename", rename)
        first.save_pretrained(target)
        rename(source, destination)

    monkeypatch.setattr(os, "rename", first_saves_while_second_renames)
    second.save_pretrained(target)
    assert saved_max_epochs(target) == 8  # the last writer wins
    assert EEGM2Pretrainer.from_pretrained(target).max_epochs == 8
    assert sorted(p.name for p in target.parent.iterdir()) == ["new"]  # no staging left


def test_fault_8_saving_to_a_symlinked_folder_writes_into_its_target(saved, tmp_path):
    """Fault 8: save_pretrained replaced a symlink with a real folder, left the link behind
    as .NAME.saving-*, and the folder it pointed to kept the old model."""
    real = Path(shutil.copytree(saved, tmp_path / "store" / "model"))
    link = tmp_path / "links" / "current"
    link.parent.mkdir()
    link.symlink_to(real, target_is_directory=True)
    EEGM2Pretrainer.from_pretrained(saved).set_params(max_epochs=9).save_pretrained(link)
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert saved_max_epochs(real) == 9
    assert sorted(p.name for p in link.parent.iterdir()) == ["current"]
    assert sorted(p.name for p in real.parent.iterdir()) == ["model"]
    dangling = tmp_path / "links" / "next"  # a link to a folder yet to be written
    dangling.symlink_to(tmp_path / "store" / "next", target_is_directory=True)
    EEGM2Pretrainer.from_pretrained(saved).save_pretrained(dangling)
    assert dangling.is_symlink() and saved_max_epochs(tmp_path / "store" / "next") == 1
