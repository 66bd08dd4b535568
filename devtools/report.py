"""Analysis report of stored predictions: charts and one self-contained HTML page.

Reads the labeled comments through the project's own CommentRepository.export
(paginated index queries, never a Scan) and writes to ``--out`` (default ``report/``):

  labels.png          share of hate / nothate, with counts
  hate_wordcloud.png  most frequent words in hateful comments (stop words and URLs removed)
  trend.png           hourly volume and hate rate (daily when the data spans more than 21 days)
  subreddits.png      subreddits with the highest hate rate (at least --min-volume comments)
  report.html         the charts embedded, summary numbers, models, top hateful comments

Which table: ``--table``; else ``TABLE_NAME``; else the offline stack described by
``.local/stack.json`` (written by ``make run``; ``--stack`` names another file). With no
matching comment it prints a message, writes nothing and exits 0. Needs matplotlib and
wordcloud (requirements-report.txt). Usage::

    python -m devtools.report [--out DIR] [--since WHEN] [--subreddit NAME] [--min-volume N]
                              [--table NAME] [--stack PATH]

``--since`` takes epoch seconds, an ISO date/time (UTC unless it carries an offset) or a
relative age such as ``24h`` / ``7d``.
"""

from __future__ import annotations

import argparse
import base64
import heapq
import html
import json
import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError

from chalicelib import config
from chalicelib.errors import ConfigError, StorageError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from chalicelib.repository import CommentRepository

REPO = Path(__file__).resolve().parents[1]
DEFAULT_STACK = REPO / ".local" / "stack.json"
DEFAULT_OUT = Path("report")

HATE = "hate"
NOTHATE = "nothate"
UNKNOWN_MODEL = "(not recorded)"
TOP_HATEFUL = 20
TOP_SUBREDDITS = 15
TOP_WORDS = 200  # words drawn in the cloud
TOP_WORDS_LISTED = 25  # words listed in report.html
BODY_CHARS = 300
PROGRESS_EVERY = 1000
HOUR = 3600
DAY = 86_400
#: Beyond this span hourly bars become unreadable: the trend switches to days.
MAX_HOURLY_SPAN = 21 * DAY

FILES = ("labels.png", "hate_wordcloud.png", "trend.png", "subreddits.png", "report.html")

# Own list (not wordcloud.STOPWORDS) so the aggregation needs no plotting package and
# stays unit-testable without it. Contractions appear without apostrophes too because
# Reddit text often drops them.
_STOP_TEXT = (
    "a about above after again against all also am an and any are aren't arent as at be because been before being "
    "below between both but by can can't cant cannot could couldn't couldnt did didn't didnt do does doesn't doesnt "
    "doing don't dont down during each else ever few for from further get gets got had hadn't hadnt has hasn't "
    "hasnt have haven't havent having he he'd he'll he's hed hes her here here's heres hers herself him himself his "
    "how how's hows however i i'd i'll i'm i've id ill im ive if in into is isn't isnt it it's its itself just "
    "let's lets like me more most much must mustn't my myself no nor not now of off on once one only or other ought "
    "our ours ourselves out over own really same say said shan't she she'd she'll she's shes should shouldn't "
    "shouldnt so some such than that that's thats the their theirs them themselves then there there's theres these "
    "they they'd they'll they're they've theyre theyve this those though through to too under until up upon us very "
    "was wasn't wasnt we we'd we'll we're we've were weren't werent weve what what's whats when when's where "
    "where's which while who who's whos whom why why's will with won't wont would wouldn't wouldnt yeah yes yet you "
    "you'd you'll you're you've youd youll youre youve your yours yourself yourselves amp nbsp gt lt http https www "
    "com deleted removed gonna wanna even still back go going know think thing things make see well way lol every "
    "something anything anyone someone everyone actually"
)
STOP_WORDS = frozenset(_STOP_TEXT.split())

_URL = re.compile(r"(?:https?://|www\.)\S+|\S+\.(?:com|org|net|io|gg|ly)(?:/\S*)?\b", re.IGNORECASE)
# r/sub and u/user references are names, not words.
_REDDIT_REF = re.compile(r"(?<![\w/])/?[ru]/\w+", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": HOUR, "d": DAY, "w": 7 * DAY}


# -- pure computation ---------------------------------------------------------------------


def tokenize(text: str) -> list[str]:
    """Lower-case words of ``text`` without URLs, r/ u/ references, numbers or stop words."""
    text = html.unescape(text).replace("\u2019", "'").lower()
    text = _URL.sub(" ", text)
    text = _REDDIT_REF.sub(" ", text)
    words = (w.strip("'") for w in _WORD.findall(text))
    return [w for w in words if len(w) > 1 and w not in STOP_WORDS]


def word_frequencies(texts: Iterable[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(tokenize(text))
    return counts


def hate_rate(hate: int, total: int) -> float:
    return hate / total if total else 0.0


def truncate(text: str, limit: int = BODY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def reddit_url(permalink: str) -> str:
    # Always under reddit.com: a stored permalink can never become another scheme or host.
    return "https://www.reddit.com/" + permalink.lstrip("/")


@dataclass(frozen=True)
class SubredditRate:
    name: str
    total: int
    hate: int

    @property
    def rate(self) -> float:
        return hate_rate(self.hate, self.total)


def rank_subreddits(counts: Mapping[str, tuple[int, int]], min_volume: int, limit: int = TOP_SUBREDDITS
                    ) -> list[SubredditRate]:
    """Highest hate rate first among subreddits with at least ``min_volume`` comments.

    ``counts`` maps name -> (total, hate). Ties go to the larger volume, then the name.
    """
    rows = [SubredditRate(name, total, hate) for name, (total, hate) in counts.items() if total >= min_volume]
    rows.sort(key=lambda r: (-r.rate, -r.total, r.name))
    return rows[:limit]


@dataclass(frozen=True)
class TrendPoint:
    start: int  # epoch seconds, bucket start (UTC)
    total: int
    hate: int

    @property
    def rate(self) -> float | None:
        return self.hate / self.total if self.total else None


def trend(hourly: Mapping[int, tuple[int, int]]) -> tuple[int, list[TrendPoint]]:
    """(bucket seconds, points) with empty buckets filled in, so gaps show as zero volume.

    Hourly buckets, or daily ones when the data spans more than MAX_HOURLY_SPAN.
    """
    if not hourly:
        return HOUR, []
    first, last = min(hourly), max(hourly)
    size = HOUR if last - first <= MAX_HOURLY_SPAN else DAY
    buckets: dict[int, list[int]] = {}
    for hour, (total, hate) in hourly.items():
        slot = buckets.setdefault(hour - hour % size, [0, 0])
        slot[0] += total
        slot[1] += hate
    start, end = first - first % size, last - last % size
    return size, [TrendPoint(t, *buckets.get(t, (0, 0))) for t in range(start, end + size, size)]


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
    words: Counter[str] = field(default_factory=Counter)

    @property
    def hate(self) -> int:
        return self.labels[HATE]

    @property
    def hate_rate(self) -> float:
        return hate_rate(self.hate, self.total)


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
            r.words.update(tokenize(body))
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


def parse_since(value: str, now: float | None = None) -> float:
    """Epoch seconds from epoch seconds, an ISO date/time (UTC by default) or an age like ``24h``."""
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    relative = _RELATIVE.match(value.lower())
    if relative:
        return (time.time() if now is None else now) - float(relative[1]) * _UNITS[relative[2]]
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not epoch seconds, an ISO date (2025-01-31[T12:00]) or an age (24h, 7d)") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def iso(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _shown(path: Path) -> str:
    """A path relative to the repository when it is inside it (shorter messages)."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


# -- where the data is --------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    table: str
    source: str  # how the table was found, for messages
    region: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # variables to set before building clients


def resolve_target(table: str | None, stack: Path | None, env: Mapping[str, str]) -> Target:
    """Which table to read: --table, else TABLE_NAME, else the offline stack file.

    ``stack`` is an explicit --stack path (which must exist), or None for .local/stack.json
    when present. An explicit --stack also supplies endpoint and region for --table.
    """
    stack_path = stack if stack is not None else DEFAULT_STACK
    use_stack = stack is not None or (not table and not config.load(env).table and stack_path.is_file())
    if not use_stack:
        if table:
            return Target(table, "--table")
        name = config.load(env).table
        if name:
            return Target(name, f"${config.ENV_TABLE}")
        raise ConfigError(
            f"no table to read: pass --table NAME, set {config.ENV_TABLE} (a deployed stage), "
            f"or start the offline stack with `make run` (it writes {_shown(DEFAULT_STACK)})")
    try:
        info = json.loads(stack_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"stack file not found: {stack_path}") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read stack file {stack_path}: {exc}") from exc
    if not isinstance(info, dict) or not (table or info.get("table")) or not info.get("aws_endpoint_url"):
        raise ConfigError(f"stack file {stack_path} lacks 'table' or 'aws_endpoint_url'")
    extra = {"AWS_ENDPOINT_URL": str(info["aws_endpoint_url"])}
    if not env.get("AWS_ACCESS_KEY_ID"):
        # moto accepts any credentials; fake ones keep a developer's real keys out of it.
        extra |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    region = str(info["region"]) if info.get("region") else None
    return Target(str(table or info["table"]), f"offline stack {stack_path} ({info['aws_endpoint_url']})",
                  region, extra)


def open_repository(target: Target, environ: MutableMapping[str, str]) -> CommentRepository:
    """A CommentRepository on ``target``, after exporting its variables (boto3 reads them itself)."""
    import boto3  # noqa: PLC0415 - only the command line needs AWS

    from chalicelib.clients import AwsClients  # noqa: PLC0415
    from chalicelib.factory import Services  # noqa: PLC0415

    environ.update(target.env)
    session = boto3.session.Session(region_name=target.region) if target.region else None
    settings = config.Settings(table=target.table)
    return Services(settings, AwsClients(session)).repository


# -- drawing ------------------------------------------------------------------------------

COLORS = {HATE: "#c0392b", NOTHATE: "#7f8c8d"}
OTHER_COLORS = ("#2980b9", "#8e44ad", "#16a085", "#d35400")


def _pyplot() -> Any:
    try:
        import matplotlib  # noqa: PLC0415 - optional dependency, only for drawing

        matplotlib.use("Agg")
        from matplotlib import pyplot  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigError("matplotlib is not installed: pip install -r requirements-report.txt") from exc
    return pyplot


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=110, bbox_inches="tight", facecolor="white")
    _pyplot().close(fig)


def _placeholder(path: Path, title: str, message: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.set_axis_off()
    ax.set_title(title, fontsize=14)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=13, color="#555555", wrap=True)
    _save(fig, path)


def draw_labels(report: Report, path: Path) -> None:
    plt = _pyplot()
    names = sorted(report.labels, key=lambda n: (n != HATE, n != NOTHATE, n))
    counts = [report.labels[n] for n in names]
    others = iter(OTHER_COLORS * 4)
    colors = [COLORS.get(n) or next(others) for n in names]
    fig, ax = plt.subplots(figsize=(6.5, 5))
    wedges, _texts, _autotexts = ax.pie(
        counts, colors=colors, startangle=90, counterclock=False,
        autopct=lambda pct: f"{pct:.1f}%\n({round(pct * report.total / 100):,})",
        textprops={"color": "white", "fontsize": 12, "fontweight": "bold"},
        wedgeprops={"edgecolor": "white", "linewidth": 1.5},
    )
    ax.legend(wedges, [f"{n}: {c:,}" for n, c in zip(names, counts, strict=True)], loc="center left",
              bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=11)
    ax.set_title(f"Predicted labels ({report.total:,} comments)", fontsize=14)
    ax.axis("equal")
    _save(fig, path)


def draw_wordcloud(report: Report, path: Path) -> None:
    if not report.words:
        why = "No hateful comments in this selection." if not report.hate else "No words left after filtering."
        _placeholder(path, "Most frequent words in hateful comments", why)
        return
    try:
        from wordcloud import WordCloud  # noqa: PLC0415 - optional dependency, only for drawing
    except ImportError as exc:
        raise ConfigError("wordcloud is not installed: pip install -r requirements-report.txt") from exc
    cloud = WordCloud(width=1200, height=600, background_color="white", colormap="Dark2", max_font_size=160,
                      prefer_horizontal=0.95, random_state=7, max_words=TOP_WORDS)
    cloud.generate_from_frequencies(dict(report.words.most_common(TOP_WORDS)))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(12, 6.4))
    ax.imshow(cloud.to_array(), interpolation="bilinear")
    ax.set_axis_off()
    ax.set_title(f"Most frequent words in hateful comments ({report.hate:,} comments)", fontsize=16)
    _save(fig, path)


def draw_trend(report: Report, path: Path) -> None:
    from matplotlib import dates as mdates  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    plt = _pyplot()
    size, points = trend(report.hourly)
    unit = "hour" if size == HOUR else "day"
    when = [datetime.fromtimestamp(p.start, UTC) for p in points]
    width = size / DAY * 0.85  # matplotlib dates are in days
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True, height_ratios=(3, 2))
    top.bar(when, [p.total - p.hate for p in points], width=width, color=COLORS[NOTHATE], label="nothate",
            align="edge")
    top.bar(when, [p.hate for p in points], width=width, bottom=[p.total - p.hate for p in points],
            color=COLORS[HATE], label="hate", align="edge")
    top.set_ylabel(f"comments per {unit}")
    top.set_title(f"Volume and hate rate per {unit} (UTC, by comment creation time)", fontsize=14)
    # Headroom above the tallest bar keeps the legend off the data; counts are whole numbers.
    top.set_ylim(0, max((p.total for p in points), default=1) * 1.2 + 0.5)
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.legend(loc="upper left", frameon=True, framealpha=0.9, edgecolor="none", ncols=2)
    top.grid(axis="y", alpha=0.3)
    centers = [datetime.fromtimestamp(p.start + size / 2, UTC) for p in points]
    rates = [100 * p.rate if p.rate is not None else float("nan") for p in points]
    bottom.plot(centers, rates, color=COLORS[HATE], marker="o", markersize=3, linewidth=1.5)
    bottom.axhline(100 * report.hate_rate, color="#333333", linestyle="--", linewidth=1,
                   label=f"overall {100 * report.hate_rate:.1f}%")
    bottom.set_ylabel("hate rate (%)")
    bottom.set_ylim(0, max(5.0, min(100.0, max((r for r in rates if not math.isnan(r)), default=0) * 1.15)))
    bottom.legend(loc="upper left", frameon=True, framealpha=0.9, edgecolor="none")
    bottom.grid(alpha=0.3)
    locator = mdates.AutoDateLocator(tz=UTC)
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    bottom.set_xlabel("time (UTC)")
    pad = size / DAY
    if when:
        bottom.set_xlim(mdates.date2num(when[0]) - pad, mdates.date2num(when[-1]) + 2 * pad)
    _save(fig, path)


def draw_subreddits(report: Report, path: Path, min_volume: int) -> None:
    rows = rank_subreddits(report.subreddits, min_volume)
    title = f"Highest hate rate by subreddit (at least {min_volume:,} comments)"
    if not rows:
        _placeholder(path, title, f"No subreddit has {min_volume:,} or more comments.\nLower it with --min-volume.")
        return
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.42 * len(rows)))
    names = [f"r/{r.name} (n={r.total:,})" for r in rows]
    rates = [100 * r.rate for r in rows]
    bars = ax.barh(names, rates, color=COLORS[HATE])
    ax.invert_yaxis()  # highest first, at the top
    ax.bar_label(bars, labels=[f"{v:.1f}% ({r.hate:,})" for v, r in zip(rates, rows, strict=True)], padding=3,
                 fontsize=9)
    ax.set_xlim(0, max(10.0, min(100.0, max(rates) * 1.25)))
    ax.set_xlabel("hate rate (%)")
    ax.set_title(title, fontsize=13)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


# -- the page -----------------------------------------------------------------------------


def _num(element_id: str, value: float | int | str, shown: str) -> str:
    return f'<dd id="{element_id}" data-value="{html.escape(str(value))}">{html.escape(shown)}</dd>'


def render_html(report: Report, images: Mapping[str, bytes], meta: Mapping[str, str], min_volume: int) -> str:
    """report.html: self-contained (images as data URIs), numbers carry ids and data-value attributes."""
    e = html.escape
    labels = sorted(report.labels, key=lambda n: (n != HATE, n != NOTHATE, n))
    summary = [
        "<dt>comments</dt>" + _num("total", report.total, f"{report.total:,}"),
        *(f"<dt>{e(n)}</dt>" + _num(f"count-{e(n)}", report.labels[n], f"{report.labels[n]:,}") for n in labels),
        "<dt>hate rate</dt>" + _num("hate-rate", f"{report.hate_rate:.6f}", f"{100 * report.hate_rate:.2f}%"),
        "<dt>first comment</dt>" + _num("first-utc", f"{report.first_utc:.0f}", iso(report.first_utc)),
        "<dt>last comment</dt>" + _num("last-utc", f"{report.last_utc:.0f}", iso(report.last_utc)),
        "<dt>subreddits</dt>" + _num("subreddit-count", len(report.subreddits), f"{len(report.subreddits):,}"),
    ]
    warning = ""
    if len(report.models) > 1:
        warning = (f'<p id="mixed-models" class="warning">Labels in this report come from {len(report.models)} '
                   "different models (see below). Do not compare or add them up without care; narrow the "
                   "selection with --since or read one stage's table.</p>")
    model_rows = "".join(
        f'<tr class="model" data-model="{e(m)}" data-count="{c}"><td><code>{e(m)}</code></td><td>{c:,}</td>'
        f"<td>{report.model_labels[m, HATE]:,}</td>"
        f"<td>{100 * hate_rate(report.model_labels[m, HATE], c):.2f}%</td></tr>"
        for m, c in report.models.most_common())
    hateful = "".join(
        f'<li class="hateful" data-id="{e(h["comment_id"])}" data-score="{h["score"]:.6f}">'
        f'<span class="meta"><b>{h["score"]:.3f}</b> · r/{e(h["subreddit"])} · {e(iso(h["created_utc"]))} · '
        f'<a href="{e(reddit_url(h["permalink"]))}" rel="noopener noreferrer nofollow" target="_blank">'
        f"open on Reddit</a></span><blockquote>{e(h['body'])}</blockquote></li>"
        for h in report.top_hateful) or "<li>none</li>"
    words = ", ".join(f'<span class="word" data-count="{c}">{e(w)} ({c:,})</span>'
                      for w, c in report.words.most_common(TOP_WORDS_LISTED)) or "none"
    ranked = rank_subreddits(report.subreddits, min_volume)
    sub_rows = "".join(
        f'<tr class="subreddit" data-name="{e(r.name)}" data-total="{r.total}" data-hate="{r.hate}">'
        f"<td>r/{e(r.name)}</td><td>{r.total:,}</td><td>{r.hate:,}</td><td>{100 * r.rate:.1f}%</td></tr>"
        for r in ranked)

    def img(name: str, alt: str) -> str:
        data = base64.b64encode(images[name]).decode("ascii")
        tag = f'<img id="img-{name.removesuffix(".png")}" alt="{e(alt)}" src="data:image/png;base64,{data}">'
        return f"<figure>{tag}</figure>"

    meta_rows = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in meta.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reddit hate watch report</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}}
h1{{margin-bottom:.2em}} h2{{margin-top:1.8em;border-bottom:1px solid #ddd}}
dl{{display:grid;grid-template-columns:max-content auto;gap:.2em 1.5em}} dt{{color:#666}} dd{{margin:0;font-weight:600}}
table{{border-collapse:collapse}} td,th{{padding:.25em .8em;border-bottom:1px solid #eee;text-align:left}}
img{{max-width:100%;height:auto}} figure{{margin:1em 0}}
.warning{{background:#fdecea;border-left:4px solid #c0392b;padding:.6em 1em}}
.meta{{color:#555;font-size:.9em}} blockquote{{margin:.3em 0 1em 0;padding-left:.8em;border-left:3px solid #ddd;
white-space:pre-wrap;word-break:break-word}}
.muted{{color:#777;font-size:.9em}}
</style></head><body>
<h1>Reddit hate watch report</h1>
<dl class="muted">{meta_rows}</dl>
{warning}
<h2>Summary</h2>
<dl id="summary">{"".join(summary)}</dl>
<h2>Models</h2>
<p class="muted">The model that produced each stored label.</p>
<table id="models"><thead><tr><th>model</th><th>comments</th><th>hate</th><th>hate rate</th></tr></thead>
<tbody>{model_rows}</tbody></table>
<h2>Labels</h2>{img("labels.png", "Share of hate and nothate predictions")}
<h2>Over time</h2>{img("trend.png", "Volume and hate rate over time")}
<h2>Subreddits</h2>{img("subreddits.png", "Subreddits with the highest hate rate")}
<table id="subreddits"><thead><tr><th>subreddit</th><th>comments</th><th>hate</th><th>hate rate</th></tr></thead>
<tbody>{sub_rows}</tbody></table>
<h2>Words in hateful comments</h2>{img("hate_wordcloud.png", "Word cloud of hateful comments")}
<p id="top-words">{words}</p>
<h2>Most confident hateful comments</h2>
<p class="muted">Up to {TOP_HATEFUL}, by model score; bodies cut at {BODY_CHARS} characters. Content warning.</p>
<ol id="top-hateful">{hateful}</ol>
</body></html>
"""


def write_report(report: Report, out: Path, min_volume: int, meta: Mapping[str, str]) -> list[Path]:
    """Draw the four charts and report.html into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    draw_labels(report, out / "labels.png")
    draw_wordcloud(report, out / "hate_wordcloud.png")
    draw_trend(report, out / "trend.png")
    draw_subreddits(report, out / "subreddits.png", min_volume)
    images = {name: (out / name).read_bytes() for name in FILES if name.endswith(".png")}
    (out / "report.html").write_text(render_html(report, images, meta, min_volume), encoding="utf-8")
    return [out / name for name in FILES]


# -- command line -------------------------------------------------------------------------


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def main(argv: list[str] | None = None, environ: MutableMapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    ap = argparse.ArgumentParser(prog="python -m devtools.report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help="output folder (default: report/)")
    ap.add_argument("--since", type=parse_since, metavar="WHEN",
                    help="only comments created at or after WHEN: epoch seconds, ISO date/time (UTC) or age (24h, 7d)")
    ap.add_argument("--subreddit", metavar="NAME", help="only this subreddit")
    ap.add_argument("--min-volume", type=_positive, default=5, metavar="N",
                    help="fewest comments for a subreddit to be ranked (default: 5)")
    ap.add_argument("--table", metavar="NAME", help="DynamoDB table (default: $TABLE_NAME, else the offline stack)")
    ap.add_argument("--stack", type=Path, metavar="PATH", help=f"offline stack file (default: {_shown(DEFAULT_STACK)})")
    args = ap.parse_args(argv)
    subreddit = args.subreddit.strip().removeprefix("r/").lower() if args.subreddit else None

    try:
        target = resolve_target(args.table, args.stack, environ)
        _pyplot()  # fail before a long read, not after it
    except ConfigError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    hint = " (is `make run` still up?)" if target.env else ""
    try:
        repository = open_repository(target, environ)
        print(f"reading {target.table} from {target.source}", file=sys.stderr)
        started = time.monotonic()
        report = aggregate(repository.export(since=args.since, subreddit=subreddit),
                           progress=lambda n: print(f"  {n:,} comments read", file=sys.stderr))
    except (StorageError, BotoCoreError) as exc:
        print(f"report: cannot read table {target.table}{hint}: {exc}", file=sys.stderr)
        return 1
    filters = ", ".join(f for f in (
        f"since {iso(args.since)}" if args.since is not None else "",
        f"subreddit r/{subreddit}" if subreddit else "") if f)
    if report.total == 0:
        # Exit 0: an empty selection is a valid answer, not a failure; nothing is written.
        print(f"no labeled comments found in TABLE {target.table}" + (f" ({filters})" if filters else "")
              + "; nothing written", file=sys.stderr)
        return 0
    print(f"read {report.total:,} comments in {time.monotonic() - started:.1f}s", file=sys.stderr)
    if len(report.models) > 1:
        print(f"warning: labels from {len(report.models)} different models: "
              + ", ".join(f"{m} ({c:,})" for m, c in report.models.most_common()), file=sys.stderr)
    meta = {"table": target.table, "source": target.source, "filters": filters or "none",
            "generated": iso(time.time())}
    try:
        written = write_report(report, args.out, args.min_volume, meta)
    except ConfigError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    print(f"{report.total:,} comments, {report.hate:,} hate ({100 * report.hate_rate:.1f}%), "
          f"{len(report.subreddits):,} subreddits -> {written[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
