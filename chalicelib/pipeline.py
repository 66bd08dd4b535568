"""The two use cases: ingest new comments, and classify one delivered S3 object."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote_plus

from chalicelib.classifier import Classifier, chunk
from chalicelib.errors import DeliveryError, ObjectBusy, TimeBudgetExhausted
from chalicelib.firehose_sink import FirehoseSink
from chalicelib.models import Checkpoint, Comment, IngestReport, LabeledComment, ObjectReport, Rejected
from chalicelib.object_store import ObjectStore
from chalicelib.records import decode
from chalicelib.reddit_source import CommentSource
from chalicelib.repository import CommentRepository
from chalicelib.retry import Deadline

log = logging.getLogger(__name__)

#: Stop taking new work when less than this is left of the Lambda's time.
INGEST_RESERVE_MS = 30_000
#: One endpoint request can take up to 60 s on a serverless endpoint.
CLASSIFY_RESERVE_MS = 75_000
#: A lease outlives the longest Lambda run (15 min), so a crashed holder frees it.
LEASE_SECONDS = 16 * 60
#: Slack on top of the holder's remaining time (clock skew between Lambdas).
LEASE_MARGIN_SECONDS = 30


class Sink(Protocol):
    def send(self, comments: Sequence[Comment]) -> int: ...


@dataclass
class Ingestor:
    """Reads each subreddit back to its checkpoint and delivers to Firehose."""

    source: CommentSource
    sink: Sink | FirehoseSink
    repository: CommentRepository
    subreddits: Sequence[str]
    max_per_run: int
    reserve_ms: int = INGEST_RESERVE_MS

    def run(self, deadline: Deadline) -> list[IngestReport]:
        reports: list[IngestReport] = []
        failures: list[str] = []
        for subreddit in self.subreddits:
            if deadline.remaining_ms() < self.reserve_ms:
                log.warning("time budget low, leaving subreddits for the next run",
                            extra={"left": list(self.subreddits[len(reports):])})
                break
            checkpoint = self.repository.get_checkpoint(subreddit)
            result = self.source.fetch(subreddit, checkpoint, self.max_per_run, deadline)
            if result.skipped_reason:
                reports.append(IngestReport(subreddit, 0, 0, gap=False, skipped_reason=result.skipped_reason))
                continue
            if result.gap:
                log.warning("listing ended before the checkpoint: comments in between were missed",
                            extra={"subreddit": subreddit, "fetched": len(result.comments)})
            try:
                delivered = self.sink.send(result.comments)
            except DeliveryError as exc:
                # The checkpoint stays where it was: the next run reads these again.
                failures.append(f"{subreddit}: {exc}")
                reports.append(IngestReport(subreddit, len(result.comments), 0, result.gap, str(exc)))
                continue
            if result.comments:
                newest = result.comments[0]
                self.repository.put_checkpoint(Checkpoint(subreddit, newest.id, newest.created_utc))
            reports.append(IngestReport(subreddit, len(result.comments), delivered, result.gap))
        for report in reports:
            log.info("ingest summary", extra={"ingest": report.__dict__})
        if failures:
            raise DeliveryError("; ".join(failures))
        return reports


def s3_records(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(bucket, key) of every record in an S3 event; keys arrive URL-encoded (space as '+')."""
    out = []
    for record in event.get("Records", []):
        s3 = record.get("s3", {})
        out.append((s3["bucket"]["name"], unquote_plus(s3["object"]["key"])))
    return out


@dataclass
class ObjectProcessor:
    """Classifies every comment of one Firehose object exactly once."""

    store: ObjectStore
    repository: CommentRepository
    classifier: Classifier
    batch_size: int
    retention_days: int
    clock: Callable[[], float] = time.time
    reserve_ms: int = CLASSIFY_RESERVE_MS
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

    def process_event(self, event: Mapping[str, Any], deadline: Deadline) -> list[ObjectReport]:
        return [self.process(bucket, key, deadline) for bucket, key in s3_records(event)]

    def process(self, bucket: str, key: str, deadline: Deadline) -> ObjectReport:
        lease = f"s3://{bucket}/{key}"
        # A holder killed by the Lambda timeout never releases its lease. Lambda
        # retries that event 1 and 3 minutes later: a 16-minute lease would refuse
        # both and the event would be dropped. The holder cannot outlive its own
        # remaining time, so the lease need not either.
        seconds = min(LEASE_SECONDS, deadline.remaining_ms() // 1000 + LEASE_MARGIN_SECONDS)
        if not self.repository.acquire_lease(lease, self.owner, seconds):
            # Another invocation is on it; failing makes Lambda retry later, when
            # everything is stored and the retry costs no inference.
            raise ObjectBusy(f"{lease} is being processed by another invocation")
        try:
            return self._process(bucket, key, deadline)
        finally:
            self.repository.release_lease(lease, self.owner)

    def _process(self, bucket: str, key: str, deadline: Deadline) -> ObjectReport:
        data = self.store.read(bucket, key)
        if data is None:
            log.warning("object vanished before processing", extra={"bucket": bucket, "key": key})
            return ObjectReport(bucket, key, 0, 0, 0, 0, {}, 0)
        decoded = decode(data)
        rejected: list[Rejected] = list(decoded.rejected)
        unique: dict[str, tuple[int, Comment]] = {}
        duplicates = 0
        for number, comment in decoded.comments:
            if comment.id in unique:
                duplicates += 1
            else:
                unique[comment.id] = (number, comment)
        stored_before = self.repository.existing_ids(unique)
        todo = [nc for cid, nc in unique.items() if cid not in stored_before]
        labels: Counter[str] = Counter()
        calls = 0
        stored = 0
        done = 0
        try:
            for batch in chunk(todo, [c.body for _, c in todo], self.batch_size):
                if deadline.remaining_ms() < self.reserve_ms:
                    raise TimeBudgetExhausted(
                        f"s3://{bucket}/{key}: {len(todo) - done} comments left for Lambda's retry")
                result = self.classifier.classify([c.body for _, c in batch])
                calls += result.calls
                now = self.clock()
                labeled = []
                for (number, comment), prediction in zip(batch, result.predictions, strict=True):
                    if isinstance(prediction, str):
                        rejected.append(Rejected(number, prediction, comment.body))
                    else:
                        labeled.append(LabeledComment(comment, prediction, now))
                self.repository.put_labeled(labeled, self.retention_days)
                self.repository.add_counts(labeled)
                stored += len(labeled)
                done += len(batch)
                labels.update(x.prediction.label for x in labeled)
        finally:
            # Written even when stopping early, so nothing rejected is lost.
            if rejected:
                self.store.quarantine(bucket, key, sorted(rejected, key=lambda r: r.line_number))
        report = ObjectReport(
            bucket=bucket, key=key, lines_in=decoded.records_in, stored=stored,
            already_stored=len(stored_before) + duplicates, quarantined=len(rejected),
            labels=dict(labels), endpoint_calls=calls,
        )
        log.info("object summary", extra={"object": report.__dict__})
        return report


def total(reports: Iterable[ObjectReport]) -> dict[str, int]:
    sums: Counter[str] = Counter()
    for r in reports:
        sums.update({"lines_in": r.lines_in, "stored": r.stored, "already_stored": r.already_stored,
                     "quarantined": r.quarantined, "endpoint_calls": r.endpoint_calls})
        sums.update({f"label_{k}": v for k, v in r.labels.items()})
    return dict(sums)
