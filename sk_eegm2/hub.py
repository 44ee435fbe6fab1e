"""Sharing fitted estimators as the field shares models: model cards and the Hugging Face Hub.

A saved folder (``config.json`` and ``model.safetensors``)
also holds a model card, ``README.md``: YAML metadata that the Hub indexes
(``library_name: sk_eegm2``, ``tags``), then what the model was trained on, its
architecture, its scores where given, how to load it, and what to cite
(:func:`model_card`). :func:`push_to_hub` uploads such a folder to a Hub repository and
:func:`download` fetches one, through ``huggingface_hub`` (``pip install
'sk_eegm2[hub]'``), which caches downloads (``HF_HUB_CACHE``) and works offline from that
cache (``HF_HUB_OFFLINE=1``). Downloaded files are read as any saved folder is: JSON and
safetensors only, checked before use, never pickle.
"""

from __future__ import annotations

import importlib
import json
import re
import tempfile
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

from . import _persistence
from ._persistence import CONFIG_FILE, WEIGHTS_FILE
from ._version import __version__

#: The tags every card carries (the Hub's filters); ``library_name`` is sk_eegm2.
TAGS = ("eeg", "sk_eegm2", "scikit-learn", "self-supervised-learning", "mamba-2")
#: The paper the estimators implement, as BibTeX, for the cards' citation section.
CITATION = """\
@article{hong2025eegm2,
  title   = {{EEGM2}: An Efficient {Mamba-2}-Based Self-Supervised Framework for
             Long-Sequence {EEG} Modeling},
  author  = {Hong, Jiazhen and Mackellar, Geoffrey and Ghane, Soheila},
  journal = {arXiv preprint arXiv:2502.17873},
  year    = {2025},
  doi     = {10.48550/arXiv.2502.17873}
}"""
#: A Hub repository id: ``owner/name``, each of letters, digits, ``-``, ``_`` and ``.``.
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def _hub() -> ModuleType:
    """The ``huggingface_hub`` module, or an ImportError that says how to install it."""
    try:
        import huggingface_hub as hub
    except ImportError:
        raise ImportError(
            "Loading from and pushing to the Hugging Face Hub needs huggingface_hub: "
            "pip install 'sk_eegm2[hub]'."
        ) from None
    return hub


def is_repo_id(name: Any) -> bool:
    """Whether ``name`` reads as a Hub repository id (``"owner/name"``)."""
    return isinstance(name, str) and _REPO_ID.match(name) is not None


def model_card(
    estimator: Any,
    *,
    training_data: str | None = None,
    metrics: dict[str, float] | None = None,
    repo_id: str | None = None,
) -> str:
    """The model card of a fitted estimator: YAML metadata, then Markdown.

    Parameters
    ----------
    estimator : EEGM2Pretrainer or EEGM2Classifier
        Fitted.
    training_data : str, optional
        What it was trained on, in words (dataset, subjects, preprocessing).
    metrics : dict of str to float, optional
        Scores, by name (e.g. ``{"balanced_accuracy": 0.71}``), with how they were measured
        in ``training_data`` or the names.
    repo_id : str, optional
        The Hub repository, for the loading example.

    Returns
    -------
    str
    """
    name = type(estimator).__name__
    metrics = dict(metrics or {})
    front = ["---", "library_name: sk_eegm2", "tags:", *(f"- {tag}" for tag in TAGS)]
    if metrics:
        front += ["metrics:", *(f"- {json.dumps(key)}" for key in metrics)]
    front.append("---")
    rate = estimator.sfreq_
    seconds = f" ({estimator.n_times_ / rate:g} s)" if rate else ""
    data = [
        f"- Windows: {getattr(estimator, 'n_windows_', None) or 'not recorded'}",
        f"- Channels ({estimator.n_chans_}): "
        + (", ".join(estimator.ch_names_) if estimator.ch_names_ else "unnamed (arrays)"),
        f"- Sampling rate: {f'{rate:g} Hz' if rate else 'not recorded (arrays)'}",
        f"- Window length: {estimator.n_times_} samples{seconds}",
        f"- Amplitude scaling: {estimator.scaling_}",
    ]
    if training_data:
        data.insert(0, training_data.strip() + "\n")
    config = asdict(estimator.config_)
    architecture = [f"- Preset: {estimator.preset}"] + [
        f"- {key}: {value}" for key, value in config.items()
    ]
    if hasattr(estimator, "classes_"):
        architecture.append(f"- Mode: {estimator.mode}; classes: {list(estimator.classes_)}")
    source = repo_id or "path/to/folder"
    sections = [
        "\n".join(front),
        f"# {name} (sk_eegm2)",
        f"An [EEGM2](https://arxiv.org/abs/2502.17873) {name} fitted with "
        f"[sk_eegm2](https://pypi.org/project/sk_eegm2/) {__version__}: weights in "
        f"`{WEIGHTS_FILE}` (safetensors), settings and fitted attributes in `{CONFIG_FILE}`.",
        "## Training data\n\n" + "\n".join(data),
        "## Architecture\n\n" + "\n".join(architecture),
    ]
    if metrics:
        rows = "\n".join(f"| {key} | {value:.4g} |" for key, value in metrics.items())
        sections.append(f"## Metrics\n\n| metric | value |\n|---|---|\n{rows}")
    sections += [
        "## Usage\n\n```python\n"
        f"from sk_eegm2 import {name}\n\n"
        f'model = {name}.from_pretrained("{source}")\n```\n\n'
        'Input must have the channels and sampling rate above; set `channels="match"` or '
        '`"interpolate"` and `resample=True` to adapt other montages and rates.',
        f"## Citation\n\n```bibtex\n{CITATION}\n```",
    ]
    return "\n\n".join(sections) + "\n"


def download(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    token: str | bool | None = None,
) -> Path:
    """The folder of a saved estimator in a Hub repository, downloaded into the cache.

    Parameters
    ----------
    repo_id : str
        ``"owner/name"``.
    revision : str, optional
        A branch, tag or commit hash (default: the main branch).
    cache_dir : str or Path, optional
        The Hub cache (default: ``HF_HUB_CACHE``).
    token : str or bool, optional
        For private repositories (default: the saved login, if any).

    Returns
    -------
    Path
        The snapshot folder holding ``config.json`` and ``model.safetensors``.

    Raises
    ------
    FileNotFoundError
        If the repository, the revision or one of the two files cannot be found (online),
        or is not in the cache (offline).
    """
    hub = _hub()
    errors = importlib.import_module("huggingface_hub.errors")
    paths = []
    for filename in (CONFIG_FILE, WEIGHTS_FILE):
        try:
            paths.append(
                hub.hf_hub_download(
                    repo_id,
                    filename,
                    revision=revision,
                    cache_dir=cache_dir,
                    token=token,
                    library_name="sk_eegm2",
                    library_version=__version__,
                )
            )
        # LocalEntryNotFoundError, a subclass of EntryNotFoundError, first.
        except errors.LocalEntryNotFoundError as error:
            raise FileNotFoundError(
                f"Could not get {filename} of {repo_id} (revision {revision or 'main'}): it "
                f"is not in the Hub cache and cannot be downloaded ({error})."
            ) from None
        except errors.EntryNotFoundError:
            raise FileNotFoundError(
                f"The Hub repository {repo_id} (revision {revision or 'main'}) has no "
                f"{filename}; is it a folder written by save_pretrained?"
            ) from None
        except errors.RevisionNotFoundError:
            raise FileNotFoundError(f"{repo_id} has no revision {revision!r}.") from None
        except errors.RepositoryNotFoundError:
            raise FileNotFoundError(
                f"No Hub repository {repo_id}, or it is private (pass token=)."
            ) from None
    folders = {Path(path).parent for path in paths}
    if len(folders) != 1:  # both files of one snapshot: a model is read whole, or not at all
        raise ValueError(f"The files of {repo_id} came from different snapshots: {folders}.")
    return folders.pop()


def push_to_hub(
    estimator: Any,
    repo_id: str,
    *,
    training_data: str | None = None,
    metrics: dict[str, float] | None = None,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | bool | None = None,
) -> str:
    """Upload a fitted estimator, as ``save_pretrained`` writes it, to a Hub repository.

    The repository is created if it does not exist. Its ``config.json``,
    ``model.safetensors`` and ``README.md`` (the model card) are replaced in one commit.

    Parameters
    ----------
    estimator : EEGM2Pretrainer or EEGM2Classifier
        Fitted.
    repo_id : str
        ``"owner/name"``.
    training_data, metrics : optional
        For the model card (see :func:`model_card`).
    private : bool, optional
        Visibility of a new repository (default: the Hub's).
    revision : str, optional
        The branch to commit to, created from main if needed (default: main).
    commit_message : str, optional
        Default: "Upload <class> with sk_eegm2 <version>".
    token : str or bool, optional
        Default: the saved login (``hf auth login``).

    Returns
    -------
    str
        The URL of the commit.
    """
    if not is_repo_id(repo_id):
        raise ValueError(f"repo_id must read 'owner/name', got {repo_id!r}.")
    api = _hub().HfApi(token=token)
    name = type(estimator).__name__
    card = model_card(estimator, training_data=training_data, metrics=metrics, repo_id=repo_id)
    with tempfile.TemporaryDirectory() as staging:
        folder = _persistence.save(estimator, Path(staging) / "model", card)
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None:  # a new branch starts from main
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            revision=revision,
            commit_message=commit_message or f"Upload {name} with sk_eegm2 {__version__}",
        )
    return str(commit.commit_url)
