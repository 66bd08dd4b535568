"""Analysis report of stored predictions: charts and one self-contained HTML page.

Reads the labeled comments through the project's own CommentRepository.export
(paginated index queries, never a Scan) and writes to ``--out`` (default ``report/``):

  labels.png          share of hate / nothate, with counts
  hate_wordcloud.png  words by the number of hateful comments using them (stop words, URLs removed)
  trend.png           volume and hate rate per time bin (hour ... year, chosen from span and volume)
  subreddits.png      subreddits ranked by the Wilson lower bound of their hate rate (n >= --min-volume)
  report.html         the charts embedded, summary numbers, models, top hateful comments

Which table: ``--table``; else ``TABLE_NAME``; else the offline stack described by
``.local/stack.json`` (written by ``make run``; ``--stack`` names another file). With no
matching comment it prints a message, writes nothing and exits 0. Needs matplotlib and
wordcloud (requirements-report.txt). Usage::

    python -m devtools.report [--out DIR] [--since WHEN] [--subreddit NAME] [--min-volume N]
                              [--min-word-comments N] [--table NAME] [--stack PATH]

``--since`` takes epoch seconds, an ISO date/time (UTC unless it carries an offset) or a
relative age such as ``24h`` / ``7d``.

Modules: ``stats`` (counts, bins, Wilson ranking; no plotting package), ``words``,
``source`` (which table, --since), ``charts`` (matplotlib), ``page`` (report.html), ``cli``.
"""

from devtools.report.cli import DEFAULT_OUT, FILES, main, write_report
from devtools.report.page import render_html
from devtools.report.source import Target, default_stack, open_repository, parse_since, resolve_target
from devtools.report.stats import (
    BODY_CHARS,
    Report,
    SubredditRate,
    TrendPoint,
    aggregate,
    choose_bin_size,
    rank_subreddits,
    reddit_url,
    trend,
    wilson_interval,
)
from devtools.report.words import document_frequencies, tokenize, top_words

__all__ = [
    "BODY_CHARS", "DEFAULT_OUT", "FILES", "Report", "SubredditRate", "Target", "TrendPoint", "aggregate",
    "choose_bin_size", "default_stack", "document_frequencies", "main", "open_repository", "parse_since",
    "rank_subreddits", "reddit_url", "render_html", "resolve_target", "tokenize", "top_words", "trend",
    "wilson_interval", "write_report",
]
