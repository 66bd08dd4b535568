"""Numpy-only scorer for the exported TF-IDF (word + char_wb n-grams) + logistic regression model.

It reproduces, to float rounding, what the scikit-learn pipeline
``FeatureUnion([TfidfVectorizer(analyzer="word"), TfidfVectorizer(analyzer="char_wb")]) ->
LogisticRegression`` computes, without scikit-learn, joblib or pickle at run time.

Format 2 files may add a third block (see ``StaticEmbedding``): a linear model on the weighted
mean of static word vectors distilled from a sentence encoder at training time, shipped as one
weight and one score per word. Its logit is added to the TF-IDF logit.

Word n-grams are looked up in a dict (there are few per text). Character n-grams, which are
numerous, are computed for a whole batch at once: every text is turned into one array of code
points, each window of n code points gets a 64-bit polynomial hash, and the hashes are looked up
with ``np.searchsorted`` in the sorted hashes of the vocabulary. A false match needs a 64-bit
collision between an out-of-vocabulary n-gram and a vocabulary entry, which is negligible.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "hate_model.npz"
LABELS = ("hate", "nothate")
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)  # 1 = TF-IDF blocks only

# Odd 64-bit multiplier for the rolling hash; any odd constant with well-mixed bits works.
_HASH_MULT = np.uint64(0x9E3779B97F4A7C15)
_LEN_MULT = 0xD6E8FEB86659FD93


def _length_salt(n: int) -> np.uint64:
    """Per-length constant (computed in Python ints so numpy never sees a scalar overflow)."""
    return np.uint64((n * _LEN_MULT) % (1 << 64))


FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _hash_windows(codepoints: npt.NDArray[np.uint64], n: int) -> npt.NDArray[np.uint64]:
    """Polynomial hash of every length-n window of ``codepoints`` (wraps modulo 2**64)."""
    h = codepoints[: len(codepoints) - n + 1].copy()
    for k in range(1, n):
        h *= _HASH_MULT
        h += codepoints[k : len(codepoints) - n + 1 + k]
    # Fold the length in so windows of different sizes live in different hash "namespaces".
    h += _length_salt(int(n))
    return h


def _vocab_hashes(vocab: npt.NDArray[np.str_]) -> npt.NDArray[np.uint64]:
    """Hash each vocabulary string exactly like ``_hash_windows`` hashes text windows."""
    width = vocab.dtype.itemsize // 4
    cps = vocab.view(np.uint32).reshape(len(vocab), width).astype(np.uint64)
    lengths = np.char.str_len(vocab)
    out = np.zeros(len(vocab), dtype=np.uint64)
    for n in np.unique(lengths):
        rows = lengths == n
        h = cps[rows, 0].copy()
        for k in range(1, int(n)):
            h *= _HASH_MULT
            h += cps[rows, k]
        h += _length_salt(int(n))
        out[rows] = h
    return out


class StaticEmbedding:
    """Dense block, already collapsed to one number per word.

    At training time each word has a static vector (distilled from a sentence encoder) and a
    weight ``a / (a + p(word))`` (SIF). A text's vector is the weighted mean of its tokens'
    vectors, and a logistic regression on it gives ``mean @ coef``. Because the mean is linear,
    that equals the weighted mean of per-word scores ``score[w] = vector[w] @ coef``, so only the
    weights and scores need to be shipped. Texts with no known token contribute 0.
    """

    def __init__(self, vocab: npt.NDArray[np.str_], weight: npt.NDArray[Any], score: npt.NDArray[Any]) -> None:
        if not (len(vocab) == len(weight) == len(score)):
            raise ValueError("embedding vocab, weight and score lengths do not match")
        self.index: dict[str, int] = dict(zip(vocab.tolist(), range(len(vocab)), strict=True))
        self.weight = np.asarray(weight, dtype=np.float64).ravel()
        self.weighted_score = self.weight * np.asarray(score, dtype=np.float64).ravel()

    def decision(self, tokens: Sequence[Sequence[str]]) -> FloatArray:
        """Weighted mean of the per-word scores for each token list (0 when none is known)."""
        get = self.index.get
        n = len(tokens)
        # One flat comprehension (faster than appending per token); -1 marks unknown tokens.
        flat = np.fromiter((get(t, -1) for toks in tokens for t in toks), dtype=np.int64)
        docs = np.repeat(np.arange(n, dtype=np.int64), [len(toks) for toks in tokens])
        known = flat >= 0
        r = flat[known]
        d = docs[known]
        num = np.bincount(d, weights=self.weighted_score[r], minlength=n)
        den = np.bincount(d, weights=self.weight[r], minlength=n)
        result: FloatArray = num / np.where(den > 0, den, 1.0)
        return result


class HateModel:
    """Binary hate-speech classifier loaded from an ``.npz`` export (see ``export.py``)."""

    def __init__(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        version = int(arrays["format_version"])
        if version not in SUPPORTED_VERSIONS:
            raise ValueError(f"unsupported model format version {version}, expected one of {SUPPORTED_VERSIONS}")
        self.model_id: str = str(arrays["model_id"])
        self.lowercase = bool(arrays["lowercase"])
        self.sublinear_tf = bool(arrays["sublinear_tf"])
        self._token_re = re.compile(str(arrays["word_token_pattern"]))
        w_min, w_max = (int(x) for x in arrays["word_ngram_range"])
        c_min, c_max = (int(x) for x in arrays["char_ngram_range"])
        if w_min < 1 or c_min < 2:
            # char_wb semantics below assume every padded word (>= 3 chars) is longer than c_min.
            raise ValueError("unsupported n-gram ranges")
        self._word_range = (w_min, w_max)
        self._char_range = (c_min, c_max)

        word_vocab = arrays["word_vocab"]
        char_vocab = arrays["char_vocab"]
        self._n_word = len(word_vocab)
        self._word_index: dict[str, int] = dict(zip(word_vocab.tolist(), range(self._n_word), strict=True))
        word_idf = arrays["word_idf"].astype(np.float64)
        char_idf = arrays["char_idf"].astype(np.float64)
        coef = arrays["coef"].astype(np.float64).ravel()
        if len(coef) != len(word_vocab) + len(char_vocab):
            raise ValueError("coef length does not match the vocabularies")
        self._word_idf = word_idf
        self._word_coef = coef[: self._n_word]
        self.intercept = float(np.asarray(arrays["intercept"]).ravel()[0])

        # Sort char n-grams by hash so a batch can be looked up with one searchsorted call.
        hashes = _vocab_hashes(char_vocab)
        order = np.argsort(hashes, kind="stable")
        self._char_hashes = hashes[order]
        if len(self._char_hashes) and np.any(self._char_hashes[1:] == self._char_hashes[:-1]):
            raise ValueError("hash collision inside the char vocabulary")
        self._char_idf = char_idf[order]
        self._char_coef = coef[self._n_word :][order]
        self.n_features = len(coef)
        self._emb: StaticEmbedding | None = None
        if "emb_vocab" in arrays:
            self._emb = StaticEmbedding(arrays["emb_vocab"], arrays["emb_weight"], arrays["emb_score"])

    # --- features -------------------------------------------------------------------------
    def _prep(self, text: str) -> str:
        return text.lower() if self.lowercase else text

    def _tf(self, counts: FloatArray) -> FloatArray:
        return np.log(counts) + 1.0 if self.sublinear_tf else counts

    def _word_part(self, texts: Sequence[str]) -> tuple[FloatArray, FloatArray, list[list[str]]]:
        """Per-text dot product with the coefficients, squared L2 norm of the word block, tokens."""
        dots = np.zeros(len(texts))
        sq = np.zeros(len(texts))
        index = self._word_index
        w_min, w_max = self._word_range
        all_tokens: list[list[str]] = []
        for i, text in enumerate(texts):
            tokens = self._token_re.findall(text)
            all_tokens.append(tokens)
            counts: dict[int, int] = {}
            for n in range(w_min, w_max + 1):
                grams = tokens if n == 1 else [" ".join(tokens[j : j + n]) for j in range(len(tokens) - n + 1)]
                for g in grams:
                    j = index.get(g)
                    if j is not None:
                        counts[j] = counts.get(j, 0) + 1
            if not counts:
                continue
            idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            val = self._tf(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
            val *= self._word_idf[idx]
            sq[i] = val @ val
            dots[i] = val @ self._word_coef[idx]
        return dots, sq, all_tokens

    def _char_part(self, texts: Sequence[str]) -> tuple[FloatArray, FloatArray]:
        """Same as ``_word_part`` for the char_wb block, vectorised over the whole batch."""
        n_docs = len(texts)
        pieces: list[str] = []
        word_lengths: list[int] = []
        word_doc: list[int] = []
        for i, text in enumerate(texts):
            # sklearn's char_wb pads each whitespace-separated word with one space each side.
            for w in text.split():
                pieces.append(" " + w + " ")
                word_lengths.append(len(w) + 2)
                word_doc.append(i)
        dots = np.zeros(n_docs)
        sq = np.zeros(n_docs)
        if not pieces or not len(self._char_hashes):
            return dots, sq
        # surrogatepass: lone surrogates (possible in decoded JSON) must not crash the scorer.
        cps = np.frombuffer("".join(pieces).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        cps64 = cps.astype(np.uint64)
        lengths = np.asarray(word_lengths, dtype=np.int64)
        ends = np.cumsum(lengths)
        pos_end = np.repeat(ends, lengths)  # end offset of the word each position belongs to
        pos_doc = np.repeat(np.asarray(word_doc, dtype=np.int64), lengths)
        positions = np.arange(len(cps64), dtype=np.int64)
        all_feat: list[IntArray] = []
        all_doc: list[IntArray] = []
        c_min, c_max = self._char_range
        n_vocab = len(self._char_hashes)
        for n in range(c_min, c_max + 1):
            if len(cps64) < n:
                break
            h = _hash_windows(cps64, n)
            starts = positions[: len(h)]
            valid = starts + n <= pos_end[: len(h)]  # window must stay inside one padded word
            h = h[valid]
            loc = np.searchsorted(self._char_hashes, h)
            loc_c = np.minimum(loc, n_vocab - 1)
            hit = self._char_hashes[loc_c] == h
            all_feat.append(loc_c[hit])
            all_doc.append(pos_doc[: len(valid)][valid][hit])
        feat = np.concatenate(all_feat)
        doc = np.concatenate(all_doc)
        if not len(feat):
            return dots, sq
        key = doc * n_vocab + feat
        uniq, counts = np.unique(key, return_counts=True)
        u_doc = uniq // n_vocab
        u_feat = uniq % n_vocab
        val = self._tf(counts.astype(np.float64)) * self._char_idf[u_feat]
        sq_out: FloatArray = np.bincount(u_doc, weights=val * val, minlength=n_docs).astype(np.float64)
        dots_out: FloatArray = np.bincount(u_doc, weights=val * self._char_coef[u_feat], minlength=n_docs).astype(
            np.float64
        )
        return dots_out, sq_out

    # --- public API -----------------------------------------------------------------------
    def decision_function(self, texts: Sequence[str]) -> FloatArray:
        """Logit of P(hate) for each text (same as sklearn's ``decision_function``)."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not a single string")
        prepped = [self._prep(t) for t in texts]
        w_dot, w_sq, tokens = self._word_part(prepped)
        c_dot, c_sq = self._char_part(prepped)
        # Each block is L2-normalised on its own (TfidfVectorizer norm="l2"); empty blocks stay 0.
        w_norm = np.where(w_sq > 0, np.sqrt(w_sq), 1.0)
        c_norm = np.where(c_sq > 0, np.sqrt(c_sq), 1.0)
        result: FloatArray = w_dot / w_norm + c_dot / c_norm + self.intercept
        if self._emb is not None:
            result = result + self._emb.decision(tokens)
        return result

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        """P(hate) for each text, in input order."""
        z = self.decision_function(texts)
        proba: FloatArray = 1.0 / (1.0 + np.exp(-z))
        return proba

    def classify(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """``[{"label": "hate"|"nothate", "score": probability of that label}]`` in input order."""
        p = self.predict_proba(texts)
        return [
            {"label": "hate", "score": float(x)} if x >= 0.5 else {"label": "nothate", "score": float(1.0 - x)}
            for x in p
        ]

    def classify_all(self, texts: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Both labels per text, highest score first (the HF pipeline's ``top_k=None`` shape)."""
        out: list[list[dict[str, Any]]] = []
        for x in self.predict_proba(texts):
            pair = [{"label": "hate", "score": float(x)}, {"label": "nothate", "score": float(1.0 - x)}]
            out.append(sorted(pair, key=lambda d: -float(d["score"])))
        return out


def load(path: str | Path | None = None) -> HateModel:
    """Load the exported model (defaults to the shipped ``hate_model.npz``)."""
    p = Path(path) if path is not None else DEFAULT_MODEL_PATH
    if not p.is_file():
        raise FileNotFoundError(f"hate model file not found: {p} (train it with devtools/train_model.py)")
    with np.load(p, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return HateModel(arrays)


def timed_load(path: str | Path | None = None) -> tuple[HateModel, float]:
    """Load the model and return it with the load time in seconds."""
    t0 = time.perf_counter()
    model = load(path)
    return model, time.perf_counter() - t0
