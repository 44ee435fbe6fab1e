"""Reading the authors' checkpoints: state dicts written with torch.save."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sk_eegm2 import EEGM2Classifier, EEGM2Pretrainer
from sk_eegm2.nn import EEGM2, FineTuneNetwork, LightHead, summary_statistics
from sk_eegm2.nn.authors import (
    architecture_from_state_dict,
    authors_state_dict,
    load_authors_classifier,
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


# --------------------------------------------------------------- through the estimators
ARCHITECTURE = {"widths": (8, 16), "d_state": 4, "d_conv": 3, "expand": 2, "headdim": 4}


def windows(n=12, n_chans=3, n_times=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_chans, n_times)).astype(np.float32)


@pytest.fixture
def authors_file(tmp_path):
    """A state dict written the authors' way, and the network it came from."""
    torch.manual_seed(1)
    network = EEGM2(3, **ARCHITECTURE).eval()
    path = tmp_path / "best_model.pth"
    torch.save(network.state_dict(), path)
    return path, network


def test_a_pretrainer_starts_from_the_authors_weights_for_transform(authors_file):
    path, network = authors_file
    X = windows()
    pretrainer = EEGM2Pretrainer(
        **ARCHITECTURE, chunk_size=8, init_weights=path, max_epochs=0, scaling=None
    ).fit(X)
    assert len(pretrainer.history_) == 0
    with torch.no_grad():
        expected = network(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(pretrainer.reconstruct(X), expected, rtol=1e-5, atol=1e-6)
    assert pretrainer.transform(X).shape == (12, 9 * 16)


def test_a_classifier_fine_tunes_from_the_authors_file(authors_file):
    path, network = authors_file
    X, y = windows(24), np.tile([0, 1], 12)
    light = EEGM2Classifier(
        **ARCHITECTURE, pretrained=path, mode="light", max_epochs=1, random_state=0
    ).fit(X, y)
    for key, value in network.state_dict().items():  # the frozen encoder is the authors'
        assert torch.equal(light.encoder_.state_dict()[key], value)
    fine = EEGM2Classifier(**ARCHITECTURE, pretrained=str(path), max_epochs=1).fit(X, y)
    assert fine.predict_proba(X).shape == (24, 2)


def test_another_architecture_or_no_checkpoint_is_refused(authors_file):
    path, _ = authors_file
    with pytest.raises(ValueError, match=r"another architecture.*widths \(8, 16\)"):
        EEGM2Pretrainer(init_weights=path, max_epochs=0, preset="cpu").fit(windows())
    with pytest.raises(ValueError, match="n_chans 3"):
        EEGM2Pretrainer(**ARCHITECTURE, init_weights=path, max_epochs=0).fit(windows(n_chans=4))


def test_max_epochs_0_keeps_the_initial_network_an_untrained_twin():
    X = windows()
    twin = EEGM2Pretrainer(**ARCHITECTURE, max_epochs=0, random_state=3).fit(X)
    torch.manual_seed(123)  # the caller's random state does not matter, random_state does
    again = EEGM2Pretrainer(**ARCHITECTURE, max_epochs=0, random_state=3).fit(X)
    trained = EEGM2Pretrainer(**ARCHITECTURE, max_epochs=1, random_state=3).fit(X)
    assert len(twin.history_) == 0
    np.testing.assert_array_equal(twin.transform(X), again.transform(X))
    assert not np.allclose(twin.transform(X), trained.transform(X))


# ------------------------------------------------------------ the authors' downstream heads
class AuthorsFine(torch.nn.Module):
    """The authors' Fine classifier's structure: their names, their forward."""

    def __init__(self, network, n_inputs, n_classes, hidden=10):
        super().__init__()
        self.feature_extractor = network
        self.fc = torch.nn.Sequential(
            torch.nn.Linear(n_inputs, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_classes)
        )

    def forward(self, x):
        out = self.feature_extractor(x)
        return self.fc(out.view(out.size(0), -1))


class AuthorsMLP(torch.nn.Module):
    """The authors' Light MLP's structure: Sequential ``net``, dropout after each ReLU."""

    def __init__(self, n_features, n_classes, hidden=(12, 6)):
        super().__init__()
        layers = [torch.nn.Linear(n_features, hidden[0]), torch.nn.ReLU(), torch.nn.Dropout(0.5)]
        layers += [torch.nn.Linear(hidden[0], hidden[1]), torch.nn.ReLU(), torch.nn.Dropout(0.5)]
        self.net = torch.nn.Sequential(*layers, torch.nn.Linear(hidden[1], n_classes))

    def forward(self, features):
        return self.net(features)


def authors_light_features(pooled):
    """Their statistics written out: min, max, mean, std over channels, then per channel its
    five quantiles."""
    quantiles = [
        torch.stack(
            [torch.quantile(pooled[:, c], q, dim=-1) for q in (0.05, 0.25, 0.5, 0.75, 0.95)]
        )
        for c in range(pooled.shape[1])
    ]  # each (5, B)
    moments = [pooled.amin(-1), pooled.amax(-1), pooled.mean(-1), pooled.std(-1)]
    return torch.cat([*moments, torch.cat(quantiles).T], dim=1)


def test_the_authors_fine_classifier_loads_and_gives_their_logits(tmp_path):
    torch.manual_seed(2)
    theirs = AuthorsFine(EEGM2(3, **TINY), 3 * 32, n_classes=4).eval()
    path = tmp_path / "classifier_model.pth"
    torch.save(theirs.state_dict(), path)
    module, kind = load_authors_classifier(path, chunk_size=8)
    assert kind == "fine" and isinstance(module, FineTuneNetwork)
    x = torch.randn(2, 3, 32)
    with torch.no_grad():
        torch.testing.assert_close(module(x), theirs(x), rtol=1e-5, atol=1e-6)
    written = authors_state_dict(module)
    assert written.keys() == theirs.state_dict().keys()
    # a feature extractor wrapped in DataParallel when it was trained
    wrapped = {
        k.replace("feature_extractor.", "feature_extractor.module."): v
        for k, v in theirs.state_dict().items()
    }
    torch.save(wrapped, path)
    module, _ = load_authors_classifier(path)
    torch.testing.assert_close(module.head[3].weight, theirs.fc[2].weight)


def test_the_authors_light_mlp_loads_and_takes_their_features(tmp_path):
    torch.manual_seed(3)
    network = EEGM2(3, **TINY).eval()
    theirs = AuthorsMLP(9 * 16, n_classes=3).eval()
    path = tmp_path / "best_linear_probe_mlp.pth"
    torch.save(theirs.state_dict(), path)
    module, kind = load_authors_classifier(path)
    assert kind == "light" and isinstance(module, LightHead)
    with torch.no_grad():
        pooled = network.forward_features(torch.randn(4, 3, 40))
        features = summary_statistics(pooled, order="authors")
        torch.testing.assert_close(features, authors_light_features(pooled))
        torch.testing.assert_close(module(features), theirs(features))
    assert authors_state_dict(module).keys() == theirs.state_dict().keys()


def test_downstream_files_of_another_shape_are_refused(tmp_path):
    path = tmp_path / "head.pth"
    state = AuthorsFine(EEGM2(3, **TINY), 3 * 32, n_classes=2).state_dict()
    state["fc.2.weight"] = torch.zeros(2, 7)  # the last layer does not take the hidden width
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"(?s)fc\.2\.\* as head\.3\.\*.*for head\.3\.weight"):
        load_authors_classifier(path)
    state = AuthorsFine(EEGM2(3, **TINY), 3 * 32 + 1, n_classes=2).state_dict()
    torch.save(state, path)
    with pytest.raises(ValueError, match="not a multiple of the network's 3 channels"):
        load_authors_classifier(path)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Linear(4, 2))  # net.0, net.1
    torch.save({f"net.{k}": v for k, v in mlp.state_dict().items()}, path)
    with pytest.raises(ValueError, match="LightHead"):
        load_authors_classifier(path)
    torch.save(EEGM2(3, **TINY).state_dict(), path)
    with pytest.raises(ValueError, match="load_authors_eegm2"):
        load_authors_classifier(path)


def test_light_mode_without_standardisation_in_the_authors_order(authors_file):
    path, network = authors_file
    X, y = windows(16, n_times=40), np.tile([0, 1], 8)
    clf = EEGM2Classifier(
        **ARCHITECTURE, pretrained=path, mode="light", standardize=False,
        feature_order="authors", scaling=None, max_epochs=1, random_state=0,
    ).fit(X, y)  # fmt: skip
    np.testing.assert_array_equal(clf.feature_mean_, 0.0)
    np.testing.assert_array_equal(clf.feature_scale_, 1.0)
    head = clf.net_.module_.eval()
    with torch.no_grad():
        features = authors_light_features(network.forward_features(torch.from_numpy(X)))
        expected = torch.softmax(head(features), dim=1).numpy()
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-4, atol=1e-5)


def test_a_classifier_predicts_as_the_authors_downstream_files(tmp_path, authors_file):
    path, network = authors_file
    X, y = windows(8, n_times=32), np.tile(["rest", "task"], 4)
    x = torch.from_numpy(X)
    torch.manual_seed(4)
    fine_file, light_file = tmp_path / "classifier_model.pth", tmp_path / "mlp.pth"
    fine = AuthorsFine(EEGM2(3, **ARCHITECTURE), 3 * 32, n_classes=2, hidden=128).eval()
    torch.save(fine.state_dict(), fine_file)
    light = AuthorsMLP(9 * 16, n_classes=2, hidden=(128, 32)).eval()
    torch.save(light.state_dict(), light_file)
    common = {**ARCHITECTURE, "scaling": None, "max_epochs": 0, "chunk_size": 8}
    clf = EEGM2Classifier(**common, init_head=fine_file).fit(X, y)
    with torch.no_grad():
        expected = torch.softmax(fine(x), dim=1).numpy()
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-4, atol=1e-5)
    clf = EEGM2Classifier(
        **common, pretrained=path, mode="light", init_head=light_file, standardize=False,
        feature_order="authors",
    ).fit(X, y)  # fmt: skip
    with torch.no_grad():
        features = authors_light_features(network.forward_features(x))
        expected = torch.softmax(light(features), dim=1).numpy()
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="holds the authors' fine classifier"):
        EEGM2Classifier(**common, pretrained=path, mode="light", init_head=fine_file).fit(X, y)
    with pytest.raises(ValueError, match=r"head\.3\.weight"):  # three classes, theirs two
        EEGM2Classifier(**common, init_head=fine_file).fit(windows(9), np.arange(9) % 3)
    with pytest.raises(ValueError, match='head="reconstruction"'):
        EEGM2Classifier(**common, head="pooled", init_head=fine_file).fit(X, y)
