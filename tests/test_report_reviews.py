"""`make report` with moderator reviews: the tally, the section and the summary line."""

from __future__ import annotations

from typing import Any

from devtools.report_reviews import ReviewTally, render_section, summary_line


def test_tally_counts_reviews_per_bucket_and_model() -> None:
    tally = ReviewTally()
    items: list[dict[str, Any]] = [
        {"label": "hate", "verdict": "hate", "model": "m1"},
        {"label": "hate", "verdict": "nothate", "model": "m1"},
        {"label": "nothate", "verdict": "hate"},
        {"label": "hate", "verdict": None, "model": "m1"},
        {"label": "hate", "verdict": "maybe"},
    ]
    assert list(tally.tap(items)) == items  # passed through unchanged
    assert tally.reviewed == 3
    assert tally.overall == {"hate_confirmed": 1, "hate_overturned": 1, "nothate_overturned": 1}
    assert tally.models["m1"] == {"hate_confirmed": 1, "hate_overturned": 1}
    assert tally.models["(not recorded)"] == {"nothate_overturned": 1}
    assert "precision of hate labels 50.0%" in summary_line(tally)
    assert render_section(ReviewTally()) == ""


# The hook into `make report` (devtools/report, the package) cannot be tested here: on main that
# package is missing from the repository (.gitignore's "report/" also matches devtools/report/).
