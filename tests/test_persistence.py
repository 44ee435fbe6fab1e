"""save_pretrained / from_pretrained: atomic saves, loads that trust nothing, devices."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2._parameters import declared

TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}
X = np.random.default_rng(0).standard_normal((24, 3, 32)).astype(np.float32)
Y = np.arange(24) % 2


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A fitted pretrainer and the folder it was saved in."""
    pretrainer = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(X)
    return pretrainer, pretrainer.save_pretrained(tmp_path_factory.mktemp("saved") / "m")


def edited(folder: Path, tmp_path: Path, edit) -> Path:
    """A copy of a saved folder with ``edit`` applied to its config.json."""
    copy = tmp_path / "edited"
    copy.mkdir()
    (copy / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (copy / "config.json").write_text(json.dumps(config))
    return copy


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills forked children")
def test_a_save_killed_at_random_times_leaves_the_old_or_the_new_model_whole(tmp_path):
    """Fault 3: 3 of 15 SIGKILLs left an empty config.json; others mixed old and new."""
    old = EEGM2Classifier(**TINY, max_epochs=1, random_state=0).fit(X, Y)
    new = EEGM2Classifier(**TINY, max_epochs=1, random_state=1, scaling="global").fit(
        X, np.array(["rest", "task"])[Y]
    )
    models = {"old": old, "new": new}
    weights = {name: model.net_.module_.state_dict() for name, model in models.items()}
    folder = tmp_path / "model"
    old.save_pretrained(folder)

    def save_in_a_child(model, directory):
        child = os.fork()
        if child == 0:
            try:
                model.save_pretrained(directory)
            finally:
                os._exit(0)
        return child

    # Time whole forked saves, fork included, so that kill times span a save on a busy
    # machine too.
    start = time.perf_counter()
    for _ in range(5):
        os.waitpid(save_in_a_child(new, tmp_path / "timing"), 0)
    duration = (time.perf_counter() - start) / 5
    rng = np.random.default_rng(0)
    current, seen = "old", set()
    for _ in range(100):
        other = "new" if current == "old" else "old"
        child = save_in_a_child(models[other], folder)  # killed at a random time
        time.sleep(rng.uniform(0, 1.5 * duration))
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        loaded = EEGM2Classifier.from_pretrained(folder, device="cpu")
        current = "new" if list(loaded.classes_) == ["rest", "task"] else "old"
        assert loaded.scale_ == models[current].scale_
        for key, value in loaded.net_.module_.state_dict().items():
            assert torch.equal(value, weights[current][key]), key
        seen.add(current)
    assert seen == {"old", "new"}  # the kills fell before and after the swap


def test_unknown_or_bad_values_are_refused(saved, tmp_path):
    """Fault 4: scaling="bogus" loaded and changed outputs."""
    _, folder = saved

    def bogus_scaling(config):
        config["params"]["scaling"] = "bogus"

    with pytest.raises(InvalidParameterError, match="'scaling' parameter"):
        EEGM2Pretrainer.from_pretrained(edited(folder, tmp_path, bogus_scaling))


def test_folders_with_retired_parameters_still_load(saved, tmp_path):
    """Folders saved before keep_freed_memory was removed hold it in their params."""
    pretrainer, folder = saved

    def older_version(config):
        config["params"]["keep_freed_memory"] = True

    loaded = EEGM2Pretrainer.from_pretrained(edited(folder, tmp_path, older_version))
    assert "keep_freed_memory" not in loaded.get_params()
    np.testing.assert_array_equal(loaded.transform(X), pretrainer.transform(X))


@pytest.mark.parametrize(
    ("section", "key", "value", "error", "message"),
    [
        ("params", "colour", "red", ValueError, "unknown parameters"),
        ("params", "checkpoint_dir", "/tmp/elsewhere", ValueError, "unknown parameters"),
        ("fitted", "scaling_", "bogus", InvalidParameterError, "scaling_"),
        ("fitted", "n_chans_", "3", InvalidParameterError, "n_chans_"),
        ("fitted", "sfreq_", -128.0, InvalidParameterError, "sfreq_"),
        ("fitted", "ch_names_", ["a"], ValueError, "ch_names_"),
        ("fitted", "n_chans_", 10**12, ValueError, "do not match"),
        ("fitted", "extra_", 1, ValueError, "exactly the fitted attributes"),
    ],
)
def test_config_is_checked_against_its_rules_and_the_weights(
    saved, tmp_path, section, key, value, error, message
):
    _, folder = saved

    def edit(config):
        config[section][key] = value

    with pytest.raises(error, match=message):
        EEGM2Pretrainer.from_pretrained(edited(folder, tmp_path, edit))


def test_the_architecture_is_checked_before_anything_is_allocated(saved, tmp_path):
    _, folder = saved

    def huge(config):
        config["fitted"]["config_"]["EEGM2Config"]["expand"] = 10**9

    with pytest.raises(ValueError, match="do not match"):  # not a 16 TB allocation
        EEGM2Pretrainer.from_pretrained(edited(folder, tmp_path, huge))


def test_paths_are_never_restored_and_odd_parameter_types_save(tmp_path):
    """Fault 4: checkpoint_dir/resume came back; RandomState and Path made save fail."""
    clf = EEGM2Classifier(
        **TINY,
        max_epochs=1,
        random_state=np.random.RandomState(0),
        checkpoint_dir=tmp_path / "checkpoints",
        resume=True,
        class_weight={0: 1.0, 1: 3.0},
    ).fit(X, Y)
    loaded = EEGM2Classifier.from_pretrained(clf.save_pretrained(tmp_path / "m"))
    assert loaded.checkpoint_dir is None and loaded.resume is False
    assert loaded.random_state is None
    assert loaded.class_weight == {0: 1.0, 1: 3.0}
    assert all(type(k) is int for k in loaded.class_weight)
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-6)


def test_the_saved_parameters_and_attributes_are_those_declared_saved(saved):
    pretrainer, folder = saved
    config = json.loads((folder / "config.json").read_text())
    assert set(config["params"]) == set(declared(EEGM2Pretrainer, saved=True))
    assert set(config["fitted"]) == set(pretrainer._saved_attributes) - {"net_"}


def test_a_folder_with_other_files_is_not_replaced(saved, tmp_path):
    pretrainer, _ = saved
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="other files"):
        pretrainer.save_pretrained(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_light_encoder_follows_the_net_to_the_device_given_at_load(tmp_path):
    """Fault 11: after from_pretrained the light encoder stayed on the CPU."""
    clf = EEGM2Classifier(**TINY, mode="light", max_epochs=1, random_state=0).fit(X, Y)
    folder = clf.save_pretrained(tmp_path / "light")
    # The meta device stands in for a GPU here: no memory, but a device of its own.
    loaded = EEGM2Classifier.from_pretrained(folder, device="meta")
    assert next(loaded.encoder_.parameters()).device.type == "meta"
    assert next(loaded.net_.module_.parameters()).device.type == "meta"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_light_classifier_loads_and_predicts_on_cuda(tmp_path):
    clf = EEGM2Classifier(**TINY, mode="light", max_epochs=1, random_state=0, device="cpu")
    folder = clf.fit(X, Y).save_pretrained(tmp_path / "light")
    loaded = EEGM2Classifier.from_pretrained(folder, device="cuda")
    assert next(loaded.encoder_.parameters()).is_cuda
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-4)
