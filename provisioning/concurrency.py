"""Lambda reserved concurrency: written only when the account can afford it.

AWS keeps at least 100 concurrent executions unreserved for the functions without a
reservation ("Specified ReservedConcurrentExecutions for function decreases account's
UnreservedConcurrentExecution below its minimum value of [100]"); many new accounts have a
total of 10, where any reservation makes ``chalice deploy`` fail. What the ingest
reservation of 1 guaranteed (no two runs overlap) holds without it: ``Ingestor.run``
takes the DynamoDB lease ``ingest``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from botocore.exceptions import ClientError

from .common import APP_NAME, Context, Options, error_code

#: "You can reserve up to the Unreserved account concurrency value that is shown, minus 100
#: for functions that don't have reserved concurrency" (Lambda guide, reserved concurrency).
MIN_UNRESERVED = 100


def classify_concurrency(options: Options) -> int:
    """Endpoint requests in flight per classify Lambda; more than MaxConcurrency would be throttled."""
    return min(4, options.max_concurrency)


def reserved_concurrency(options: Options) -> dict[str, int]:
    """The wanted caps: one ingest run at a time (overlapping runs would read the same checkpoint
    and resend), and no more classify Lambdas than the endpoint can serve."""
    return {"ingest": 1, "classify": max(1, options.max_concurrency // classify_concurrency(options))}


@dataclass(frozen=True)
class Choice:
    reserved: dict[str, int]
    reason: str

    def describe(self) -> str:
        chosen = ", ".join(f"{fn} {n}" for fn, n in self.reserved.items()) if self.reserved else "none reserved"
        return f"{chosen} ({self.reason})"


def decide(wanted: Mapping[str, int], limit: int, unreserved: int, ours: int) -> Choice:
    """``unreserved`` already excludes ``ours`` (this stage's current reservations), which we may re-use."""
    free = unreserved + ours
    need = sum(wanted.values())
    left = free - need
    counts = f"account limit {limit}, {unreserved} unreserved"
    if left >= MIN_UNRESERVED:
        return Choice(dict(wanted), f"{counts}; {left} stay unreserved")
    return Choice({}, f"{counts}; reserving {need} would leave {left}, below AWS's minimum of {MIN_UNRESERVED}; "
                      "ingest runs are kept apart by the DynamoDB lease")


def _current(ctx: Context, function: str) -> int:
    name = f"{APP_NAME}-{ctx.options.stage}-{function}"
    answer = ctx.describe(lambda: ctx.lambda_.get_function_concurrency(FunctionName=name))
    return int((answer or {}).get("ReservedConcurrentExecutions") or 0)  # None: not deployed yet


def choose(ctx: Context) -> Choice:
    """Read the account's Lambda concurrency and pick what may be reserved (nothing when unknown)."""
    wanted = reserved_concurrency(ctx.options)
    try:
        limits = ctx.lambda_.get_account_settings()["AccountLimit"]
        ours = sum(_current(ctx, function) for function in wanted)
    except ClientError as exc:
        # No permission (or an emulator without the call): a reservation could break the deploy.
        return Choice({}, f"cannot read the account's Lambda concurrency ({error_code(exc) or exc}); "
                          "ingest runs are kept apart by the DynamoDB lease")
    return decide(wanted, int(limits.get("ConcurrentExecutions", 0)),
                  int(limits.get("UnreservedConcurrentExecutions", 0)), ours)
