"""report.html: one self-contained page (charts as data URIs); every number carries an id and data-value."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping

from devtools.report.charts import MIN_WORD_COMMENTS, label_order
from devtools.report.stats import (
    BODY_CHARS,
    HATE,
    TOP_HATEFUL,
    Report,
    hate_rate,
    iso,
    rank_subreddits,
    reddit_url,
)
from devtools.report.words import top_words

TOP_WORDS_LISTED = 25  # words listed in report.html


def _num(element_id: str, value: float | int | str, shown: str) -> str:
    return f'<dd id="{element_id}" data-value="{html.escape(str(value))}">{html.escape(shown)}</dd>'


def render_html(report: Report, images: Mapping[str, bytes], meta: Mapping[str, str], min_volume: int,
                min_word_comments: int = MIN_WORD_COMMENTS, *, extra_html: str = "") -> str:
    """report.html: self-contained (images as data URIs), numbers carry ids and data-value attributes."""
    e = html.escape
    labels = label_order(report)
    summary = [
        "<dt>comments</dt>" + _num("total", report.total, f"{report.total:,}"),
        *(f"<dt>{e(n)}</dt>" + _num(f"count-{e(n)}", report.labels[n], f"{report.labels[n]:,}") for n in labels),
        "<dt>hate rate</dt>" + _num("hate-rate", f"{report.hate_rate:.6f}", f"{100 * report.hate_rate:.2f}%"),
        "<dt>first comment</dt>" + _num("first-utc", f"{report.first_utc:.0f}", iso(report.first_utc)),
        "<dt>last comment</dt>" + _num("last-utc", f"{report.last_utc:.0f}", iso(report.last_utc)),
        "<dt>subreddits</dt>" + _num("subreddit-count", len(report.subreddits), f"{len(report.subreddits):,}"),
    ]
    warning = ""
    offline = report.offline_models
    banner = "" if not offline else (
        '<p id="offline-model" class="banner"><strong>Offline stand-in model: not for moderation decisions.</strong> '
        f"Labels from {', '.join(f'<code>{e(m)}</code>' for m in offline)} come from the small demo model that "
        "<code>make run</code> serves; it is much less accurate than the production model (see MODEL.md).</p>")
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
                      for w, c in top_words(report.words, min_word_comments, TOP_WORDS_LISTED)) or "none"
    ranked = rank_subreddits(report.subreddits, min_volume)
    sub_rows = "".join(
        f'<tr class="subreddit" data-name="{e(r.name)}" data-total="{r.total}" data-hate="{r.hate}" '
        f'data-lower="{r.lower:.6f}"><td>r/{e(r.name)}</td><td>{r.total:,}</td><td>{r.hate:,}</td>'
        f"<td>{100 * r.rate:.1f}%</td><td>{100 * r.lower:.1f}% – {100 * r.interval[1]:.1f}%</td></tr>"
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
.banner{{background:#fff4e0;border:2px solid #d35400;padding:.7em 1em;font-size:1.05em}}
.meta{{color:#555;font-size:.9em}} blockquote{{margin:.3em 0 1em 0;padding-left:.8em;border-left:3px solid #ddd;
white-space:pre-wrap;word-break:break-word}}
.muted{{color:#777;font-size:.9em}}
</style></head><body>
<h1>Reddit hate watch report</h1>
{banner}
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
<p class="muted">Ranked by the lower end of the 95% (Wilson) interval of the hate rate, so that a few comments
cannot rank high by chance; at least {min_volume:,} comments, subreddits with no hateful comment left out.</p>
<table id="subreddits"><thead><tr><th>subreddit</th><th>comments</th><th>hate</th><th>hate rate</th>
<th>95% interval</th></tr></thead>
<tbody>{sub_rows}</tbody></table>
<h2>Words in hateful comments</h2>{img("hate_wordcloud.png", "Word cloud of hateful comments")}
<p class="muted">Each word is counted once per hateful comment that uses it; words used by fewer than
{min_word_comments} comments are left out.</p>
<p id="top-words">{words}</p>
<h2>Most confident hateful comments</h2>
<p class="muted">Up to {TOP_HATEFUL}, by model score; bodies cut at {BODY_CHARS} characters. Content warning.</p>
<ol id="top-hateful">{hateful}</ol>
{extra_html}</body></html>
"""
