"""`make run`: the whole pipeline on one machine, no AWS account, no network.

Starts a moto server (S3, Firehose, DynamoDB, Secrets Manager, SQS, SageMaker
control plane), the local model server and the fake Reddit API, provisions the
emulated stack with deploy_model.py, serves the REST API with `chalice local`
and then runs the *Lambda handlers of app.py* in this process: the schedule
fires ``ingest``; S3 notifications for new Firehose objects reach an SQS queue
that this runner polls and hands to ``classify``. Every AWS call goes through
boto3's own AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME variables.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from devtools.backends import (
    CLASSIFY_TIMEOUT_S,
    REGION,
    REPO,
    STAGE,
    LambdaContext,
    Processes,
    provision,
    scheduled_event,
    start_backends,
    wait_http,
)
from devtools.lambda_async import AsyncInvoker, Recovery, add_recovery_arguments, recovery_environment
from devtools.runstate import PortBusy, RunState, check_ports, free_port


def say(message: str) -> None:
    print(f"[run] {message}", flush=True)


@dataclass
class Cycle:
    ingested: int = 0
    objects: int = 0
    classified: int = 0
    stored: int = 0
    already_stored: int = 0
    quarantined: int = 0
    errors: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    swept: int = 0  # stored comments the deletion sweep checked against Reddit
    deleted: int = 0  # of those, deleted here because they are gone on Reddit

    def as_dict(self) -> dict[str, Any]:
        return {"ingested": self.ingested, "objects": self.objects, "classified": self.classified,
                "stored": self.stored, "already_stored": self.already_stored, "quarantined": self.quarantined,
                "errors": self.errors, "labels": dict(self.labels),
                "sweep": {"checked": self.swept, "deleted": self.deleted}}


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.state = RunState(str(args.port))
        self.procs = Processes(self.state.log_dir)
        self.stack: dict[str, Any] = {}
        self.app: Any = None
        self.sqs: Any = None
        self.queue_url = ""
        self.totals = Cycle()
        self.summary: dict[str, Any] | None = None
        self.recovery: Recovery  # built once the app is imported (up())
        self._current = Cycle()

    # -- start-up ----------------------------------------------------------------------

    def up(self) -> None:
        py = sys.executable
        a = self.args
        # Before anything starts: a busy port would otherwise surface as another stack's answers.
        check_ports([(a.port, "REST API", "--port"), (a.moto_port, "moto server", "--moto-port"),
                     (a.model_port, "model server", "--model-port"), (a.reddit_port, "fake Reddit", "--reddit-port")])
        self.state.acquire()
        say("starting moto server, model server and fake Reddit ...")
        outage = ["--outage-seconds", str(self.args.endpoint_outage)] if self.args.endpoint_outage else []
        aws, env = start_backends(self.procs, outage, a.moto_port, a.model_port)
        reddit_port = a.reddit_port or free_port()
        replay: list[str] = []
        for folder in self.args.replay or []:
            replay += ["--replay", str(folder)]
        if self.args.deleted:
            replay += ["--deleted", str(self.args.deleted)]
        self.procs.start(
            "fake-reddit", [py, "-m", "devtools.fake_reddit", "--port", str(reddit_port), *replay], env)
        wait_http(f"http://127.0.0.1:{reddit_port}/api/v1/access_token", procs=self.procs)
        self._report_replay_warnings()

        say("provisioning the emulated stack with deploy_model.py ...")
        try:
            stage_env = provision(env, self.args.model_id)
        except RuntimeError:
            self.procs.check()  # a dead moto or model server is the cause worth naming
            raise
        reddit_url = f"http://127.0.0.1:{reddit_port}"
        overrides = {"REDDIT_OAUTH_URL": reddit_url, "REDDIT_URL": reddit_url, "REDDIT_SHORT_URL": reddit_url,
                     "SUBREDDITS": self.args.subreddits or stage_env.get("SUBREDDITS", "all")}
        overrides.update(recovery_environment(self.args))
        if not self.args.verbose:
            # The runner prints its own summaries; handler logs only when something is wrong.
            overrides["POWERTOOLS_LOG_LEVEL"] = "WARNING"
            overrides["POWERTOOLS_METRICS_DISABLED"] = "true"
        # Handlers run in this process exactly as Lambda runs them: env first, then import.
        os.environ.update({**aws, **stage_env, **overrides})
        self._connect_notifications(stage_env)

        say(f"serving the REST API with chalice local on 127.0.0.1:{self.args.port} ...")
        self.procs.start("chalice-local", [
            str(Path(py).with_name("chalice")), "local", "--stage", STAGE, "--host", "127.0.0.1",
            "--port", str(self.args.port), "--no-autoreload"], {**env, **overrides})
        api_url = f"http://127.0.0.1:{self.args.port}"
        wait_http(f"{api_url}/stats", procs=self.procs)

        import app as app_module  # noqa: PLC0415 - only after the environment is set

        self.app = app_module.app
        self.recovery = self._recovery()
        self.stack = {
            "aws_endpoint_url": aws["AWS_ENDPOINT_URL"],
            "sagemaker_runtime_endpoint_url": aws["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"],
            "region": REGION, "stage": STAGE,
            "bucket": stage_env["BUCKET_NAME"], "raw_prefix": stage_env.get("RAW_PREFIX", "raw/"),
            "quarantine_prefix": stage_env.get("QUARANTINE_PREFIX", "quarantine/"),
            "table": stage_env["TABLE_NAME"], "stream": stage_env["STREAM_NAME"],
            "endpoint_name": stage_env["ENDPOINT_NAME"], "model_id": stage_env.get("MODEL_ID", ""),
            "queue_url": self.queue_url, "reddit_url": reddit_url, "api_url": api_url,
            "subreddits": overrides["SUBREDDITS"], "pid": os.getpid(),
        }
        written = self.state.write_stack(self.stack)
        say(f"stack is up; its addresses are in {' and '.join(str(p.relative_to(REPO)) for p in written)}; "
            f"logs in {self.state.log_dir.relative_to(REPO)}/")

    def _report_replay_warnings(self) -> None:
        if not self.args.replay:
            return
        from devtools.fake_reddit import load_replay  # noqa: PLC0415

        data = load_replay(Path(p) for p in self.args.replay)
        for warning in data.warnings:
            say(f"replay warning: {warning}")
        say(f"replaying {len(data.comments)} unique comments from {len(data.per_file)} file(s)")

    def _connect_notifications(self, stage_env: Mapping[str, str]) -> None:
        """Bucket -> SQS notifications, as S3 -> Lambda would be in AWS."""
        import boto3  # noqa: PLC0415

        self.sqs = boto3.client("sqs")
        name = f"{stage_env['BUCKET_NAME'][:60]}-events"
        self.queue_url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        boto3.client("s3").put_bucket_notification_configuration(
            Bucket=stage_env["BUCKET_NAME"],
            NotificationConfiguration={"QueueConfigurations": [{
                "QueueArn": arn["Attributes"]["QueueArn"], "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": stage_env.get("RAW_PREFIX", "raw/")}]}},
            }]},
        )

    # -- cycles ------------------------------------------------------------------------

    def cycle(self) -> Cycle:
        result = Cycle()
        handlers = self.app.handler_map
        try:
            ingest = handlers["ingest"](scheduled_event(), LambdaContext("ingest"))
            result.ingested = int(ingest.get("delivered", 0))
        except Exception as exc:
            result.errors += 1
            say(f"ingest failed: {type(exc).__name__}: {exc}")
        say(f"ingested {result.ingested} new comments; classifying delivered objects ...")
        self._current = result
        for event in self._drain_events():
            result.objects += len(event.get("Records", []))
            # As S3 invokes it: asynchronously, with Lambda's two retries (devtools/lambda_async.py).
            self.recovery.invoker.invoke(event)
        self.recovery.tick()
        return result

    def sweep(self, result: Cycle) -> None:
        """The deletion sweep, once the cycle's objects are classified."""
        try:
            swept = self.app.handler_map["sweep"](scheduled_event(), LambdaContext("sweep"))
            result.swept, result.deleted = int(swept["checked"]), int(swept["deleted"])
        except Exception as exc:
            result.errors += 1
            say(f"sweep failed: {type(exc).__name__}: {exc}")

    def _count(self, totals: dict[str, int]) -> None:
        """A classify invocation (first try or retry) succeeded: add its totals."""
        result = self._current
        result.classified += totals.get("stored", 0) + totals.get("quarantined", 0)
        result.stored += totals.get("stored", 0)
        result.already_stored += totals.get("already_stored", 0)
        result.quarantined += totals.get("quarantined", 0)
        result.labels.update({k.removeprefix("label_"): v for k, v in totals.items() if k.startswith("label_")})

    def _recovery(self) -> Recovery:
        handlers = self.app.handler_map

        def reconcile() -> dict[str, Any]:
            report = handlers["reconcile"](scheduled_event(), LambdaContext("reconcile", CLASSIFY_TIMEOUT_S))
            self._count({k: int(v) for k, v in report.items() if k in ("stored", "quarantined")
                         or k.startswith("label_")})
            return dict(report)

        invoker = AsyncInvoker(handlers["classify"],
                               lambda: LambdaContext("classify", CLASSIFY_TIMEOUT_S),
                               delays=tuple(self.args.async_delays), on_result=self._count, say=say)
        return Recovery(invoker, reconcile, reconcile_every=self.args.reconcile_every, say=say,
                        sleep=self.watchful_sleep)

    def _drain_events(self) -> Iterator[dict[str, Any]]:
        """S3 events from the queue until it stays empty (moto's Firehose writes at once)."""
        while True:
            response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            messages = response.get("Messages", [])
            if not messages:
                return
            for message in messages:
                body = json.loads(message["Body"])
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                if body.get("Records"):  # skip s3:TestEvent
                    yield body

    def get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.stack['api_url']}{path}", timeout=10) as response:  # noqa: S310
            return dict(json.load(response))

    def stats(self) -> dict[str, Any]:
        return self.get("/stats")

    def api_ids(self) -> list[str]:
        """Every comment id GET /comments serves, paging with next_cursor."""
        ids: list[str] = []
        cursor: str | None = None
        while True:
            page = self.get("/comments?limit=100" + (f"&cursor={cursor}" if cursor else ""))
            ids += [item["comment_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return ids

    def not_found(self, deleted_file: Path) -> int:
        """How many ids of the --deleted file GET /comments/{id} answers with 404."""
        from devtools.fake_reddit import read_deleted  # noqa: PLC0415

        count = 0
        for cid in read_deleted(deleted_file):
            try:
                self.get(f"/comments/{cid}")
            except urllib.error.HTTPError as exc:
                count += exc.code == 404
        return count

    def run(self) -> int:
        number = 0
        while True:
            number += 1
            started = time.monotonic()
            self.procs.check()
            result = self.cycle()
            # A failed handler call is often a dead backend: name it rather than print numbers.
            self.procs.check()
            if self.args.once and not self.recovery.settle(result.objects, self.args.settle_timeout):
                result.errors += 1
                say(f"objects still unfinished after {self.args.settle_timeout:g} s")
            self.sweep(result)
            for name in ("ingested", "objects", "classified", "stored", "already_stored", "quarantined", "errors",
                         "swept", "deleted"):
                setattr(self.totals, name, getattr(self.totals, name) + getattr(result, name))
            self.totals.labels.update(result.labels)
            stats = self.stats()
            say(f"cycle {number} done in {time.monotonic() - started:.1f} s: ingested {result.ingested}, "
                f"classified {result.classified}, stored {result.stored}, quarantined {result.quarantined}, "
                f"labels {dict(result.labels) or '{}'}; sweep checked {result.swept} on Reddit and deleted "
                f"{result.deleted}; table now holds {stats['total']} "
                f"({stats['labels']['hate']} hate / {stats['labels']['nothate']} nothate)")
            recovery = self.recovery.summary()
            if recovery["classify_failed"] or recovery["recovered_by_reconciler"]:
                say("recovery: {classify_failed} classify invocations failed, {classify_retries} Lambda retries "
                    "({recovered_by_retry} recovered), {dropped_after_retries} events dropped after the retries, "
                    "{recovered_by_reconciler} objects recovered by the reconciler in {reconcile_runs} runs, "
                    "{objects_needing_attention} flagged ObjectsNeedingAttention; errors seen: {errors}"
                    .format(**recovery))
            if self.args.once:
                ids = self.api_ids()
                summary = {**self.totals.as_dict(), "stats": stats, "api_url": self.stack["api_url"],
                           "api_comments": len(ids), "api_unique": len(set(ids)), "recovery": recovery}
                if self.args.endpoint_outage:
                    with urllib.request.urlopen(f"{self.stack['sagemaker_runtime_endpoint_url']}/outage",  # noqa: S310
                                                timeout=10) as response:
                        summary["endpoint_outage"] = json.load(response)
                if self.args.deleted:
                    summary["deleted_not_found"] = self.not_found(self.args.deleted)
                self.summary = summary  # printed by main() as the very last line, after shutdown
                return 1 if self.totals.errors else 0
            say(f"API: {self.stack['api_url']}/comments  console: {self.stack['api_url']}/console  "
                f"(next cycle in {self.args.every} s; Ctrl-C stops)")
            self.recovery.idle(self.args.every)

    def watchful_sleep(self, seconds: float) -> None:
        """Every wait of the runner (between cycles, for retries): a child that exits stops it at once."""
        end = time.monotonic() + seconds
        while True:
            self.procs.check()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.5, left))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from devtools.hatemodel import load  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="make run ARGS=...", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replay", action="append", type=Path, metavar="DIR",
                        help="serve the comments recorded in DIR (betamax cassettes and/or Reddit Listing JSON); "
                             "default: the synthetic sample in devtools/sample_data")
    parser.add_argument("--deleted", type=Path, metavar="FILE",
                        help="comment ids (one a line) the fake Reddit reports as deleted: the sweep removes them")
    parser.add_argument("--subreddits", default="", help="comma-separated subreddits to ingest (default: all)")
    parser.add_argument("--once", action="store_true", help="one cycle, then a JSON summary line, then exit")
    parser.add_argument("--every", type=int, default=60, help="seconds between cycles (default 60)")
    parser.add_argument("--port", type=int, default=8000, help="port of the REST API (default 8000)")
    for option, what in (("--moto-port", "moto server"), ("--model-port", "local model server"),
                         ("--reddit-port", "fake Reddit server")):
        parser.add_argument(option, type=int, default=0, metavar="N",
                            help=f"port of the {what} (default: a free one)")
    parser.add_argument("--verbose", action="store_true", help="show the handlers' structured JSON logs")
    parser.add_argument("--model-id", default=load().model_id, help=argparse.SUPPRESS)
    add_recovery_arguments(parser)
    args = parser.parse_args(argv)
    for folder in args.replay or []:
        if not folder.exists():
            parser.error(f"--replay {folder}: no such file or folder")
    if args.deleted and not args.deleted.is_file():
        parser.error(f"--deleted {args.deleted}: no such file")
    if args.every < 1:
        parser.error("--every must be at least 1 second")
    ports = [args.port, *(p for p in (args.moto_port, args.model_port, args.reddit_port) if p)]
    if any(not 0 < p < 65536 for p in ports) or len(set(ports)) != len(ports):
        parser.error("--port, --moto-port, --model-port and --reddit-port must be distinct ports in 1-65535")
    return args


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    runner = Runner(args)
    code = 0
    try:
        runner.up()
        code = runner.run()
    except KeyboardInterrupt:
        say("stopping ...")
    except PortBusy as exc:
        say(f"error: {exc}")
        code = 2
    except RuntimeError as exc:  # RunError (ChildDied, a live run's state) and start-up failures
        say(f"error: {exc}")
        code = 1
    finally:
        # A second Ctrl-C or SIGTERM (a supervisor's, say) must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        started = bool(runner.procs.children)
        runner.procs.stop()
        runner.state.release()
        if started:
            say("all processes stopped")
    if runner.summary is not None:
        print(json.dumps(runner.summary, sort_keys=True), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
