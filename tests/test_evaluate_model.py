"""The evaluation's ranking-ceiling diagnostic agrees with a brute-force search."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from devtools.evaluate_model import best_macro_f1


def _brute(y: np.ndarray, p: np.ndarray, cap: float) -> float:
    best = -1.0
    for t in [*np.unique(p), np.inf]:
        pred = (p >= t).astype(int)
        if pred[y == 0].mean() <= cap + 1e-12:
            best = max(best, float(f1_score(y, pred, average="macro", zero_division=0)))
    return best


@pytest.mark.parametrize("cap", [1.0, 0.3, 0.0])
def test_best_macro_f1_matches_brute_force_with_ties(cap: float) -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 300)
    p = np.round(np.clip(0.3 * y + rng.normal(0.35, 0.2, 300), 0, 1), 2)  # many tied scores
    got, flagged = best_macro_f1(y, p, cap)
    assert got == pytest.approx(_brute(y, p, cap))
    assert flagged <= cap + 1e-12


def test_best_macro_f1_perfect_ranking_and_cap() -> None:
    y = np.array([0, 0, 1, 1])
    assert best_macro_f1(y, np.array([0.1, 0.2, 0.8, 0.9])) == (1.0, 0.0)
    # Hate ranked below every harmless text: with no false positives allowed, flag nothing.
    got, flagged = best_macro_f1(y, np.array([0.9, 0.8, 0.2, 0.1]), 0.0)
    assert flagged == 0.0
    assert got == pytest.approx(f1_score(y, np.zeros(4, int), average="macro", zero_division=0))


def test_goals_need_both_hatecheck_conditions_and_compare_held_out_parts_to_v2() -> None:
    from devtools.evaluate_model import V2_TEST_MACRO_F1, goals  # noqa: PLC0415

    def report(hc_f1: float, hc_fp: float, sbic: float) -> dict[str, object]:
        return {
            "sets": {
                "hatecheck": {"macro_f1": hc_f1, "nothate_flagged": hc_fp},
                "ethos_binary": {"macro_f1": 0.72},
                "sbic_devtest/test": {"macro_f1": sbic},
            }
        }

    v2 = V2_TEST_MACRO_F1["sbic_devtest/test"]
    met = [ok for _, ok in goals(report(0.70, 0.30, v2 - 0.02))]
    assert met == [True, True, True]
    assert [ok for _, ok in goals(report(0.75, 0.31, v2 - 0.021))] == [False, True, False]  # FP cap and v2 - 0.02
    assert [ok for _, ok in goals(report(0.69, 0.10, v2))] == [False, True, True]


def test_the_report_prints_each_ranking_ceiling_it_has(capsys: pytest.CaptureFixture[str]) -> None:
    from devtools.evaluate_model import print_report  # noqa: PLC0415

    report: dict[str, object] = {
        "model_id": "m",
        "sets": {},
        "hatecheck_functionalities": {},
        "hatecheck_ceiling": {"best_macro_f1": 0.661, "best_nothate_flagged": 0.502,
                              "best_macro_f1_flagging_at_most_30pct": 0.639, "nothate_flagged_there": 0.29},
        "ethos_ceiling": {"best_macro_f1": 0.709, "best_nothate_flagged": 0.274},
    }
    print_report(report)
    out = capsys.readouterr().out
    assert "HateCheck ranking ceiling" in out and "best with <= 30% FP 0.639" in out
    assert "ETHOS ranking ceiling (diagnostic only: threshold picked on ETHOS itself, never used): " \
           "best macro-F1 0.709 (27.4% FP)" in out
    del report["ethos_ceiling"]
    print_report(report)
    assert "ETHOS ranking ceiling" not in capsys.readouterr().out
