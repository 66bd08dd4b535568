#!/usr/bin/env python
"""Provision, update and tear down everything the Chalice app needs.

    python deploy_model.py --stage dev              # create or update, idempotent
    python deploy_model.py --stage dev --dry-run    # print the plan, change nothing
    python deploy_model.py --stage dev --teardown   # delete it all again

Creates an S3 bucket, a Firehose stream into it, a DynamoDB table, two
Secrets Manager secrets, a SageMaker Serverless endpoint running the Hugging
Face inference container, the IAM roles those services assume, and writes the
resource names plus least-privilege Lambda policies into ``.chalice/``.

This file is the command (arguments, option checks, exit codes); the work is
done by ``provisioning/``, one module per resource kind.

The same code provisions the offline stack: with ``AWS_ENDPOINT_URL`` pointing
at a moto server boto3 talks to moto instead of AWS, nothing here branches on it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NoReturn

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import config as cfg
from provisioning import autoscaling, stack
from provisioning.common import (
    DEFAULT_MODEL_ID,
    DEFAULT_PREFIX,
    DEFAULT_PY_VERSION,
    DEFAULT_PYTORCH_VERSION,
    DEFAULT_TRANSFORMERS_VERSION,
    LOCAL_STAGE,
    POWERTOOLS_LAYER_VERSION,
    REDDIT_ENV,
    Context,
    DeployError,
    Names,
    Options,
    RedditCredentials,
)
from provisioning.credentials import credentials_hint
from provisioning.table import BILLING_MODES

# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _int_in(low: int, high: int, step: int = 1) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {raw!r}") from None
        if not low <= value <= high or (value - low) % step:
            allowed = f"{low}..{high}" + (f" in steps of {step}" if step > 1 else "")
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {value}")
        return value

    return parse


def _float_in(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {raw!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low:g}..{high:g}, got {value:g}")
        return value

    return parse


def _matching(pattern: str, what: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not re.fullmatch(pattern, raw):
            raise argparse.ArgumentTypeError(f"{raw!r} is not a valid {what}")
        return raw

    return parse


def _subreddits(raw: str) -> str:
    names = list(dict.fromkeys(s.strip().removeprefix("r/").lower() for s in raw.split(",") if s.strip()))
    bad = [n for n in names if not re.fullmatch(r"[A-Za-z0-9_]{2,21}", n)]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"expected comma-separated subreddit names, got {raw!r}")
    return ",".join(names)


def _default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows real defaults only, not "(default: None)" on flags."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line on stderr instead of the whole usage block, exit status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="deploy_model.py",
        description=(
            "Create or update (idempotently) the AWS resources of one stage: S3 bucket, Firehose stream, "
            "DynamoDB table, secrets, SageMaker Serverless endpoint and IAM roles; write their names and "
            "least-privilege Lambda policies into .chalice/. With AWS_ENDPOINT_URL set (e.g. a moto server) "
            "boto3 provisions the emulated stack instead."
        ),
        epilog=(
            "Reddit credentials are read from REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET and REDDIT_USER_AGENT "
            "(all three or none). Without them the secret gets placeholders; fill it with: aws secretsmanager "
            "put-secret-value --secret-id <prefix>/<stage>/reddit --secret-string file://reddit.json "
            '(keys "client_id", "client_secret", "user_agent"). Exit codes: 0 ok, 1 AWS error or refusal, '
            "2 bad arguments."
        ),
        formatter_class=_HelpFormatter,
    )
    add = parser.add_argument
    add(
        "--stage",
        required=True,
        type=_matching(r"[a-z][a-z0-9]{0,15}", "stage (lowercase letters/digits)"),
        help="Chalice stage, e.g. dev, prod, local",
    )
    add("--teardown", action="store_true", help="delete everything this script created for the stage")
    add(
        "--force",
        action="store_true",
        help="with --teardown: empty a non-empty bucket first and delete secrets without a recovery window",
    )
    add(
        "--region",
        default=_default_region(),
        type=_matching(r"[a-z]{2}(-[a-z]+)+-\d", "AWS region"),
        help="AWS region; the default comes from AWS_REGION / AWS_DEFAULT_REGION",
    )
    add(
        "--prefix",
        default=DEFAULT_PREFIX,
        type=_matching(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", "prefix (lowercase, digits, single hyphens)"),
        help="prefix of every resource name",
    )
    add(
        "--model-id",
        default=DEFAULT_MODEL_ID,
        type=_matching(r"[\w.-]+(/[\w.-]+)?", "Hugging Face model id"),
        help="Hugging Face Hub model id (HF_MODEL_ID)",
    )
    add("--memory-mb", default=3072, type=_int_in(1024, 6144, 1024), help="serverless memory, 1024..6144 step 1024")
    add("--max-concurrency", default=5, type=_int_in(1, 200), help="serverless max concurrency, 1..200")
    add("--transformers-version", default=DEFAULT_TRANSFORMERS_VERSION, help="Hugging Face container transformers")
    add("--pytorch-version", default=DEFAULT_PYTORCH_VERSION, help="Hugging Face container PyTorch")
    add("--py-version", default=DEFAULT_PY_VERSION, help="Hugging Face container Python")
    add("--subreddits", default="all", type=_subreddits, help="comma-separated subreddits to watch")
    add("--schedule-minutes", default=5, type=_int_in(1, 1440), help="ingest schedule")
    add(
        "--retention-days",
        default=30,
        type=_int_in(0, 3650),
        help="expire raw/, quarantine/ and errors/ objects after N days (0 = keep forever)",
    )
    add("--sweep-share", default=20, type=_int_in(1, 100), dest="sweep_share_percent",
        help="percent of Reddit's rate limit the deletion sweep may use (default 20)")
    add("--sweep-minutes", default=10, type=_int_in(1, 1440), help="deletion sweep schedule (default 10)")
    add("--buffer-seconds", default=60, type=_int_in(0, 900), help="Firehose buffer interval")
    add("--buffer-mb", default=5, type=_int_in(1, 128), help="Firehose buffer size")
    add("--max-comments-per-run", default=1000, type=_int_in(1, 100_000), help="ingest cap per run")
    add("--batch-size", default=256, type=_int_in(1, cfg.MAX_BATCH_SIZE), help="comments per endpoint call")
    add("--billing", choices=list(BILLING_MODES),
        help="DynamoDB billing; provisioned adds auto scaling at "
             f"{autoscaling.TARGET_UTILISATION_PERCENT:g} %% target utilisation on the table and every index "
             "(default: keep the table's current mode; on-demand for a new table)")
    capacity = _int_in(1, autoscaling.CAPACITY_LIMIT)
    for kind in (autoscaling.READ, autoscaling.WRITE):
        add(f"--min-{kind}-capacity", type=capacity,
            help=f"with provisioned billing: minimum {kind} units per table and index (default: keep the registered "
                 f"value; {autoscaling.DEFAULT_MIN_CAPACITY} for a new target)")
        add(f"--max-{kind}-capacity", type=capacity,
            help=f"with provisioned billing: maximum {kind} units per table and index (default: keep the registered "
                 f"value; {autoscaling.DEFAULT_MAX_CAPACITY} for a new target)")
    add(
        "--role-arn",
        type=_matching(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", "IAM role ARN"),
        help="existing SageMaker execution role (default: create a least-privilege one)",
    )
    add("--powertools-layer-version", default=POWERTOOLS_LAYER_VERSION, type=_int_in(1, 10_000),
        help="version of AWS's public AWSLambdaPowertoolsPythonV3-python311-x86_64 layer the functions use")
    add("--api-auth", choices=cfg.API_AUTH_MODES,
        help=f"REST API auth (default: api_key, none only for the offline {LOCAL_STAGE!r} stage)")
    add("--api-key", action="store_true",
        help="run after `chalice deploy`: create or update the stage's throttled usage plan and API key")
    add("--rest-api-id", type=_matching(r"[a-z0-9]{10}", "REST API id"),
        help="with --api-key: the REST API (default: from .chalice/deployed/<stage>.json, or the only one)")
    add("--api-rate", default=10.0, type=_float_in(0.1, 10_000), help="with --api-key: requests per second")
    add("--api-burst", default=20, type=_int_in(1, 5000), help="with --api-key: burst size")
    add("--alert-email", type=_matching(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+", "email address"),
        help="create an SNS topic <prefix>-<stage>-alerts with this email subscription and the stage's "
             "CloudWatch alarms (later deploys keep the alarms in step without the flag)")
    add("--alert-multiple", default=3.0, type=_float_in(1.1, 100),
        help="hate-rate alarm: last hour's rate above this multiple of the baseline")
    add("--alert-min-volume", default=100, type=_int_in(1, 1_000_000),
        help="hate-rate alarm: only with at least this many comments in the last hour")
    add("--alert-baseline-hours", default=24, type=_int_in(cfg.MIN_BASELINE_HOURS, cfg.MAX_BASELINE_HOURS),
        help="hate-rate alarm: the baseline is the hate rate of this many hours before the last one")
    add("--alert-silent-periods", default=3, type=_int_in(1, 288),
        help="no-comments alarm: fires after this many schedule periods without an ingested comment")
    add("--dry-run", action="store_true", help="print the plan; only describe/get/list calls are made")
    add("--no-wait", dest="wait", action="store_false", help="do not wait for the endpoint to be InService")
    add(
        "--config",
        type=Path,
        default=Path(__file__).resolve().parent / ".chalice" / "config.json",
        help="Chalice config file to update (policy files go next to it)",
    )
    return parser


def parse_options(argv: Sequence[str] | None, environ: Mapping[str, str] | None = None) -> Options:
    """Parse and validate; exits with status 2 before any AWS call on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ
    # Bucket names are limited to 63 characters and carry account id and region.
    if len(Names(args.prefix, args.stage, "0" * 12, args.region).bucket) > 63:
        parser.error("--prefix and --stage are too long together for an S3 bucket name")
    values = [environ.get(name, "").strip() for name in REDDIT_ENV]
    if any(values) and not all(values):
        parser.error("set all of " + ", ".join(REDDIT_ENV) + " or none of them")
    reddit = RedditCredentials(*values) if all(values) else None
    # CloudWatch: Period x EvaluationPeriods at most one day for periods under an hour, else 7 days.
    silent_s = args.alert_silent_periods * args.schedule_minutes * 60
    if silent_s > (86_400 if args.schedule_minutes < 60 else 604_800):
        parser.error(f"--alert-silent-periods x --schedule-minutes is {silent_s // 60} min; CloudWatch allows "
                     f"{'1 day' if args.schedule_minutes < 60 else '7 days'} for that schedule")
    capacities = {f"--{b}-{k}-capacity": getattr(args, f"{b}_{k}_capacity")
                  for k in (autoscaling.READ, autoscaling.WRITE) for b in ("min", "max")}
    if args.billing == "on-demand" and any(v is not None for v in capacities.values()):
        parser.error("the --min/--max-*-capacity options apply with --billing provisioned only")
    for kind in (autoscaling.READ, autoscaling.WRITE):
        low, high = capacities[f"--min-{kind}-capacity"], capacities[f"--max-{kind}-capacity"]
        if low is not None and high is not None and low > high:
            parser.error(f"--min-{kind}-capacity {low} is above --max-{kind}-capacity {high}")
    if args.api_key and args.teardown:
        parser.error("--api-key and --teardown exclude each other (--teardown removes the key too)")
    return Options(
        stage=args.stage,
        region=args.region,
        prefix=args.prefix,
        model_id=args.model_id,
        memory_mb=args.memory_mb,
        max_concurrency=args.max_concurrency,
        subreddits=args.subreddits,
        schedule_minutes=args.schedule_minutes,
        retention_days=args.retention_days,
        sweep_share_percent=args.sweep_share_percent,
        sweep_minutes=args.sweep_minutes,
        buffer_seconds=args.buffer_seconds,
        buffer_mb=args.buffer_mb,
        max_comments_per_run=args.max_comments_per_run,
        batch_size=args.batch_size,
        role_arn=args.role_arn,
        dry_run=args.dry_run,
        wait=args.wait,
        config_path=args.config,
        api_auth=args.api_auth or ("none" if args.stage == LOCAL_STAGE else "api_key"),
        transformers_version=args.transformers_version,
        pytorch_version=args.pytorch_version,
        py_version=args.py_version,
        force=args.force,
        teardown=args.teardown,
        reddit=reddit,
        powertools_layer_version=args.powertools_layer_version,
        api_key=args.api_key,
        rest_api_id=args.rest_api_id,
        api_rate=args.api_rate,
        api_burst=args.api_burst,
        alert_email=args.alert_email,
        alert_multiple=args.alert_multiple,
        alert_min_volume=args.alert_min_volume,
        alert_baseline_hours=args.alert_baseline_hours,
        alert_silent_periods=args.alert_silent_periods,
        billing=args.billing,
        min_read_capacity=args.min_read_capacity,
        max_read_capacity=args.max_read_capacity,
        min_write_capacity=args.min_write_capacity,
        max_write_capacity=args.max_write_capacity,
    )


def main(argv: Sequence[str] | None = None, *, session: boto3.Session | None = None) -> int:
    options = parse_options(argv)
    if options.api_auth == "none" and options.stage != LOCAL_STAGE and not options.api_key:
        print(f"warning: --api-auth none: the REST API of stage {options.stage!r} will answer anyone on the "
              "internet, including the authors it labels hate", file=sys.stderr)
    session = session or boto3.Session(region_name=options.region)
    try:
        ctx = Context(session, options)
        if options.teardown:
            stack.teardown(ctx)
        elif options.api_key:
            stack.api_access(ctx)
        else:
            stack.deploy(ctx)
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as exc:
        hint = credentials_hint(exc)
        print(f"AWS error: {exc}" + (f"\n{hint}" if hint else ""), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
