"""The numpy scorer must reproduce the scikit-learn pipeline it was exported from."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from devtools.hatemodel import DEFAULT_MODEL_PATH, HateModel, distill, load
from devtools.hatemodel.export import export_model

_REASON = "scikit-learn (requirements-train.txt) is needed for the parity test"
sk_text = pytest.importorskip("sklearn.feature_extraction.text", reason=_REASON)
sk_linear = pytest.importorskip("sklearn.linear_model", reason=_REASON)
sp = pytest.importorskip("scipy.sparse", reason=_REASON)

# Tiny hand-written synthetic corpus (no real data). 1 = the "positive" class in this toy task.
TRAIN = [
    ("I really love sunny days at the beach", 0),
    ("The weather today is lovely and warm", 0),
    ("Our neighbours baked bread for everyone", 0),
    ("We went hiking and had a great time", 0),
    ("Thanks for the help, you are wonderful", 0),
    ("Café au lait and a croissant, très bien", 0),
    ("The 🐶 dog played fetch all afternoon 😊", 0),
    ("Such a calm and peaceful evening", 0),
    ("Zorblax creatures are disgusting vermin", 1),
    ("Get rid of every zorblax, they ruin everything", 1),
    ("All zorblaxes are filthy and worthless", 1),
    ("I despise those zorblax pests 🤮", 1),
    ("Zorblax people should be thrown out", 1),
    ("worthless vermin, every last one of them", 1),
    ("disgusting filthy creatures must go", 1),
    ("They are pests and vermin, nothing more", 1),
]
PROBE = [
    "sunny days with zorblax friends",
    "filthy weather, lovely bread",
    "",
    "   \t\n ",
    "a",
    "!!! ??? ...",
    "ZORBLAX ARE VERMIN!!!",
    "naïve café résumé über straße",
    "🤮🤮🤮 zorblax 🐶",
    "word\u00a0with\u2003unicode\u3000spaces",
    "tab\tseparated\nlines\r\nhere",
    "x" * 3000 + " vermin " + "y" * 3000,
    "I love love love love sunny sunny days",
]


def _fit(sublinear: bool) -> tuple[Any, Any, Any]:
    texts = [t for t, _ in TRAIN]
    y = np.array([label for _, label in TRAIN])
    word = sk_text.TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=sublinear)
    char = sk_text.TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=sublinear)
    x = sp.hstack([word.fit_transform(texts), char.fit_transform(texts)]).tocsr()
    clf = sk_linear.LogisticRegression(C=10.0).fit(x, y)
    return word, char, clf


@pytest.mark.parametrize("sublinear", [True, False])
def test_scorer_matches_sklearn_pipeline(tmp_path: Path, sublinear: bool) -> None:
    word, char, clf = _fit(sublinear)
    path = export_model(word, char, clf, tmp_path / "m.npz", model_id="test/toy-v0")
    model = load(path)
    assert model.model_id == "test/toy-v0"
    texts = [t for t, _ in TRAIN] + PROBE
    x = sp.hstack([word.transform(texts), char.transform(texts)]).tocsr()
    expected = clf.predict_proba(x)[:, 1]
    got = model.predict_proba(texts)
    # float32 storage of idf/coef: agreement to ~1e-7, far below any decision-relevant change.
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(model.decision_function(texts), clf.decision_function(x), atol=1e-4)
    # The toy task is learnable, so the check above is not comparing two constant outputs.
    assert got[: len(TRAIN)].round().tolist() == [float(label) for _, label in TRAIN]


def _fit_with_static_block() -> tuple[Any, Any, Any, Any, list[str], np.ndarray, np.ndarray]:
    """Toy version of train_model's blend: TF-IDF LR + LR on SIF-weighted mean word vectors.

    The word vectors are random (seeded) stand-ins for the distilled encoder vectors; the
    arithmetic the scorer must reproduce is the same.
    """
    texts = [t for t, _ in TRAIN]
    y = np.array([label for _, label in TRAIN])
    word, char, clf = _fit(True)
    counts = distill.token_counts(texts)
    words = [*sorted(counts), "unseen", "neverseen"]
    vectors = np.random.default_rng(0).normal(size=(len(words), 8))
    weight = distill.sif_weights(words, counts, a=0.05)
    static = sk_linear.LogisticRegression(C=10.0).fit(distill.mean_vectors(texts, words, weight, vectors), y)
    return word, char, clf, static, words, weight, vectors


def test_scorer_matches_pipeline_with_static_block(tmp_path: Path) -> None:
    share = 0.4
    word, char, clf, static, words, weight, vectors = _fit_with_static_block()
    blended = sk_linear.LogisticRegression()
    blended.classes_ = clf.classes_
    blended.coef_ = (1 - share) * clf.coef_
    blended.intercept_ = (1 - share) * clf.intercept_ + share * static.intercept_
    scores = share * (vectors @ static.coef_.ravel())
    path = export_model(
        word, char, blended, tmp_path / "m.npz", model_id="test/toy-v2", embedding=(words, weight, scores)
    )
    model = load(path)
    texts = [t for t, _ in TRAIN] + PROBE + ["unseen words only", "neverseen, neverseen unseen"]
    x = sp.hstack([word.transform(texts), char.transform(texts)]).tocsr()
    e = distill.mean_vectors(texts, words, weight, vectors)
    z = (1 - share) * clf.decision_function(x) + share * static.decision_function(e)
    np.testing.assert_allclose(model.decision_function(texts), z, atol=1e-4)
    # The static block really contributes: without it the logits differ noticeably.
    assert np.abs(z - clf.decision_function(x)).max() > 0.05
    with np.load(path, allow_pickle=False) as data:
        assert int(data["format_version"]) == 2
        assert data["emb_vocab"].dtype.kind == "U"


def test_export_rejects_bad_static_block(tmp_path: Path) -> None:
    word, char, clf = _fit(True)
    with pytest.raises(ValueError, match="same length"):
        export_model(word, char, clf, tmp_path / "m.npz", model_id="x", embedding=(["a", "b"], np.ones(2), np.ones(3)))
    with pytest.raises(ValueError, match="positive"):
        export_model(word, char, clf, tmp_path / "m.npz", model_id="x", embedding=(["a"], np.zeros(1), np.ones(1)))


def test_format_1_files_still_load(tmp_path: Path) -> None:
    word, char, clf = _fit(True)
    path = export_model(word, char, clf, tmp_path / "m.npz", model_id="test/toy-v1")
    with np.load(path, allow_pickle=False) as data:
        assert int(data["format_version"]) == 1
        assert "emb_vocab" not in data.files
    assert load(path).predict_proba(["vermin"]).shape == (1,)


def test_export_file_has_no_pickled_objects(tmp_path: Path) -> None:
    word, char, clf = _fit(True)
    path = export_model(word, char, clf, tmp_path / "m.npz", model_id="test/toy-v0")
    with np.load(path, allow_pickle=False) as data:  # would raise on object arrays
        assert data["char_vocab"].dtype.kind == "U"
        assert data["word_vocab"].dtype.kind == "U"


def test_export_rejects_unsupported_settings(tmp_path: Path) -> None:
    word, char, clf = _fit(True)
    word.set_params(binary=True)
    with pytest.raises(ValueError, match="binary"):
        export_model(word, char, clf, tmp_path / "m.npz", model_id="x")


# --- the shipped model ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> HateModel:
    if not DEFAULT_MODEL_PATH.is_file():
        pytest.fail(f"shipped model missing: {DEFAULT_MODEL_PATH}")
    return load()


def test_shipped_model_file_is_small_and_loads_fast() -> None:
    assert DEFAULT_MODEL_PATH.stat().st_size < 5 * 1024 * 1024
    t0 = time.perf_counter()
    model = load()
    assert time.perf_counter() - t0 < 0.5
    assert model.model_id == "devtools/hate-static-lr-v3"


def test_shipped_model_classify_shape_and_order(shipped: HateModel) -> None:
    texts = ["I had a lovely walk in the park today.", "Thanks, that recipe was great!", "hello"]
    out = shipped.classify(texts)
    assert len(out) == len(texts)
    probs = shipped.predict_proba(texts)
    for item, p in zip(out, probs, strict=True):
        assert item["label"] in ("hate", "nothate")
        assert 0.5 <= item["score"] <= 1.0
        assert item["score"] == pytest.approx(p if item["label"] == "hate" else 1 - p)
    # Order is preserved: scoring one by one gives the same numbers as the batch.
    singles = np.array([shipped.predict_proba([t])[0] for t in texts])
    np.testing.assert_allclose(singles, probs, atol=1e-12)
    reversed_probs = shipped.predict_proba(texts[::-1])
    np.testing.assert_allclose(reversed_probs[::-1], probs, atol=1e-12)


def test_shipped_model_has_static_word_vectors() -> None:
    with np.load(DEFAULT_MODEL_PATH, allow_pickle=False) as data:
        assert int(data["format_version"]) == 2
        vocab = set(data["emb_vocab"].tolist())
        assert len(vocab) > 20_000 and np.all(data["emb_weight"] > 0)
    # Encoder whole words the training texts may never contain are covered too.
    assert {"muslims", "immigrants", "wonderful"} <= vocab


def test_shipped_model_records_its_data_and_dev_chosen_threshold() -> None:
    with np.load(DEFAULT_MODEL_PATH, allow_pickle=False) as data:
        meta = dict(zip(data["metadata_keys"].tolist(), data["metadata_values"].tolist(), strict=True))
    for source in ("toxigen_annotated", "sbic_devtest", "hickey_counterspeech"):
        assert source in meta["trained_on"]
    assert "without Stormfront" in meta["trained_on"]
    assert float(meta["threshold_prior"]) == pytest.approx(0.05)
    assert 0.2 <= float(meta["threshold_folded_into_intercept"]) <= 0.95
    dev = json.loads(meta["dev"])  # per dev part: weighted and plain macro-F1 and shares flagged
    assert set(dev) == {"davidson", "hatemoji", "toxigen", "toxigen_annotated", "sbic", "hickey"}
    assert all(0.0 <= d["flagged"] <= 1.0 for d in dev.values())


def test_shipped_model_benign_texts_are_not_hate(shipped: HateModel) -> None:
    benign = ["I had a lovely walk in the park today.", "What time does the game start tonight?"]
    assert [d["label"] for d in shipped.classify(benign)] == ["nothate", "nothate"]


def test_shipped_model_edge_cases(shipped: HateModel) -> None:
    assert shipped.classify([]) == []
    assert shipped.predict_proba([]).shape == (0,)
    weird = ["", " ", "🤬🔥💯", "naïve café ünïcödé 日本語のテキスト", "\ud83d lone surrogate", "a" * 200_000, "x\x00y"]
    p = shipped.predict_proba(weird)
    assert p.shape == (len(weird),)
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    # A text with no known features scores the intercept only.
    assert p[0] == pytest.approx(1 / (1 + np.exp(-shipped.intercept)))
    with pytest.raises(TypeError):
        shipped.predict_proba("a single string")


def test_shipped_model_is_deterministic(shipped: HateModel) -> None:
    texts = [f"comment number {i} about the weather and football" for i in range(100)]
    a = shipped.predict_proba(texts)
    b = load().predict_proba(texts)
    np.testing.assert_array_equal(a, b)


def test_classify_all_sorted(shipped: HateModel) -> None:
    out = shipped.classify_all(["hello there", "good morning"])
    for pair in out:
        assert {d["label"] for d in pair} == {"hate", "nothate"}
        assert pair[0]["score"] >= pair[1]["score"]
        assert pair[0]["score"] + pair[1]["score"] == pytest.approx(1.0)
