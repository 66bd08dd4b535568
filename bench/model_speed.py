"""Speed benchmark for the embedded hate-speech model (devtools/hatemodel).

Pins the process to one CPU core and single-threaded BLAS, then reports the model load time and
comments/s for batches of 64. Texts are synthetic by default (a fixed-seed mix of short and long
comments with emoji and accents); if ../shared/data/reddit-cassettes exists, the real Reddit
comments recorded there are measured too (read at run time, never copied).

    python bench/model_speed.py [--json] [--seconds 3] [--batch 64]
"""

from __future__ import annotations

import os

# Must happen before numpy is imported so BLAS starts single-threaded.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from devtools.hatemodel import HateModel, load  # noqa: E402

_WORD_TEXT = (
    "the a and of to is in that it for you this was on with are but not they have be just like people "
    "what would think really about know time get good more some can there their one all make even "
    "game thread post comment reddit vote update edit source sure thanks lol yeah actually probably "
    "city team season player music movie book coffee weather school work money phone car dog cat "
    "café naïve résumé 😂 👍 🙄 🔥 ❤️ don't isn't I'm you're we'll https://example.org/x?id=1"
)
_WORDS = _WORD_TEXT.split()


def synthetic_texts(n: int, seed: int = 1234) -> list[str]:
    """Comment-like texts; lengths are log-normal (median ~110 chars, mean ~180, capped 5k)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        target = min(5000, max(5, int(rng.lognormvariate(4.7, 0.9))))
        words: list[str] = []
        size = 0
        while size < target:
            w = rng.choice(_WORDS)
            words.append(w.capitalize() if rng.random() < 0.08 else w)
            size += len(w) + 1
        out.append(" ".join(words) + rng.choice([".", "!", "?", "", " :)"]))
    return out


def reddit_texts() -> list[str]:
    env = os.environ.get("SHARED_DATA_DIR")
    base = Path(env) if env else REPO.parent / "shared" / "data"
    folder = base / "reddit-cassettes"
    texts: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        for inter in json.loads(path.read_text())["interactions"]:
            body = inter["response"]["body"].get("string", "")
            try:
                listing = json.loads(body)
            except (json.JSONDecodeError, TypeError):
                continue
            if isinstance(listing, dict) and listing.get("kind") == "Listing":
                for child in listing["data"]["children"]:
                    if child.get("kind") == "t1":
                        texts[child["data"]["id"]] = child["data"]["body"]
    return list(texts.values())


def pin_one_core() -> int | None:
    """Run this process on one CPU only (the lowest it may use); None where that is unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def throughput(model: HateModel, texts: list[str], batch: int, seconds: float) -> float:
    batches = [texts[i : i + batch] for i in range(0, len(texts) - batch + 1, batch)] or [texts]
    model.predict_proba(batches[0])  # warm-up
    done = 0
    t0 = time.perf_counter()
    while True:
        for b in batches:
            model.predict_proba(b)
            done += len(b)
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return done / elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum measuring time per text set")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    pinned = pin_one_core()

    loads = []
    for _ in range(3):
        t0 = time.perf_counter()
        model = load()
        loads.append(time.perf_counter() - t0)

    result: dict[str, Any] = {
        "model_id": model.model_id,
        "pinned_cpu": pinned,
        "batch": args.batch,
        "load_seconds_min": round(min(loads), 4),
        "load_seconds_first": round(loads[0], 4),
        "sets": {},
    }
    sets = {"synthetic": synthetic_texts(64 * 40)}
    reddit = reddit_texts()
    if reddit:
        sets["reddit-cassettes"] = reddit
    for name, texts in sets.items():
        rate = throughput(model, texts, args.batch, args.seconds)
        result["sets"][name] = {
            "texts": len(texts),
            "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
            "comments_per_second": round(rate),
        }

    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"model {result['model_id']}  (pinned to CPU {pinned}, batch {args.batch}, 1 BLAS thread)")
        print(f"load time: first {loads[0] * 1000:.0f} ms, best of 3 {min(loads) * 1000:.0f} ms")
        for name, r in result["sets"].items():
            print(
                f"{name:18} {r['texts']:6d} texts, mean {r['mean_chars']:7.1f} chars: "
                f"{r['comments_per_second']:8d} comments/s"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
