"""The one place that builds boto3 clients: lazily, once each, with explicit timeouts.

Endpoints are never set here. boto3 honours ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>`` itself, so the offline stack (moto server, local
model server) runs exactly this code.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from chalicelib.classifier import CONNECT_TIMEOUT_S, READ_TIMEOUT_S

if TYPE_CHECKING:  # stubs are a dev dependency only
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_firehose import FirehoseClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

# botocore's "standard" mode retries throttling and transient errors with
# exponential backoff and jitter. Partial failures inside a 200 answer
# (FailedPutCount, UnprocessedItems) are retried by the adapters themselves.
_DEFAULT = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
# The endpoint classifier retries throttling and cold starts itself (it must
# also split batches on ModelError), so botocore makes a single attempt. A
# serverless invocation may take up to 60 s. The classifier's time budget counts
# on exactly these timeouts.
_SAGEMAKER_RUNTIME = Config(retries={"mode": "standard", "total_max_attempts": 1},
                            connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S)


class AwsClients:
    """Lazily built, cached boto3 clients sharing one session."""

    def __init__(self, session: boto3.session.Session | None = None, overrides: dict[str, Any] | None = None) -> None:
        self._session = session
        # Tests and benchmarks hand in fakes or instrumented clients here.
        self._clients: dict[str, Any] = dict(overrides or {})
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                session = self._session or boto3.session.Session()
                config = _SAGEMAKER_RUNTIME if service == "sagemaker-runtime" else _DEFAULT
                self._clients[service] = session.client(service, config=config)  # type: ignore[call-overload]
            return self._clients[service]

    @property
    def s3(self) -> S3Client:
        return self.client("s3")

    @property
    def firehose(self) -> FirehoseClient:
        return self.client("firehose")

    @property
    def dynamodb(self) -> DynamoDBClient:
        return self.client("dynamodb")

    @property
    def sagemaker_runtime(self) -> SageMakerRuntimeClient:
        return self.client("sagemaker-runtime")

    @property
    def secretsmanager(self) -> SecretsManagerClient:
        return self.client("secretsmanager")
