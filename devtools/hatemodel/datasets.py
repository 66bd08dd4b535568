"""Loaders and fixed splits for the labelled data in ../shared/data (offline scripts only).

Needs pandas and scikit-learn (requirements-train.txt); the run-time scorer never imports this.
Label convention everywhere: 1 = hate, 0 = nothate.

Splits (all deterministic):
- davidson2017: ``train_test_split(df.tweet, df["class"], test_size=0.3, random_state=42)``;
  the 30% ``test`` part is held out. The 70% is cut again (15%, stratified, seed 42) into
  ``fit`` and ``dev``; ``train`` = fit + dev.
- hatemojibuild: the official train / validation (= ``dev``) / test files. Only ``train`` is
  ever used for fitting.
- toxigen_seeds: stratified 20% ``test`` (seed 42); the 80% ``train`` is cut again (20%,
  stratified, seed 42) into ``fit`` and ``dev``.
- stormfront: the ``test`` split is evaluation only. ``stormfront()`` cuts the ``train`` split
  (15%, stratified, seed 42) into ``fit`` and ``dev`` for ``devtools.ceiling_probe
  --with-stormfront`` only; the shipped model never sees Stormfront (CC BY-SA, see MODEL.md).
- hatecheck, ethos_binary: evaluation only, never used for training or selection.

New in v3 (each folder's README gives licence, citation and label mapping). Before splitting,
each of these sources drops exact duplicates (after ``normalize``) inside itself and any text that
also occurs in another source's held-out or evaluation data (``exclude``: Davidson, the ToxiGen
seed sentences, HateCheck, ETHOS and Stormfront texts; labels are never read for this). Then a
stratified 20% ``test`` part is held out (seed 42) and the 80% ``train`` is cut again (15%,
stratified, seed 42) into ``fit`` and ``dev``. ``groups`` keeps each source's finer label.
- toxigen_annotated: ``label`` hate / nothate; the 1,951 "ambiguous" rows (human toxicity
  between 2 and 4) are dropped.
- sbic_devtest: SBIC's dev and tst files pooled; ``hate`` -> 1, ``offensive_not_group`` and
  ``nothate`` -> 0. Its Stormfront rows (evaluation data) and its ``t/davidson`` rows (tweets of
  davidson2017, whose 30% test part is held out) are dropped before anything else.
- hickey_counterspeech: ``label_binary`` (hate -> 1; "other" and counter-speech -> 0); the dev
  cut is 20% of ``train`` because the set is small.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

SEED = 42


def default_data_dir() -> Path:
    """``$SHARED_DATA_DIR`` if set, else ``<repo>/../shared/data``."""
    env = os.environ.get("SHARED_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


@dataclass
class Part:
    """One labelled text set."""

    name: str
    texts: list[str]
    labels: np.ndarray  # int 0/1
    groups: list[str] | None = None  # e.g. HateCheck functionality

    def __len__(self) -> int:
        return len(self.texts)


def _part(name: str, texts: pd.Series, labels: pd.Series | np.ndarray, groups: pd.Series | None = None) -> Part:
    return Part(
        name=name,
        texts=[str(t) for t in texts],
        labels=np.asarray(labels, dtype=np.int64),
        groups=None if groups is None else [str(g) for g in groups],
    )


def davidson(data_dir: Path) -> dict[str, Part]:
    df = pd.read_csv(data_dir / "davidson2017" / "labeled_data.csv")
    x_train, x_test, c_train, c_test = train_test_split(df.tweet, df["class"], test_size=0.3, random_state=42)
    x_fit, x_dev, c_fit, c_dev = train_test_split(x_train, c_train, test_size=0.15, random_state=SEED, stratify=c_train)
    out = {}
    cuts = (("train", x_train, c_train), ("fit", x_fit, c_fit), ("dev", x_dev, c_dev), ("test", x_test, c_test))
    for key, x, c in cuts:
        part = _part(f"davidson2017/{key}", x, (c == 0).astype(int))
        # Keep the 3-way class so training can weight "offensive but not hate" separately.
        part.groups = [str(v) for v in c]
        out[key] = part
    return out


def hatemoji(data_dir: Path) -> dict[str, Part]:
    out = {}
    for key, fname in (("fit", "train"), ("dev", "validation"), ("test", "test")):
        df = pd.read_csv(data_dir / "hatemojibuild" / f"{fname}.csv")
        out[key] = _part(f"hatemojibuild/{fname}", df.text, df.label_gold)
    out["train"] = out["fit"]
    return out


def toxigen(data_dir: Path) -> dict[str, Part]:
    df = pd.read_csv(data_dir / "toxigen_seeds" / "toxigen_seed_sentences.csv")
    y = (df.label == "hate").astype(int)
    x_train, x_test, y_train, y_test = train_test_split(df.text, y, test_size=0.2, random_state=SEED, stratify=y)
    x_fit, x_dev, y_fit, y_dev = train_test_split(x_train, y_train, test_size=0.2, random_state=SEED, stratify=y_train)
    return {
        "train": _part("toxigen_seeds/train", x_train, y_train),
        "fit": _part("toxigen_seeds/fit", x_fit, y_fit),
        "dev": _part("toxigen_seeds/dev", x_dev, y_dev),
        "test": _part("toxigen_seeds/test", x_test, y_test),
    }


def hatecheck(data_dir: Path) -> Part:
    df = pd.read_csv(data_dir / "hatecheck" / "test_suite_cases.csv")
    return _part("hatecheck", df.test_case, (df.label_gold == "hateful").astype(int), df.functionality)


def ethos(data_dir: Path) -> Part:
    df = pd.read_csv(data_dir / "ethos_binary" / "Ethos_Dataset_Binary.csv", sep=";")
    return _part("ethos_binary", df.comment, (df.isHate >= 0.5).astype(int))


def _stormfront_split(df: pd.DataFrame, split: str) -> tuple[pd.Series, pd.Series]:
    """Texts and 0/1 labels of one split (``relation`` and ``idk/skip`` rows are not used)."""
    rows = df[(df.split == split) & df.label.isin(["hate", "noHate"])]
    return rows.text, (rows.label == "hate").astype(int)


def _stormfront_csv(data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(data_dir / "stormfront_degibert2018" / "stormfront.csv")


def stormfront(data_dir: Path) -> dict[str, Part]:
    """Stormfront ``train`` split cut into fit / dev, and the ``test`` split (ceiling probe only)."""
    df = _stormfront_csv(data_dir)
    x_train, y = _stormfront_split(df, "train")
    x_fit, x_dev, y_fit, y_dev = train_test_split(x_train, y, test_size=0.15, random_state=SEED, stratify=y)
    return {
        "train": _part("stormfront/train", x_train, y),
        "fit": _part("stormfront/fit", x_fit, y_fit),
        "dev": _part("stormfront/dev", x_dev, y_dev),
        "test": _part("stormfront/test", *_stormfront_split(df, "test")),
    }


def stormfront_test(data_dir: Path) -> Part:
    return _part("stormfront/test", *_stormfront_split(_stormfront_csv(data_dir), "test"))


# --- v3 sources ---------------------------------------------------------------------------------

_NON_WORD = re.compile(r"\W+")
TEST_SHARE = 0.2
DEV_SHARE = 0.15


def normalize(text: str) -> str:
    """Lowercased words joined by single spaces: the key for duplicate checks."""
    return _NON_WORD.sub(" ", str(text).lower()).strip()


def exclusion_texts(data_dir: Path) -> set[str]:
    """Normalised texts the v3 sources must not train on (held-out or evaluation data elsewhere).

    Only texts are read; no label of an evaluation set is used. Missing folders are skipped.
    """
    files: list[tuple[Path, str, str]] = [
        (data_dir / "davidson2017" / "labeled_data.csv", "tweet", ","),
        (data_dir / "toxigen_seeds" / "toxigen_seed_sentences.csv", "text", ","),
        (data_dir / "hatecheck" / "test_suite_cases.csv", "test_case", ","),
        (data_dir / "ethos_binary" / "Ethos_Dataset_Binary.csv", "comment", ";"),
        (data_dir / "stormfront_degibert2018" / "stormfront.csv", "text", ","),
    ]
    out: set[str] = set()
    for path, column, sep in files:
        if path.is_file():
            out.update(normalize(t) for t in pd.read_csv(path, sep=sep)[column])
    return out


def _dedupe(df: pd.DataFrame, column: str, exclude: Iterable[str]) -> pd.DataFrame:
    """Drop empty texts, in-source duplicates (first kept) and texts found in ``exclude``."""
    keys = df[column].map(normalize)
    banned = set(exclude)
    keep = (keys != "") & ~keys.duplicated() & ~keys.isin(banned)
    return df[keep.to_numpy()]


def _split_v3(
    name: str, texts: pd.Series, labels: pd.Series, groups: pd.Series, dev_share: float = DEV_SHARE
) -> dict[str, Part]:
    """Stratified (by ``groups``) test / fit / dev cuts; see the module docstring."""
    idx = np.arange(len(texts))
    strata = groups.astype(str).to_numpy()
    i_train, i_test = train_test_split(idx, test_size=TEST_SHARE, random_state=SEED, stratify=strata)
    i_fit, i_dev = train_test_split(i_train, test_size=dev_share, random_state=SEED, stratify=strata[i_train])
    out = {}
    for key, rows in (("train", i_train), ("fit", i_fit), ("dev", i_dev), ("test", i_test)):
        out[key] = _part(f"{name}/{key}", texts.iloc[rows], labels.iloc[rows].to_numpy(), groups.iloc[rows])
    return out


def toxigen_annotated(data_dir: Path, exclude: Iterable[str] = ()) -> dict[str, Part]:
    df = pd.read_csv(data_dir / "toxigen_annotated" / "toxigen_annotated_train_8960.csv")
    df = _dedupe(df[df.label.isin(["hate", "nothate"])], "text", exclude)
    return _split_v3("toxigen_annotated", df.text, (df.label == "hate").astype(int), df.label)


SBIC_DROPPED_SOURCES = ("Stormfront", "t/davidson")


def sbic(data_dir: Path, exclude: Iterable[str] = ()) -> dict[str, Part]:
    df = pd.read_csv(data_dir / "sbic_devtest" / "sbic_devtest_normalized.csv")
    df = _dedupe(df[~df.dataSource.isin(SBIC_DROPPED_SOURCES)], "post", exclude)
    return _split_v3("sbic_devtest", df.post, (df.label == "hate").astype(int), df.label)


def hickey(data_dir: Path, exclude: Iterable[str] = ()) -> dict[str, Part]:
    df = pd.read_csv(data_dir / "hickey_counterspeech" / "hickey2025_validation_normalized.csv")
    df = _dedupe(df, "text", exclude)
    # 3-way ``class`` (other / hate / counter) as the group. A 20% dev cut keeps ~12 hate rows in it.
    labels = (df.label_binary == "hate").astype(int)
    return _split_v3("hickey_counterspeech", df.text, labels, df["class"], dev_share=0.2)


def training_splits(data_dir: Path) -> dict[str, dict[str, Part]]:
    """The fixed splits of every training source (train_model and evaluate_model use these)."""
    exclude = exclusion_texts(data_dir)
    return {
        "davidson": davidson(data_dir),
        "hatemoji": hatemoji(data_dir),
        "toxigen": toxigen(data_dir),
        "toxigen_annotated": toxigen_annotated(data_dir, exclude),
        "sbic": sbic(data_dir, exclude),
        "hickey": hickey(data_dir, exclude),
    }
