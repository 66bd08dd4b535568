"""The offline emulation of Lambda's asynchronous invocation and the reconcile schedule."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from devtools.lambda_async import AsyncInvoker, Recovery, add_recovery_arguments


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[float] = []

    def __call__(self, event: dict[str, Any], _context: Any, clock: Clock) -> dict[str, int]:
        self.calls.append(clock.now)
        if len(self.calls) <= self.failures:
            raise RuntimeError("endpoint still failing")
        return {"stored": 1}


def invoker(handler: Flaky, clock: Clock, results: list[Any], dropped: list[Any]) -> AsyncInvoker:
    return AsyncInvoker(lambda e, c: handler(e, c, clock), lambda: None, delays=(60.0, 120.0),
                        on_result=results.append, on_failure=lambda e, _x: dropped.append(e), clock=clock)


def run_until(inv: AsyncInvoker, clock: Clock, seconds: float) -> None:
    while clock.now < seconds:
        clock.sleep(1.0)
        inv.pump()


def test_two_retries_about_one_and_three_minutes_later_then_success() -> None:
    clock, handler, results, dropped = Clock(), Flaky(2), [], []  # type: ignore[var-annotated]
    inv = invoker(handler, clock, results, dropped)
    inv.invoke({"Records": [1]})
    run_until(inv, clock, 400)
    assert handler.calls == [0.0, 60.0, 180.0]
    assert results == [{"stored": 1}] and dropped == []
    assert (inv.failed_first, inv.retries, inv.recovered, len(inv.dropped)) == (1, 2, 1, 0)


def test_an_event_failing_three_times_is_dropped_to_the_failure_path() -> None:
    clock, handler, results, dropped = Clock(), Flaky(3), [], []  # type: ignore[var-annotated]
    inv = invoker(handler, clock, results, dropped)
    inv.invoke({"Records": [1]})
    run_until(inv, clock, 1000)
    assert len(handler.calls) == 3 and results == [] and dropped == [{"Records": [1]}]
    assert inv.pending() == 0 and len(inv.dropped) == 1


def test_settle_waits_for_the_reconciler_to_finish_what_lambda_dropped() -> None:
    clock = Clock()
    inv = invoker(Flaky(3), clock, [], [])
    inv.invoke({"Records": [1]})
    runs: list[float] = []

    def reconcile() -> dict[str, Any]:
        runs.append(clock.now)
        unfinished = 1 if clock.now < 300 else 0
        return {"listed": 1, "unfinished": unfinished, "recovered": 1 - unfinished}

    recovery = Recovery(inv, reconcile, reconcile_every=30.0, clock=clock, sleep=clock.sleep)
    assert recovery.settle(objects=1, timeout=1000.0, step=1.0)
    assert 300 <= clock.now < 340 and recovery.reconciled == 1
    summary = recovery.summary()
    assert (summary["classify_failed"], summary["classify_retries"], summary["dropped_after_retries"],
            summary["recovered_by_reconciler"]) == (1, 2, 1, 1)
    assert summary["errors"] == ["RuntimeError: endpoint still failing"]


def test_settle_gives_up_after_its_timeout() -> None:
    clock = Clock()
    inv = invoker(Flaky(99), clock, [], [])
    inv.invoke({"Records": [1]})
    recovery = Recovery(inv, lambda: {"listed": 1, "unfinished": 1}, reconcile_every=30.0, clock=clock,
                        sleep=clock.sleep)
    assert not recovery.settle(objects=1, timeout=500.0, step=1.0)


@pytest.mark.parametrize("text", ["6", "a,b", "-1,2", "1,2,3"])
def test_the_delays_take_two_non_negative_numbers(text: str) -> None:
    parser = argparse.ArgumentParser()
    add_recovery_arguments(parser)
    assert parser.parse_args(["--async-delays", "1.5,3"]).async_delays == (1.5, 3.0)
    with pytest.raises(SystemExit):
        parser.parse_args(["--async-delays", text])
