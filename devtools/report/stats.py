"""What the report shows, computed without any plotting package: counts, rates, bins, rankings.

Small samples are the trap here: a subreddit with 5 comments or an hour with one comment
has a "hate rate" that says almost nothing. Rates are therefore ranked by the lower end
of their Wilson score interval, time bins are chosen so that they hold enough comments,
and every rate carries its n so the charts can grey out the ones that mean little.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.schema import is_offline_model
from devtools.report.words import tokenize

HATE = "hate"
NOTHATE = "nothate"
UNKNOWN_MODEL = "(not recorded)"
TOP_HATEFUL = 20
TOP_SUBREDDITS = 15
BODY_CHARS = 300
PROGRESS_EVERY = 1000
HOUR = 3600
DAY = 86_400
#: z for a two-sided 95% interval.
Z95 = 1.959964
#: At most this many time bins: more become bars too thin to see.
MAX_BINS = 60
#: The finest bin is used whose bins hold at least this many comments on average.
MIN_MEAN_PER_BIN = 10
#: A bin's hate rate is drawn as meaningful only from this many comments on.
MIN_RATE_COMMENTS = 30


def hate_rate(hate: int, total: int) -> float:
    return hate / total if total else 0.0


def wilson_interval(hits: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) when there is no observation."""
    if n <= 0:
        return 0.0, 1.0
    p = hits / n
    denominator = 1 + z * z / n
    center = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (center - margin) / denominator), min(1.0, (center + margin) / denominator)


def truncate(text: str, limit: int = BODY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def reddit_url(permalink: str) -> str:
    # Always under reddit.com: a stored permalink can never become another scheme or host.
    return "https://www.reddit.com/" + permalink.lstrip("/")


def iso(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- subreddits ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SubredditRate:
    name: str
    total: int
    hate: int

    @property
    def rate(self) -> float:
        return hate_rate(self.hate, self.total)

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.hate, self.total)

    @property
    def lower(self) -> float:
        return self.interval[0]


def rank_subreddits(counts: Mapping[str, tuple[int, int]], min_volume: int, limit: int = TOP_SUBREDDITS
                    ) -> list[SubredditRate]:
    """Subreddits with hate, by the lower bound of the Wilson 95% interval of their rate.

    ``counts`` maps name -> (total, hate). Subreddits below ``min_volume`` comments or with no
    hateful comment are left out. The lower bound puts 3 of 30 above 1 of 5: a small sample
    must show more hate before it ranks high. Ties go to the larger volume, then the name.
    """
    rows = [SubredditRate(name, total, hate) for name, (total, hate) in counts.items()
            if total >= min_volume and hate > 0]
    rows.sort(key=lambda r: (-r.lower, -r.total, r.name))
    return rows[:limit]


# -- time bins ----------------------------------------------------------------------------


def _dt(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _months_floor(epoch: int, months: int) -> int:
    d = _dt(epoch)
    month = (d.month - 1) // months * months + 1
    return int(datetime(d.year, month, 1, tzinfo=UTC).timestamp())


def _months_later(epoch: int, months: int) -> int:
    d = _dt(epoch)
    index = d.year * 12 + d.month - 1 + months
    return int(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class BinSize:
    """A calendar time bin: ``floor`` gives the start of the bin holding a time, ``next`` the following start."""

    name: str  # "hour", "6 hours", "day", "week", "month", "quarter", "year"
    floor: Callable[[int], int]
    next: Callable[[int], int]

    def starts(self, first: int, last: int) -> list[int]:
        out, t = [], self.floor(first)
        while t <= last:
            out.append(t)
            t = self.next(t)
        return out


def _fixed(name: str, seconds: int, offset: int = 0) -> BinSize:
    return BinSize(name, lambda t: t - (t - offset) % seconds, lambda t: t + seconds)


BIN_SIZES: tuple[BinSize, ...] = (
    _fixed("hour", HOUR),
    _fixed("6 hours", 6 * HOUR),
    _fixed("day", DAY),
    _fixed("week", 7 * DAY, offset=4 * DAY),  # 1970-01-05 was a Monday: weeks start on Mondays
    BinSize("month", lambda t: _months_floor(t, 1), lambda t: _months_later(t, 1)),
    BinSize("quarter", lambda t: _months_floor(t, 3), lambda t: _months_later(t, 3)),
    BinSize("year", lambda t: _months_floor(t, 12), lambda t: _months_later(t, 12)),
)


def choose_bin_size(hourly: Mapping[int, tuple[int, int]], max_bins: int = MAX_BINS,
                    min_mean: float = MIN_MEAN_PER_BIN) -> BinSize:
    """The finest bin with at most ``max_bins`` bins over the data's span and ``min_mean`` comments per bin.

    Too few comments for any of them: the finest size with the fewest bins, i.e. as coarse as
    it takes to gather the comments and no coarser (a sparse chart, whose rates are greyed out).
    """
    if not hourly:
        return BIN_SIZES[0]
    first, last = min(hourly), max(hourly)
    total = sum(t for t, _ in hourly.values())
    fitting = [s for s in BIN_SIZES if len(s.starts(first, last)) <= max_bins] or [BIN_SIZES[-1]]
    counts = [len(size.starts(first, last)) for size in fitting]
    for size, bins in zip(fitting, counts, strict=True):
        if total / bins >= min_mean:
            return size
    return fitting[counts.index(min(counts))]


@dataclass(frozen=True)
class TrendPoint:
    start: int  # epoch seconds, bin start (UTC)
    end: int  # next bin's start
    total: int
    hate: int

    @property
    def rate(self) -> float | None:
        return self.hate / self.total if self.total else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.hate, self.total)

    @property
    def reliable(self) -> bool:
        """Enough comments for the rate to mean something (see MIN_RATE_COMMENTS)."""
        return self.total >= MIN_RATE_COMMENTS


def trend(hourly: Mapping[int, tuple[int, int]], size: BinSize | None = None) -> tuple[BinSize, list[TrendPoint]]:
    """(bin size, points) over the whole span, empty bins included so that gaps show as zero volume."""
    size = size or choose_bin_size(hourly)
    if not hourly:
        return size, []
    starts = size.starts(min(hourly), max(hourly))
    sums: dict[int, list[int]] = {t: [0, 0] for t in starts}
    for hour, (total, hate) in hourly.items():
        slot = sums[size.floor(hour)]
        slot[0] += total
        slot[1] += hate
    return size, [TrendPoint(t, size.next(t), *sums[t]) for t in starts]


# -- one pass over the comments -------------------------------------------------------------


@dataclass
class Report:
    """Everything the charts and the page show, computed in one pass over the comments."""

    total: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    models: Counter[str] = field(default_factory=Counter)
    model_labels: Counter[tuple[str, str]] = field(default_factory=Counter)
    first_utc: float | None = None
    last_utc: float | None = None
    subreddits: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (total, hate)
    hourly: dict[int, tuple[int, int]] = field(default_factory=dict)  # hour start -> (total, hate)
    top_hateful: list[dict[str, Any]] = field(default_factory=list)  # score desc
    #: word -> number of hateful comments that use it
    words: Counter[str] = field(default_factory=Counter)

    @property
    def hate(self) -> int:
        return self.labels[HATE]

    @property
    def hate_rate(self) -> float:
        return hate_rate(self.hate, self.total)

    @property
    def offline_models(self) -> list[str]:
        """Models among the labels that are the embedded offline stand-in (demo labels only)."""
        return [m for m in self.models if is_offline_model(m)]


_Ranked = tuple[float, float, str, dict[str, Any]]


class Aggregator:
    """Streams comments into a Report: memory grows with subreddits, hours and vocabulary, not rows."""

    def __init__(self, top_n: int = TOP_HATEFUL) -> None:
        self.report = Report()
        self._top_n = top_n
        self._heap: list[_Ranked] = []

    def add(self, item: Mapping[str, Any]) -> None:
        r = self.report
        label = str(item.get("label") or "unknown")
        model = str(item.get("model") or UNKNOWN_MODEL)
        created = float(item.get("created_utc") or 0)
        is_hate = label == HATE
        r.total += 1
        r.labels[label] += 1
        r.models[model] += 1
        r.model_labels[model, label] += 1
        r.first_utc = created if r.first_utc is None else min(r.first_utc, created)
        r.last_utc = created if r.last_utc is None else max(r.last_utc, created)
        sub = str(item.get("subreddit") or "unknown")
        total, hate = r.subreddits.get(sub, (0, 0))
        r.subreddits[sub] = (total + 1, hate + is_hate)
        hour = int(created // HOUR) * HOUR
        total, hate = r.hourly.get(hour, (0, 0))
        r.hourly[hour] = (total + 1, hate + is_hate)
        if is_hate:
            body = str(item.get("body") or "")
            r.words.update(set(tokenize(body)))  # once per comment: see words.document_frequencies
            kept: dict[str, Any] = {
                "comment_id": str(item.get("comment_id") or ""), "subreddit": sub,
                "permalink": str(item.get("permalink") or ""), "created_utc": created,
                "score": float(item.get("score") or 0), "model": model, "body": truncate(body),
            }
            # Min-heap of the best n so far; ties prefer the newer comment, then the id.
            entry: _Ranked = (kept["score"], created, kept["comment_id"], kept)
            if len(self._heap) < self._top_n:
                heapq.heappush(self._heap, entry)
            elif entry[:3] > self._heap[0][:3]:
                heapq.heapreplace(self._heap, entry)

    def finish(self) -> Report:
        self.report.top_hateful = [e[3] for e in sorted(self._heap, key=lambda e: e[:3], reverse=True)]
        return self.report


def aggregate(items: Iterable[Mapping[str, Any]], progress: Callable[[int], None] | None = None,
              every: int = PROGRESS_EVERY) -> Report:
    agg = Aggregator()
    for n, item in enumerate(items, 1):
        agg.add(item)
        if progress and n % every == 0:
            progress(n)
    return agg.finish()
