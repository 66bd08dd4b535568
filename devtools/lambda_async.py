"""Lambda's asynchronous invocation, for the offline runner.

S3 invokes the classify function asynchronously: when the handler raises, Lambda
retries the event twice, about 1 minute and then about 2 more minutes later
(Lambda developer guide, "asynchronous invocation"; MaximumRetryAttempts 2),
and then drops it or hands it to an on-failure destination. This module runs a
handler the same way, with the delays shortened for local runs, and counts what
failed, what was retried and what recovered. ``Recovery`` adds the scheduled
``reconcile`` handler, so a run shows an event that Lambda dropped being picked
up by the reconciler.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Real Lambda: ~60 s before the first retry, ~120 s more before the second.
AWS_DELAYS_S = (60.0, 120.0)
#: The offline runner's default, ten times shorter.
OFFLINE_DELAYS_S = (6.0, 12.0)

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(order=True)
class _Retry:
    due: float
    order: int
    event: dict[str, Any] = field(compare=False)
    attempt: int = field(compare=False)  # 1 or 2: the retry this will be


@dataclass
class AsyncInvoker:
    """Invokes ``handler`` like Lambda's async invocation: the first try now, then ``delays``."""

    handler: Handler
    context: Callable[[], Any]
    delays: tuple[float, ...] = OFFLINE_DELAYS_S
    on_result: Callable[[Any], None] = lambda _result: None
    on_failure: Callable[[dict[str, Any], Exception], None] | None = None  # the on-failure destination
    clock: Callable[[], float] = time.monotonic
    say: Callable[[str], None] = lambda _message: None
    invoked: int = 0
    failed_first: int = 0  # events whose first try raised
    retries: int = 0  # retry invocations run
    recovered: int = 0  # events that succeeded on a retry
    dropped: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _queue: list[_Retry] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def invoke(self, event: dict[str, Any]) -> None:
        self.invoked += 1
        self._run(event, 0)

    def pending(self) -> int:
        return len(self._queue)

    def next_due(self) -> float | None:
        return self._queue[0].due if self._queue else None

    def pump(self) -> None:
        """Run every retry that is due."""
        while self._queue and self._queue[0].due <= self.clock():
            retry = heapq.heappop(self._queue)
            self.retries += 1
            self._run(retry.event, retry.attempt)

    def _run(self, event: dict[str, Any], attempt: int) -> None:
        try:
            result = self.handler(event, self.context())
        except Exception as exc:  # whatever the handler raises makes Lambda retry
            self._failed(event, attempt, exc)
            return
        if attempt:
            self.recovered += 1
            self.say(f"classify retry {attempt} succeeded")
        self.on_result(result)

    def _failed(self, event: dict[str, Any], attempt: int, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {str(exc)[:200]}"
        self.errors.append(message)
        if attempt == 0:
            self.failed_first += 1
        if attempt < len(self.delays):
            delay = self.delays[attempt]
            self.say(f"classify failed ({message}); Lambda retries it in {delay:g} s")
            heapq.heappush(self._queue, _Retry(self.clock() + delay, next(self._order), event, attempt + 1))
            return
        self.dropped.append(event)
        self.say(f"classify failed on its last retry ({message}); Lambda drops the event")
        if self.on_failure is not None:
            self.on_failure(event, exc)


@dataclass
class Recovery:
    """The async classify path plus the scheduled reconciler, and what both did."""

    invoker: AsyncInvoker
    reconcile: Callable[[], dict[str, Any]]  # runs the reconcile handler once
    reconcile_every: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    say: Callable[[str], None] = lambda _message: None
    runs: int = 0
    reconciled: int = 0  # objects the reconciler finished
    reconcile_failures: int = 0
    attention: int = 0  # most objects flagged ObjectsNeedingAttention in one run
    last: dict[str, Any] = field(default_factory=dict)
    _next_reconcile: float = 0.0

    def tick(self) -> None:
        """Run due retries, and the reconciler when its schedule fires."""
        self.invoker.pump()
        if self.clock() >= self._next_reconcile:
            self._next_reconcile = self.clock() + self.reconcile_every
            self.run_reconcile()

    def run_reconcile(self) -> None:
        try:
            self.last = self.reconcile()
        except Exception as exc:  # a scheduled run that fails is simply run again next time
            self.say(f"reconcile failed: {type(exc).__name__}: {exc}")
            self.last = {}
            return
        self.runs += 1
        self.reconciled += int(self.last.get("recovered", 0))
        self.reconcile_failures += int(self.last.get("failed", 0))
        self.attention = max(self.attention, int(self.last.get("needing_attention", 0)))
        if self.last.get("unfinished") or self.last.get("recovered"):
            self.say("reconcile: " + ", ".join(f"{k} {v}" for k, v in self.last.items() if v))

    def idle(self, seconds: float, step: float = 0.5) -> None:
        """Wait ``seconds`` while retries and reconciles keep running (between cycles)."""
        end = self.clock() + seconds
        while self.clock() < end:
            self.tick()
            self.sleep(max(0.0, min(step, end - self.clock())))

    def settle(self, objects: int, timeout: float, step: float = 0.5) -> bool:
        """Until no retry is pending and the reconciler sees all ``objects`` finished.

        Returns False if ``timeout`` seconds pass first. Only needed when something
        failed: otherwise every object is finished already.
        """
        if not self.invoker.failed_first and not self.invoker.pending():
            return True
        end = self.clock() + timeout
        while self.clock() < end:
            self.tick()
            if (not self.invoker.pending() and self.last and int(self.last.get("listed", 0)) >= objects
                    and not self.last.get("unfinished")):
                return True
            self.sleep(step)
        return False

    def summary(self) -> dict[str, Any]:
        i = self.invoker
        return {
            "classify_invocations": i.invoked, "classify_failed": i.failed_first, "classify_retries": i.retries,
            "recovered_by_retry": i.recovered, "dropped_after_retries": len(i.dropped),
            "reconcile_runs": self.runs, "recovered_by_reconciler": self.reconciled,
            "reconcile_failures": self.reconcile_failures, "objects_needing_attention": self.attention,
            "errors": sorted(set(i.errors))[:10],
        }


def _delays(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds like 6,12, got {text!r}") from None
    if len(values) != len(AWS_DELAYS_S) or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected {len(AWS_DELAYS_S)} delays in seconds like 6,12, got {text!r}")
    return values


def add_recovery_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("failures and recovery (shortened delays; AWS's in brackets)")
    group.add_argument("--endpoint-outage", type=float, default=0.0, metavar="N",
                       help="the local model server fails for N seconds from the first classification "
                            "(ModelNotReady, then the container's 400)")
    group.add_argument("--async-delays", type=_delays, default=OFFLINE_DELAYS_S, metavar="S1,S2",
                       help="seconds before Lambda's two retries of a failed classify event "
                            "(default 6,12; AWS ~60,120)")
    group.add_argument("--reconcile-every", type=float, default=10.0, metavar="S",
                       help="seconds between reconcile runs (default 10; AWS RECONCILE_MINUTES, 5 min)")
    group.add_argument("--reconcile-min-age", type=int, default=5, metavar="S",
                       help="age before the reconciler takes an object (default 5; AWS 600)")
    group.add_argument("--attention-after", type=int, default=3, metavar="N",
                       help="failed reconcile tries before ObjectsNeedingAttention (default 3)")
    group.add_argument("--slow-retry", type=int, default=30, metavar="S",
                       help="seconds between tries of an object needing attention (default 30; AWS 3600)")
    group.add_argument("--settle-timeout", type=float, default=900.0, metavar="S",
                       help="with --once, how long to wait for failed objects to recover (default 900)")


def recovery_environment(args: argparse.Namespace) -> dict[str, str]:
    """The reconciler's settings for the handlers run by the offline runner."""
    return {"RECONCILE_MIN_AGE_SECONDS": str(args.reconcile_min_age),
            "RECONCILE_ATTENTION_AFTER": str(args.attention_after),
            "RECONCILE_SLOW_RETRY_SECONDS": str(args.slow_retry)}
