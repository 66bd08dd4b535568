"""The ceiling probe trains on exactly v3's recipe inputs; the encoder benchmark pads correctly."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from bench import encoder_speed
from devtools import ceiling_probe
from devtools.hatemodel import DEFAULT_MODEL_PATH
from devtools.hatemodel import datasets as ds
from devtools.train_model import PRIOR, SOURCES, best_threshold, sample_weights


def test_v3_config_is_the_shipped_models_selection() -> None:
    with np.load(DEFAULT_MODEL_PATH, allow_pickle=False) as data:
        meta = dict(zip(data["metadata_keys"].tolist(), data["metadata_values"].tolist(), strict=True))
    shipped = json.loads(meta["config"])
    assert ceiling_probe.V3_CONFIG.offensive_weight == shipped["offensive_weight"]
    assert dict(ceiling_probe.V3_CONFIG.weights) == shipped["weights"]
    assert set(shipped["weights"]) == set(SOURCES)


def _splits(n_sources: Sequence[str]) -> dict[str, dict[str, ds.Part]]:
    out = {}
    for k, src in enumerate(n_sources):
        parts = {}
        for split, n in (("fit", 8 + k), ("dev", 6), ("test", 4)):
            labels = np.array([i % 2 for i in range(n)])
            texts = [f"{src} {split} {i} {'hate' if y else 'fine'}" for i, y in enumerate(labels)]
            parts[split] = ds.Part(name=f"{src}/{split}", texts=texts, labels=labels)
        parts["train"] = parts["fit"]
        out[src] = parts
    return out


class FakeEncoder:
    """Records what it is trained on; its probability depends on the word 'hate' only."""

    seen: ClassVar[dict[str, Any]] = {}

    def __init__(self, steps: int, seed: int = 0) -> None:
        self.offset = 0.0
        self.model_id = "fake"

    def fit(self, texts: list[str], labels: np.ndarray, weights: np.ndarray) -> None:
        FakeEncoder.seen.update(texts=texts, labels=labels, weights=weights)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        z = np.array([2.0 if "hate" in t.split() else 0.5 for t in texts]) - self.offset
        return np.asarray(1 / (1 + np.exp(-z)))


@pytest.mark.parametrize("stormfront", [False, True])
def test_probe_fits_v3_sources_with_v3_weights_and_a_prior_weighted_dev_threshold(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], stormfront: bool
) -> None:
    splits = _splits([*SOURCES, "unused_source"])
    storm = _splits(["stormfront"])["stormfront"]
    evaluated: list[Any] = []

    def fake_evaluate(data: Path, model: Any) -> dict[str, Any]:
        evaluated.append(model)
        return {"model_id": "fake", "sets": {}}

    monkeypatch.setattr(ds, "training_splits", lambda data: splits)
    monkeypatch.setattr(ds, "stormfront", lambda data: storm)
    monkeypatch.setattr(ceiling_probe, "FineTuned", FakeEncoder)
    monkeypatch.setattr(ceiling_probe, "evaluate", fake_evaluate)
    monkeypatch.setattr(ceiling_probe, "emit", lambda report, as_json: print(json.dumps(report)))

    argv = ["--data", str(tmp_path), "--steps", "1"] + (["--with-stormfront"] if stormfront else [])
    assert ceiling_probe.main(argv) == 0

    used = {s: splits[s] for s in SOURCES} | ({"stormfront": storm} if stormfront else {})
    fit = {s: p["fit"] for s, p in used.items()}
    assert FakeEncoder.seen["texts"] == [t for p in fit.values() for t in p.texts]  # fit parts only
    np.testing.assert_allclose(FakeEncoder.seen["weights"], sample_weights(fit, ceiling_probe.V3_CONFIG))
    dev = {s: (p["dev"].labels, FakeEncoder(1).predict_proba(p["dev"].texts)) for s, p in used.items()}
    thr, mean, _ = best_threshold(dev, PRIOR)
    report = json.loads(capsys.readouterr().out)
    assert report["threshold"] == thr and report["dev_prior_weighted_mean_macro_f1"] == pytest.approx(mean)
    assert set(report["dev"]) == set(used)
    # The threshold is folded in: the evaluated model calls P >= 0.5 hate exactly where p >= thr.
    assert evaluated[0].offset == pytest.approx(np.log(thr / (1 - thr)))


def test_probe_exits_2_without_data(tmp_path: Path) -> None:
    assert ceiling_probe.main(["--data", str(tmp_path / "absent")]) == 2


def test_encoder_benchmark_pads_each_sub_batch_to_its_longest_text() -> None:
    class Tok:
        def encode_batch(self, texts: list[str]) -> list[Any]:
            return [type("E", (), {"ids": [int(w) for w in t.split()]})() for t in texts]

    texts = ["5 6 7", "1", "2 3", "4 4 4 4"]
    whole = encoder_speed.encode(Tok(), texts)
    assert len(whole) == 1 and whole[0]["input_ids"].shape == (4, 4)
    np.testing.assert_array_equal(whole[0]["attention_mask"].sum(1), [3, 1, 2, 4])
    np.testing.assert_array_equal(whole[0]["input_ids"][1], [1, 0, 0, 0])  # [PAD] is 0
    subs = encoder_speed.encode(Tok(), texts, sub=2)
    assert [f["input_ids"].shape for f in subs] == [(2, 2), (2, 4)]  # sorted by length, less padding
    np.testing.assert_array_equal(subs[0]["input_ids"], [[1, 0], [2, 3]])


def test_encoder_benchmark_skips_without_cassettes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHARED_DATA_DIR", str(tmp_path))
    assert encoder_speed.main([]) == 0
    assert "skipped" in capsys.readouterr().err
