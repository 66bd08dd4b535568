"""Finds raw objects that were never classified and classifies them.

The S3 event is the fast path, but Lambda gives an asynchronous event only two
retries (about 1 and 3 minutes later) before dropping it, and a crashed run
(out of memory, ``Runtime.ExitError``) records nothing. Every object that the
ObjectProcessor finishes gets a completion record (``done#s3://bucket/key``);
this scheduled use case lists the raw objects of the lookback window, skips
the completed ones and runs the rest through the same ObjectProcessor. Its
lease and its consistent "already stored?" read keep anything from being
processed or counted twice, whichever path gets there first.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib import schema
from chalicelib.errors import ClassifierError, ObjectBusy, PipelineError, TimeBudgetExhausted
from chalicelib.models import RawObject, ReconcileReport
from chalicelib.object_store import ObjectStore
from chalicelib.pipeline import ObjectProcessor
from chalicelib.repository import CommentRepository
from chalicelib.retry import Deadline

log = logging.getLogger(__name__)

_YEAR = re.compile(r"\d{4}/")

#: An object younger than this still belongs to its S3 event and Lambda's two
#: retries (about 1 and 3 minutes after the first try; S3 may notify a minute late).
MIN_AGE_SECONDS = 10 * 60
#: After this many failed tries an object needs a person (ObjectsNeedingAttention) ...
ATTENTION_AFTER = 3
#: ... and is tried again only this often, until it succeeds or its retention ends.
SLOW_RETRY_SECONDS = 60 * 60


def start_key(prefix: str, oldest: float) -> str:
    """ListObjectsV2 StartAfter for Firehose keys ``<prefix>YYYY/MM/DD/HH/...``.

    Keys sort by their UTC hour, so listing after the oldest hour of the window
    skips everything older without reading it. Keys outside that scheme under
    the prefix that sort later (``raw/replay/...``) are listed too and filtered
    by their age.
    """
    return prefix + time.strftime("%Y/%m/%d/%H", time.gmtime(oldest))


@dataclass
class Reconciler:
    store: ObjectStore
    repository: CommentRepository
    processor: ObjectProcessor
    bucket: str
    prefix: str
    lookback_seconds: int
    min_age_seconds: int = MIN_AGE_SECONDS
    attention_after: int = ATTENTION_AFTER
    slow_retry_seconds: int = SLOW_RETRY_SECONDS
    retention_days: int = 0
    clock: Callable[[], float] = field(default=time.time)

    def run(self, deadline: Deadline) -> ReconcileReport:
        now = self.clock()
        oldest = now - self.lookback_seconds
        listed = [o for o in self._window(oldest) if oldest <= o.last_modified <= now - self.min_age_seconds]
        done = self.repository.done([o.uri for o in listed])
        todo = sorted((o for o in listed if o.uri not in done), key=lambda o: o.last_modified)
        tries = self.repository.attempts([o.uri for o in todo])
        report = ReconcileReport(listed=len(listed), unfinished=len(todo))
        for number, obj in enumerate(todo):
            before = tries.get(obj.uri)
            if before and before.next_at > now:
                report.deferred += 1
                continue
            if deadline.remaining_ms() < self.processor.reserve_ms:
                report.left += len(todo) - number
                break
            outcome = self._try(obj, before.count if before else 0, deadline, report)
            if outcome == "stop":
                # The endpoint is failing or time ran out: the objects after this one
                # would fail the same way; the next run takes them.
                report.left += len(todo) - number - 1
                break
        # Objects not tried this run (the endpoint was failing) still need a person
        # if they had failed often enough before.
        for obj in todo:
            before = tries.get(obj.uri)
            if (before and before.count >= self.attention_after and obj.uri not in report.recovered
                    and obj.uri not in report.needing_attention):
                report.needing_attention[obj.uri] = before.count
        log.info("reconcile summary", extra={"reconcile": report.as_dict()})
        for uri, count in report.needing_attention.items():
            log.error("object still unclassified after repeated attempts: needs attention",
                      extra={"object": uri, "attempts": count})
        return report

    def _window(self, oldest: float) -> list[RawObject]:
        """Raw objects whose key can be in the lookback window, without listing older hours.

        The prefix is listed from the window's first hour. A folder under it
        that sorts before that hour and is not a year (moto's Firehose, for
        one, writes the time path after the literal prefix template) holds its
        own time layout and is listed from its own first hour.
        """
        first = start_key(self.prefix, oldest)
        roots = [self.prefix] + [p for p in self.store.subprefixes(self.bucket, self.prefix)
                                 if p < first and not _YEAR.fullmatch(p.removeprefix(self.prefix))]
        found: dict[str, RawObject] = {}
        for root in roots:
            for obj in self.store.list_objects(self.bucket, root, start_key(root, oldest)):
                found[obj.key] = obj
        return list(found.values())

    def _try(self, obj: RawObject, attempts: int, deadline: Deadline, report: ReconcileReport) -> str:
        try:
            result = self.processor.process(obj.bucket, obj.key, deadline)
        except ObjectBusy:
            report.busy += 1  # an S3-event retry or another reconcile run holds it
            return "next"
        except TimeBudgetExhausted:
            report.left += 1  # partial progress is stored; not a failure of the object
            return "stop"
        except PipelineError as exc:
            count = self.repository.record_failure(obj.uri, f"{type(exc).__name__}: {exc}",
                                                   self._next_try(attempts + 1), self._ttl())
            report.failed.append(obj.uri)
            if count >= self.attention_after:
                report.needing_attention[obj.uri] = count
            log.warning("reconcile: object failed again", extra={"object": obj.uri, "attempts": count,
                                                                 "error": f"{type(exc).__name__}: {exc}"[:300]})
            return "stop" if isinstance(exc, ClassifierError) else "next"
        report.recovered.append(obj.uri)
        report.stored += result.stored
        report.quarantined += result.quarantined
        for label, count in result.labels.items():
            report.labels[label] = report.labels.get(label, 0) + count
        if attempts:
            self.repository.clear_attempts(obj.uri)
        return "next"

    def _next_try(self, attempts: int) -> float:
        """Every run until ATTENTION_AFTER failures, then at the slow cadence."""
        return self.clock() + (self.slow_retry_seconds if attempts >= self.attention_after else 0)

    def _ttl(self) -> int | None:
        return schema.expiry(self.clock(), self.retention_days)
