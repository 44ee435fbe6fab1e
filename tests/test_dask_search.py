"""Hyperparameter search of the pipeline spread over a Dask cluster with joblib's backend."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline

from sk_eegm2 import EEGM2Pretrainer

distributed = pytest.importorskip("distributed", reason="needs dask.distributed")

TINY = {"widths": (4, 8), "d_state": 4, "expand": 2, "headdim": 4, "chunk_size": 16}


@pytest.mark.slow
def test_grid_search_on_a_two_worker_cluster_equals_a_sequential_one(monkeypatch):
    # Worker processes inherit it: one thread each, as the test process (conftest), so that
    # both compute in the same order.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    rng = np.random.default_rng(0)
    y = np.arange(48) % 2
    X = rng.standard_normal((48, 3, 32)).astype(np.float32)
    X += (1 + 2 * y[:, None, None]) * np.sin(np.linspace(0, 12, 32))
    pipe = Pipeline(
        [
            ("eegm2", EEGM2Pretrainer(**TINY, max_epochs=2, device="cpu", random_state=0)),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    grid = {"eegm2__lr": [1e-3, 1e-2], "clf__C": [0.1, 1.0]}
    cv = KFold(2, shuffle=True, random_state=0)
    sequential = GridSearchCV(pipe, grid, cv=cv).fit(X, y)

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
        distributed.get_task_stream(client) as tasks,
        joblib.parallel_backend("dask"),
    ):  # fmt: skip
        on_dask = GridSearchCV(pipe, grid, cv=cv, n_jobs=2).fit(X, y)
    assert len({task["worker"] for task in tasks.data}) == 2  # both workers fitted
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_allclose(on_dask.cv_results_[key], sequential.cv_results_[key])
    assert on_dask.best_params_ == sequential.best_params_
    np.testing.assert_allclose(on_dask.predict_proba(X), sequential.predict_proba(X))
