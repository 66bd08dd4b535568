"""The two use cases: ingest new comments, and classify one delivered S3 object."""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote_plus

from chalicelib import schema
from chalicelib.classifier import REQUEST_BUDGET_S, Classifier, ClassifyResult, chunk
from chalicelib.errors import ClassifierError, DeliveryError, ObjectBusy, PartialWriteError, TimeBudgetExhausted
from chalicelib.models import Checkpoint, Comment, IngestReport, LabeledComment, ObjectReport, Rejected
from chalicelib.object_store import ObjectStore
from chalicelib.records import decode
from chalicelib.repository import GET_BATCH, WRITE_BATCH, CommentRepository
from chalicelib.retry import Deadline, leased

if TYPE_CHECKING:  # importing reddit_source would pull PRAW into every function
    from chalicelib.reddit_source import FetchResult

log = logging.getLogger(__name__)

#: Stop taking new work when less than this is left of the Lambda's time.
INGEST_RESERVE_MS = 30_000
#: Time kept for one window's DynamoDB writes, the quarantine file and the
#: completion record after its endpoint requests have answered.
WRITE_RESERVE_MS = 30_000


#: Sent when no text of the object was answered: any working model classifies it.
CONTROL_TEXT = "Thanks, that was helpful."


def classify_reserve_ms(request_budget_s: float) -> int:
    """The reserve that holds one more window: its requests run in parallel, each
    bounded by the classifier's budget (no attempt starts that could end later),
    then its writes."""
    return int(request_budget_s * 1000) + WRITE_RESERVE_MS


CLASSIFY_RESERVE_MS = classify_reserve_ms(REQUEST_BUDGET_S)
#: An object smaller than this many full windows is spread over every concurrent request slot.
WINDOWS_PER_OBJECT = 2
MIN_REQUEST_TEXTS = 32


class Sink(Protocol):
    def send(self, comments: Sequence[Comment]) -> int: ...


class CommentSource(Protocol):
    def fetch(
        self, subreddit: str, checkpoint: Checkpoint | None, limit: int, deadline: Deadline
    ) -> FetchResult: ...


#: One ingestion run at a time, whatever Lambda's concurrency: two overlapping runs would
#: read the same checkpoints and deliver the same comments twice.
INGEST_LEASE = "ingest"
INGEST_BUSY = "another ingestion run is in progress"


@dataclass
class Ingestor:
    """Reads each subreddit back to its checkpoint and delivers to Firehose."""

    source: CommentSource
    sink: Sink
    repository: CommentRepository
    subreddits: Sequence[str]
    max_per_run: int
    reserve_ms: int = INGEST_RESERVE_MS
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

    def run(self, deadline: Deadline) -> list[IngestReport]:
        """Ingest under the lease ``ingest``; a run that finds it taken reads nothing and says so."""
        with leased(self.repository, INGEST_LEASE, self.owner, deadline) as held:
            if not held:
                # Not an error: the running one delivers these subreddits; the next schedule resumes.
                log.warning("ingest lease held by another run, skipping this run", extra={"lease": INGEST_LEASE})
                return [IngestReport(s, 0, 0, gap=False, skipped_reason=INGEST_BUSY) for s in self.subreddits]
            return self._run(deadline)

    def _run(self, deadline: Deadline) -> list[IngestReport]:
        # One BatchGetItem for every checkpoint; then each subreddit is delivered
        # and checkpointed as soon as it is read, so a run cut short by its
        # timeout (a slow listing, a long rate-limit wait) keeps what it did.
        checkpoints = self.repository.get_checkpoints(self.subreddits)
        reports: list[IngestReport] = []
        failure: DeliveryError | None = None
        for number, subreddit in enumerate(self.subreddits):
            if deadline.remaining_ms() < self.reserve_ms:
                log.warning("time budget low, leaving subreddits for the next run",
                            extra={"left": list(self.subreddits[number:])})
                break
            result = self.source.fetch(subreddit, checkpoints.get(subreddit), self.max_per_run, deadline)
            try:
                reports.append(self._deliver(result))
            except DeliveryError as exc:
                failure = failure or exc
                reports.append(IngestReport(subreddit, len(result.comments),
                                            len(result.comments) - len(exc.undelivered), result.gap,
                                            f"{len(exc.undelivered)} comments not delivered"))
        for report in reports:
            log.info("ingest summary", extra={"ingest": report.__dict__})
        if failure:
            raise failure
        return reports

    def _deliver(self, r: FetchResult) -> IngestReport:
        """Send one subreddit's comments, then move its checkpoint (only if all of them got through)."""
        if r.skipped_reason:
            return IngestReport(r.subreddit, 0, 0, gap=False, skipped_reason=r.skipped_reason)
        if r.gap:
            log.warning("listing ended before the checkpoint: comments in between were missed",
                        extra={"subreddit": r.subreddit, "fetched": len(r.comments)})
        if r.comments:
            # A DeliveryError leaves the checkpoint where it was: the next run reads these again.
            self.sink.send(r.comments)
        if r.stopped_reason:
            # Read newest first and stopped before the checkpoint: moving it would skip
            # the unread part for good. The next run reads these again (deduplicated).
            log.warning("listing cut short, checkpoint kept", extra={"subreddit": r.subreddit,
                                                                     "reason": r.stopped_reason})
            return IngestReport(r.subreddit, len(r.comments), len(r.comments), r.gap, cut_short=r.stopped_reason)
        if r.comments:
            # Only after delivery: a crash before this line makes the next run resend
            # at most this subreddit's batch, which the classifier's deduplication absorbs.
            self.repository.put_checkpoints([Checkpoint(r.subreddit, r.comments[0].id, r.comments[0].created_utc)])
        return IngestReport(r.subreddit, len(r.comments), len(r.comments), r.gap)


@dataclass(frozen=True)
class WriteOutcome:
    """What one write job stored, and the first error it met (None: all of it)."""

    written: list[LabeledComment]
    error: Exception | None


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
    concurrency: int = 1
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    _pool: ThreadPoolExecutor = field(init=False, repr=False)
    _writer: ThreadPoolExecutor = field(init=False, repr=False)
    _chunk_pool: ThreadPoolExecutor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Executors start their threads on first use, so building them here costs nothing
        # at cold start; concurrency 1 never uses them. One pool each for the endpoint
        # requests, the write jobs and the DynamoDB batch calls. The writer runs one job at
        # a time, which keeps the counter transactions of successive windows in order.
        workers = max(1, self.concurrency)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="classify")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write")
        self._chunk_pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chunk")

    def process_event(self, event: Mapping[str, Any], deadline: Deadline) -> list[ObjectReport]:
        return [self.process(bucket, key, deadline) for bucket, key in s3_records(event)]

    def process(self, bucket: str, key: str, deadline: Deadline) -> ObjectReport:
        lease = f"s3://{bucket}/{key}"
        # A holder killed by the Lambda timeout never releases its lease; Lambda retries the
        # event 1 and 3 minutes later, so the lease lasts only as long as the holder can run.
        with leased(self.repository, lease, self.owner, deadline) as held:
            if not held:
                # Another invocation is on it; failing makes Lambda retry later, when
                # everything is stored and the retry costs no inference.
                raise ObjectBusy(f"{lease} is being processed by another invocation")
            return self._process(bucket, key, deadline)

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
        stored_before = self._existing(list(unique))
        todo = [nc for cid, nc in unique.items() if cid not in stored_before]
        stored: list[LabeledComment] = []  # written to the table
        pending: list[LabeledComment] = []  # labeled, not handed to a write yet
        writes: list[Future[WriteOutcome]] = []  # write jobs started, not settled yet
        stop = threading.Event()  # set by the first failed write: no later chunk of this object starts
        # Texts the endpoint answered 400 for: bad input only if it still refuses
        # them while answering another text of this object (see _confirm).
        suspects: list[tuple[int, Comment, str]] = []  # (line, comment, refusal)
        answered: list[str] = []  # a few bodies the endpoint classified, as controls
        calls = 0
        done = 0
        upcoming: list[Future[ClassifyResult] | list[str]] = []
        try:
            # Up to `concurrency` endpoint requests at once (a serverless endpoint
            # runs MaxConcurrency of them in parallel). Writes run beside them: a
            # window's results go to the writer and the loop goes straight back to
            # the endpoint, so it waits on inference only, never on DynamoDB.
            windows = self.windows(todo)
            if windows and deadline.remaining_ms() < self.reserve_ms:
                raise TimeBudgetExhausted(f"s3://{bucket}/{key}: {len(todo)} comments left for Lambda's retry")
            upcoming = self._submit(windows[0]) if windows else upcoming
            for number_of_window, window in enumerate(windows):
                results = self._gather(upcoming)
                upcoming = []
                # A write that failed already stops the object here: no more inference is paid for.
                failed = self._settle(writes, stored, wait=stop.is_set())
                if failed:
                    raise failed
                if number_of_window + 1 < len(windows):
                    if deadline.remaining_ms() < self.reserve_ms:
                        self._keep(window, results, pending, suspects, answered)
                        raise TimeBudgetExhausted(
                            f"s3://{bucket}/{key}: {len(todo) - done - sum(map(len, window))} comments left "
                            "for Lambda's retry")
                    upcoming = self._submit(windows[number_of_window + 1])
                calls += sum(r.calls for r in results if isinstance(r, ClassifyResult))
                done += sum(len(b) for b, r in zip(window, results, strict=True) if isinstance(r, ClassifyResult))
                error = self._keep(window, results, pending, suspects, answered)
                # Write only full BatchWriteItem calls; the rest waits for the next window.
                full = len(pending) - len(pending) % WRITE_BATCH
                writes.append(self._write_later(pending[:full], stop))
                pending = pending[full:]
                if error:
                    raise error
            calls += self._confirm(f"s3://{bucket}/{key}", suspects, answered, deadline, pending=pending,
                                   rejected=rejected)
            writes.append(self._write_later(pending, stop))
            pending = []
        except (ClassifierError, TimeBudgetExhausted):
            # Keep what is labeled already, so Lambda's retry does not classify it again.
            writes.append(self._write_later(pending, stop))
            raise
        finally:
            # Requests started for a window that will not be used: stop paying for them.
            for handle in upcoming:
                if isinstance(handle, Future):
                    handle.cancel()
            # Nothing is left in flight, and every write that happened is counted, however this ends.
            failure = self._settle(writes, stored, wait=True)
            # Even when stopping early, every rejected record is in quarantine.
            # Labeled-but-unwritten comments are classified again by Lambda's retry.
            if rejected:
                self.store.quarantine(bucket, key, sorted(rejected, key=lambda r: r.line_number))
        if failure:
            raise failure
        # Only now is every line of the object stored or quarantined: the
        # reconciler skips it from here on.
        self.repository.mark_done(f"s3://{bucket}/{key}", self._done_ttl())
        labels = Counter(x.prediction.label for x in stored)
        report = ObjectReport(
            bucket=bucket, key=key, lines_in=decoded.records_in, stored=len(stored),
            already_stored=len(stored_before) + duplicates, quarantined=len(rejected),
            labels=dict(labels), endpoint_calls=calls,
        )
        log.info("object summary", extra={"object": report.__dict__})
        return report

    def windows(self, todo: list[tuple[int, Comment]]) -> list[list[list[tuple[int, Comment]]]]:
        """The endpoint requests, ``concurrency`` at a time, with the last windows made smaller.

        A window's writes overlap the next window's inference, but nothing overlaps the
        last window's writes: so the last window is split in two, again and again while
        its requests stay at least MIN_REQUEST_TEXTS long, and what is written after the
        endpoint's last answer is small.
        """
        def requests(items: list[tuple[int, Comment]], size: int) -> list[list[list[tuple[int, Comment]]]]:
            batches = list(chunk(items, [c.body for _, c in items], size))
            return [batches[i : i + self.concurrency] for i in range(0, len(batches), self.concurrency)]

        windows = requests(todo, self.request_size(len(todo)))
        while self.concurrency > 1 and windows:
            last = [x for batch in windows[-1] for x in batch]
            size = math.ceil(len(last) / (2 * self.concurrency))
            if size < MIN_REQUEST_TEXTS:
                break
            windows[-1:] = requests(last, size)
        return windows

    def _existing(self, ids: list[str]) -> set[str]:
        """The already-stored check, its BatchGetItem calls spread over the chunk pool."""
        groups = [ids[i : i + GET_BATCH] for i in range(0, len(ids), GET_BATCH)]
        if len(groups) < 2 or self.concurrency == 1:
            return self.repository.existing_ids(ids)
        return set().union(*self._chunk_pool.map(self.repository.existing_ids, groups))

    def request_size(self, texts: int) -> int:
        """Texts per endpoint request: batch_size, or less for an object smaller than two full windows.

        Spreading a small object over every concurrent slot, in a few windows, keeps the endpoint
        busy and lets the first window's writes overlap the second window's inference; requests
        stay at least MIN_REQUEST_TEXTS long, so the per-request overhead stays small.
        """
        spread = math.ceil(texts / (max(1, self.concurrency) * WINDOWS_PER_OBJECT))
        return max(1, min(self.batch_size, max(MIN_REQUEST_TEXTS, spread)))

    def _write_later(self, labeled: list[LabeledComment], stop: threading.Event) -> Future[WriteOutcome]:
        """Start storing ``labeled``; with concurrency 1 it is stored before this returns."""
        if self.concurrency == 1:
            now: Future[WriteOutcome] = Future()
            now.set_result(self._write(labeled, stop))
            return now
        return self._writer.submit(self._write, labeled, stop)

    def _write(self, labeled: list[LabeledComment], stop: threading.Event) -> WriteOutcome:
        """Store in BatchWriteItem-sized chunks, in parallel, then count exactly what was written.

        Counting per write (not once at the end) keeps /stats right when a later
        chunk fails or the Lambda is killed: a retry skips stored ids, so it
        would never count them. After a failed chunk no further chunk of the object
        starts (``stop``), and those in flight are waited for, so what is stored is
        known before the error is reported.
        """
        chunks = [labeled[i : i + WRITE_BATCH] for i in range(0, len(labeled), WRITE_BATCH)]
        write = functools.partial(self._write_chunk, stop=stop)
        if len(chunks) > 1 and self.concurrency > 1:
            outcomes = list(self._chunk_pool.map(write, chunks))
        else:
            outcomes = [write(c) for c in chunks]
        written = [x for o in outcomes for x in o.written]
        error = next((o.error for o in outcomes if o.error), None)
        if written:
            try:
                self.repository.add_counts(written)
            except Exception as exc:  # reported by _settle, once every write is known
                error = error or exc
        return WriteOutcome(written, error)

    def _write_chunk(self, chunk_: list[LabeledComment], stop: threading.Event) -> WriteOutcome:
        if stop.is_set():
            # Another chunk failed: the rest is left to Lambda's retry rather than spending
            # the time budget on more backoff against a table that refuses writes.
            return WriteOutcome([], None)
        try:
            self.repository.put_labeled(chunk_, self.retention_days)
        except PartialWriteError as exc:
            stop.set()
            # Part of the chunk is stored: count it now, a retry will skip it as stored.
            done = set(exc.written)
            return WriteOutcome([x for x in chunk_ if x.comment.id in done], exc)
        except Exception as exc:  # carried to _settle with what was written
            stop.set()
            return WriteOutcome([], exc)
        return WriteOutcome(list(chunk_), None)

    @staticmethod
    def _settle(writes: list[Future[WriteOutcome]], stored: list[LabeledComment], *, wait: bool
                ) -> Exception | None:
        """Move finished write jobs' comments into ``stored``; returns the first failure.

        ``wait`` waits for every job; otherwise only the finished ones are taken.
        """
        first: Exception | None = None
        for job in [j for j in writes if wait or j.done()]:
            writes.remove(job)
            outcome = job.result()
            stored += outcome.written
            if outcome.error is not None and first is None:
                first = outcome.error
            elif outcome.error is not None:
                log.warning("another write failed too", extra={"error": str(outcome.error)})
        return first

    def _done_ttl(self) -> int | None:
        """Completion records live as long as the raw objects they vouch for."""
        return schema.expiry(self.clock(), self.retention_days)

    def _keep(self, window: list[list[tuple[int, Comment]]], results: list[ClassifyResult | ClassifierError],
              pending: list[LabeledComment], suspects: list[tuple[int, Comment, str]], answered: list[str]
              ) -> ClassifierError | None:
        """Sort one window's answers into pending writes and suspected refusals; returns its first error."""
        now = self.clock()
        error: ClassifierError | None = None
        for batch, result in zip(window, results, strict=True):
            if isinstance(result, ClassifierError):
                error = error or result
                continue
            for (number, comment), prediction in zip(batch, result.predictions, strict=True):
                if isinstance(prediction, str):
                    suspects.append((number, comment, prediction))
                else:
                    pending.append(LabeledComment(comment, prediction, now))
                    if not answered:
                        answered.append(comment.body)
        return error

    def _confirm(self, source: str, suspects: list[tuple[int, Comment, str]], answered: list[str],
                 deadline: Deadline, *, pending: list[LabeledComment], rejected: list[Rejected]) -> int:
        """Quarantine a refused text only if the endpoint refuses it again while it
        answers another text of this object; otherwise the 400 is an endpoint fault.

        The Hugging Face container answers 400 for its own failures too (a model
        that did not load, out of memory), and a transient one can hit any request,
        a one-text request or a bisection leaf just as well. Each suspect is asked
        again alone, then one text this object already got an answer for is sent as
        a control; an object with no such text (one comment, say) uses CONTROL_TEXT.
        Returns the endpoint calls spent.
        """
        if not suspects:
            return 0
        calls = 0
        still: list[Rejected] = []
        for number, comment, _first in suspects:
            if deadline.remaining_ms() < self.reserve_ms:
                raise TimeBudgetExhausted(f"{source}: {len(suspects)} refused texts left for the retry")
            result = self.classifier.classify([comment.body])  # a ClassifierError here is a fault: it propagates
            calls += result.calls
            prediction = result.predictions[0]
            if isinstance(prediction, str):
                still.append(Rejected(number, prediction, comment.body))
            else:
                pending.append(LabeledComment(comment, prediction, self.clock()))
        if still:
            if deadline.remaining_ms() < self.reserve_ms:
                raise TimeBudgetExhausted(f"{source}: {len(still)} refused texts left for the retry")
            control = self.classifier.classify(answered[:1] or [CONTROL_TEXT])
            calls += control.calls
            if isinstance(control.predictions[0], str):
                raise ClassifierError(f"{source}: the endpoint refused {len(still)} texts and refuses a control "
                                      "text too: an endpoint fault, not bad input")
            rejected.extend(still)
            log.warning("texts refused by the model, quarantined", extra={"source": source, "count": len(still)})
        return calls

    def _submit(self, window: list[list[tuple[int, Comment]]]) -> list[Future[ClassifyResult] | list[str]]:
        """Start a window's requests on the pool (or defer them, with concurrency 1)."""
        texts = [[c.body for _, c in batch] for batch in window]
        if self.concurrency == 1:
            return list(texts)
        return [self._pool.submit(self.classifier.classify, t) for t in texts]  # boto3 clients are thread-safe

    def _gather(self, handles: list[Future[ClassifyResult] | list[str]]) -> list[ClassifyResult | ClassifierError]:
        """One result per batch, in order; a batch whose endpoint kept failing gets its error."""
        results: list[ClassifyResult | ClassifierError] = []
        for handle in handles:
            try:
                results.append(self.classifier.classify(handle) if isinstance(handle, list) else handle.result())
            except ClassifierError as exc:
                results.append(exc)
        return results


def total(reports: Iterable[ObjectReport]) -> dict[str, int]:
    sums: Counter[str] = Counter()
    for r in reports:
        sums.update({"lines_in": r.lines_in, "stored": r.stored, "already_stored": r.already_stored,
                     "quarantined": r.quarantined, "endpoint_calls": r.endpoint_calls})
        sums.update({f"label_{k}": v for k, v in r.labels.items()})
    return dict(sums)
