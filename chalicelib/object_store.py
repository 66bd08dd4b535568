"""S3 adapter: reads Firehose objects and writes quarantine files."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import StorageError
from chalicelib.models import RawObject, Rejected

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def quarantine_key(prefix: str, source_key: str) -> str:
    """Deterministic, so a redelivered event overwrites instead of duplicating."""
    return f"{prefix}{source_key}.rejected.jsonl"


class ObjectStore:
    def __init__(self, client: S3Client, quarantine_prefix: str) -> None:
        self._client = client
        self._quarantine_prefix = quarantine_prefix

    def read(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None when it no longer exists."""
        try:
            return self._client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise StorageError(f"cannot read s3://{bucket}/{key}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot read s3://{bucket}/{key}: {exc}") from exc

    def list_objects(self, bucket: str, prefix: str, start_after: str = "") -> Iterator[RawObject]:
        """Every object under ``prefix`` whose key sorts after ``start_after``."""
        extra = {"StartAfter": start_after} if start_after else {}
        for page in self._pages(bucket, prefix, **extra):
            for entry in page.get("Contents", []):
                yield RawObject(bucket, entry["Key"], entry["LastModified"].timestamp())

    def subprefixes(self, bucket: str, prefix: str) -> list[str]:
        """The "folders" right under ``prefix`` (ListObjectsV2 with a delimiter, every page)."""
        return [p["Prefix"] for page in self._pages(bucket, prefix, Delimiter="/")
                for p in page.get("CommonPrefixes", [])]

    def _pages(self, bucket: str, prefix: str, **extra: str) -> Iterator[Any]:
        """Every ListObjectsV2 answer for ``prefix``.

        ListObjectsV2 answers at most 1,000 keys a call, in key order; the rest
        comes with NextContinuationToken while IsTruncated is true.
        """
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, **extra}
        while True:
            try:
                page = self._client.list_objects_v2(**params)
            except (ClientError, BotoCoreError) as exc:
                raise StorageError(f"cannot list s3://{bucket}/{prefix}: {exc}") from exc
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            params["ContinuationToken"] = token

    def quarantine(self, bucket: str, source_key: str, rejected: Sequence[Rejected]) -> str:
        """Write one JSON line per rejected record, with its reason; returns the key."""
        key = quarantine_key(self._quarantine_prefix, source_key)
        body = "".join(
            json.dumps(
                {"source": f"s3://{bucket}/{source_key}", "record": r.line_number, "reason": r.reason,
                 "raw": r.raw},
                ensure_ascii=False,
            )
            + "\n"
            for r in rejected
        ).encode()
        try:
            self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"cannot write quarantine s3://{bucket}/{key}: {exc}") from exc
        return key
