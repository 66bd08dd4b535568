"""Backoff with full jitter, and the Lambda time budget."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Backoff:
    """``attempts`` tries in all; sleeps ``uniform(0, min(cap, base * 2**n))`` between them.

    Full jitter spreads retries of many concurrent Lambdas instead of
    synchronising them (AWS Architecture Blog, "Exponential Backoff And Jitter").
    """

    attempts: int = 6
    base: float = 0.2
    cap: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    rand: Callable[[], float] = field(default=random.random, compare=False)

    def pauses(self) -> Iterator[None]:
        """Yield once per attempt, sleeping before every attempt but the first."""
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(self.delay(attempt))
            yield None

    def delay(self, attempt: int) -> float:
        """The jittered pause before attempt number ``attempt`` (0 before the first)."""
        return self.rand() * self.longest(attempt)

    def longest(self, attempt: int) -> float:
        """Upper bound of the pause before attempt number ``attempt``."""
        return min(self.cap, self.base * 2 ** (attempt - 1)) if attempt else 0.0


NO_WAIT = Backoff(sleep=lambda _s: None)


class Deadline(Protocol):
    def remaining_ms(self) -> int: ...


@dataclass(frozen=True)
class LambdaDeadline:
    """Adapts a Lambda context (anything with get_remaining_time_in_millis)."""

    context: object

    def remaining_ms(self) -> int:
        getter = getattr(self.context, "get_remaining_time_in_millis", None)
        return int(getter()) if callable(getter) else 15 * 60 * 1000


@dataclass(frozen=True)
class Unlimited:
    def remaining_ms(self) -> int:
        return 15 * 60 * 1000


def deadline_of(context: object | None) -> Deadline:
    return Unlimited() if context is None else LambdaDeadline(context)


class Leases(Protocol):
    def acquire_lease(self, name: str, owner: str, seconds: int) -> bool: ...

    def release_lease(self, name: str, owner: str) -> None: ...


#: A lease outlives the longest Lambda run (15 min), so a crashed holder frees it.
LEASE_SECONDS = 16 * 60
#: Slack on top of the holder's remaining time (clock skew between Lambdas).
LEASE_MARGIN_SECONDS = 30


@contextmanager
def leased(leases: Leases, name: str, owner: str, deadline: Deadline) -> Iterator[bool]:
    """Hold the lease ``name`` while the block runs; yields whether it was taken.

    The holder cannot outlive its own remaining time, so neither does the lease: a
    holder killed by the Lambda timeout blocks the next run (or Lambda's retry of the
    same event, 1 and 3 minutes later) for at most the margin.
    """
    seconds = min(LEASE_SECONDS, deadline.remaining_ms() // 1000 + LEASE_MARGIN_SECONDS)
    held = leases.acquire_lease(name, owner, seconds)
    try:
        yield held
    finally:
        if held:
            leases.release_lease(name, owner)
