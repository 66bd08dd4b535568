"""`make bench`: the benchmarks that back the design, side by side with the original loop.

    python -m bench.run [--quick] [--json-only] [--out bench/results.json]

Prints a table and writes the same figures to bench/results.json. Benchmarks
report; they never fail on a timing. See bench/README.md for how to read them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeSerializer

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results.json"
N_CALLS = 1000


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}", "load_average_1min_at_start": load}


def _subprocess_json(argv: Sequence[str], timeout: float) -> dict[str, Any]:
    out = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                         check=False, env={**os.environ, "PYTHONPATH": str(REPO)})
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {out.stderr.strip()[-800:]}")
    return dict(json.loads(out.stdout))


# -- workloads for the cost model ---------------------------------------------------------


def _ddb_kb(item: Mapping[str, Any]) -> float:
    from bench.query_latency import item_size  # noqa: PLC0415

    serializer = TypeSerializer()
    return item_size({k: serializer.serialize(v) for k, v in item.items() if v is not None}) / 1024


def workloads(runs: Mapping[str, Any]) -> dict[str, Any]:
    """Per-1,000-comment inputs of the cost model, from the measured runs and the synthetic comments."""
    from decimal import Decimal  # noqa: PLC0415

    from bench.cost import HATE_SHARE, Workload, item_write_units  # noqa: PLC0415
    from bench.stack import synthetic_comments  # noqa: PLC0415
    from chalicelib.firehose_sink import encode  # noqa: PLC0415
    from chalicelib.models import Comment, LabeledComment, Prediction  # noqa: PLC0415
    from chalicelib.repository import to_item  # noqa: PLC0415

    docs = synthetic_comments(N_CALLS, prefix="c")
    comments = [Comment(id=d["id"], fullname=d["name"], subreddit=d["subreddit"], author=d["author"],
                        body=d["body"], created_utc=float(d["created_utc"]), permalink=d["permalink"],
                        link_id=d["link_id"], parent_id=d["parent_id"], ingested_at=time.time()) for d in docs]
    now = time.time()
    every = round(1 / HATE_SHARE)  # every n-th comment labelled hate, as the cost model assumes
    pipeline_items = [item_write_units({k: Decimal(str(v)) if isinstance(v, float) else v for k, v in to_item(
        LabeledComment(c, Prediction("hate" if n % every == 0 else "nothate", 0.912345,
                                     "devtools/hate-static-lr-v3"), now), 30).items()}, _ddb_kb)
        for n, c in enumerate(comments)]
    seed_items = [math.ceil(_ddb_kb({"comment_id": c.id, "subreddit": c.subreddit, "body": c.body,
                                     "created_utc": Decimal(str(c.created_utc)), "label": "nothate",
                                     "score": Decimal("0.912345")})) for c in comments]
    pipeline_records = [len(encode(c)) for c in comments]
    seed_records = [len(json.dumps({"id": c.id, "subreddit": c.subreddit, "author": c.author, "body": c.body,
                                    "created_utc": c.created_utc, "permalink": c.permalink}) + "\n")
                    for c in comments]
    text_bytes = sum(len(json.dumps(c.body, ensure_ascii=False).encode()) + 2 for c in comments)
    answer = len(json.dumps([{"label": "nothate", "score": 0.9123456789}])) - 2  # one entry of the list

    def calls(*names: str) -> Counter[str]:
        total: Counter[str] = Counter()
        for name in names:
            total.update(runs[name].calls)
        return total

    pipe_calls, seed_calls = calls("ingest", "classify"), calls("seed_ingest", "seed_classify")
    pipe_units = runs["ingest"].units + runs["classify"].units
    invokes = pipe_calls["sagemaker-runtime.InvokeEndpoint"]
    return {
        "pipeline": Workload(
            calls=pipe_calls, lambda_cpu_s=runs["ingest"].cpu_s + runs["classify"].cpu_s, lambda_invocations=2,
            item_write_units=pipeline_items, firehose_record_bytes=pipeline_records,
            endpoint_bytes_in=text_bytes + invokes * 60, endpoint_bytes_out=N_CALLS * answer + invokes * 2,
            transact_write_actions=pipe_units["transact_write_actions"],
            consistent_read_keys=pipe_units["consistent_read_keys"],
            eventual_read_keys=pipe_units["eventual_read_keys"],
            bookkeeping_writes=sum(pipe_calls[k] for k in ("dynamodb.UpdateItem", "dynamodb.DeleteItem",
                                                            "dynamodb.PutItem"))),
        "seed": Workload(
            calls=seed_calls, lambda_cpu_s=runs["seed_ingest"].cpu_s + runs["seed_classify"].cpu_s,
            lambda_invocations=2, item_write_units=seed_items, firehose_record_bytes=seed_records,
            endpoint_bytes_in=text_bytes + N_CALLS * 14, endpoint_bytes_out=N_CALLS * (answer + 2)),
    }


# -- the run -------------------------------------------------------------------------------


def run(quick: bool) -> dict[str, Any]:
    from bench import cost, package_size  # noqa: PLC0415
    from bench.pipeline_bench import aws_sim, calls_per_1000, throughput  # noqa: PLC0415
    from bench.stack import offline_stack  # noqa: PLC0415

    started = time.monotonic()
    results: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "machine": machine(), "quick": quick}
    n_throughput = 1000 if quick else 5000
    say("starting moto server + local model server, provisioning with deploy_model.py ...")
    with offline_stack() as stack:
        say(f"1/6 AWS calls for {N_CALLS} comments, ingestion to stored (pipeline, then the original loop) ...")
        runs, objects = calls_per_1000(stack, N_CALLS)
        say(f"2/6 classification throughput on one {n_throughput}-comment object (emulators) ...")
        speed = throughput(stack, n_throughput)
        n_sim = 200 if quick else 1000
        say(f"2b/6 the same with AWS's modelled round trips and endpoint compute ({n_sim} comments) ...")
        sim = aws_sim(stack, n_sim)
    pipe_calls = runs["ingest"].calls + runs["classify"].calls
    seed_calls = runs["seed_ingest"].calls + runs["seed_classify"].calls
    results["calls_per_1000"] = sum(pipe_calls.values())
    results["seed_calls_per_1000"] = sum(seed_calls.values())
    results["calls_detail"] = {
        "pipeline_by_operation": dict(pipe_calls.most_common()),
        "seed_by_operation": dict(seed_calls.most_common()),
        "phases": {name: run.as_dict() for name, run in runs.items()},
        "firehose_objects_written_by_moto": objects,
    }
    pipe_rate = speed["pipeline"].comments / speed["pipeline"].wall_s
    seed_rate = speed["seed"].comments / speed["seed"].wall_s
    results["throughput_ratio"] = round(pipe_rate / seed_rate, 2)
    results["throughput_detail"] = {"comments": n_throughput, "pipeline_comments_per_s": round(pipe_rate, 1),
                                    "seed_comments_per_s": round(seed_rate, 1),
                                    "pipeline": speed["pipeline"].as_dict(), "seed": speed["seed"].as_dict()}

    results["aws_sim_throughput_ratio"] = sim["throughput_ratio"]
    results["aws_sim_endpoint_utilisation"] = sim["endpoint_utilisation"]
    results["aws_sim_latency_s"] = sim["latency_s"]
    results["aws_sim_detail"] = sim
    sizes, repeats = ([1000, 20_000], 10) if quick else ([1000, 100_000], 50)
    say(f"3/6 GET /comments latency with {sizes[0]:,} and {sizes[1]:,} stored comments (in-process moto) ...")
    query = _subprocess_json(["-m", "bench.query_latency", "--sizes", *map(str, sizes), "--repeats", str(repeats)],
                             timeout=900)
    results["query_latency_ratio"] = query["latency_ratio"]
    results["query_read_work_ratio"] = query["read_work_ratio"]
    results["query_detail"] = query

    say("4/6 Lambda package (chalice package) and cold import of app.py ...")
    package = package_size.measure(runs=3 if quick else 5)
    results["lambda_zip_bytes"] = package.get("bytes")
    results["app_import_ms"] = package["imports"]["repo_median_ms"]
    results["app_import_ms_from_zip"] = package["imports"].get("zip_median_ms")
    results["package_detail"] = package

    say("5/6 embedded model throughput (one core, batches of 64) ...")
    model = _subprocess_json(["-m", "bench.model_speed", "--json", "--batch", "64",
                              "--seconds", "1" if quick else "3"], timeout=300)
    results["model_comments_per_s"] = model["sets"]["synthetic"]["comments_per_second"]
    results["model_detail"] = model

    say("6/6 cost per million comments ...")
    work = workloads(runs)
    results["cost_detail"] = {
        "pipeline": cost.estimate(work["pipeline"]), "seed": cost.estimate(work["seed"]),
        "pipeline_measured_endpoint": cost.estimate(work["pipeline"],
                                                    ms_per_comment=cost.MEASURED_ENDPOINT_MS_PER_COMMENT),
        "seed_measured_endpoint": cost.estimate(work["seed"],
                                                ms_per_comment=cost.MEASURED_ENDPOINT_MS_PER_COMMENT_UNBATCHED),
        "assumptions": cost.assumptions()}
    results["cost_per_million_usd"] = results["cost_detail"]["pipeline"]["total_usd"]
    results["dynamodb_per_million_usd"] = results["cost_detail"]["pipeline"]["by_service_usd"]["dynamodb"]
    results["dynamodb_provisioned_per_million_usd"] = results["cost_detail"]["pipeline"]["dynamodb_provisioned_usd"]
    results["seed_cost_per_million_usd"] = results["cost_detail"]["seed"]["total_usd"]
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    return results


# -- the table -----------------------------------------------------------------------------


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "NO")


def table(r: Mapping[str, Any]) -> str:
    m = r["machine"]
    q = r["query_detail"]
    small, large = (q["sizes"][k] for k in sorted(q["sizes"], key=int))
    t = r["throughput_detail"]
    pkg = r["package_detail"]
    c = r["cost_detail"]
    lines = [
        f"reddit-hate-watch benchmarks, {r['date']}{'  (--quick)' if r['quick'] else ''}",
        f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['os']}, "
        f"load average {m['load_average_1min_at_start']:.2f} at start",
        "",
        f"{'measure':44} {'this pipeline':>16} {'original loop':>16} {'goal':>12} {'met':>4}",
        f"{'-' * 44} {'-' * 16} {'-' * 16} {'-' * 12} {'-' * 4}",
    ]

    def row(name: str, ours: str, seed: str, goal: str, ok: bool | None) -> None:
        lines.append(f"{name:44} {ours:>16} {seed:>16} {goal:>12} {_verdict(ok):>4}")

    row("1. AWS calls per 1,000 comments", str(r["calls_per_1000"]), str(r["seed_calls_per_1000"]), "<= 60",
        r["calls_per_1000"] <= 60)
    row(f"2. classify throughput ({t['comments']:,}-comment object)", f"{t['pipeline_comments_per_s']:.0f} c/s",
        f"{t['seed_comments_per_s']:.0f} c/s", ">= 10x", None)
    row("   ratio (emulators: moto's and the model's CPU)", f"{r['throughput_ratio']:.1f}x", "", "", None)
    sim = r["aws_sim_detail"]
    row(f"   AWS-latency simulation ({sim['comments']:,} comments)", f"{sim['pipeline_comments_per_s']:.0f} c/s",
        f"{sim['seed_comments_per_s']:.1f} c/s", "", None)
    row("   aws_sim_throughput_ratio", f"{r['aws_sim_throughput_ratio']:.1f}x", "", ">= 10x",
        r["aws_sim_throughput_ratio"] >= 10)
    row(f"   aws_sim_endpoint_utilisation (bound {sim['endpoint_bound_comments_per_s']:.0f} c/s)",
        f"{r['aws_sim_endpoint_utilisation']:.2f}", "", ">= 0.8", r["aws_sim_endpoint_utilisation"] >= 0.8)
    row("   aws_sim_latency_s (arrival -> queryable)", f"{r['aws_sim_latency_s']:.1f} s", "", "", None)
    row(f"3. GET /comments median, {small['items']:,} items", f"{small['median_ms']:.1f} ms", "", "", None)
    row(f"   GET /comments median, {large['items']:,} items", f"{large['median_ms']:.1f} ms", "", "", None)
    row("   wall-clock ratio (moto: O(n) per Query)", f"{r['query_latency_ratio']:.2f}x", "", "<= 1.5",
        r["query_latency_ratio"] <= 1.5)
    row("   read work ratio (ScannedCount, read units)",
        f"{q['scanned_ratio']:.2f}x / {r['query_read_work_ratio']:.2f}x", "", "~1.0",
        r["query_read_work_ratio"] <= 1.5)
    row("   page of 25: read units vs before the shards", f"{q['read_units_vs_before']:.2f}x", "", "<= 1.5",
        q["read_units_vs_before"] <= 1.5)
    zip_bytes = r["lambda_zip_bytes"]
    row("4. Lambda zip (chalice package)", f"{zip_bytes / 1e6:.2f} MB" if zip_bytes else "n/a", "", "<= 2 MB",
        zip_bytes <= 2_000_000 if zip_bytes else None)
    row("   cold `import app` (venv, median)", f"{r['app_import_ms']:.0f} ms", "", "<= 300 ms",
        r["app_import_ms"] <= 300)
    if r.get("app_import_ms_from_zip"):
        row("   cold `import app` from the zip (no .pyc)", f"{r['app_import_ms_from_zip']:.0f} ms", "", "", None)
    row("5. embedded model, 1 core, batch 64", f"{r['model_comments_per_s']:,} c/s", "", "", None)
    row("6. est. USD per million comments", f"${r['cost_per_million_usd']:.2f}",
        f"${r['seed_cost_per_million_usd']:.2f}", "<= $2.90", r["cost_per_million_usd"] <= 2.90)
    row("   DynamoDB share, on-demand", f"${r['dynamodb_per_million_usd']:.2f}",
        f"${c['seed']['by_service_usd']['dynamodb']:.2f}", "<= $1.30", r["dynamodb_per_million_usd"] <= 1.30)
    row("   DynamoDB share, provisioned (70 % target)", f"${r['dynamodb_provisioned_per_million_usd']:.2f}",
        "", "", None)
    row("   total with the measured endpoint compute", f"${c['pipeline_measured_endpoint']['total_usd']:.2f}",
        f"${c['seed_measured_endpoint']['total_usd']:.2f}", "", None)

    lines += ["", "1. calls per operation (per 1,000 comments)",
              f"   {'operation':40} {'pipeline':>9} {'original':>9}"]
    ops = sorted(set(r["calls_detail"]["pipeline_by_operation"]) | set(r["calls_detail"]["seed_by_operation"]))
    for op in sorted(ops, key=lambda o: -(r["calls_detail"]["pipeline_by_operation"].get(o, 0)
                                          + r["calls_detail"]["seed_by_operation"].get(o, 0))):
        lines.append(f"   {op:40} {r['calls_detail']['pipeline_by_operation'].get(op, 0):>9} "
                     f"{r['calls_detail']['seed_by_operation'].get(op, 0):>9}")
    lines.append(f"   (moto wrote {r['calls_detail']['firehose_objects_written_by_moto']['pipeline_firehose_objects']}"
                 f" / {r['calls_detail']['firehose_objects_written_by_moto']['seed_firehose_objects']} S3 objects;"
                 " merged into one, as Firehose's buffer would)")
    lines += ["", "2. where the classify time goes (client-side seconds per operation)"]
    for name in ("pipeline", "seed"):
        run = t[name]
        spent = ", ".join(f"{op.split('.', 1)[1]} {s:.2f}" for op, s in
                          sorted(run["seconds_by_operation"].items(), key=lambda kv: -kv[1]))
        lines.append(f"   {name:8} wall {run['wall_s']:.2f} s, own CPU {run['cpu_s']:.2f} s; {spent}")
    lines += ["", f"3. per request: {small['queries_per_request']:.0f} Query, ScannedCount "
              f"{small['scanned_count_per_request']:.0f} -> {large['scanned_count_per_request']:.0f}, read units "
              f"{small['read_units_per_request']} -> {large['read_units_per_request']} (a full Scan would read "
              f"{small['scan_read_units']:.0f} -> {large['scan_read_units']:.0f}); "
              f"{large['items']:,} items loaded in {q['load_seconds']} s"]
    for path, f in q.get("filters", {}).items():
        lines.append(f"   {path.removeprefix('/comments?'):52} {f['queries']:>2} Query, {f['scanned']:>4} scanned, "
                     f"{f['read_units']:>5} read units, {f['items']} items")
    top = ", ".join(f"{k} {v / 1e3:.0f} KB" for k, v in list(pkg.get("by_package", {}).items())[:6])
    lines.append(f"4. zip content (compressed): {top}")
    imports = ", ".join(f"{k} {v:.0f}" for k, v in pkg["imports"]["top_imports_ms"].items())
    lines.append(f"   heaviest imports (ms, cumulative): {imports}")
    lines += ["", "6. cost per million comments, by service (USD)",
              f"   {'service':20} {'pipeline':>10} {'original':>10}"]
    for service in c["pipeline"]["by_service_usd"]:
        lines.append(f"   {service:20} {c['pipeline']['by_service_usd'][service]:>10.3f} "
                     f"{c['seed']['by_service_usd'][service]:>10.3f}")
    a = c["assumptions"]
    lines.append(f"   modelled Lambda seconds per 1,000 comments: {c['pipeline']['lambda_seconds_per_1000']} vs "
                 f"{c['seed']['lambda_seconds_per_1000']}; write units per million: "
                 f"{c['pipeline']['write_units']:,} vs {c['seed']['write_units']:,}")
    lines.append(f"   assumptions: {a['prices']['region']}, prices looked up {a['prices']['looked_up']}; endpoint "
                 f"{a['endpoint_ms_per_comment']:.0f} ms/comment + {a['endpoint_ms_per_request']:.0f} ms/request "
                 f"(roberta-base, serverless 3072 MB); {a['indexes']} indexes (sparse ones for hate and reviews, "
                 f"{a['hate_share']:.0%} hate) vs {a['seed_gsis']} in the original; see bench/README.md")
    lines.append(f"\nfinished in {r['bench_seconds']:.0f} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller inputs (about a minute)")
    parser.add_argument("--json-only", action="store_true", help="print the JSON instead of the table")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON (default %(default)s)")
    args = parser.parse_args(argv)
    results = run(args.quick)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    if args.json_only:
        print(json.dumps(results, indent=2, sort_keys=True), flush=True)
    else:
        print(table(results) + f"; figures in {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
