"""Export a fitted scikit-learn TF-IDF + logistic regression model to a plain ``.npz`` file.

Used by ``devtools/train_model.py`` and by the tests. It only reads fitted attributes
(``vocabulary_``, ``idf_``, ``coef_``...), so it does not import scikit-learn itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from devtools.hatemodel.scorer import FORMAT_VERSION


def _vocab_array(vectorizer: Any) -> np.ndarray:
    vocab: dict[str, int] = vectorizer.vocabulary_
    terms = [""] * len(vocab)
    for term, idx in vocab.items():
        terms[idx] = term
    return np.array(terms, dtype=np.str_)


def _check_vectorizer(vectorizer: Any, analyzer: str) -> None:
    """Refuse settings the numpy scorer does not reproduce."""
    if vectorizer.analyzer != analyzer:
        raise ValueError(f"expected analyzer={analyzer!r}, got {vectorizer.analyzer!r}")
    unsupported = {
        "norm": (vectorizer.norm, "l2"),
        "use_idf": (vectorizer.use_idf, True),
        "strip_accents": (vectorizer.strip_accents, None),
        "stop_words": (vectorizer.stop_words, None),
        "preprocessor": (vectorizer.preprocessor, None),
        "tokenizer": (vectorizer.tokenizer, None),
        "binary": (vectorizer.binary, False),
    }
    for name, (value, wanted) in unsupported.items():
        if value != wanted:
            raise ValueError(f"{analyzer} vectorizer: {name}={value!r} is not supported (need {wanted!r})")


def export_model(
    word_vectorizer: Any,
    char_vectorizer: Any,
    classifier: Any,
    path: str | Path,
    *,
    model_id: str,
    metadata: dict[str, str] | None = None,
    embedding: tuple[Sequence[str], np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Write the fitted pipeline parts to ``path`` (npz, no pickled objects) and return the path.

    ``classifier.classes_`` must be ``[0, 1]`` with 1 meaning hate; the features must be
    ``hstack([word_vectorizer.transform(X), char_vectorizer.transform(X)])``.

    ``embedding`` = ``(words, weight, score)`` adds the static-vector block (format 2): the
    scorer adds ``sum(weight * score) / sum(weight)`` over a text's in-vocabulary word tokens
    (the word vectorizer's lowercased tokens) to the logit. Without it the file is format 1.
    """
    _check_vectorizer(word_vectorizer, "word")
    _check_vectorizer(char_vectorizer, "char_wb")
    if word_vectorizer.lowercase != char_vectorizer.lowercase:
        raise ValueError("both vectorizers must agree on lowercase")
    if word_vectorizer.sublinear_tf != char_vectorizer.sublinear_tf:
        raise ValueError("both vectorizers must agree on sublinear_tf")
    if list(classifier.classes_) != [0, 1]:
        raise ValueError(f"classifier classes must be [0, 1], got {list(classifier.classes_)}")
    char_vocab = _vocab_array(char_vectorizer)
    # The scorer recovers n-gram lengths from the fixed-width unicode array, where trailing
    # NULs would vanish; such n-grams cannot come from normal text, so refuse them outright.
    if any("\x00" in t for t in char_vocab.tolist()):
        raise ValueError("char vocabulary contains NUL characters")
    coef = np.asarray(classifier.coef_, dtype=np.float64).ravel()
    meta = metadata or {}
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION if embedding is not None else 1),
        "model_id": np.array(model_id, dtype=np.str_),
        "lowercase": np.array(bool(word_vectorizer.lowercase)),
        "sublinear_tf": np.array(bool(word_vectorizer.sublinear_tf)),
        "word_token_pattern": np.array(word_vectorizer.token_pattern, dtype=np.str_),
        "word_ngram_range": np.array(word_vectorizer.ngram_range, dtype=np.int64),
        "char_ngram_range": np.array(char_vectorizer.ngram_range, dtype=np.int64),
        "word_vocab": _vocab_array(word_vectorizer),
        "char_vocab": char_vocab,
        # float32 halves the file; the scorer works in float64 and the error stays ~1e-7.
        "word_idf": np.asarray(word_vectorizer.idf_, dtype=np.float32),
        "char_idf": np.asarray(char_vectorizer.idf_, dtype=np.float32),
        "coef": coef.astype(np.float32),
        "intercept": np.asarray(classifier.intercept_, dtype=np.float64).ravel(),
        "metadata_keys": np.array(sorted(meta), dtype=np.str_),
        "metadata_values": np.array([meta[k] for k in sorted(meta)], dtype=np.str_),
    }
    if embedding is not None:
        words, weight, score = embedding
        if not (len(words) == len(weight) == len(score)):
            raise ValueError("embedding words, weight and score must have the same length")
        if len(set(words)) != len(words):
            raise ValueError("embedding words must be unique")
        if np.any(np.asarray(weight) <= 0):
            raise ValueError("embedding weights must be positive")
        arrays["emb_vocab"] = np.array(list(words), dtype=np.str_)
        arrays["emb_weight"] = np.asarray(weight, dtype=np.float32)
        arrays["emb_score"] = np.asarray(score, dtype=np.float32)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
    return out
