"""Measurements 1 and 2: AWS calls per 1,000 comments and classification throughput.

Both run the app's real handlers (``app.handler_map``) the way Lambda would,
with every boto3 client created from one counted Session, against the offline
stack; the original loop (bench/seed_pipeline.py) runs against the same stack.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import praw

from bench.counter import CallCounter
from bench.seed_pipeline import seed_classify, seed_ingest
from bench.stack import (
    LOG_DIR,
    SUBREDDITS,
    Stack,
    buffer_delivery,
    firehose_object,
    lines,
    put_object,
    s3_event,
    synthetic_comments,
)
from chalicelib.clients import AwsClients
from chalicelib.factory import Services
from devtools.backends import OFFLINE_REDDIT, LambdaContext, Processes, scheduled_event, wait_http
from devtools.fake_reddit import FakeRedditServer
from devtools.runstate import free_port

ENDPOINT_ENV = "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"

#: Lambda's longest timeout: the benchmark never stops a handler early.
TIMEOUT_S = 900


@dataclass
class Run:
    """Calls and time of one measured piece of work."""

    comments: int
    calls: Counter[str] = field(default_factory=Counter)
    #: Client-side seconds spent in each operation (waiting on moto or the model server).
    seconds: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    cpu_s: float = 0.0  # this process only: the Lambda's own work, not moto's or the model server's
    #: Items the DynamoDB requests billed (CallCounter.units): transaction actions, read keys.
    units: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"comments": self.comments, "calls": sum(self.calls.values()),
                "by_operation": dict(sorted(self.calls.items())),
                "seconds_by_operation": {k: round(v, 3) for k, v in sorted(self.seconds.items())},
                "wall_s": round(self.wall_s, 3), "cpu_s": round(self.cpu_s, 3),
                "dynamodb_units": dict(sorted(self.units.items()))}


class Timer:
    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self.wall
        self.cpu_s = time.process_time() - self.cpu


def _app(session: Any) -> Any:
    """app.py with a fresh composition root whose clients come from ``session`` (a cold Lambda container)."""
    import app  # noqa: PLC0415 - the stage environment must be set first

    app.set_services(Services(clients=AwsClients(session=session)))
    return app.app


def _measure(counter: CallCounter, name: str, comments: int, work: Any) -> tuple[Run, Any]:
    before, units_before = Counter(counter.seconds), Counter(counter.units)
    with counter.phase(name) as calls, Timer() as t:
        result = work()
    seconds, units = Counter(counter.seconds), Counter(counter.units)
    seconds.subtract(before)
    units.subtract(units_before)
    return Run(comments, Counter(calls), Counter({k: v for k, v in seconds.items() if v > 0}), t.wall_s,
               t.cpu_s, Counter({k: v for k, v in units.items() if v > 0})), result


def calls_per_1000(stack: Stack, n: int = 1000) -> tuple[dict[str, Run], dict[str, int]]:
    """Ingest ``n`` comments from fake Reddit and classify them, counting every AWS call, both ways.

    Also returns how many S3 objects moto wrote per pipeline (merged into one, see buffer_delivery).
    """
    comments = synthetic_comments(n, prefix="c")
    runs: dict[str, Run] = {}
    info: dict[str, int] = {}
    with FakeRedditServer(comments, subreddits=SUBREDDITS) as reddit:
        urls = reddit.praw_kwargs()
        os.environ.update({"REDDIT_OAUTH_URL": urls["oauth_url"], "REDDIT_URL": urls["reddit_url"],
                           "REDDIT_SHORT_URL": urls["short_url"], "SUBREDDITS": ",".join(SUBREDDITS)})
        counter = CallCounter()
        handlers = _app(counter.session()).handler_map
        runs["ingest"], report = _measure(counter, "ingest", n, lambda: handlers["ingest"](
            scheduled_event(), LambdaContext("ingest", TIMEOUT_S)))
        if report.get("delivered") != n:
            raise RuntimeError(f"ingest delivered {report} instead of {n} comments")
        key, merged = buffer_delivery(stack, "calls-pipeline.jsonl")
        runs["classify"], totals = _measure(counter, "classify", n, lambda: handlers["classify"](
            s3_event(stack.bucket, key), LambdaContext("classify", TIMEOUT_S)))
        if totals.get("stored") != n:
            raise RuntimeError(f"classify stored {totals} instead of {n} comments")
        info["pipeline_firehose_objects"] = merged

        seed = CallCounter()
        session = seed.session()
        clients = {s: session.client(s) for s in ("firehose", "s3", "sagemaker-runtime", "dynamodb")}
        praw_client = praw.Reddit(client_id=OFFLINE_REDDIT["REDDIT_CLIENT_ID"],
                                  client_secret=OFFLINE_REDDIT["REDDIT_CLIENT_SECRET"],
                                  user_agent=OFFLINE_REDDIT["REDDIT_USER_AGENT"], check_for_updates=False,
                                  **urls)
        runs["seed_ingest"], sent = _measure(seed, "ingest", n, lambda: seed_ingest(
            praw_client, clients["firehose"], stack.stream, SUBREDDITS, limit=n))
        if sent.ingested != n:
            raise RuntimeError(f"seed ingestion sent {sent.ingested} instead of {n}")
        key, merged = buffer_delivery(stack, "calls-seed.jsonl")
        runs["seed_classify"], stored = _measure(seed, "classify", n, lambda: seed_classify(
            s3_event(stack.bucket, key), clients["s3"], clients["sagemaker-runtime"], clients["dynamodb"],
            endpoint=stack.endpoint, table=stack.table))
        if stored.stored != n:
            raise RuntimeError(f"seed stored {stored.stored} instead of {n}")
        info["seed_firehose_objects"] = merged
    return runs, info


def throughput(stack: Stack, n: int) -> dict[str, Run]:
    """Classify one ``n``-comment Firehose object with the S3-event handler, then with the original loop."""
    data = firehose_object(synthetic_comments(n, prefix="t", seed=11))
    assert lines(data) == n
    key = put_object(stack, f"throughput-{n}.jsonl", data)
    warm = put_object(stack, "warm-up.jsonl", firehose_object(synthetic_comments(20, prefix="w", seed=3)))
    return {"pipeline": _classify_run(stack, key, n, warm=warm, phase="throughput"),
            "seed": _seed_run(stack, key, n, table=stack.table, phase="throughput")}


def _session(counter: CallCounter, latency_ms: Mapping[str, float] | None) -> Any:
    """A counted session; with ``latency_ms``, each call waits its modelled round trip first."""
    session = counter.session()
    return session if latency_ms is None else delay_calls(session, latency_ms)


def _classify_run(stack: Stack, key: str, n: int, *, warm: str, phase: str,
                  latency_ms: Mapping[str, float] | None = None) -> Run:
    """A cold container classifies ``warm``, then the measured object ``key``, which must store ``n``."""
    counter = CallCounter()
    handlers = _app(_session(counter, latency_ms)).handler_map
    handlers["classify"](s3_event(stack.bucket, warm), LambdaContext("classify", TIMEOUT_S))
    run, totals = _measure(counter, phase, n, lambda: handlers["classify"](
        s3_event(stack.bucket, key), LambdaContext("classify", TIMEOUT_S)))
    if totals.get("stored") != n:
        raise RuntimeError(f"classify stored {totals} instead of {n} comments")
    return run


def _seed_run(stack: Stack, key: str, n: int, *, table: str, phase: str,
              latency_ms: Mapping[str, float] | None = None) -> Run:
    """The original loop classifies the object ``key`` into ``table``, which must store ``n``."""
    counter = CallCounter()
    session = _session(counter, latency_ms)
    s3, runtime, ddb = (session.client(s) for s in ("s3", "sagemaker-runtime", "dynamodb"))
    run, stored = _measure(counter, phase, n, lambda: seed_classify(
        s3_event(stack.bucket, key), s3, runtime, ddb, endpoint=stack.endpoint, table=table))
    if stored.stored != n:
        raise RuntimeError(f"seed stored {stored.stored} instead of {n}")
    return run


# -- AWS-latency simulation ------------------------------------------------------------------


def delay_calls(session: Any, latency_ms: Mapping[str, float]) -> Any:
    """Make every call of ``session``'s clients wait its modelled AWS round trip first."""

    def wait(model: Any, **_kwargs: Any) -> None:
        time.sleep(latency_ms.get(f"{model.service_model.service_name}.{model.name}", 10) / 1000)

    session.events.register("before-call", wait)
    return session


@contextmanager
def simulated_endpoint(concurrency: int) -> Iterator[str]:
    """A second local model server that takes the modelled endpoint compute per request and per text."""
    from bench.cost import ENDPOINT_MS_PER_COMMENT, ENDPOINT_MS_PER_REQUEST  # noqa: PLC0415

    port = free_port()
    procs = Processes(LOG_DIR)
    saved = os.environ.get(ENDPOINT_ENV)
    try:
        procs.start("model-server-aws-sim", [
            sys.executable, "-m", "devtools.model_server", "--port", str(port),
            "--simulate-ms-per-request", str(ENDPOINT_MS_PER_REQUEST),
            "--simulate-ms-per-text", str(ENDPOINT_MS_PER_COMMENT), "--simulate-concurrency", str(concurrency),
        ], os.environ)
        wait_http(f"http://127.0.0.1:{port}/ping", procs=procs)
        os.environ[ENDPOINT_ENV] = f"http://127.0.0.1:{port}"
        yield os.environ[ENDPOINT_ENV]
    finally:
        if saved is None:
            os.environ.pop(ENDPOINT_ENV, None)
        else:
            os.environ[ENDPOINT_ENV] = saved
        procs.stop()


#: The pipeline's run is repeated, each time on a fresh table, and the median kept: the same code
#: measured 0.73 and 0.84 of the endpoint's bound in two single runs on the shared 2-core machine.
SIM_REPEATS = 3


@contextmanager
def own_table(stack: Stack, table: str) -> Iterator[str]:
    """A new, empty table that the handlers use inside the block (the stage's ENV_TABLE)."""
    from chalicelib import config  # noqa: PLC0415
    from provisioning.table import table_definition  # noqa: PLC0415

    stack.client("dynamodb").create_table(**table_definition(table))
    saved = os.environ[config.ENV_TABLE]
    os.environ[config.ENV_TABLE] = table
    try:
        yield table
    finally:
        os.environ[config.ENV_TABLE] = saved


def aws_sim(stack: Stack, n: int, repeats: int = SIM_REPEATS) -> dict[str, Any]:
    """Both pipelines classify the same ``n``-comment object with AWS's round trips and endpoint compute.

    Every boto3 call waits its bench/cost.py LATENCY_MS first; the endpoint is a model server
    that sleeps the modelled compute, with as many requests at once as one classify Lambda sends.
    Each run gets a table of its own: moto's cost per write grows with what the table holds
    (TransactWriteItems deep-copies it), which DynamoDB's does not.
    """
    from bench.cost import ENDPOINT_MS_PER_COMMENT, LATENCY_MS  # noqa: PLC0415
    from chalicelib import config  # noqa: PLC0415

    concurrency = int(os.environ.get(config.ENV_CONCURRENCY, "4"))
    docs = synthetic_comments(n, prefix="s", seed=13)
    key = put_object(stack, f"aws-sim-{n}.jsonl", firehose_object(docs))
    warm = put_object(stack, "aws-sim-warm.jsonl", firehose_object(synthetic_comments(8, prefix="sw", seed=5)))
    with simulated_endpoint(concurrency):
        pipeline_runs = []
        for i in range(repeats):
            with own_table(stack, f"{stack.table}-aws-sim-{i}") as table:
                pipeline_runs.append(_classify_run(stack, key, n, warm=warm, phase="aws-sim", latency_ms=LATENCY_MS))
                _check_listed(stack, table, docs)
        with own_table(stack, f"{stack.table}-aws-sim-seed") as table:
            seed = _seed_run(stack, key, n, table=table, phase="aws-sim", latency_ms=LATENCY_MS)
    runs = {"pipeline": sorted(pipeline_runs, key=lambda r: r.wall_s)[len(pipeline_runs) // 2], "seed": seed}
    pipe_rate = n / runs["pipeline"].wall_s
    seed_rate = n / runs["seed"].wall_s
    bound = concurrency * 1000 / ENDPOINT_MS_PER_COMMENT
    return {
        "comments": n, "endpoint_concurrency": concurrency, "endpoint_bound_comments_per_s": round(bound, 1),
        "pipeline_comments_per_s": round(pipe_rate, 1), "seed_comments_per_s": round(seed_rate, 1),
        "throughput_ratio": round(pipe_rate / seed_rate, 2),
        "endpoint_utilisation": round(pipe_rate / bound, 3),
        "latency_s": round(runs["pipeline"].wall_s, 2),
        "pipeline_runs_wall_s": [round(r.wall_s, 2) for r in pipeline_runs],
        # Time the emulators spent beyond the modelled round trips (moto's CPU, e.g. its item-size
        # check on every attribute put): it lengthens this run, not one on AWS.
        "emulator_excess_s": {name: round(sum(
            max(0.0, secs - r.calls[op] * LATENCY_MS.get(op, 10) / 1000) for op, secs in r.seconds.items()
            if not op.startswith("sagemaker")), 2) for name, r in runs.items()},
        "pipeline": runs["pipeline"].as_dict(), "seed": runs["seed"].as_dict(),
    }


def _check_listed(stack: Stack, table: str, docs: list[dict[str, Any]]) -> None:
    """Every comment is queryable once the handler returns (the feed is read as GET /comments does)."""
    from chalicelib.repository import CommentRepository  # noqa: PLC0415

    reader = CommentRepository(stack.client("dynamodb"), table)
    wanted = {d["id"] for d in docs}
    since = min(int(d["created_utc"]) for d in docs)
    listed = {i["comment_id"] for i in reader.export(since=since, page_size=100)} & wanted
    if listed != wanted:
        raise RuntimeError(f"{len(wanted - listed)} comments not queryable after the handler returned")
