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
"""

from __future__ import annotations

import os
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
