"""Review figures for `make report`: what moderators decided about the labels in the selection.

Counted from the same comments the report reads (so ``--since`` and ``--subreddit`` apply),
with the buckets and precision rule of GET /stats (chalicelib.reviews).
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from chalicelib import schema
from chalicelib.reviews import BUCKETS, bucket, precision

UNKNOWN_MODEL = "(not recorded)"


class ReviewTally:
    """Counts reviewed comments per bucket, overall and per model, as they stream past."""

    def __init__(self) -> None:
        self.overall: Counter[str] = Counter()
        self.models: dict[str, Counter[str]] = {}

    def tap(self, items: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        """Pass ``items`` through unchanged, counting their reviews on the way."""
        for item in items:
            self.add(item)
            yield item

    def add(self, item: Mapping[str, Any]) -> None:
        verdict, label = item.get(schema.VERDICT_ATTRIBUTE), item.get("label")
        if verdict not in schema.VERDICTS or label not in schema.LABELS:
            return
        name = bucket(str(label), str(verdict))
        self.overall[name] += 1
        self.models.setdefault(str(item.get("model") or UNKNOWN_MODEL), Counter())[name] += 1

    @property
    def reviewed(self) -> int:
        return sum(self.overall.values())


def _precision(counts: Mapping[str, int]) -> float | None:
    return precision(counts.get("hate_confirmed", 0), counts.get("hate_overturned", 0))


def _shown(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def summary_line(tally: ReviewTally) -> str:
    c = tally.overall
    return (f"{tally.reviewed:,} reviewed by moderators: hate confirmed {c['hate_confirmed']:,}, overturned "
            f"{c['hate_overturned']:,}; nothate confirmed {c['nothate_confirmed']:,}, overturned "
            f"{c['nothate_overturned']:,}; precision of hate labels {_shown(_precision(c))}")


def render_section(tally: ReviewTally) -> str:
    """The report's "Moderator reviews" section, or "" when nothing was reviewed."""
    if not tally.reviewed:
        return ""
    e = html.escape

    def row(name: str, counts: Mapping[str, int], attrs: str) -> str:
        cells = "".join(f"<td>{counts.get(b, 0):,}</td>" for b in BUCKETS)
        value = _precision(counts)
        return (f'<tr {attrs} data-precision="{"" if value is None else f"{value:.6f}"}"><td>{name}</td>{cells}'
                f"<td>{_shown(value)}</td></tr>")

    rows = [row("all models", tally.overall, 'id="reviews-all"')]
    rows += [row(f"<code>{e(m)}</code>", c, f'class="review-model" data-model="{e(m)}"')
             for m, c in sorted(tally.models.items())]
    head = "".join(f"<th>{b.replace('_', ' ')}</th>" for b in BUCKETS)
    return (f'<h2>Moderator reviews</h2>\n<p class="muted">{tally.reviewed:,} of the comments in this selection were '
            "reviewed with the console or POST /comments/{id}/review. Precision is the share of reviewed hate "
            "labels that moderators confirmed.</p>\n"
            f'<table id="reviews"><thead><tr><th>model</th>{head}<th>precision</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>\n")
