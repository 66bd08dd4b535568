#!/usr/bin/env python
"""Provision, update and tear down everything the Chalice app needs.

    python deploy_model.py --stage dev              # create or update, idempotent
    python deploy_model.py --stage dev --dry-run    # print the plan, change nothing
    python deploy_model.py --stage dev --teardown   # delete it all again

Creates an S3 bucket, a Firehose stream into it, a DynamoDB table, two
Secrets Manager secrets, a SageMaker Serverless endpoint running the Hugging
Face inference container, the IAM roles those services assume, and writes the
resource names plus least-privilege Lambda policies into ``.chalice/``.

The same code provisions the offline stack: with ``AWS_ENDPOINT_URL`` pointing
at a moto server boto3 talks to moto instead of AWS, nothing here branches on it.
"""

from __future__ import annotations

import argparse
import enum
import hashlib
import json
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast
from urllib.parse import unquote

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import config as cfg
from chalicelib import schema

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_firehose import FirehoseClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sts import STSClient

APP_NAME = "reddit-hate-watch"
DEFAULT_PREFIX = "reddit-hate"
DEFAULT_MODEL_ID = cfg.Settings.model_id
LAMBDA_FUNCTIONS = ("ingest", "classify", "api_handler")
MEMORY_SIZES = tuple(range(1024, 6144 + 1, 1024))
# Newest Hugging Face PyTorch inference image the bundled sagemaker 2.x
# image_uris config knows (CPU flavour is picked for serverless).
DEFAULT_TRANSFORMERS_VERSION = "4.51.3"
DEFAULT_PYTORCH_VERSION = "2.6.0"
DEFAULT_PY_VERSION = "py312"
PLACEHOLDER = "REPLACE_ME"
REDDIT_ENV = ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USER_AGENT")
REDDIT_KEYS = ("client_id", "client_secret", "user_agent")
SECRET_RECOVERY_DAYS = 7  # the minimum AWS allows
EXPIRING_PREFIXES = (schema.DEFAULT_RAW_PREFIX, schema.DEFAULT_QUARANTINE_PREFIX, schema.DEFAULT_ERROR_PREFIX)
FIREHOSE_PREFIX = f"{schema.DEFAULT_RAW_PREFIX}!{{timestamp:yyyy/MM/dd/HH}}/"
FIREHOSE_ERROR_PREFIX = f"{schema.DEFAULT_ERROR_PREFIX}!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd}}/"
POLICY_VERSION = "2012-10-17"
# Powertools comes from AWS's own public Lambda layer, not from the deployment
# zip (it is 7.6 MB unpacked; the zip stays under 1 MB). Version 27 of the V3
# layer is listed in the Powertools for AWS Lambda (Python) docs, "Lambda Layer".
POWERTOOLS_LAYER_VERSION = 27
POWERTOOLS_LAYER_ACCOUNT = "017000801446"


def powertools_layer_arn(region: str, version: int = POWERTOOLS_LAYER_VERSION) -> str:
    """The managed Powertools layer for python3.11 on x86_64 in ``region`` (aws partition)."""
    return (f"arn:aws:lambda:{region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
            f"AWSLambdaPowertoolsPythonV3-python311-x86_64:{version}")


#: Environment variables this script owns in .chalice/config.json; any other
#: key the user keeps there (e.g. REDDIT_OAUTH_URL) is left alone.
OWNED_ENV_KEYS = (
    cfg.ENV_BUCKET,
    cfg.ENV_RAW_PREFIX,
    cfg.ENV_QUARANTINE_PREFIX,
    cfg.ENV_STREAM,
    cfg.ENV_TABLE,
    cfg.ENV_REDDIT_SECRET,
    cfg.ENV_CURSOR_SECRET,
    cfg.ENV_ENDPOINT,
    cfg.ENV_MODEL_ID,
    cfg.ENV_SUBREDDITS,
    cfg.ENV_SCHEDULE_MINUTES,
    cfg.ENV_RETENTION_DAYS,
    cfg.ENV_MAX_PER_RUN,
    cfg.ENV_BATCH_SIZE,
    cfg.ENV_CONCURRENCY,
    cfg.ENV_API_AUTH,
)

# Waits. Real AWS: a serverless endpoint takes 3-8 min, a stream about 1 min.
ENDPOINT_TIMEOUT_S = 30 * 60
STREAM_TIMEOUT_S = 10 * 60
TABLE_TIMEOUT_S = 10 * 60
# A freshly created IAM role is not assumable for a few seconds (eventual
# consistency), so Firehose / SageMaker reject it at first.
ROLE_PROPAGATION_TIMEOUT_S = 120

log = logging.getLogger("deploy_model")


class DeployError(Exception):
    """A problem the user must fix; printed as one line, exit code 1."""


class Status(enum.Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "exists, unchanged"
    DELETED = "deleted"
    ABSENT = "absent"

    def describe(self, dry_run: bool) -> str:
        if dry_run and self in (Status.CREATED, Status.UPDATED, Status.DELETED):
            return "would " + str(self.value).removesuffix("d")
        return str(self.value)


@dataclass(frozen=True)
class Outcome:
    kind: str
    name: str
    status: Status
    detail: str = ""


@dataclass(frozen=True)
class RedditCredentials:
    client_id: str
    client_secret: str
    user_agent: str

    def as_dict(self) -> dict[str, str]:
        return dict(zip(REDDIT_KEYS, (self.client_id, self.client_secret, self.user_agent), strict=True))

    def __repr__(self) -> str:  # never leak the values through a traceback or log
        return "RedditCredentials(<redacted>)"


@dataclass(frozen=True)
class Options:
    stage: str
    region: str
    prefix: str = DEFAULT_PREFIX
    model_id: str = DEFAULT_MODEL_ID
    memory_mb: int = 3072
    max_concurrency: int = 5
    subreddits: str = "all"
    schedule_minutes: int = 5
    retention_days: int = 30
    buffer_seconds: int = 60
    buffer_mb: int = 5
    max_comments_per_run: int = 1000
    batch_size: int = 256
    role_arn: str | None = None
    dry_run: bool = False
    wait: bool = True
    config_path: Path = Path(".chalice/config.json")
    api_auth: str = "none"
    transformers_version: str = DEFAULT_TRANSFORMERS_VERSION
    pytorch_version: str = DEFAULT_PYTORCH_VERSION
    py_version: str = DEFAULT_PY_VERSION
    force: bool = False
    teardown: bool = False
    reddit: RedditCredentials | None = None
    powertools_layer_version: int = POWERTOOLS_LAYER_VERSION

    @property
    def policy_dir(self) -> Path:
        return self.config_path.parent


@dataclass(frozen=True)
class Names:
    """Every resource name and ARN, derived from prefix, stage, account and region."""

    prefix: str
    stage: str
    account: str
    region: str
    partition: str = "aws"

    @property
    def base(self) -> str:
        return f"{self.prefix}-{self.stage}"

    @property
    def bucket(self) -> str:  # globally unique, hence account and region
        return f"{self.base}-{self.account}-{self.region}"

    @property
    def stream(self) -> str:
        return f"{self.base}-comments"

    @property
    def table(self) -> str:
        return f"{self.base}-comments"

    @property
    def endpoint(self) -> str:
        return self.base

    @property
    def firehose_role(self) -> str:
        return f"{self.base}-firehose"

    @property
    def sagemaker_role(self) -> str:
        return f"{self.base}-sagemaker"

    @property
    def reddit_secret(self) -> str:
        return f"{self.prefix}/{self.stage}/reddit"

    @property
    def cursor_secret(self) -> str:
        return f"{self.prefix}/{self.stage}/api-cursor-key"

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account if account else ''}:{resource}"
        )

    @property
    def bucket_arn(self) -> str:
        return self.arn("s3", self.bucket, region=False, account=False)

    @property
    def table_arn(self) -> str:
        return self.arn("dynamodb", f"table/{self.table}")

    @property
    def stream_arn(self) -> str:
        return self.arn("firehose", f"deliverystream/{self.stream}")

    @property
    def endpoint_arn(self) -> str:
        return self.arn("sagemaker", f"endpoint/{self.endpoint}")

    def secret_arn(self, name: str) -> str:
        # AWS appends "-" + 6 random characters to every secret ARN; "??????"
        # is the documented way to match it and keeps the policy deterministic.
        return self.arn("secretsmanager", f"secret:{name}-??????")

    def role_arn(self, role: str) -> str:
        return self.arn("iam", f"role/{role}", region=False)

    def versioned_name(self, digest: str) -> str:
        return f"{self.base}-{digest}"

    def is_versioned_name(self, name: str) -> bool:
        return re.fullmatch(re.escape(self.base) + r"-[0-9a-f]{8}", name) is not None


@dataclass(frozen=True)
class ModelSpec:
    """What the endpoint must run; the digest names the model and endpoint config."""

    image: str
    environment: dict[str, str]
    serverless: dict[str, int]
    role_arn: str

    @property
    def digest(self) -> str:
        blob = json.dumps([self.image, self.environment, self.serverless, self.role_arn], sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:8]

    @property
    def ecr_repository_arn(self) -> str:
        # <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repo>:<tag>
        registry, _, path = self.image.partition("/")
        account, _, rest = registry.partition(".dkr.ecr.")
        region = rest.split(".", 1)[0]
        partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
        return f"arn:{partition}:ecr:{region}:{account}:repository/{path.split(':', 1)[0]}"


# --------------------------------------------------------------------------
# Policy documents (pure functions, so tests can inspect them directly)
# --------------------------------------------------------------------------


def _statement(sid: str, actions: Sequence[str], resources: Sequence[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}


def trust_policy(service: str) -> dict[str, Any]:
    return {
        "Version": POLICY_VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def firehose_role_policy(names: Names) -> dict[str, Any]:
    actions = [
        "s3:AbortMultipartUpload",
        "s3:GetBucketLocation",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:PutObject",
    ]
    return {
        "Version": POLICY_VERSION,
        "Statement": [_statement("WriteBucket", actions, [names.bucket_arn, f"{names.bucket_arn}/*"])],
    }


def sagemaker_role_policy(names: Names, spec: ModelSpec) -> dict[str, Any]:
    log_group = names.arn("logs", f"log-group:/aws/sagemaker/Endpoints/{names.endpoint}")
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            _statement(
                "Logs",
                ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                [log_group, f"{log_group}:*"],
            ),
            # GetAuthorizationToken has no resource-level permissions: "*" is the only valid value.
            _statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            _statement(
                "EcrPull",
                ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                [spec.ecr_repository_arn],
            ),
            _statement("ReadBucket", ["s3:GetObject"], [f"{names.bucket_arn}/*"]),
        ],
    }


def lambda_policies(names: Names) -> dict[str, dict[str, Any]]:
    """Least-privilege policy per Chalice function: exact ARNs, no wildcard actions."""
    logs = _statement(
        "Logs",
        ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        [names.arn("logs", "*")],
    )
    table = names.table_arn
    indexes = [f"{table}/index/{index}" for index in schema.INDEXES]
    raw = f"{names.bucket_arn}/{schema.DEFAULT_RAW_PREFIX}*"
    quarantine = f"{names.bucket_arn}/{schema.DEFAULT_QUARANTINE_PREFIX}*"
    statements: dict[str, list[dict[str, Any]]] = {
        "ingest": [
            _statement("RedditSecret", ["secretsmanager:GetSecretValue"], [names.secret_arn(names.reddit_secret)]),
            _statement("Firehose", ["firehose:PutRecordBatch"], [names.stream_arn]),
            _statement(
                "Checkpoints",
                ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:PutItem"],
                [table],
            ),
        ],
        "classify": [
            _statement("ReadRaw", ["s3:GetObject"], [raw]),
            # Without ListBucket S3 answers 403 instead of 404 for an object that
            # is already gone, and the classifier could not tell "skip" from "retry".
            _statement("FindRaw", ["s3:ListBucket"], [names.bucket_arn]),
            _statement("WriteQuarantine", ["s3:PutObject"], [quarantine]),
            _statement("Invoke", ["sagemaker:InvokeEndpoint"], [names.endpoint_arn]),
            _statement(
                "Table",
                [
                    "dynamodb:BatchGetItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                ],
                [table],
            ),
        ],
        "api_handler": [
            _statement("Read", ["dynamodb:GetItem", "dynamodb:Query"], [table, *indexes]),
            _statement("CursorKey", ["secretsmanager:GetSecretValue"], [names.secret_arn(names.cursor_secret)]),
        ],
    }
    return {
        function: {"Version": POLICY_VERSION, "Statement": [logs, *statements[function]]}
        for function in LAMBDA_FUNCTIONS
    }


def table_definition(name: str) -> dict[str, Any]:
    """CreateTable arguments: on-demand, keyed by comment id, one index per REST query shape."""
    attributes = {schema.PARTITION_KEY: "S", schema.SORT_ATTRIBUTE: "N"}
    attributes.update({partition: "S" for partition in schema.INDEXES.values()})
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": v} for k, v in attributes.items()],
        "KeySchema": [{"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {"IndexName": index,
             "KeySchema": [{"AttributeName": partition, "KeyType": "HASH"},
                           {"AttributeName": schema.SORT_ATTRIBUTE, "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}}
            for index, partition in schema.INDEXES.items()
        ],
    }


def policy_file_name(stage: str, function: str) -> str:
    return f"policy-{stage}-{function}.json"


def render_json(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"


def classify_concurrency(options: Options) -> int:
    """Endpoint requests in flight per classify Lambda; more than MaxConcurrency would be throttled."""
    return min(4, options.max_concurrency)


def reserved_concurrency(options: Options) -> dict[str, int]:
    """Lambda concurrency caps: one ingest run at a time (overlapping runs would read the
    same checkpoint and resend), and no more classify Lambdas than the endpoint can serve."""
    return {"ingest": 1, "classify": max(1, options.max_concurrency // classify_concurrency(options))}


def environment_variables(names: Names, options: Options) -> dict[str, str]:
    return {
        cfg.ENV_BUCKET: names.bucket,
        cfg.ENV_RAW_PREFIX: schema.DEFAULT_RAW_PREFIX,
        cfg.ENV_QUARANTINE_PREFIX: schema.DEFAULT_QUARANTINE_PREFIX,
        cfg.ENV_STREAM: names.stream,
        cfg.ENV_TABLE: names.table,
        cfg.ENV_REDDIT_SECRET: names.reddit_secret,
        cfg.ENV_CURSOR_SECRET: names.cursor_secret,
        cfg.ENV_ENDPOINT: names.endpoint,
        cfg.ENV_MODEL_ID: options.model_id,
        cfg.ENV_SUBREDDITS: options.subreddits,
        cfg.ENV_SCHEDULE_MINUTES: str(options.schedule_minutes),
        cfg.ENV_RETENTION_DAYS: str(options.retention_days),
        cfg.ENV_MAX_PER_RUN: str(options.max_comments_per_run),
        cfg.ENV_BATCH_SIZE: str(options.batch_size),
        # Parallel endpoint requests per Lambda; more than the endpoint's
        # MaxConcurrency would only be throttled.
        cfg.ENV_CONCURRENCY: str(classify_concurrency(options)),
        cfg.ENV_API_AUTH: options.api_auth,
    }


# --------------------------------------------------------------------------
# .chalice/config.json
# --------------------------------------------------------------------------


class ChaliceConfig:
    """Edits .chalice/config.json in place, keeping every key it does not own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.original = path.read_text() if path.exists() else None
        if self.original is None:
            self.data: dict[str, Any] = {"version": "2.0", "app_name": APP_NAME, "stages": {}}
        else:
            try:
                loaded = json.loads(self.original)
            except json.JSONDecodeError as exc:
                raise DeployError(f"{path} is not valid JSON: {exc}") from exc
            if not isinstance(loaded, dict) or not isinstance(loaded.get("stages", {}), dict):
                raise DeployError(f"{path} must be a JSON object whose 'stages' is an object")
            self.data = loaded

    def _section(self, parent: dict[str, Any], key: str) -> dict[str, Any]:
        value = parent.setdefault(key, {})
        if not isinstance(value, dict):
            raise DeployError(f"{self.path}: {key!r} must be an object")
        return value

    def stage(self, stage: str) -> dict[str, Any]:
        return self._section(self._section(self.data, "stages"), stage)

    def apply(self, stage: str, env: Mapping[str, str], policy_files: Mapping[str, str], layer: str,
              reserved: Mapping[str, int]) -> None:
        self.data["autogen_policy"] = False
        section = self.stage(stage)
        section["layers"] = [layer]
        self._section(section, "environment_variables").update(env)
        functions = self._section(section, "lambda_functions")
        for function, file_name in policy_files.items():
            self._section(functions, function)["iam_policy_file"] = file_name
        for function, concurrency in reserved.items():
            self._section(functions, function)["reserved_concurrency"] = concurrency

    def remove(self, stage: str) -> None:
        """Drop the keys this script wrote for ``stage``; the stage itself stays."""
        stages = self.data.get("stages", {})
        section = stages.get(stage)
        if not isinstance(section, dict):
            return
        section.pop("layers", None)
        env = section.get("environment_variables")
        if isinstance(env, dict):
            for key in OWNED_ENV_KEYS:
                env.pop(key, None)
        functions = section.get("lambda_functions")
        if isinstance(functions, dict):
            for function in LAMBDA_FUNCTIONS:
                entry = functions.get(function)
                if isinstance(entry, dict):
                    entry.pop("iam_policy_file", None)
                    entry.pop("reserved_concurrency", None)
                    if not entry:
                        del functions[function]
            if not functions:
                del section["lambda_functions"]

    def render(self) -> str:
        return render_json(self.data)


# --------------------------------------------------------------------------
# Provisioner
# --------------------------------------------------------------------------


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_not_found(exc: ClientError) -> bool:
    code = _error_code(exc)
    if code in {"ResourceNotFoundException", "NoSuchEntity", "404", "NoSuchBucket", "NotFound"}:
        return True
    # SageMaker reports a missing endpoint/model/config as a ValidationException.
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return code == "ValidationException" and message.startswith("Could not find")


class Provisioner:
    """Creates, updates and deletes the stack for one stage.

    Every resource step reads first and writes only when something differs,
    so a second run changes nothing. With ``dry_run`` only Describe/Get/List/Head
    calls are made and the returned statuses say what *would* happen.
    """

    def __init__(
        self,
        session: boto3.Session,
        options: Options,
        *,
        out: Callable[[str], None] = print,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not session.region_name:
            raise DeployError("no AWS region: pass --region or set AWS_REGION")
        self.session = session
        self.options = options
        self.region: str = session.region_name
        self.out = out
        self.sleep = sleep
        self.clock = clock
        self.dry_run = options.dry_run
        self.outcomes: list[Outcome] = []
        self._clients: dict[str, Any] = {}
        self._reddit_needs_values = False

    # -- clients: the one place they are built, lazily ---------------------

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=self.region)  # type: ignore[call-overload]
        return self._clients[service]

    @property
    def s3(self) -> S3Client:
        return cast("S3Client", self._client("s3"))

    @property
    def firehose(self) -> FirehoseClient:
        return cast("FirehoseClient", self._client("firehose"))

    @property
    def dynamodb(self) -> DynamoDBClient:
        return cast("DynamoDBClient", self._client("dynamodb"))

    @property
    def iam(self) -> IAMClient:
        return cast("IAMClient", self._client("iam"))

    @property
    def secretsmanager(self) -> SecretsManagerClient:
        return cast("SecretsManagerClient", self._client("secretsmanager"))

    @property
    def sagemaker(self) -> SageMakerClient:
        return cast("SageMakerClient", self._client("sagemaker"))

    @property
    def sts(self) -> STSClient:
        return cast("STSClient", self._client("sts"))

    @cached_property
    def names(self) -> Names:
        account = self.sts.get_caller_identity()["Account"]
        partition = self.session.get_partition_for_region(self.region)
        return Names(self.options.prefix, self.options.stage, account, self.region, partition)

    @property
    def sagemaker_role_arn(self) -> str:
        return self.options.role_arn or self.names.role_arn(self.names.sagemaker_role)

    # -- helpers --------------------------------------------------------

    def _record(self, kind: str, name: str, status: Status, detail: str = "") -> Status:
        self.outcomes.append(Outcome(kind, name, status, detail))
        line = f"  {kind:<22} {name:<46} {status.describe(self.dry_run)}"
        self.out(line + (f" ({detail})" if detail else ""))
        return status

    def _wait(
        self,
        what: str,
        probe: Callable[[], str | None],
        ready: str | None,
        *,
        timeout: float,
        interval: float,
        failed: Sequence[str] = (),
    ) -> None:
        """Poll ``probe`` until it returns ``ready`` (None = gone)."""
        deadline = self.clock() + timeout
        announced = False
        while True:
            state = probe()
            if state == ready:
                return
            if state in failed:
                raise DeployError(f"{what} is {state}")
            if self.clock() >= deadline:
                raise DeployError(f"timed out after {timeout:.0f}s waiting for {what} (last state {state})")
            if not announced:
                self.out(f"  ... waiting for {what} (now {state})")
                announced = True
            self.sleep(interval)

    def _retry_role_propagation(self, call: Callable[[], Any]) -> Any:
        deadline = self.clock() + ROLE_PROPAGATION_TIMEOUT_S
        while True:
            try:
                return call()
            except ClientError as exc:
                message = str(exc.response.get("Error", {}).get("Message", "")).lower()
                retryable = _error_code(exc) in {"InvalidArgumentException", "ValidationException"} and (
                    "role" in message or "assume" in message
                )
                if not retryable or self.clock() >= deadline:
                    raise
                self.sleep(5)

    # -- deploy ------------------------------------------------------

    def deploy(self) -> list[Outcome]:
        opts = self.options
        chalice_config = ChaliceConfig(opts.config_path)  # fail on a broken file before touching AWS
        names = self.names
        banner = f"Stage {opts.stage!r}: account {names.account}, region {self.region}"
        self.out(banner + (" (dry run: nothing will be changed)" if self.dry_run else ""))
        spec = self.model_spec()
        self.ensure_bucket()
        self.ensure_role(names.firehose_role, "firehose.amazonaws.com", firehose_role_policy(names))
        self.ensure_stream()
        self.ensure_table()
        self.ensure_reddit_secret()
        self.ensure_cursor_secret()
        if opts.role_arn is None:
            self.ensure_role(names.sagemaker_role, "sagemaker.amazonaws.com", sagemaker_role_policy(names, spec))
        self.ensure_endpoint(spec)
        policy_files = self.write_policy_files()
        self.write_config(chalice_config, policy_files)
        self.summary()
        return self.outcomes

    def model_spec(self) -> ModelSpec:
        """Container definition from the SageMaker SDK (imported only here)."""
        opts = self.options
        # requirements-deploy.txt pins 2.x on purpose; its v3 nudge is noise here.
        os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
        logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
        try:
            import sagemaker  # noqa: PLC0415 - lazy: --help, --teardown and tests run without it
            from sagemaker.huggingface import HuggingFaceModel  # noqa: PLC0415
            from sagemaker.serverless import ServerlessInferenceConfig  # noqa: PLC0415
        except ImportError as exc:
            raise DeployError(
                "the SageMaker SDK is needed for the endpoint: pip install -r requirements-deploy.txt"
            ) from exc
        bucket = self.names.bucket
        # An explicit default_bucket and role keep the SDK from calling STS or
        # creating its own sagemaker-<region>-<account> bucket; code_location
        # stops prepare_container_def from even looking the bucket up.
        sm_session = sagemaker.Session(
            boto_session=self.session,
            default_bucket=bucket,
            sagemaker_config={"SchemaVersion": "1.0"},  # ignore local SDK default files
        )
        serverless = ServerlessInferenceConfig(memory_size_in_mb=opts.memory_mb, max_concurrency=opts.max_concurrency)
        try:
            model = HuggingFaceModel(
                role=self.sagemaker_role_arn,
                transformers_version=opts.transformers_version,
                pytorch_version=opts.pytorch_version,
                py_version=opts.py_version,
                env={"HF_MODEL_ID": opts.model_id, "HF_TASK": "text-classification"},
                sagemaker_session=sm_session,
                code_location=f"s3://{bucket}/sagemaker-code",
            )
            container = model.prepare_container_def(serverless_inference_config=serverless)
        except ValueError as exc:  # unknown version combination or region
            raise DeployError(f"Hugging Face container: {exc}") from exc
        return ModelSpec(
            image=str(container["Image"]),
            environment={str(k): str(v) for k, v in container.get("Environment", {}).items()},
            serverless=dict(serverless._to_request_dict()),
            role_arn=self.sagemaker_role_arn,
        )

    # S3 -----------------------------------------------------------------

    def _bucket_exists(self) -> bool:
        try:
            self.s3.head_bucket(Bucket=self.names.bucket, ExpectedBucketOwner=self.names.account)
        except ClientError as exc:
            if _is_not_found(exc):
                return False
            if _error_code(exc) in {"403", "AccessDenied"}:
                raise DeployError(f"bucket {self.names.bucket} exists but belongs to someone else") from exc
            raise
        return True

    def _lifecycle_rules(self) -> list[dict[str, Any]]:
        days = self.options.retention_days
        if days <= 0:
            return []
        return [
            {
                "ID": f"expire-{prefix.rstrip('/')}",
                "Filter": {"Prefix": prefix},
                "Status": "Enabled",
                "Expiration": {"Days": days},
            }
            for prefix in EXPIRING_PREFIXES
        ]

    @staticmethod
    def _rule_key(rule: Mapping[str, Any]) -> tuple[Any, ...]:
        prefix = rule.get("Filter", {}).get("Prefix", rule.get("Prefix"))
        return (rule.get("ID"), prefix, rule.get("Status"), rule.get("Expiration", {}).get("Days"))

    def _bucket_settings(self) -> dict[str, Callable[[], Any]]:
        """Setting name -> call that applies it (the wanted state)."""
        bucket = self.names.bucket
        rules = self._lifecycle_rules()
        block = {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
        settings: dict[str, Callable[[], Any]] = {
            "public access block": lambda: self.s3.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration=block,  # type: ignore[arg-type]
            ),
            "encryption": lambda: self.s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            ),
        }
        if rules:
            settings["lifecycle"] = lambda: self.s3.put_bucket_lifecycle_configuration(
                Bucket=bucket,
                LifecycleConfiguration={"Rules": rules},  # type: ignore[typeddict-item]
            )
        else:
            settings["lifecycle"] = lambda: self.s3.delete_bucket_lifecycle(Bucket=bucket)
        return settings

    def _bucket_drift(self) -> list[str]:
        bucket = self.names.bucket
        drift = []
        try:
            block = self.s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
            if not all(
                block.get(k)
                for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
            ):
                drift.append("public access block")
        except ClientError as exc:
            if _error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
                raise
            drift.append("public access block")
        try:
            rules = self.s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
            algorithms = {r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules}
            if not algorithms & {"AES256", "aws:kms", "aws:kms:dsse"}:
                drift.append("encryption")
        except ClientError as exc:
            if _error_code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            drift.append("encryption")
        try:
            current = self.s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
        except ClientError as exc:
            if _error_code(exc) != "NoSuchLifecycleConfiguration":
                raise
            current = []
        wanted = sorted(self._rule_key(r) for r in self._lifecycle_rules())
        if sorted(self._rule_key(cast(Mapping[str, Any], r)) for r in current) != wanted:
            drift.append("lifecycle")
        return drift

    def ensure_bucket(self) -> Status:
        names = self.names
        settings = self._bucket_settings()
        if not self._bucket_exists():
            if not self.dry_run:
                if self.region == "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
                    self.s3.create_bucket(Bucket=names.bucket)
                else:
                    self.s3.create_bucket(
                        Bucket=names.bucket,
                        CreateBucketConfiguration={"LocationConstraint": self.region},  # type: ignore[typeddict-item]
                    )
                for name, apply in settings.items():
                    if name != "lifecycle" or self._lifecycle_rules():
                        apply()
                self.s3.put_bucket_tagging(Bucket=names.bucket, Tagging={"TagSet": self._tags()})
            return self._record("S3 bucket", names.bucket, Status.CREATED)
        drift = self._bucket_drift()
        if not drift:
            return self._record("S3 bucket", names.bucket, Status.UNCHANGED)
        if not self.dry_run:
            for name in drift:
                settings[name]()
        return self._record("S3 bucket", names.bucket, Status.UPDATED, ", ".join(drift))

    def _tags(self) -> list[Any]:
        return [{"Key": "project", "Value": self.options.prefix}, {"Key": "stage", "Value": self.options.stage}]

    # IAM --------------------------------------------------------------

    def ensure_role(self, role: str, service: str, policy: dict[str, Any]) -> Status:
        kind = "IAM role"
        trust = trust_policy(service)
        policy_name = f"{role}-policy"
        try:
            current = self.iam.get_role(RoleName=role)["Role"]
        except ClientError as exc:
            if not _is_not_found(exc):
                raise
            if not self.dry_run:
                self.iam.create_role(
                    RoleName=role,
                    AssumeRolePolicyDocument=json.dumps(trust),
                    Description=f"{APP_NAME} {self.options.stage}: assumed by {service}",
                    Tags=self._tags(),
                )
                self.iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(policy))
            return self._record(kind, role, Status.CREATED)
        drift = []
        if _as_json(current.get("AssumeRolePolicyDocument")) != trust:
            drift.append("trust policy")
        try:
            existing = self.iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
        except ClientError as exc:
            if not _is_not_found(exc):
                raise
            existing = None
        if _as_json(existing) != policy:
            drift.append("inline policy")
        if not drift:
            return self._record(kind, role, Status.UNCHANGED)
        if not self.dry_run:
            if "trust policy" in drift:
                self.iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(trust))
            if "inline policy" in drift:
                self.iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(policy))
        return self._record(kind, role, Status.UPDATED, ", ".join(drift))

    # Firehose ---------------------------------------------------------

    def _stream_destination(self) -> dict[str, Any]:
        names = self.names
        return {
            "RoleARN": names.role_arn(names.firehose_role),
            "BucketARN": names.bucket_arn,
            "Prefix": FIREHOSE_PREFIX,
            "ErrorOutputPrefix": FIREHOSE_ERROR_PREFIX,
            "BufferingHints": {
                "SizeInMBs": self.options.buffer_mb,
                "IntervalInSeconds": self.options.buffer_seconds,
            },
            "CompressionFormat": "GZIP",
        }

    def _describe_stream(self) -> dict[str, Any] | None:
        try:
            return cast(
                dict[str, Any],
                self.firehose.describe_delivery_stream(DeliveryStreamName=self.names.stream)[
                    "DeliveryStreamDescription"
                ],
            )
        except ClientError as exc:
            if _is_not_found(exc):
                return None
            raise

    def _stream_status(self) -> str | None:
        stream = self._describe_stream()
        return None if stream is None else str(stream["DeliveryStreamStatus"])

    def ensure_stream(self) -> Status:
        name = self.names.stream
        wanted = self._stream_destination()
        stream = self._describe_stream()
        if stream is None:
            if not self.dry_run:
                self._retry_role_propagation(
                    lambda: self.firehose.create_delivery_stream(
                        DeliveryStreamName=name,
                        DeliveryStreamType="DirectPut",
                        ExtendedS3DestinationConfiguration=wanted,  # type: ignore[arg-type]
                        Tags=self._tags(),
                    )
                )
                self._wait(
                    f"stream {name} ACTIVE",
                    self._stream_status,
                    "ACTIVE",
                    timeout=STREAM_TIMEOUT_S,
                    interval=5,
                    failed=("CREATING_FAILED",),
                )
            return self._record("Firehose stream", name, Status.CREATED)
        destinations = stream.get("Destinations", [])
        current = destinations[0].get("ExtendedS3DestinationDescription", {}) if destinations else {}
        drift = [key for key, value in wanted.items() if current.get(key) != value]
        if not drift:
            return self._record("Firehose stream", name, Status.UNCHANGED)
        if not self.dry_run:
            if stream["DeliveryStreamStatus"] != "ACTIVE":
                self._wait(f"stream {name} ACTIVE", self._stream_status, "ACTIVE", timeout=STREAM_TIMEOUT_S, interval=5)
                stream = self._describe_stream() or stream
            self.firehose.update_destination(
                DeliveryStreamName=name,
                CurrentDeliveryStreamVersionId=stream["VersionId"],
                DestinationId=stream["Destinations"][0]["DestinationId"],
                ExtendedS3DestinationUpdate=wanted,  # type: ignore[arg-type]
            )
        return self._record("Firehose stream", name, Status.UPDATED, ", ".join(drift))

    # DynamoDB ---------------------------------------------------------

    def _describe_table(self) -> dict[str, Any] | None:
        try:
            return cast(dict[str, Any], self.dynamodb.describe_table(TableName=self.names.table)["Table"])
        except ClientError as exc:
            if _is_not_found(exc):
                return None
            raise

    def _table_ready(self) -> str | None:
        table = self._describe_table()
        if table is None:
            return None
        busy = [i["IndexName"] for i in table.get("GlobalSecondaryIndexes", []) if i.get("IndexStatus") != "ACTIVE"]
        return "ACTIVE" if table["TableStatus"] == "ACTIVE" and not busy else str(table["TableStatus"])

    def ensure_table(self) -> Status:
        name = self.names.table
        table = self._describe_table()
        want_pitr = self.options.stage == "prod"
        if table is None:
            if not self.dry_run:
                self.dynamodb.create_table(**table_definition(name), Tags=self._tags())
                # TTL and PITR can only be switched on once the table is ACTIVE.
                self._wait(f"table {name} ACTIVE", self._table_ready, "ACTIVE", timeout=TABLE_TIMEOUT_S, interval=2)
                self._enable_ttl()
                if want_pitr:
                    self._enable_pitr()
            return self._record("DynamoDB table", name, Status.CREATED)

        key = [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]]
        if key != [(schema.PARTITION_KEY, "HASH")]:
            raise DeployError(f"table {name} exists with key {key}; delete it or use another --prefix")
        drift: list[str] = []
        present = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
        missing = [i for i in schema.INDEXES if i not in present]
        drift += [f"index {i}" for i in missing]
        ttl = self.dynamodb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
        ttl_ok = (
            ttl.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"} and ttl.get("AttributeName") == schema.TTL_ATTRIBUTE
        )
        if not ttl_ok:
            drift.append("ttl")
        if want_pitr:
            backups = self.dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
            pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
            if pitr != "ENABLED":
                drift.append("point-in-time recovery")
        if not drift:
            return self._record("DynamoDB table", name, Status.UNCHANGED)
        if not self.dry_run:
            definition = table_definition(name)
            indexes = {i["IndexName"]: i for i in definition["GlobalSecondaryIndexes"]}
            for index in missing:
                # DynamoDB builds one new index per UpdateTable call at a time.
                self._wait(f"table {name} ACTIVE", self._table_ready, "ACTIVE", timeout=TABLE_TIMEOUT_S, interval=10)
                self.dynamodb.update_table(
                    TableName=name,
                    AttributeDefinitions=definition["AttributeDefinitions"],
                    GlobalSecondaryIndexUpdates=[{"Create": indexes[index]}],
                )
            if not ttl_ok:
                self._enable_ttl()
            if "point-in-time recovery" in drift:
                self._enable_pitr()
        return self._record("DynamoDB table", name, Status.UPDATED, ", ".join(drift))

    def _enable_ttl(self) -> None:
        self.dynamodb.update_time_to_live(
            TableName=self.names.table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": schema.TTL_ATTRIBUTE},
        )

    def _enable_pitr(self) -> None:
        self.dynamodb.update_continuous_backups(
            TableName=self.names.table,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )

    # Secrets Manager ----------------------------------------------------

    def _describe_secret(self, name: str) -> dict[str, Any] | None:
        try:
            return cast(dict[str, Any], self.secretsmanager.describe_secret(SecretId=name))
        except ClientError as exc:
            if _is_not_found(exc):
                return None
            raise

    def _create_secret(self, name: str, value: str, description: str) -> None:
        self.secretsmanager.create_secret(Name=name, SecretString=value, Description=description, Tags=self._tags())

    def ensure_reddit_secret(self) -> Status:
        name = self.names.reddit_secret
        kind = "secret"
        creds = self.options.reddit
        described = self._describe_secret(name)
        if described is None:
            if not self.dry_run:
                value = creds.as_dict() if creds else dict.fromkeys(REDDIT_KEYS, PLACEHOLDER)
                self._create_secret(name, json.dumps(value), "Reddit API credentials (PRAW script app)")
            self._reddit_needs_values = creds is None
            return self._record(kind, name, Status.CREATED, "" if creds else "placeholder values")
        restored = bool(described.get("DeletedDate"))
        if restored:
            if self.dry_run:  # a secret pending deletion cannot be read
                return self._record(kind, name, Status.UPDATED, "restore from pending deletion")
            self.secretsmanager.restore_secret(SecretId=name)
        current = self._secret_json(name)
        if creds is not None and current != creds.as_dict():
            if not self.dry_run:
                self.secretsmanager.put_secret_value(SecretId=name, SecretString=json.dumps(creds.as_dict()))
            return self._record(kind, name, Status.UPDATED, "new credentials from REDDIT_* variables")
        if creds is None and (current is None or PLACEHOLDER in current.values()):
            self._reddit_needs_values = True
        detail = "restored" if restored else ("still placeholder values" if self._reddit_needs_values else "")
        return self._record(kind, name, Status.UPDATED if restored else Status.UNCHANGED, detail)

    def _secret_json(self, name: str) -> dict[str, str] | None:
        raw = self.secretsmanager.get_secret_value(SecretId=name).get("SecretString", "")
        try:
            value = json.loads(raw)
        except ValueError:  # not JSON: treat like a secret that still needs filling
            return None
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None

    def ensure_cursor_secret(self) -> Status:
        name = self.names.cursor_secret
        described = self._describe_secret(name)
        if described is None:
            if not self.dry_run:
                # Signs API pagination cursors; generated once, never rotated here.
                self._create_secret(name, secrets.token_hex(32), "HMAC key for REST API pagination cursors")
            return self._record("secret", name, Status.CREATED)
        if described.get("DeletedDate"):
            if not self.dry_run:
                self.secretsmanager.restore_secret(SecretId=name)
            return self._record("secret", name, Status.UPDATED, "restored")
        return self._record("secret", name, Status.UNCHANGED)

    # SageMaker --------------------------------------------------------

    def _describe_endpoint(self) -> dict[str, Any] | None:
        try:
            return cast(dict[str, Any], self.sagemaker.describe_endpoint(EndpointName=self.names.endpoint))
        except ClientError as exc:
            if _is_not_found(exc):
                return None
            raise

    def _endpoint_status(self) -> str | None:
        endpoint = self._describe_endpoint()
        return None if endpoint is None else str(endpoint["EndpointStatus"])

    def _deployed_matches(self, endpoint: Mapping[str, Any], spec: ModelSpec) -> bool:
        """Does the endpoint's current config run exactly ``spec``?"""
        try:
            config = self.sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
            variants = config["ProductionVariants"]
            if len(variants) != 1 or variants[0].get("ServerlessConfig") != spec.serverless:
                return False
            model = self.sagemaker.describe_model(ModelName=variants[0]["ModelName"])
        except ClientError as exc:
            if _is_not_found(exc):
                return False
            raise
        container = model.get("PrimaryContainer", {})
        return (
            container.get("Image") == spec.image
            and container.get("Environment", {}) == spec.environment
            and model.get("ExecutionRoleArn") == spec.role_arn
        )

    def _exists(self, describe: Callable[[], Any]) -> bool:
        try:
            describe()
        except ClientError as exc:
            if _is_not_found(exc):
                return False
            raise
        return True

    def ensure_endpoint(self, spec: ModelSpec) -> Status:
        from sagemaker import production_variant  # noqa: PLC0415 - lazy: see model_spec()

        name = self.names.endpoint
        versioned = self.names.versioned_name(spec.digest)
        endpoint = self._describe_endpoint()
        if endpoint is not None and endpoint["EndpointStatus"] == "Failed":
            raise DeployError(
                f"endpoint {name} is Failed ({endpoint.get('FailureReason', 'no reason given')}); "
                "run --teardown, fix the cause and deploy again"
            )
        detail = (
            f"{self.options.model_id}, {spec.serverless['MemorySizeInMB']} MB, "
            f"concurrency {spec.serverless['MaxConcurrency']}"
        )
        if endpoint is not None and self._deployed_matches(endpoint, spec):
            status = self._record("SageMaker endpoint", name, Status.UNCHANGED, endpoint["EndpointStatus"])
            if self.options.wait and not self.dry_run and endpoint["EndpointStatus"] != "InService":
                self._wait_in_service()
            return status
        if self.dry_run:
            return self._record(
                "SageMaker endpoint", name, Status.CREATED if endpoint is None else Status.UPDATED, detail
            )
        if endpoint is not None and endpoint["EndpointStatus"] != "InService":
            raise DeployError(f"endpoint {name} is {endpoint['EndpointStatus']}; try again when it is InService")
        if not self._exists(lambda: self.sagemaker.describe_model(ModelName=versioned)):
            self._retry_role_propagation(
                lambda: self.sagemaker.create_model(
                    ModelName=versioned,
                    ExecutionRoleArn=spec.role_arn,
                    PrimaryContainer={"Image": spec.image, "Environment": spec.environment},
                    Tags=self._tags(),
                )
            )
        if not self._exists(lambda: self.sagemaker.describe_endpoint_config(EndpointConfigName=versioned)):
            variant = production_variant(versioned, serverless_inference_config=spec.serverless)
            self.sagemaker.create_endpoint_config(
                EndpointConfigName=versioned,
                ProductionVariants=[variant],
                Tags=self._tags(),
            )
        if endpoint is None:
            self.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=versioned, Tags=self._tags())
            status = self._record("SageMaker endpoint", name, Status.CREATED, detail)
        else:
            self.sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=versioned)
            status = self._record("SageMaker endpoint", name, Status.UPDATED, detail)
        if self.options.wait:
            self._wait_in_service()
            if endpoint is not None:
                self._delete_old_versions(keep=versioned)
        return status

    def _wait_in_service(self) -> None:
        self._wait(
            f"endpoint {self.names.endpoint} InService",
            self._endpoint_status,
            "InService",
            timeout=ENDPOINT_TIMEOUT_S,
            interval=30,
            failed=("Failed",),
        )

    def _versioned(self, kind: str) -> list[str]:
        """Our models or endpoint configs (NameContains is only a hint, filter exactly)."""
        base = self.names.base
        if kind == "model":
            pages = self.sagemaker.get_paginator("list_models").paginate(NameContains=base)
            return [m["ModelName"] for p in pages for m in p["Models"] if self.names.is_versioned_name(m["ModelName"])]
        pages_c = self.sagemaker.get_paginator("list_endpoint_configs").paginate(NameContains=base)
        return [
            c["EndpointConfigName"]
            for p in pages_c
            for c in p["EndpointConfigs"]
            if self.names.is_versioned_name(c["EndpointConfigName"])
        ]

    def _delete_old_versions(self, keep: str) -> None:
        for config in self._versioned("endpoint config"):
            if config != keep:
                self.sagemaker.delete_endpoint_config(EndpointConfigName=config)
        for model in self._versioned("model"):
            if model != keep:
                self.sagemaker.delete_model(ModelName=model)

    # Files --------------------------------------------------------------

    def _write(self, kind: str, path: Path, content: str) -> Status:
        if path.exists():
            if path.read_text() == content:
                return self._record(kind, path.name, Status.UNCHANGED)
            status = Status.UPDATED
        else:
            status = Status.CREATED
        if not self.dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        return self._record(kind, path.name, status)

    def write_policy_files(self) -> dict[str, str]:
        files = {}
        for function, policy in lambda_policies(self.names).items():
            file_name = policy_file_name(self.options.stage, function)
            self._write("Lambda policy", self.options.policy_dir / file_name, render_json(policy))
            files[function] = file_name
        return files

    def write_config(self, chalice_config: ChaliceConfig, policy_files: Mapping[str, str]) -> Status:
        chalice_config.apply(self.options.stage, environment_variables(self.names, self.options), policy_files,
                             powertools_layer_arn(self.options.region, self.options.powertools_layer_version),
                             reserved_concurrency(self.options))
        return self._write("Chalice config", self.options.config_path, chalice_config.render())

    def summary(self) -> None:
        names, stage = self.names, self.options.stage
        if all(o.status is Status.UNCHANGED for o in self.outcomes):
            self.out("nothing changed")
        if self.dry_run:
            self.out("dry run: nothing was changed; run again without --dry-run to apply")
            return
        self.out("")
        self.out(f"bucket {names.bucket}, stream {names.stream}, table {names.table}, endpoint {names.endpoint}")
        self.out("Next steps:")
        step = 1
        if self._reddit_needs_values:
            self.out(
                f"  {step}. Fill the Reddit secret: write reddit.json with the keys client_id, client_secret, "
                "user_agent, then\n"
                f"     aws secretsmanager put-secret-value --secret-id {names.reddit_secret} "
                "--secret-string file://reddit.json\n"
                "     (or set REDDIT_CLIENT_ID / REDDIT_CLIENT_SECRET / REDDIT_USER_AGENT and re-run this script)"
            )
            step += 1
        self.out(f"  {step}. chalice deploy --stage {stage}")

    # -- teardown ----------------------------------------------------

    def teardown(self) -> list[Outcome]:
        names = self.names
        self.out(
            f"Tearing down stage {self.options.stage!r}: account {names.account}, region {self.region}"
            + (" (dry run: nothing will be deleted)" if self.dry_run else "")
        )
        bucket_exists = self._bucket_exists()
        if bucket_exists and not self.options.force and self._bucket_has_objects():
            raise DeployError(f"bucket {names.bucket} still holds objects; re-run with --force to empty and delete it")
        self.delete_endpoint()
        self.delete_role(names.sagemaker_role)
        self.delete_stream()
        self.delete_role(names.firehose_role)
        self.delete_table()
        for secret in (names.reddit_secret, names.cursor_secret):
            self.delete_secret(secret)
        self.delete_bucket(bucket_exists)
        self.remove_files()
        if self.dry_run:
            self.out("dry run: nothing was deleted")
        return self.outcomes

    def _deleted(self, kind: str, name: str, delete: Callable[[], Any]) -> Status:
        """Run ``delete`` (unless dry run); a resource already gone is ABSENT."""
        if self.dry_run:
            return self._record(kind, name, Status.DELETED)
        try:
            delete()
        except ClientError as exc:
            if _is_not_found(exc):
                return self._record(kind, name, Status.ABSENT)
            raise
        return self._record(kind, name, Status.DELETED)

    def delete_endpoint(self) -> None:
        sm, name = self.sagemaker, self.names.endpoint
        if self._describe_endpoint() is None:
            self._record("SageMaker endpoint", name, Status.ABSENT)
        else:
            self._deleted("SageMaker endpoint", name, lambda: sm.delete_endpoint(EndpointName=name))
        for config in self._versioned("endpoint config"):
            self._deleted("SageMaker config", config, partial(sm.delete_endpoint_config, EndpointConfigName=config))
        for model in self._versioned("model"):
            self._deleted("SageMaker model", model, partial(sm.delete_model, ModelName=model))

    def delete_role(self, role: str) -> None:
        try:
            self.iam.get_role(RoleName=role)
        except ClientError as exc:
            if _is_not_found(exc):
                self._record("IAM role", role, Status.ABSENT)
                return
            raise

        def delete() -> None:
            for page in self.iam.get_paginator("list_role_policies").paginate(RoleName=role):
                for policy in page["PolicyNames"]:
                    self.iam.delete_role_policy(RoleName=role, PolicyName=policy)
            for page_a in self.iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
                for attached in page_a["AttachedPolicies"]:
                    self.iam.detach_role_policy(RoleName=role, PolicyArn=attached["PolicyArn"])
            self.iam.delete_role(RoleName=role)

        self._deleted("IAM role", role, delete)

    def delete_stream(self) -> None:
        name = self.names.stream
        if self._describe_stream() is None:
            self._record("Firehose stream", name, Status.ABSENT)
            return
        self._deleted("Firehose stream", name, lambda: self.firehose.delete_delivery_stream(DeliveryStreamName=name))
        if not self.dry_run:
            # Let in-flight records land before the bucket is emptied.
            self._wait(f"stream {name} deletion", self._stream_status, None, timeout=STREAM_TIMEOUT_S, interval=5)

    def delete_table(self) -> None:
        name = self.names.table
        if self._describe_table() is None:
            self._record("DynamoDB table", name, Status.ABSENT)
            return
        self._deleted("DynamoDB table", name, lambda: self.dynamodb.delete_table(TableName=name))

    def delete_secret(self, name: str) -> None:
        described = self._describe_secret(name)
        if described is None or (described.get("DeletedDate") and not self.options.force):
            self._record("secret", name, Status.ABSENT)
            return
        force = self.options.force
        window = "" if force else f"recoverable for {SECRET_RECOVERY_DAYS} days; a new deploy restores it"

        def delete() -> None:
            if force:
                self.secretsmanager.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
            else:
                self.secretsmanager.delete_secret(SecretId=name, RecoveryWindowInDays=SECRET_RECOVERY_DAYS)

        if self.dry_run:
            self._record("secret", name, Status.DELETED, window)
            return
        delete()
        self._record("secret", name, Status.DELETED, window)

    def _object_versions(self) -> Iterator[dict[str, str]]:
        pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=self.names.bucket)
        for page in pages:
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                yield {"Key": item["Key"], "VersionId": item.get("VersionId", "null")}

    def _bucket_has_objects(self) -> bool:
        return next(self._object_versions(), None) is not None

    def delete_bucket(self, exists: bool) -> None:
        bucket = self.names.bucket
        if not exists:
            self._record("S3 bucket", bucket, Status.ABSENT)
            return

        def delete() -> None:
            batch: list[dict[str, str]] = []
            for item in self._object_versions():
                batch.append(item)
                if len(batch) == 1000:  # DeleteObjects limit
                    self.s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})  # type: ignore[typeddict-item]
                    batch = []
            if batch:
                self.s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})  # type: ignore[typeddict-item]
            self.s3.delete_bucket(Bucket=bucket)

        self._deleted("S3 bucket", bucket, delete)

    def remove_files(self) -> None:
        for function in LAMBDA_FUNCTIONS:
            path = self.options.policy_dir / policy_file_name(self.options.stage, function)
            if not path.exists():
                continue
            if not self.dry_run:
                path.unlink()
            self._record("Lambda policy", path.name, Status.DELETED)
        path = self.options.config_path
        if not path.exists():
            return
        chalice_config = ChaliceConfig(path)
        chalice_config.remove(self.options.stage)
        self._write("Chalice config", path, chalice_config.render())


def _as_json(document: Any) -> Any:
    """IAM documents come back as dicts from boto3, or URL-encoded JSON from some emulators."""
    if isinstance(document, str):
        try:
            return json.loads(unquote(document))
        except ValueError:
            return document
    return document


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
    add("--buffer-seconds", default=60, type=_int_in(0, 900), help="Firehose buffer interval")
    add("--buffer-mb", default=5, type=_int_in(1, 128), help="Firehose buffer size")
    add("--max-comments-per-run", default=1000, type=_int_in(1, 100_000), help="ingest cap per run")
    add("--batch-size", default=256, type=_int_in(1, cfg.MAX_BATCH_SIZE), help="comments per endpoint call")
    add(
        "--role-arn",
        type=_matching(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", "IAM role ARN"),
        help="existing SageMaker execution role (default: create a least-privilege one)",
    )
    add("--powertools-layer-version", default=POWERTOOLS_LAYER_VERSION, type=_int_in(1, 10_000),
        help="version of AWS's public AWSLambdaPowertoolsPythonV3-python311-x86_64 layer the functions use")
    add("--api-auth", choices=cfg.API_AUTH_MODES, help="REST API auth (default: api_key for prod, none otherwise)")
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
        buffer_seconds=args.buffer_seconds,
        buffer_mb=args.buffer_mb,
        max_comments_per_run=args.max_comments_per_run,
        batch_size=args.batch_size,
        role_arn=args.role_arn,
        dry_run=args.dry_run,
        wait=args.wait,
        config_path=args.config,
        api_auth=args.api_auth or ("api_key" if args.stage == "prod" else "none"),
        transformers_version=args.transformers_version,
        pytorch_version=args.pytorch_version,
        py_version=args.py_version,
        force=args.force,
        teardown=args.teardown,
        reddit=reddit,
        powertools_layer_version=args.powertools_layer_version,
    )


def main(argv: Sequence[str] | None = None, *, session: boto3.Session | None = None) -> int:
    options = parse_options(argv)
    session = session or boto3.Session(region_name=options.region)
    try:
        provisioner = Provisioner(session, options)
        if options.teardown:
            provisioner.teardown()
        else:
            provisioner.deploy()
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as exc:
        print(f"AWS error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
