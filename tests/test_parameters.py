"""One architecture value with named presets; parameters checked at the start of fit;
fitted state that changes all or nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2.nn import EEGM2, PRESETS, STATISTICS, EEGM2Config

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

    monkeypatch.setattr("sk_eegm2._base.check_eeg", no_data_read)
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

    monkeypatch.setattr(f"sk_eegm2.{estimator.__module__.split('.')[-1]}.fit_net", broken)
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
    monkeypatch.setattr("sk_eegm2.pretrainer.fit_net", lambda *a, **k: 1 / 0)
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
