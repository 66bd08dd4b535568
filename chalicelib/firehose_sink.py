"""Delivers comments to Kinesis Data Firehose with PutRecordBatch."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import DeliveryError
from chalicelib.models import Comment
from chalicelib.retry import Backoff

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient

log = logging.getLogger(__name__)

# PutRecordBatch limits (Firehose API reference): 500 records and 4 MiB per
# call, 1,000 KiB per record.
MAX_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1000 * 1024


def encode(comment: Comment) -> bytes:
    """One newline-terminated JSON line: Firehose concatenates records with no delimiter."""
    data = (json.dumps(comment.to_json_dict(), ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    if len(data) <= MAX_RECORD_BYTES:
        return data
    # Reddit caps bodies at 10,000 characters, so this is defensive: keep the
    # record deliverable and mark it rather than lose the comment.
    doc = comment.to_json_dict()
    doc["body"] = doc["body"][: MAX_RECORD_BYTES // 8]
    doc["truncated"] = True
    return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def batches(records: Sequence[bytes]) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    size = 0
    for record in records:
        if batch and (len(batch) == MAX_RECORDS or size + len(record) > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += len(record)
    if batch:
        yield batch


class FirehoseSink:
    def __init__(self, client: FirehoseClient, stream: str, backoff: Backoff | None = None) -> None:
        self._client = client
        self._stream = stream
        self._backoff = backoff or Backoff()

    def send(self, comments: Sequence[Comment]) -> int:
        """Deliver every comment, or raise DeliveryError naming the ids that were not delivered."""
        records = [(c.id, encode(c)) for c in comments]
        undelivered: set[str] = set()
        errors: list[str] = []
        start = 0
        for batch in batches([r for _, r in records]):
            ids = [cid for cid, _ in records[start : start + len(batch)]]
            start += len(batch)
            failed, error = self._put_batch(batch)
            if failed:
                undelivered.update(ids[i] for i in failed)
                errors.append(error)
        if undelivered:
            raise DeliveryError(f"{len(undelivered)} records not delivered to {self._stream}: {errors[0]}",
                                frozenset(undelivered))
        return len(records)

    def _put_batch(self, batch: list[bytes]) -> tuple[list[int], str]:
        """Positions in ``batch`` still undelivered after every attempt, and the last error."""
        pending = list(range(len(batch)))
        last_error = ""
        for _ in self._backoff.pauses():
            try:
                response: Any = self._client.put_record_batch(
                    DeliveryStreamName=self._stream, Records=[{"Data": batch[i]} for i in pending]
                )
            except (ClientError, BotoCoreError) as exc:
                # botocore already retried throttling; a refusal here may still pass later.
                last_error = str(exc)
                log.warning("firehose put_record_batch failed", extra={"error": last_error})
                continue
            if not response.get("FailedPutCount"):
                return [], ""
            # HTTP 200 with FailedPutCount > 0: resend only the failed entries.
            results = response["RequestResponses"]
            failed = [i for i, result in zip(pending, results, strict=True) if result.get("ErrorCode")]
            first = next(r for r in results if r.get("ErrorCode"))
            last_error = f"{first.get('ErrorCode')}: {first.get('ErrorMessage')}"
            log.warning("firehose partial failure", extra={"failed": len(failed), "of": len(pending)})
            pending = failed
        return pending, last_error
