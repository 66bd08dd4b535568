"""Training-side helpers: example weights, threshold selection and the fixed data splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from devtools.hatemodel import datasets as ds
from devtools.train_model import PRIOR, V1_CONFIG, Config, best_threshold, macro_f1, prior_weights, sample_weights
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
    assert totals["toxigen"] == pytest.approx(V1_CONFIG.weights["toxigen"] * totals["davidson"])
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


def test_offensive_weight_applies_to_davidson_and_sbic_offensive_rows_only() -> None:
    parts = {
        "davidson": ds.Part("d", ["a", "b", "c", "d"], np.array([0, 0, 0, 1]), ["1", "2", "1", "0"]),
        "sbic": ds.Part("s", ["e", "f", "g"], np.array([0, 0, 1]), ["offensive_not_group", "nothate", "hate"]),
    }
    w = sample_weights(parts, Config(1.0, 0.25, {}))
    d, s = w[:4], w[4:]
    assert d[0] == pytest.approx(0.25 * d[1])  # Davidson class 1 ("offensive") down-weighted
    assert d[0] == pytest.approx(d[2])
    assert s[0] == pytest.approx(0.25 * s[1])  # SBIC offensive_not_group down-weighted
    assert d[:3].sum() == pytest.approx(d[3]) and s[:2].sum() == pytest.approx(s[2])  # still balanced


def test_prior_weights_make_hate_the_given_share() -> None:
    y = np.array([1] * 6 + [0] * 4)
    w = prior_weights(y, 0.05)
    assert w[y == 1].sum() / w.sum() == pytest.approx(0.05)
    assert w.sum() == pytest.approx(len(y))
    assert np.all(prior_weights(np.ones(3, int), 0.05) == 1)  # one class only: unweighted


def test_prior_weighted_threshold_is_stricter_when_hate_is_rare() -> None:
    # Half hate; two harmless texts score like hate. Balanced, flagging them costs little; at a 5%
    # prior those false positives outweigh most of the hate, so the threshold moves above them.
    y = np.array([1] * 10 + [0] * 10)
    p = np.array([0.9] * 5 + [0.7] * 5 + [0.72, 0.71] + [0.1] * 8)
    balanced, _, _ = best_threshold({"a": (y, p)})
    rare, _, _ = best_threshold({"a": (y, p)}, PRIOR)
    assert balanced <= 0.70
    assert 0.72 < rare <= 0.9
    assert macro_f1(y, p, rare, PRIOR) > macro_f1(y, p, balanced, PRIOR)
    assert macro_f1(y, p, balanced) > macro_f1(y, p, rare)


# --- the v3 sources: synthetic files (always run) and the real folders (skip when absent) ------


def _write(path: Path, df: pd.DataFrame, sep: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, sep=sep)


def _fake_data(root: Path) -> Path:
    n = 60
    _write(
        root / "sbic_devtest" / "sbic_devtest_normalized.csv",
        pd.DataFrame(
            {
                "post": [f"sbic post number {i}" for i in range(n)]
                + ["from stormfront", "a davidson tweet", "Sbic post number 0!", "an ethos comment"],
                "dataSource": ["r/darkjokes"] * n + ["Stormfront", "t/davidson", "Gab", "Gab"],
                "label": (["hate", "nothate", "offensive_not_group"] * n)[:n] + ["hate"] * 4,
            }
        ),
    )
    _write(
        root / "toxigen_annotated" / "toxigen_annotated_train_8960.csv",
        pd.DataFrame(
            {
                "text": [f"statement {i}" for i in range(n)] + ["unclear one", "unclear two"],
                "label": (["hate", "nothate"] * n)[:n] + ["ambiguous"] * 2,
            }
        ),
    )
    _write(
        root / "hickey_counterspeech" / "hickey2025_validation_normalized.csv",
        pd.DataFrame(
            {
                "text": [f"reply {i}" for i in range(n)],
                "label_binary": (["hate", "nothate", "nothate"] * n)[:n],
                "class": (["hate", "counter", "other"] * n)[:n],
            }
        ),
    )
    _write(root / "ethos_binary" / "Ethos_Dataset_Binary.csv", pd.DataFrame({"comment": ["An ethos comment"]}), ";")
    return root


def test_v3_sources_drop_stormfront_davidson_ambiguous_duplicates_and_evaluation_texts(tmp_path: Path) -> None:
    data = _fake_data(tmp_path)
    exclude = ds.exclusion_texts(data)
    assert exclude == {"an ethos comment"}  # only the folders that exist are read
    sbic = ds.sbic(data, exclude)
    texts = sbic["train"].texts + sbic["test"].texts
    assert len(texts) == 60  # Stormfront, t/davidson, the duplicate and the ETHOS text are gone
    assert not {"from stormfront", "a davidson tweet", "Sbic post number 0!", "an ethos comment"} & set(texts)
    tox = ds.toxigen_annotated(data, exclude)
    assert "ambiguous" not in set(tox["train"].groups or []) | set(tox["test"].groups or [])
    assert len(tox["train"]) + len(tox["test"]) == 60
    hickey = ds.hickey(data, exclude)
    for part in hickey.values():  # counter-speech and "other" are both nothate
        assert part.groups is not None
        assert [g == "hate" for g in part.groups] == [bool(v) for v in part.labels]


@pytest.mark.parametrize("loader", [ds.toxigen_annotated, ds.sbic, ds.hickey])
def test_v3_splits_are_disjoint_stratified_and_fixed(tmp_path: Path, loader: object) -> None:
    data = _fake_data(tmp_path)
    split = loader(data)  # type: ignore[operator]
    fit, dev, train, test = split["fit"], split["dev"], split["train"], split["test"]
    assert sorted(fit.texts + dev.texts) == sorted(train.texts)
    assert not set(train.texts) & set(test.texts)
    assert len(test) == pytest.approx(0.2 * (len(train) + len(test)), abs=1)
    assert abs(test.labels.mean() - train.labels.mean()) < 0.1  # stratified (13 test rows here)
    assert loader(data)["dev"].texts == dev.texts  # type: ignore[operator]


def test_real_v3_sources_keep_evaluation_data_out_of_training() -> None:
    data = shared_data()
    needed = ("toxigen_annotated", "sbic_devtest", "hickey_counterspeech", "davidson2017", "stormfront_degibert2018")
    missing = [d for d in needed if not (data / d).is_dir()]
    if missing:
        pytest.skip(f"shared data folders {missing} not found under {data} (absent from a user's clone)")
    exclude = ds.exclusion_texts(data)
    storm = {ds.normalize(t) for t in pd.read_csv(data / "stormfront_degibert2018" / "stormfront.csv").text}
    davidson = {ds.normalize(t) for t in pd.read_csv(data / "davidson2017" / "labeled_data.csv").tweet}
    sizes = {}
    for name, loader in (("toxigen_annotated", ds.toxigen_annotated), ("sbic", ds.sbic), ("hickey", ds.hickey)):
        split = loader(data, exclude)
        train = {ds.normalize(t) for t in split["train"].texts}
        assert not train & storm, name
        assert not train & davidson, name
        assert not train & {ds.normalize(t) for t in split["test"].texts}, name
        sizes[name] = (len(split["train"]), len(split["dev"]), len(split["test"]))
    assert sizes == {
        "toxigen_annotated": (5582, 838, 1396),
        "sbic": (6374, 957, 1594),
        "hickey": (523, 105, 131),
    }
