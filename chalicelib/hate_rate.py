"""Hourly label counters and the hate-rate figures the hate-rate alarms compare.

CloudWatch requires every metric of a metric-math alarm to have the same period, so "the
last hour against the trailing baseline" cannot be computed by CloudWatch from HateLabels /
CommentsStored. The application keeps one counter item per UTC hour (of the comment's
``created_utc``) for all comments and for each CONFIGURED subreddit, and after each classify
run emits three same-period metrics per series: HateRateLastHour, HateRateBaseline and
CommentsLastHour. The alarm is metric math over those.

Only the configured subreddits get a series of their own: r/all spans tens of thousands of
subreddits, and every series is three custom metrics (billed per metric per month), an alarm
and one counter item per hour, so a series per subreddit seen would have no bound.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from chalicelib import config
from chalicelib.errors import StorageError

logger = logging.getLogger(__name__)

HOURLY_PREFIX = "stats#h#"
ALL = "all"
HOUR_S = 3600
#: Hourly items expire (DynamoDB TTL) after the longest baseline the config allows plus a day.
HOURLY_TTL_S = (config.MAX_BASELINE_HOURS + 2) * HOUR_S + 86_400


def hour_of(timestamp: float) -> str:
    return time.strftime("%Y%m%d%H", time.gmtime(timestamp))


def hourly_key(hour: str, series: str) -> str:
    """Partition key of one hour's counters: ``stats#h#2026120114#all`` or ``...#r#news``."""
    return f"{HOURLY_PREFIX}{hour}#{ALL if series == ALL else 'r#' + series.lower()}"


def series_of(subreddit: str, configured: Sequence[str]) -> list[str]:
    """The series a comment counts in: "all", and its subreddit when that one is configured."""
    name = subreddit.lower()
    return [ALL, name] if name != ALL and name in configured else [ALL]


def all_series(configured: Sequence[str]) -> list[str]:
    return [ALL, *(s for s in configured if s != ALL)]


@dataclass(frozen=True)
class HateRate:
    """One series' figures at one moment; rates are hate / comments (0 without comments)."""

    series: str
    comments_last_hour: float
    rate_last_hour: float
    baseline_rate: float
    baseline_comments: int


class CounterReader(Protocol):
    def counters(self, keys: Sequence[str]) -> dict[str, dict[str, int]]:
        """Label counts per key; keys without an item are left out."""
        ...


def _hours(now: float, count: int) -> list[str]:
    """The current hour, then the ``count - 1`` before it, newest first."""
    start = now - now % HOUR_S
    return [hour_of(start - i * HOUR_S) for i in range(count)]


def figures(counts: Mapping[str, Mapping[str, int]], now: float, series: str, baseline_hours: int,
            hate_label: str = "hate") -> HateRate:
    """Last hour = the current hour so far plus the unelapsed share of the previous one (a sliding
    60 minutes from hourly buckets); baseline = the ``baseline_hours`` hours before those two."""
    hours = _hours(now, baseline_hours + 2)

    def of(hour: str) -> tuple[int, int]:
        labels = counts.get(hourly_key(hour, series), {})
        return labels.get(hate_label, 0), sum(labels.values())

    (hate_now, total_now), (hate_prev, total_prev) = of(hours[0]), of(hours[1])
    carried = 1.0 - (now % HOUR_S) / HOUR_S
    comments = total_now + total_prev * carried
    hate = hate_now + hate_prev * carried
    base = [of(h) for h in hours[2:]]
    base_hate, base_total = sum(h for h, _ in base), sum(t for _, t in base)
    return HateRate(
        series=series,
        comments_last_hour=round(comments, 3),
        rate_last_hour=round(hate / comments, 6) if comments else 0.0,
        baseline_rate=round(base_hate / base_total, 6) if base_total else 0.0,
        baseline_comments=base_total,
    )


class HateRateMonitor:
    """Reads the trailing hours of every series in one batch and returns their figures."""

    def __init__(self, reader: CounterReader, subreddits: Sequence[str], baseline_hours: int,
                 clock: Callable[[], float] = time.time) -> None:
        self._reader = reader
        self._series = all_series(subreddits)
        self._baseline_hours = baseline_hours
        self._clock = clock

    def keys(self, now: float) -> list[str]:
        return [hourly_key(h, s) for s in self._series for h in _hours(now, self._baseline_hours + 2)]

    def current(self) -> list[HateRate]:
        """The figures of every series; none (logged) when the table cannot be read: the comments are
        stored already, and an alarm that ignores missing data keeps its state for that period."""
        now = self._clock()
        try:
            counts = self._reader.counters(self.keys(now))
        except StorageError as exc:
            logger.warning("hate-rate figures not emitted: %s", exc)
            return []
        return [figures(counts, now, s, self._baseline_hours) for s in self._series]
