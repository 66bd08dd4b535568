"""`make report`: read the labeled comments, write the charts and report.html."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from botocore.exceptions import BotoCoreError

from chalicelib.errors import ConfigError, StorageError
from devtools.report import charts
from devtools.report.page import render_html
from devtools.report.source import DEFAULT_STACK, open_repository, parse_since, resolve_target, shown
from devtools.report.stats import Report, aggregate, iso
from devtools.report_reviews import ReviewTally, render_section, summary_line

DEFAULT_OUT = Path("report")
FILES = ("labels.png", "hate_wordcloud.png", "trend.png", "subreddits.png", "report.html")


def write_report(report: Report, out: Path, min_volume: int, meta: Mapping[str, str],
                 min_word_comments: int = charts.MIN_WORD_COMMENTS, *, extra_html: str = "") -> list[Path]:
    """Draw the four charts and report.html into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    charts.draw_labels(report, out / "labels.png")
    charts.draw_wordcloud(report, out / "hate_wordcloud.png", min_word_comments)
    charts.draw_trend(report, out / "trend.png")
    charts.draw_subreddits(report, out / "subreddits.png", min_volume)
    images = {name: (out / name).read_bytes() for name in FILES if name.endswith(".png")}
    page = render_html(report, images, meta, min_volume, min_word_comments, extra_html=extra_html)
    (out / "report.html").write_text(page, encoding="utf-8")
    return [out / name for name in FILES]


# -- command line -------------------------------------------------------------------------


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def main(argv: list[str] | None = None, environ: MutableMapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    # The package docstring is the command's help.
    ap = argparse.ArgumentParser(prog="python -m devtools.report", description=sys.modules["devtools.report"].__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help="output folder (default: report/)")
    ap.add_argument("--since", type=parse_since, metavar="WHEN",
                    help="only comments created at or after WHEN: epoch seconds, ISO date/time (UTC) or age (24h, 7d)")
    ap.add_argument("--subreddit", metavar="NAME", help="only this subreddit")
    ap.add_argument("--min-volume", type=_positive, default=5, metavar="N",
                    help="fewest comments for a subreddit to be ranked (default: 5)")
    ap.add_argument("--min-word-comments", type=_positive, default=charts.MIN_WORD_COMMENTS, metavar="N",
                    help="fewest hateful comments using a word for it to be shown "
                         f"(default: {charts.MIN_WORD_COMMENTS})")
    ap.add_argument("--table", metavar="NAME", help="DynamoDB table (default: $TABLE_NAME, else the offline stack)")
    ap.add_argument("--stack", type=Path, metavar="PATH", help=f"offline stack file (default: {shown(DEFAULT_STACK)})")
    args = ap.parse_args(argv)
    subreddit = args.subreddit.strip().removeprefix("r/").lower() if args.subreddit else None

    try:
        target = resolve_target(args.table, args.stack, environ)
        charts.pyplot()  # fail before a long read, not after it
    except ConfigError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    hint = " (is `make run` still up?)" if target.env else ""
    try:
        repository = open_repository(target, environ)
        reviews = ReviewTally()
        print(f"reading {target.table} from {target.source}", file=sys.stderr)
        started = time.monotonic()
        report = aggregate(reviews.tap(repository.export(since=args.since, subreddit=subreddit)),
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
    if report.offline_models:
        print("note: labels come from the offline stand-in model " + ", ".join(report.offline_models)
              + ": not for moderation decisions (report.html says so too)", file=sys.stderr)
    if len(report.models) > 1:
        print(f"warning: labels from {len(report.models)} different models: "
              + ", ".join(f"{m} ({c:,})" for m, c in report.models.most_common()), file=sys.stderr)
    meta = {"table": target.table, "source": target.source, "filters": filters or "none",
            "generated": iso(time.time())}
    try:
        written = write_report(report, args.out, args.min_volume, meta, args.min_word_comments,
                               extra_html=render_section(reviews))
    except ConfigError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    print(f"{report.total:,} comments, {report.hate:,} hate ({100 * report.hate_rate:.1f}%), "
          f"{len(report.subreddits):,} subreddits -> {written[-1]}")
    if reviews.reviewed:
        print(summary_line(reviews))
    return 0


if __name__ == "__main__":
    sys.exit(main())
