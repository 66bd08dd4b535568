"""What every resource module shares: names, options, outcomes, waiting, the IAM retry, errors."""

from __future__ import annotations

import enum
import json
import re
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

import boto3
from botocore.exceptions import ClientError

from chalicelib import config as cfg

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_firehose import FirehoseClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sts import STSClient

APP_NAME = "reddit-hate-watch"
DEFAULT_PREFIX = "reddit-hate"
DEFAULT_MODEL_ID = cfg.Settings.model_id
LAMBDA_FUNCTIONS = ("ingest", "classify", "reconcile", "api_handler", "sweep")
# Newest Hugging Face PyTorch inference image the bundled sagemaker 2.x
# image_uris config knows (CPU flavour is picked for serverless).
DEFAULT_TRANSFORMERS_VERSION = "4.51.3"
DEFAULT_PYTORCH_VERSION = "2.6.0"
DEFAULT_PY_VERSION = "py312"
REDDIT_ENV = ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USER_AGENT")
REDDIT_KEYS = ("client_id", "client_secret", "user_agent")
#: The offline stage (moto); the only one whose REST API may stay open by default.
LOCAL_STAGE = "local"
# Powertools comes from AWS's own public Lambda layer, not from the deployment
# zip (it is 7.6 MB unpacked; the zip stays under 1 MB). Version 27 of the V3
# layer is listed in the Powertools for AWS Lambda (Python) docs, "Lambda Layer".
POWERTOOLS_LAYER_VERSION = 27
# A freshly created IAM role is not assumable for a few seconds (eventual
# consistency), so Firehose / SageMaker reject it at first.
ROLE_PROPAGATION_TIMEOUT_S = 120


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
    sweep_share_percent: int = 20
    sweep_minutes: int = 10
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
    api_key: bool = False
    rest_api_id: str | None = None
    api_rate: float = 10.0
    api_burst: int = 20
    alert_email: str | None = None
    alert_multiple: float = 3.0
    alert_min_volume: int = 100
    alert_baseline_hours: int = 24
    alert_silent_periods: int = 3
    #: "on-demand" or "provisioned"; None keeps the table's current mode (on-demand for a new table).
    billing: str | None = None
    #: Auto-scaling bounds per target on provisioned billing; None keeps what is registered.
    min_read_capacity: int | None = None
    max_read_capacity: int | None = None
    min_write_capacity: int | None = None
    max_write_capacity: int | None = None

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

    @property
    def usage_plan(self) -> str:
        return f"{self.base}-api"

    @property
    def api_key(self) -> str:
        return f"{self.base}-api-key"

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


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_not_found(exc: ClientError) -> bool:
    code = error_code(exc)
    if code in {"ResourceNotFoundException", "NoSuchEntity", "404", "NoSuchBucket", "NotFound", "NotFoundException"}:
        return True
    # SageMaker reports a missing endpoint/model/config as a ValidationException.
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return code == "ValidationException" and message.startswith("Could not find")


def as_json(document: Any) -> Any:
    """IAM documents come back as dicts from boto3, or URL-encoded JSON from some emulators."""
    if isinstance(document, str):
        try:
            return json.loads(unquote(document))
        except ValueError:
            return document
    return document


def render_json(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"


class Context:
    """One run for one stage: the session, options, lazily built clients and the printed outcomes.

    Every resource step reads first and writes only when something differs,
    so a second run changes nothing. With ``dry_run`` only Describe/Get/List/Head
    calls are made and the recorded statuses say what *would* happen.
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

    # -- clients: the one place they are built, lazily ---------------------

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=self.region)  # type: ignore[call-overload]
        return self._clients[service]

    @property
    def s3(self) -> S3Client:
        return cast("S3Client", self.client("s3"))

    @property
    def firehose(self) -> FirehoseClient:
        return cast("FirehoseClient", self.client("firehose"))

    @property
    def dynamodb(self) -> DynamoDBClient:
        return cast("DynamoDBClient", self.client("dynamodb"))

    @property
    def iam(self) -> IAMClient:
        return cast("IAMClient", self.client("iam"))

    @property
    def secretsmanager(self) -> SecretsManagerClient:
        return cast("SecretsManagerClient", self.client("secretsmanager"))

    @property
    def sagemaker(self) -> SageMakerClient:
        return cast("SageMakerClient", self.client("sagemaker"))

    @property
    def apigateway(self) -> APIGatewayClient:
        return cast("APIGatewayClient", self.client("apigateway"))

    @property
    def lambda_(self) -> LambdaClient:
        return cast("LambdaClient", self.client("lambda"))

    @property
    def sts(self) -> STSClient:
        return cast("STSClient", self.client("sts"))

    @cached_property
    def names(self) -> Names:
        account = self.sts.get_caller_identity()["Account"]
        partition = self.session.get_partition_for_region(self.region)
        return Names(self.options.prefix, self.options.stage, account, self.region, partition)

    @property
    def sagemaker_role_arn(self) -> str:
        return self.options.role_arn or self.names.role_arn(self.names.sagemaker_role)

    def tags(self) -> list[Any]:
        return [{"Key": "project", "Value": self.options.prefix}, {"Key": "stage", "Value": self.options.stage}]

    # -- outcomes ---------------------------------------------------------

    def record(self, kind: str, name: str, status: Status, detail: str = "") -> Outcome:
        """Remember and print one resource's outcome (the drift, if any, goes in ``detail``)."""
        outcome = Outcome(kind, name, status, detail)
        self.outcomes.append(outcome)
        self.note(kind, f"{name:<46} {status.describe(self.dry_run)}" + (f" ({detail})" if detail else ""))
        return outcome

    def note(self, kind: str, text: str) -> None:
        """Print one line in the column of ``kind`` that :meth:`record` uses, without an outcome."""
        self.out(f"  {kind:<22} {text}")

    def drift(self, kind: str, name: str, drift: Sequence[str], update: Callable[[], Any]) -> Outcome:
        """UNCHANGED without drift; otherwise run ``update`` (unless dry run) and report what differed."""
        if not drift:
            return self.record(kind, name, Status.UNCHANGED)
        if not self.dry_run:
            update()
        return self.record(kind, name, Status.UPDATED, ", ".join(drift))

    def deleted(self, kind: str, name: str, delete: Callable[[], Any]) -> Outcome:
        """Run ``delete`` (unless dry run); a resource already gone is ABSENT."""
        if self.dry_run:
            return self.record(kind, name, Status.DELETED)
        try:
            delete()
        except ClientError as exc:
            if is_not_found(exc):
                return self.record(kind, name, Status.ABSENT)
            raise
        return self.record(kind, name, Status.DELETED)

    # -- reading, waiting, retrying -----------------------------------------

    @staticmethod
    def describe(call: Callable[[], Any], missing: Collection[str] = ()) -> dict[str, Any] | None:
        """``call()``'s answer, or None when the resource does not exist.

        ``missing``: the error codes that mean "absent" for this call (S3 has one per bucket
        setting); without it, whatever :func:`is_not_found` recognises.
        """
        try:
            return cast(dict[str, Any], call())
        except ClientError as exc:
            if (error_code(exc) in missing) if missing else is_not_found(exc):
                return None
            raise

    def wait(
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

    def retry_role_propagation(self, call: Callable[[], Any]) -> Any:
        """``call()``, retried while the service cannot assume a role IAM has not propagated yet."""
        deadline = self.clock() + ROLE_PROPAGATION_TIMEOUT_S
        while True:
            try:
                return call()
            except ClientError as exc:
                message = str(exc.response.get("Error", {}).get("Message", "")).lower()
                retryable = error_code(exc) in {"InvalidArgumentException", "ValidationException"} and (
                    "role" in message or "assume" in message
                )
                if not retryable or self.clock() >= deadline:
                    raise
                self.sleep(5)
