"""The four PNG charts (matplotlib, wordcloud: requirements-report.txt, never deployed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.errors import ConfigError
from devtools.report.stats import DAY, HATE, MIN_RATE_COMMENTS, NOTHATE, Report, rank_subreddits, trend
from devtools.report.words import top_words

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLORS = {HATE: "#c0392b", NOTHATE: "#7f8c8d"}
OTHER_COLORS = ("#2980b9", "#8e44ad", "#16a085", "#d35400")
SPARSE = "#b3b3b3"  # rates from too few comments
TOP_WORDS = 200  # words drawn in the cloud
#: A word enters the cloud once at least this many hateful comments use it.
MIN_WORD_COMMENTS = 2
OFFLINE_NOTE = "Labels from the offline stand-in model: not for moderation decisions."


def pyplot() -> Any:
    try:
        import matplotlib  # noqa: PLC0415 - optional dependency, only for drawing

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigError("matplotlib is not installed: pip install -r requirements-report.txt") from exc
    return plt


def _save(fig: Figure, path: Path, report: Report | None = None) -> None:
    if report is not None and report.offline_models and fig.axes:
        # Below the lowest axes and clear of its tick labels and x label, whatever the figure's height.
        lowest = min(fig.axes, key=lambda a: a.get_position().y0)
        below = 48 if lowest.get_xlabel() else 16
        lowest.annotate(OFFLINE_NOTE, xy=(0, 0), xycoords="axes fraction", xytext=(0, -below),
                        textcoords="offset points", fontsize=9, color="#a04000", ha="left", va="top")
    fig.savefig(path, dpi=110, bbox_inches="tight", facecolor="white")
    pyplot().close(fig)


def _placeholder(path: Path, title: str, message: str, report: Report | None = None) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.set_axis_off()
    ax.set_title(title, fontsize=14)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=13, color="#555555", wrap=True)
    _save(fig, path, report)


def label_order(report: Report) -> list[str]:
    return sorted(report.labels, key=lambda n: (n != HATE, n != NOTHATE, n))


def draw_labels(report: Report, path: Path) -> None:
    """A donut with each label's share and count outside its slice, where any size of slice leaves room."""
    plt = pyplot()
    names = label_order(report)
    counts = [report.labels[n] for n in names]
    others = iter(OTHER_COLORS * 4)
    colors = [COLORS.get(n) or next(others) for n in names]
    fig, ax = plt.subplots(figsize=(7.5, 5))
    # The first (usually the small hate) slice is centred at 3 o'clock, so its label sits to the right
    # and the big one's to the left: neither runs into the title, the note or the other label.
    first = 180.0 * counts[0] / report.total if report.total else 0.0
    wedges, texts = ax.pie(
        counts, colors=colors, startangle=first, counterclock=False, labeldistance=1.1,
        labels=[f"{n}\n{100 * c / report.total:.1f}% ({c:,})" for n, c in zip(names, counts, strict=True)],
        textprops={"color": "#222222", "fontsize": 12},
        wedgeprops={"edgecolor": "white", "linewidth": 1.5, "width": 0.45},
    )
    for wedge, text in zip(wedges, texts, strict=True):
        text.set_color(wedge.get_facecolor())
        text.set_fontweight("bold")
        text.set_multialignment("left" if text.get_position()[0] >= 0 else "right")
    ax.text(0, 0, f"{report.total:,}\ncomments", ha="center", va="center", fontsize=13, color="#444444")
    ax.set_title("Predicted labels", fontsize=14, pad=12)
    ax.axis("equal")
    _save(fig, path, report)


def draw_wordcloud(report: Report, path: Path, min_comments: int = MIN_WORD_COMMENTS) -> None:
    title = f"Words used by at least {min_comments} hateful comments"
    words = top_words(report.words, min_comments, TOP_WORDS)
    if not words:
        why = ("No hateful comments in this selection." if not report.hate else
               f"No word is used by {min_comments} or more of the {report.hate:,} hateful comments.")
        _placeholder(path, title, why, report)
        return
    try:
        from wordcloud import WordCloud  # noqa: PLC0415 - optional dependency, only for drawing
    except ImportError as exc:
        raise ConfigError("wordcloud is not installed: pip install -r requirements-report.txt") from exc
    cloud = WordCloud(width=1200, height=600, background_color="white", colormap="Dark2", max_font_size=160,
                      prefer_horizontal=0.95, random_state=7, max_words=TOP_WORDS, relative_scaling=0.6)
    cloud.generate_from_frequencies(dict(words))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(12, 6.4))
    ax.imshow(cloud.to_array(), interpolation="bilinear")
    ax.set_axis_off()
    ax.set_title(f"{title} (size: number of comments, of {report.hate:,})", fontsize=16)
    _save(fig, path, report)


def draw_trend(report: Report, path: Path) -> None:
    """Volume per bin on top; below, each bin's rate as a point with its 95% interval, never joined."""
    from matplotlib import dates as mdates  # noqa: PLC0415
    from matplotlib.lines import Line2D  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    plt = pyplot()
    size, points = trend(report.hourly)
    starts = [datetime.fromtimestamp(p.start, UTC) for p in points]
    widths = [(p.end - p.start) / DAY * 0.9 for p in points]  # matplotlib dates are in days
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True, height_ratios=(3, 2))
    top.bar(starts, [p.total - p.hate for p in points], width=widths, color=COLORS[NOTHATE], label="nothate",
            align="edge")
    top.bar(starts, [p.hate for p in points], width=widths, bottom=[p.total - p.hate for p in points],
            color=COLORS[HATE], label="hate", align="edge")
    top.set_ylabel(f"comments per {size.name}")
    top.set_title(f"Volume and hate rate per {size.name} (UTC, by comment creation time)", fontsize=14)
    # Headroom above the tallest bar keeps the legend off the data; counts are whole numbers.
    top.set_ylim(0, max((p.total for p in points), default=1) * 1.25 + 0.5)
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.legend(loc="upper left", frameon=True, framealpha=0.9, edgecolor="none", ncols=2)
    top.grid(axis="y", alpha=0.3)

    shown = [p for p in points if p.total]
    highest = 0.0
    for reliable in (False, True):
        group = [p for p in shown if p.reliable == reliable]
        if not group:
            continue
        x = [datetime.fromtimestamp((p.start + p.end) / 2, UTC) for p in group]
        y = [100 * (p.rate or 0.0) for p in group]
        low = [yy - 100 * p.interval[0] for yy, p in zip(y, group, strict=True)]
        high = [100 * p.interval[1] - yy for yy, p in zip(y, group, strict=True)]
        color = COLORS[HATE] if reliable else SPARSE
        bottom.errorbar(x, y, yerr=[low, high], fmt="o", linestyle="none", color=color, ecolor=color,
                        elinewidth=1.2, capsize=3, markersize=6 if reliable else 5,
                        markerfacecolor=color if reliable else "white", zorder=3 if reliable else 2)
        highest = max(highest, *(100 * p.interval[1] for p in group))
    bottom.axhline(100 * report.hate_rate, color="#333333", linestyle="--", linewidth=1)
    bottom.set_ylabel("hate rate (%)")
    bottom.set_ylim(0, max(5.0, min(100.0, highest * 1.15)))
    handles = [
        Line2D([], [], color="#333333", linestyle="--", label=f"overall {100 * report.hate_rate:.1f}%"),
        Line2D([], [], color=COLORS[HATE], marker="o", linestyle="none",
               label=f"bin with {MIN_RATE_COMMENTS}+ comments, 95% interval"),
        Line2D([], [], color=SPARSE, marker="o", markerfacecolor="white", linestyle="none",
               label=f"fewer than {MIN_RATE_COMMENTS}: too few to mean much"),
    ]
    bottom.legend(handles=handles, loc="upper left", frameon=True, framealpha=0.9, edgecolor="none", fontsize=8,
                  ncols=3)
    bottom.grid(alpha=0.3)
    locator = mdates.AutoDateLocator(tz=UTC)
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    bottom.set_xlabel("time (UTC)")
    if points:
        pad = (points[0].end - points[0].start) / DAY * 0.5
        first = mdates.date2num(starts[0])
        last = mdates.date2num(datetime.fromtimestamp(points[-1].end, UTC))
        bottom.set_xlim(first - pad, last + pad)
    _save(fig, path, report)


def draw_subreddits(report: Report, path: Path, min_volume: int) -> None:
    """Observed rate with its 95% interval; the order is by the interval's lower end."""
    rows = rank_subreddits(report.subreddits, min_volume)
    title = (f"Subreddits with hate, ranked by the lower end of the 95% interval\n"
             f"(at least {min_volume:,} comments; subreddits with none left out)")
    if not rows:
        _placeholder(path, title, f"No subreddit with {min_volume:,} or more comments has a hateful one.\n"
                                  "Lower the minimum with --min-volume.", report)
        return
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 1.6 + 0.42 * len(rows)))
    names = [f"r/{r.name} (n={r.total:,})" for r in rows]
    rates = [100 * r.rate for r in rows]
    low = [rate - 100 * r.interval[0] for rate, r in zip(rates, rows, strict=True)]
    high = [100 * r.interval[1] - rate for rate, r in zip(rates, rows, strict=True)]
    ax.barh(names, rates, color=COLORS[HATE], alpha=0.85, xerr=[low, high],
            error_kw={"ecolor": "#333333", "elinewidth": 1, "capsize": 3})
    ax.invert_yaxis()  # highest first, at the top
    for i, (r, rate) in enumerate(zip(rows, rates, strict=True)):
        ax.text(100 * r.interval[1] + 1, i, f"{rate:.1f}% ({r.hate:,}/{r.total:,}), at least {100 * r.lower:.1f}%",
                va="center", fontsize=9)
    ax.set_xlim(0, min(100.0, max(100 * r.interval[1] for r in rows) * 1.45 + 5))
    ax.set_xlabel("hate rate (%), bar: observed, whisker: 95% interval")
    ax.set_title(title, fontsize=12)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path, report)
