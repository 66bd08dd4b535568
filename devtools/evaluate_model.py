"""Evaluate the embedded hate-speech model on the labelled data in ../shared/data.

Uses the shipped numpy scorer (the same code the local model server runs). Prints accuracy,
macro-F1, F1 of the hate class, ROC-AUC and the share of texts flagged as hate for:
HateCheck (overall, the %% of non-hateful cases flagged, and per functionality), ETHOS binary
(isHate >= 0.5 -> hate), the Stormfront test split, and the held-out test parts of the training
sets (davidson 30%%, HatemojiBuild test, ToxiGen seeds 20%%, and the 20%% test parts of the
annotated ToxiGen statements, SBIC and Hickey's counter-speech), then the share flagged on each
source's development part (used for selection, so not a test score), and the goals of issue #15.

Needs pandas + scikit-learn (requirements-train.txt). Usage::

    python -m devtools.evaluate_model [--data ../shared/data] [--model PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from devtools.hatemodel import datasets as ds
from devtools.hatemodel import load


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    pred = (p >= 0.5).astype(int)
    out: dict[str, Any] = {
        "n": len(y),
        "n_hate": int(y.sum()),
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
        "f1_hate": float(f1_score(y, pred, pos_label=1, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None,
        "flagged": float(pred.mean()),
    }
    if (y == 0).any():
        out["nothate_flagged"] = float(pred[y == 0].mean())
    return out


def best_macro_f1(y: np.ndarray, p: np.ndarray, max_nothate_flagged: float = 1.0) -> tuple[float, float]:
    """Best macro-F1 over every threshold, and the share of non-hateful texts flagged there.

    A diagnostic of how well the scores *rank* a set: the threshold is chosen on the set itself,
    so it must never be used to pick a model or a threshold. ``max_nothate_flagged`` restricts
    the search to thresholds that flag at most that share of the gold non-hateful texts.
    """
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    # Flag the top k texts, for every k where the score changes (ties are flagged together).
    k = np.concatenate([[0], np.flatnonzero(np.diff(ps) != 0) + 1, [len(ps)]])
    tp = np.concatenate([[0], np.cumsum(ys)])[k].astype(np.float64)
    fp = k - tp
    fn, tn = pos - tp, neg - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        f1_hate = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        f1_not = np.where(2 * tn + fn + fp > 0, 2 * tn / (2 * tn + fn + fp), 0.0)
        flagged = fp / neg if neg else np.zeros_like(fp)
    macro = np.where(flagged <= max_nothate_flagged + 1e-12, (f1_hate + f1_not) / 2, -1.0)
    i = int(np.argmax(macro))
    return float(macro[i]), float(flagged[i])


class Scorer(Protocol):
    """What the evaluation needs of a model: the shipped ``HateModel`` or the ceiling probe's."""

    model_id: str

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


def score(model: Scorer, texts: list[str], batch: int = 256) -> np.ndarray:
    chunks = [model.predict_proba(texts[i : i + batch]) for i in range(0, len(texts), batch)]
    return np.concatenate(chunks) if chunks else np.zeros(0)


# v2 (devtools/hate-static-lr-v2) on the held-out test parts, measured with this command before
# v3 replaced it (MODEL.md); the "no held-out part worse than v2 by > 0.02" goal compares to these.
V2_TEST_MACRO_F1 = {
    "davidson2017/test": 0.689,
    "hatemojibuild/test": 0.471,
    "toxigen_seeds/test": 0.904,
    "toxigen_annotated/test": 0.720,
    "sbic_devtest/test": 0.592,
    "hickey_counterspeech/test": 0.616,
}


def goals(report: dict[str, Any]) -> list[tuple[str, bool]]:
    """Issue #15's goals, each with whether this report meets it."""
    sets = report["sets"]
    out: list[tuple[str, bool]] = []
    if "hatecheck" in sets:
        hc = sets["hatecheck"]
        out.append(
            (
                f"HateCheck macro-F1 >= 0.70 (is {hc['macro_f1']:.3f}) with <= 30% of non-hateful flagged "
                f"(is {100 * hc['nothate_flagged']:.1f}%)",
                hc["macro_f1"] >= 0.70 and hc["nothate_flagged"] <= 0.30,
            )
        )
    if "ethos_binary" in sets:
        f1 = sets["ethos_binary"]["macro_f1"]
        out.append((f"ETHOS macro-F1 >= 0.72 (is {f1:.3f})", f1 >= 0.72))
    for name, v2 in V2_TEST_MACRO_F1.items():
        if name in sets:
            f1 = sets[name]["macro_f1"]
            out.append((f"{name} macro-F1 >= v2 - 0.02 = {v2 - 0.02:.3f} (is {f1:.3f})", f1 >= v2 - 0.02))
    return out


#: Ranking ceilings reported as diagnostics (threshold picked on the set itself, never used):
#: set -> (report key, label, whether the best with at most 30% of non-hateful flagged is reported too,
#: as HateCheck's goal caps that share). They say whether any threshold could meet a goal.
CEILINGS = {"hatecheck": ("hatecheck_ceiling", "HateCheck", True), "ethos_binary": ("ethos_ceiling", "ETHOS", False)}
CAPPED_KEY = "best_macro_f1_flagging_at_most_30pct"


def ceiling(y: np.ndarray, p: np.ndarray, capped: bool) -> dict[str, float]:
    best, best_fp = best_macro_f1(y, p)
    out = {"best_macro_f1": best, "best_nothate_flagged": best_fp}
    if capped:
        out[CAPPED_KEY], out["nothate_flagged_there"] = best_macro_f1(y, p, 0.30)
    return out


def evaluate(data_dir: Path, model: Scorer) -> dict[str, Any]:
    splits = ds.training_splits(data_dir)
    sets: list[ds.Part] = [
        ds.hatecheck(data_dir),
        ds.ethos(data_dir),
        ds.stormfront_test(data_dir),
        *(parts["test"] for parts in splits.values()),
    ]
    report: dict[str, Any] = {"model_id": model.model_id, "sets": {}, "hatecheck_functionalities": {}}
    # Development parts: the threshold was chosen on these, so only the share flagged is reported.
    report["dev_parts"] = {}
    for parts in splits.values():
        dev = parts["dev"]
        pred = score(model, dev.texts) >= 0.5
        report["dev_parts"][dev.name] = {
            "n": len(dev),
            "hate_share": float(dev.labels.mean()),
            "flagged": float(pred.mean()),
            "nothate_flagged": float(pred[dev.labels == 0].mean()),
        }
    for part in sets:
        p = score(model, part.texts)
        report["sets"][part.name] = metrics(part.labels, p)
        if part.name in CEILINGS:
            key, _label, capped = CEILINGS[part.name]
            report[key] = ceiling(part.labels, p, capped)
        if part.name == "hatecheck" and part.groups is not None:  # per functionality
            groups = np.asarray(part.groups)
            for func in sorted(set(part.groups)):
                m = groups == func
                y, pred = part.labels[m], (p[m] >= 0.5).astype(int)
                report["hatecheck_functionalities"][func] = {
                    "n": int(m.sum()),
                    "gold": "hateful" if y.mean() > 0.5 else "non-hateful",
                    "accuracy": float((pred == y).mean()),
                    "flagged": float(pred.mean()),
                }
    return report


def _fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:.3f}"


def print_report(report: dict[str, Any]) -> None:
    print(f"model: {report['model_id']}")
    print(f"{'set':28} {'n':>6} {'hate':>5} {'acc':>6} {'macroF1':>7} {'F1hate':>6} {'AUC':>6} {'flag%':>6} {'FP%':>6}")
    for name, m in report["sets"].items():
        fp = m.get("nothate_flagged")
        print(
            f"{name:28} {m['n']:6d} {m['n_hate']:5d} {_fmt(m['accuracy']):>6} {_fmt(m['macro_f1']):>7} "
            f"{_fmt(m['f1_hate']):>6} {_fmt(m['roc_auc']):>6} {100 * m['flagged']:6.1f} "
            f"{'  -' if fp is None else f'{100 * fp:6.1f}'}"
        )
    print("(FP% = share of the gold non-hateful texts flagged as hate)")
    for key, label, _capped in CEILINGS.values():
        found = report.get(key)
        if found:
            line = (f"{label} ranking ceiling (diagnostic only: threshold picked on {label} itself, never used): "
                    f"best macro-F1 {found['best_macro_f1']:.3f} ({100 * found['best_nothate_flagged']:.1f}% FP)")
            if CAPPED_KEY in found:
                line += f"; best with <= 30% FP {found[CAPPED_KEY]:.3f}"
            print(line)
    dev_parts = report.get("dev_parts")
    if dev_parts:
        print()
        print(
            "Development parts (the threshold was chosen on these; a model refit on fit + dev has seen them):\n"
            f"{'dev part':28} {'n':>6} {'hate%':>6} {'flag%':>6} {'FP%':>6}"
        )
        for name, m in dev_parts.items():
            print(
                f"{name:28} {m['n']:6d} {100 * m['hate_share']:6.1f} {100 * m['flagged']:6.1f} "
                f"{100 * m['nothate_flagged']:6.1f}"
            )
    print()
    print(f"HateCheck per functionality:\n{'functionality':34} {'gold':12} {'n':>4} {'acc':>6} {'flag%':>6}")
    for func, m in report["hatecheck_functionalities"].items():
        print(f"{func:34} {m['gold']:12} {m['n']:4d} {m['accuracy']:6.3f} {100 * m['flagged']:6.1f}")
    print()
    print("Goals (issue #15):")
    for text, met in goals(report):
        print(f"  [{'met' if met else 'MISSED'}] {text}")


def emit(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)


def report_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser with the options every evaluation report takes: ``--data`` and ``--json``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ds.default_data_dir(), help="shared data folder")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    return ap


def data_missing(data: Path) -> bool:
    """True (and says so on stderr) when the shared data folder is absent; callers exit 2."""
    if data.is_dir():
        return False
    print(f"data folder not found: {data} (pass --data or set SHARED_DATA_DIR)", file=sys.stderr)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = report_parser(__doc__)
    ap.add_argument("--model", type=Path, default=None, help="model .npz (default: the shipped one)")
    args = ap.parse_args(argv)
    if data_missing(args.data):
        return 2
    t0 = time.perf_counter()
    model = load(args.model)
    report = evaluate(args.data, model)
    report["seconds"] = round(time.perf_counter() - t0, 2)
    emit(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
