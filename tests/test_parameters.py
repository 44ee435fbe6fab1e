"""One architecture value with named presets; parameters checked at the start of fit;
fitted state that changes all or nothing."""

from __future__ import annotations

import dataclasses
import importlib.metadata

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

import sk_eegm2
from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2._parameters import ROLES, declared, estimator_parameters, parameter
from sk_eegm2._training import fingerprint
from sk_eegm2.nn import EEGM2, PRESETS, STATISTICS, EEGM2Config
from sk_eegm2.nn.compute import Compute

TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}
X = np.random.default_rng(0).standard_normal((24, 3, 32)).astype(np.float32)
Y = np.arange(24) % 2


def test_the_network_defaults_are_the_paper_preset():
    network = EEGM2(2)
    paper = PRESETS["paper"]
    assert network.widths == paper.widths == EEGM2Config().widths
    assert network.encoder1[1].mamba.expand == paper.expand
    from_config = EEGM2.from_config(2, paper)
    assert from_config.state_dict().keys() == network.state_dict().keys()


@pytest.mark.parametrize("estimator", [EEGM2Pretrainer, EEGM2Classifier])
def test_the_cpu_preset_builds_the_small_network(estimator, tmp_path):
    model = estimator(preset="cpu", max_epochs=1, random_state=0)
    assert clone(model).get_params()["preset"] == "cpu"
    model.fit(X, Y)
    assert model.config_ == PRESETS["cpu"] == EEGM2Config(widths=(16, 32, 64), expand=2, headdim=16)
    loaded = estimator.from_pretrained(model.save_pretrained(tmp_path / "m"))
    assert loaded.preset == "cpu" and loaded.config_ == PRESETS["cpu"]


def test_single_settings_override_the_preset():
    model = EEGM2Pretrainer(preset="cpu", expand=4, max_epochs=1).fit(X)
    assert model.config_ == EEGM2Config(widths=(16, 32, 64), expand=4, headdim=16)


BAD = {
    "max_epochs": -1,  # 0 is refused by the classifier; for a pretrainer it means "no training"
    "batch_size": 0,
    "expand": 0,
    "widths": (),
    "backend": "cuda-magic",
    "scaling": "bogus",
    "preset": "huge",
    "validation_fraction": 1.0,
    "lr": -1.0,
}


@pytest.mark.parametrize("name", list(BAD))
@pytest.mark.parametrize("estimator", [EEGM2Pretrainer, EEGM2Classifier])
def test_bad_parameters_are_refused_at_the_start_of_fit(estimator, name, monkeypatch):
    def no_data_read(*args, **kwargs):
        raise AssertionError("the input was checked before the parameters")

    monkeypatch.setattr("sk_eegm2._base.check_eeg_parts", no_data_read)
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        estimator(**{**TINY, name: BAD[name]}).fit(X, Y)


def test_headdim_that_does_not_divide_the_inner_width_is_refused_clearly():
    with pytest.raises(ValueError, match="headdim=3 must divide"):
        EEGM2Pretrainer(**{**TINY, "headdim": 3}).fit(X)


@pytest.mark.parametrize("estimator", [EEGM2Pretrainer, EEGM2Classifier])
def test_a_failed_refit_leaves_the_fitted_state_as_it_was(estimator, monkeypatch):
    """Fault 7: a failed refit left new scale_ / n_chans_ beside the old network."""
    model = estimator(**TINY, max_epochs=1, scaling="global", random_state=0).fit(X, Y)
    before = {k: v for k, v in vars(model).items() if k.endswith("_")}
    weights = {k: v.clone() for k, v in model.net_.module_.state_dict().items()}

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr("sk_eegm2._base.train", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        model.fit(X[:, :2] * 10, Y)  # other channels and scale: would change n_chans_, scale_
    after = {k: v for k, v in vars(model).items() if k.endswith("_")}
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] for k in before)
    assert all(torch.equal(v, model.net_.module_.state_dict()[k]) for k, v in weights.items())
    usable = model.transform if isinstance(model, EEGM2Pretrainer) else model.predict
    assert len(usable(X)) == len(X)


def test_a_failed_first_fit_leaves_the_estimator_unfitted(monkeypatch):
    model = EEGM2Pretrainer(**TINY, max_epochs=1)
    monkeypatch.setattr("sk_eegm2._base.train", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        model.fit(X)
    assert not [k for k in vars(model) if k.endswith("_")]


def test_feature_names_follow_the_fitted_network_not_later_parameters():
    """Fault 8: after set_params the names no longer matched what transform returns."""
    model = EEGM2Pretrainer(**TINY, max_epochs=1, random_state=0).fit(X)
    model.set_params(widths=(4, 6), preset="cpu")
    names = model.get_feature_names_out()
    assert len(names) == model.transform(X).shape[1] == 9 * 8
    assert names[0] == f"pool_{STATISTICS[0]}_0" and names[-1] == f"pool_{STATISTICS[-1]}_7"


def test_a_classifier_refuses_max_epochs_0():
    with pytest.raises(InvalidParameterError, match="'max_epochs' parameter"):
        EEGM2Classifier(**TINY, max_epochs=0).fit(X, Y)


# ------------------------------------------------------ roles and flags of the declarations
@pytest.mark.parametrize("estimator", [EEGM2Pretrainer, EEGM2Classifier])
def test_every_parameter_is_declared_with_a_role(estimator):
    assert set(declared(estimator)) == set(estimator().get_params(deep=False))
    assert {name for role in ROLES for name in declared(estimator, role)} == set(
        declared(estimator)
    )
    with pytest.raises(ValueError, match="role must be one of"):
        parameter(1, [int], "int", "A parameter of no known role.", role="misc")


@pytest.mark.parametrize("estimator", [EEGM2Pretrainer, EEGM2Classifier])
def test_architecture_and_compute_are_the_declarations_of_their_role(estimator):
    architecture = {f.name for f in dataclasses.fields(EEGM2Config)} | {"preset"}
    assert set(declared(estimator, "architecture")) == architecture
    assert declared(estimator, "compute") == tuple(f.name for f in dataclasses.fields(Compute))
    assert estimator(chunk_size=8, threads=2)._compute() == Compute(chunk_size=8, threads=2)


def test_fitted_attributes_are_documented_and_saved_from_one_declaration():
    for estimator in (EEGM2Pretrainer, EEGM2Classifier):
        for name, attribute in estimator._fitted_attributes.items():
            assert f"{name} : {attribute.type_doc}" in estimator.__doc__
        saved = {n for n, a in estimator._fitted_attributes.items() if a.constraints is not None}
        assert set(estimator._saved_attributes) == saved
    assert {"history_", "device_", "n_features_in_"}.isdisjoint(EEGM2Pretrainer._saved_attributes)


@pytest.mark.parametrize("name, other", [("threads", 2), ("compile", True), ("lr", 1e-3)])
def test_a_fingerprinted_parameter_changes_the_fingerprint(name, other):
    """threads and compile change the order of floating-point operations: a checkpoint of
    another value must not be resumed (they were not fingerprinted)."""
    assert name in declared(EEGM2Pretrainer, fingerprinted=True)
    network = EEGM2.from_config(3, EEGM2Config(widths=(4, 8), d_state=4, expand=2, headdim=4))
    settings = EEGM2Pretrainer().get_params(deep=False)
    chosen = {n: settings[n] for n in declared(EEGM2Pretrainer, fingerprinted=True)}
    assert fingerprint(chosen, network, X) != fingerprint({**chosen, name: other}, network, X)


def test_what_changes_no_number_is_neither_fingerprinted_nor_part_of_the_architecture():
    unfingerprinted = set(declared(EEGM2Pretrainer, fingerprinted=False))
    assert {"verbose", "checkpoint_dir", "resume", "num_workers"} <= unfingerprinted
    assert not unfingerprinted & {"threads", "compile", "chunk_size", "backend", "precision"}
    assert not {"checkpoint_dir", "resume", "device"} & set(declared(EEGM2Pretrainer, saved=True))


def test_a_subclass_that_declares_parameters_undecorated_is_refused():
    class Undecorated(EEGM2Pretrainer):
        extra: int = parameter(1, [int], "int", "A parameter of the subclass.", role="model")

    with pytest.raises(TypeError, match=r"@estimator_parameters.*'class Undecorated'"):
        Undecorated()

    @estimator_parameters
    class Decorated(EEGM2Pretrainer):
        extra: int = parameter(1, [int], "int", "A parameter of the subclass.", role="model")

    class Plain(Decorated):  # declares nothing: needs no decorator
        pass

    assert Decorated(extra=3).get_params()["extra"] == 3
    assert Plain(extra=2).extra == 2


def test_the_version_is_that_of_the_installed_distribution():
    assert sk_eegm2.__version__ == importlib.metadata.version("sk_eegm2")
