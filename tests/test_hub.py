"""Model cards, and the Hugging Face Hub: loading from its cache offline, pushing to a stand-in."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import mne
import numpy as np
import pytest

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer

huggingface_hub = pytest.importorskip("huggingface_hub")
hub_constants = pytest.importorskip("huggingface_hub.constants")

TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}
NAMES = ["Fp1", "Fp2", "C3", "C4", "O1", "O2"]
MAIN = "a" * 40
OLDER = "b" * 40


def make_epochs(n=12, seed=0):
    data = np.random.default_rng(seed).standard_normal((n, len(NAMES), 64)) * 1e-5
    return mne.EpochsArray(data, mne.create_info(NAMES, 64.0, "eeg"), verbose=False)


@pytest.fixture(scope="module")
def pretrainers():
    """Two tiny pretrainers that differ in their weights."""
    return [
        EEGM2Pretrainer(**TINY, max_epochs=1, random_state=seed).fit(make_epochs(seed=seed))
        for seed in (0, 1)
    ]


def front_matter(card):
    """The YAML metadata of a model card, as its lines."""
    head, metadata, _ = card.split("---\n", 2)
    assert head == ""
    return metadata.splitlines()


def test_the_model_card_describes_data_architecture_metrics_and_citation(tmp_path, pretrainers):
    folder = pretrainers[0].save_pretrained(
        tmp_path / "model",
        training_data="Random windows, for the test.",
        metrics={"balanced_accuracy": 0.7123},
    )
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    card = (folder / "README.md").read_text()
    metadata = front_matter(card)
    assert "library_name: sk_eegm2" in metadata
    tags = metadata[metadata.index("tags:") + 1 : metadata.index("metrics:")]
    assert "- eeg" in tags
    assert metadata[metadata.index("metrics:") + 1] == '- "balanced_accuracy"'
    assert "Random windows, for the test." in card
    assert "- Windows: 12" in card
    assert "Fp1, Fp2, C3, C4, O1, O2" in card
    assert "- Sampling rate: 64 Hz" in card
    assert "- Window length: 64 samples (1 s)" in card
    assert "- Preset: paper" in card and "- widths: (4, 8)" in card
    assert "| balanced_accuracy | 0.7123 |" in card
    assert "arXiv:2502.17873" in card and "@article{hong2025eegm2" in card
    # The folder, card included, loads and can be saved over.
    loaded = EEGM2Pretrainer.from_pretrained(folder)
    loaded.save_pretrained(folder)
    assert "- Windows: not recorded" in (folder / "README.md").read_text()
    assert "metrics:" not in front_matter((folder / "README.md").read_text())


def hub_cache(root, repo_id, snapshots, main):
    """A Hub cache as huggingface_hub lays it out: snapshots by commit, refs/main."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    for commit, folder in snapshots.items():
        shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(main)


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty Hub cache, offline: nothing is fetched from the network."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads these variables when it is imported.
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    return cache


def test_from_pretrained_loads_from_the_hub_cache_offline(tmp_path, pretrainers, offline_cache):
    folders = {
        commit: p.save_pretrained(tmp_path / commit)
        for commit, p in zip((MAIN, OLDER), pretrainers, strict=True)
    }
    hub_cache(offline_cache, "owner/name", folders, main=MAIN)
    X = make_epochs(seed=5)
    main = EEGM2Pretrainer.from_pretrained("owner/name")
    np.testing.assert_array_equal(main.transform(X), pretrainers[0].transform(X))
    older = EEGM2Pretrainer.from_pretrained("owner/name", revision=OLDER)
    np.testing.assert_array_equal(older.transform(X), pretrainers[1].transform(X))
    # A hub id as a classifier's pretrained network.
    clf = EEGM2Classifier(pretrained="owner/name", mode="light", max_epochs=1, random_state=0)
    assert clf.fit(X, np.arange(len(X)) % 2).ch_names_ == NAMES
    with pytest.raises(FileNotFoundError, match=r"\(revision c+\): it is not in the Hub cache"):
        EEGM2Pretrainer.from_pretrained("owner/name", revision="c" * 40)
    with pytest.raises(FileNotFoundError, match=r"No folder owner/unknown here\. .*owner/unknown"):
        EEGM2Pretrainer.from_pretrained("owner/unknown")


def test_a_missing_file_in_the_hub_cache_is_named(tmp_path, pretrainers, offline_cache):
    folder = pretrainers[0].save_pretrained(tmp_path / "model")
    (folder / "model.safetensors").unlink()
    hub_cache(offline_cache, "owner/broken", {MAIN: folder}, main=MAIN)
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors of owner/broken"):
        EEGM2Pretrainer.from_pretrained("owner/broken")


def test_a_hub_file_is_checked_as_any_saved_file(tmp_path, pretrainers, offline_cache):
    folder = pretrainers[0].save_pretrained(tmp_path / "model")
    (folder / "config.json").write_text('{"class": "EEGM2Pretrainer", "params": 1}')
    hub_cache(offline_cache, "owner/edited", {MAIN: folder}, main=MAIN)
    with pytest.raises(ValueError, match="lacks its 'params' section"):
        EEGM2Pretrainer.from_pretrained("owner/edited")


def test_revision_is_for_the_hub_only(tmp_path, pretrainers):
    folder = pretrainers[0].save_pretrained(tmp_path / "model")
    with pytest.raises(ValueError, match="local folder"):
        EEGM2Pretrainer.from_pretrained(folder, revision="main")


def test_push_to_hub_uploads_the_saved_folder(pretrainers, monkeypatch):
    """Against a stand-in of the Hub's API, which records what it is asked to do."""
    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs))

    def create_branch(self, repo_id, **kwargs):
        calls.append(("create_branch", repo_id, kwargs))

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        files = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
        calls.append(("upload_folder", repo_id, kwargs, files))
        return huggingface_hub.CommitInfo(
            commit_url=f"https://huggingface.co/{repo_id}/commit/{MAIN}",
            commit_message=kwargs["commit_message"],
            commit_description="",
            oid=MAIN,
        )

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_branch", create_branch)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    url = pretrainers[0].push_to_hub("owner/name", metrics={"score": 1.0}, private=True)
    assert url == f"https://huggingface.co/owner/name/commit/{MAIN}"
    (_, repo, create), (_, repo_again, upload, files) = calls
    assert repo == repo_again == "owner/name"
    assert create == {"private": True, "exist_ok": True}
    assert upload["revision"] is None
    assert upload["commit_message"].startswith("Upload EEGM2Pretrainer with sk_eegm2")
    assert sorted(files) == ["README.md", "config.json", "model.safetensors"]
    card = files["README.md"].decode()
    assert 'EEGM2Pretrainer.from_pretrained("owner/name")' in card
    assert "| score | 1 |" in card
    calls.clear()
    pretrainers[0].push_to_hub("owner/name", revision="v1")
    assert [call[0] for call in calls] == ["create_repo", "create_branch", "upload_folder"]
    assert calls[1][2] == {"branch": "v1", "exist_ok": True} and calls[2][2]["revision"] == "v1"
    with pytest.raises(ValueError, match="owner/name"):
        pretrainers[0].push_to_hub("not a repo id")


def test_without_huggingface_hub_the_error_says_what_to_install(pretrainers, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"pip install 'sk_eegm2\[hub\]'"):
        EEGM2Pretrainer.from_pretrained("owner/absent")
    with pytest.raises(ImportError, match=r"sk_eegm2\[hub\]"):
        pretrainers[0].push_to_hub("owner/name")
