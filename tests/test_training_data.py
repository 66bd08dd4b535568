"""Training-side helpers: example weights, threshold selection and the fixed data splits."""

from __future__ import annotations

import numpy as np
import pytest

from devtools.hatemodel import datasets as ds
from devtools.train_model import V1_CONFIG, best_threshold, sample_weights
from tests.conftest import shared_data


def _part(name: str, labels: list[int]) -> ds.Part:
    return ds.Part(name=name, texts=[f"{name} {i}" for i in range(len(labels))], labels=np.array(labels))


def test_sample_weights_balance_classes_and_give_unknown_sources_share_one() -> None:
    parts = {
        "davidson": _part("davidson", [0] * 8 + [1] * 2),
        "toxigen": _part("toxigen", [0, 1, 1]),
        "stormfront": _part("stormfront", [0, 0, 1, 1]),  # no share in Config: weighted like davidson
    }
    w = sample_weights(parts, V1_CONFIG)
    assert w.mean() == pytest.approx(1.0)
    chunks = np.split(w, np.cumsum([len(p) for p in parts.values()])[:-1])
    totals = {}
    for (src, part), chunk in zip(parts.items(), chunks, strict=True):
        hate, nothate = chunk[part.labels == 1].sum(), chunk[part.labels == 0].sum()
        assert hate == pytest.approx(nothate), src  # classes balanced inside each source
        totals[src] = hate + nothate
    assert totals["toxigen"] == pytest.approx(V1_CONFIG.toxigen_weight * totals["davidson"])
    assert totals["stormfront"] == pytest.approx(totals["davidson"])


def test_best_threshold_maximises_the_mean_dev_macro_f1() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    separable = (y, np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]))
    shifted = (y, np.array([0.5, 0.55, 0.6, 0.75, 0.8, 0.9]))  # only thresholds in (0.6, 0.75] separate it
    thr, mean, scores = best_threshold({"a": separable, "b": shifted})
    assert 0.6 < thr <= 0.74
    assert mean == pytest.approx(1.0)
    assert scores == {"a": pytest.approx(1.0), "b": pytest.approx(1.0)}


def test_stormfront_splits_keep_the_test_split_apart() -> None:
    data = shared_data()
    if not (data / "stormfront_degibert2018").is_dir():
        pytest.skip(f"Stormfront data not found under {data} (CI-only data, absent from a user's clone)")
    sf = ds.stormfront(data)
    fit, dev, train, test = sf["fit"], sf["dev"], sf["train"], sf["test"]
    assert sorted(fit.texts + dev.texts) == sorted(train.texts)
    assert len(dev) == pytest.approx(0.15 * len(train), abs=1)
    assert abs(dev.labels.mean() - train.labels.mean()) < 0.01  # stratified
    assert test.texts == ds.stormfront_test(data).texts
    assert len(test) == 478
    assert ds.stormfront(data)["dev"].texts == dev.texts  # fixed seed: the same cut every time
