"""IAM policy documents, as pure functions so tests can inspect them directly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chalicelib import schema
from chalicelib.deletions import sweep_partitions

from .common import LAMBDA_FUNCTIONS, Names

if TYPE_CHECKING:
    from .endpoint import ModelSpec

POLICY_VERSION = "2012-10-17"
FIREHOSE_SERVICE = "firehose.amazonaws.com"
SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"


def statement(sid: str, actions: Sequence[str], resources: Sequence[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}


def trust_policy(service: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return {"Version": POLICY_VERSION, "Statement": [statement]}


def firehose_trust_policy(names: Names) -> dict[str, Any]:
    """Only Firehose acting for a stream of *this* account may assume the role (confused deputy).

    Firehose's guide ("Allow Firehose to assume an IAM role") documents ``sts:ExternalId``
    set to the stream owner's account id; it does not document sending ``aws:SourceAccount``.
    A StringEquals on a key the service leaves out would refuse every delivery, so that key
    is checked only if present; the ExternalId is always required.
    """
    return trust_policy(FIREHOSE_SERVICE, {
        "StringEquals": {"sts:ExternalId": names.account},
        "StringEqualsIfExists": {"aws:SourceAccount": names.account},
    })


def sagemaker_trust_policy(names: Names) -> dict[str, Any]:
    """Only SageMaker acting for a resource of this account and region (SageMaker's guide,
    "Cross-service confused deputy prevention", recommends both keys for inference roles)."""
    return trust_policy(SAGEMAKER_SERVICE, {
        "StringEquals": {"aws:SourceAccount": names.account},
        "ArnLike": {"aws:SourceArn": names.arn("sagemaker", "*")},
    })


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
        "Statement": [statement("WriteBucket", actions, [names.bucket_arn, f"{names.bucket_arn}/*"])],
    }


def sagemaker_role_policy(names: Names, spec: ModelSpec) -> dict[str, Any]:
    log_group = names.arn("logs", f"log-group:/aws/sagemaker/Endpoints/{names.endpoint}")
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            statement(
                "Logs",
                ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                [log_group, f"{log_group}:*"],
            ),
            # GetAuthorizationToken has no resource-level permissions: "*" is the only valid value.
            statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
            statement(
                "EcrPull",
                ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                [spec.ecr_repository_arn],
            ),
            statement("ReadBucket", ["s3:GetObject"], [f"{names.bucket_arn}/*"]),
        ],
    }


def lambda_policies(names: Names) -> dict[str, dict[str, Any]]:
    """Least-privilege policy per Chalice function: exact ARNs, no wildcard actions."""
    logs = statement(
        "Logs",
        ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        [names.arn("logs", "*")],
    )
    table = names.table_arn
    indexes = [f"{table}/index/{index}" for index in schema.INDEXES]
    raw = f"{names.bucket_arn}/{schema.DEFAULT_RAW_PREFIX}*"
    quarantine = f"{names.bucket_arn}/{schema.DEFAULT_QUARANTINE_PREFIX}*"
    # What the processor of raw objects needs, shared by classify (S3 events) and reconcile.
    read_raw = statement("ReadRaw", ["s3:GetObject"], [raw])
    process = [statement("WriteQuarantine", ["s3:PutObject"], [quarantine]),
               statement("Invoke", ["sagemaker:InvokeEndpoint"], [names.endpoint_arn])]
    process_table = ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem",
                     "dynamodb:PutItem", "dynamodb:UpdateItem"]
    statements: dict[str, list[dict[str, Any]]] = {
        "ingest": [
            statement("RedditSecret", ["secretsmanager:GetSecretValue"], [names.secret_arn(names.reddit_secret)]),
            statement("Firehose", ["firehose:PutRecordBatch"], [names.stream_arn]),
            # PutItem (conditional) takes the ingest lease, DeleteItem (conditional) releases it.
            statement(
                "Checkpoints",
                ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:GetItem",
                 "dynamodb:PutItem"],
                [table],
            ),
        ],
        "classify": [
            read_raw,
            # Without ListBucket S3 answers 403 instead of 404 for an object that
            # is already gone, and the classifier could not tell "skip" from "retry".
            statement("FindRaw", ["s3:ListBucket"], [names.bucket_arn]),
            *process,
            statement("Table", sorted([*process_table, "dynamodb:GetItem"]), [table]),
        ],
        # The scheduled reconciler (chalicelib/reconciler.py) runs objects through the same
        # processor as classify, so it needs the same object, endpoint and table rights,
        # plus listing raw/ only; no GetItem (it reads with BatchGetItem).
        "reconcile": [
            {**statement("ListRaw", ["s3:ListBucket"], [names.bucket_arn]),
             "Condition": {"StringLike": {"s3:prefix": [f"{schema.DEFAULT_RAW_PREFIX}*"]}}},
            read_raw,
            *process,
            statement("Table", process_table, [table]),
        ],
        "sweep": [
            statement("RedditSecret", ["secretsmanager:GetSecretValue"], [names.secret_arn(names.reddit_secret)]),
            # The walk over stored comments, oldest first: Query on the index it reads, never Scan.
            statement("Walk", ["dynamodb:Query"], [f"{table}/index/{index}" for index in sorted(
                {index for index, _, _ in sweep_partitions()})]),
            # The cursor item (GetItem/PutItem), the strongly consistent re-read of a comment that
            # changed, the tombstone Put of each deletion's TransactWriteItems, and the lease
            # "sweep" (conditional PutItem to take it, conditional DeleteItem to release it).
            statement("CursorTombstonesLease", ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"],
                      [table]),
            # The counters move only inside the deletion's transaction.
            {**statement("Counters", ["dynamodb:UpdateItem"], [table]),
             "Condition": {"ForAnyValue:StringEquals": {"dynamodb:EnclosingOperation": ["TransactWriteItems"]}}},
        ],
        "api_handler": [
            statement("Read", ["dynamodb:GetItem", "dynamodb:Query"], [table, *indexes]),
            # POST /comments/{id}/review: the verdict and the review counters in one
            # TransactWriteItems. DynamoDB authorises its Update actions as dynamodb:UpdateItem,
            # and the condition keeps UpdateItem usable only inside a transaction.
            {**statement("Review", ["dynamodb:UpdateItem"], [table]),
             "Condition": {"ForAnyValue:StringEquals": {"dynamodb:EnclosingOperation": ["TransactWriteItems"]}}},
            statement("CursorKey", ["secretsmanager:GetSecretValue"], [names.secret_arn(names.cursor_secret)]),
        ],
    }
    return {
        function: {"Version": POLICY_VERSION, "Statement": [logs, *statements[function]]}
        for function in LAMBDA_FUNCTIONS
    }


def policy_file_name(stage: str, function: str) -> str:
    return f"policy-{stage}-{function}.json"
