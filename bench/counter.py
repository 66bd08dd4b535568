"""Counts AWS API calls with botocore's own event hooks.

``before-call`` fires once per API operation a client performs (before any
retry), so the tally is the number of requests the code asks AWS for, which is
what the request-priced services bill. Counting happens on a boto3 Session: every
client that session creates afterwards copies its event handlers.

DynamoDB bills items, not calls, so ``before-parameter-build`` also tallies what
each DynamoDB request asks for (``units``): the actions of a TransactWriteItems
(each costs two write units, docs: read-write-operations.html) and the keys of
GetItem/BatchGetItem by consistency (a strongly consistent read of an item up to
4 KB costs one read unit, an eventually consistent one half; BatchGetItem is
billed as one GetItem per key).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3


class CallCounter:
    """Tally of ``service.Operation`` -> calls, optionally split into named phases."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        #: Seconds from ``before-call`` to ``after-call`` (client-side latency, including retries).
        self.seconds: Counter[str] = Counter()
        self.phases: dict[str, Counter[str]] = {}
        #: What DynamoDB requests asked for: transact_write_actions, consistent/eventual_read_keys.
        self.units: Counter[str] = Counter()
        self._phase: str | None = None
        self._lock = threading.Lock()

    def on_call(self, model: Any, context: dict[str, Any] | None = None, **_kwargs: Any) -> None:
        """The ``before-call`` handler; returns None so the call goes ahead."""
        name = f"{model.service_model.service_name}.{model.name}"
        if context is not None:
            context["bench_started"] = time.perf_counter()
        with self._lock:
            self.calls[name] += 1
            if self._phase is not None:
                self.phases.setdefault(self._phase, Counter())[name] += 1

    def on_done(self, model: Any, context: dict[str, Any] | None = None, **_kwargs: Any) -> None:
        """The ``after-call`` handler: adds the call's latency (calls that raise are not timed)."""
        started = (context or {}).get("bench_started")
        if started is not None:
            with self._lock:
                self.seconds[f"{model.service_model.service_name}.{model.name}"] += time.perf_counter() - started

    def on_params(self, params: Mapping[str, Any], model: Any, **_kwargs: Any) -> None:
        """The ``before-parameter-build`` handler: tally the items a DynamoDB request bills."""
        if model.service_model.service_name != "dynamodb":
            return
        tally: Counter[str] = Counter()
        if model.name == "TransactWriteItems":
            tally["transact_write_actions"] += len(params.get("TransactItems", ()))
        elif model.name == "BatchGetItem":
            for wanted in params.get("RequestItems", {}).values():
                consistency = "consistent" if wanted.get("ConsistentRead") else "eventual"
                tally[f"{consistency}_read_keys"] += len(wanted.get("Keys", ()))
        elif model.name == "GetItem":
            tally["consistent_read_keys" if params.get("ConsistentRead") else "eventual_read_keys"] += 1
        if tally:
            with self._lock:
                self.units.update(tally)

    def attach(self, target: Any) -> Any:
        """Count calls of a boto3 Session (clients created later) or of one client; returns ``target``."""
        events = target.events if isinstance(target, boto3.session.Session) else target.meta.events
        events.register("before-parameter-build", self.on_params)
        events.register("before-call", self.on_call)
        events.register("after-call", self.on_done)
        return target

    def session(self, **kwargs: Any) -> boto3.session.Session:
        """A new boto3 Session whose clients are all counted."""
        return self.attach(boto3.session.Session(**kwargs))

    @contextmanager
    def phase(self, name: str) -> Iterator[Counter[str]]:
        """Attribute the calls made inside the block to ``name`` as well."""
        with self._lock:
            previous, self._phase = self._phase, name
            self.phases.setdefault(name, Counter())
        try:
            yield self.phases[name]
        finally:
            with self._lock:
                self._phase = previous

    def total(self, phase: str | None = None) -> int:
        return sum((self.calls if phase is None else self.phases.get(phase, Counter())).values())

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.seconds.clear()
            self.phases.clear()
            self.units.clear()
