"""The probing bench's figures and its goal, on hand-made samples.

Pure: no lab, no root. The bench itself (`python -m bench.announce --quick`, under a minute,
root) is run by hand; these check what it reports and, above all, that nothing missing passes.
"""

import math

import pytest

from bench.announce_figures import GOAL, Figures, goal_line, judge, table


def figures(*values: float | None, expected: int | None = None, label: str = "x") -> Figures:
    return Figures.of(label, list(values), len(values) if expected is None else expected)


def test_percentiles_interpolate_between_closest_ranks():
    times = figures(*(i / 100 for i in range(1, 101)))  # 0.01 … 1.00
    assert times.p50 == pytest.approx(0.505)
    assert times.p95 == pytest.approx(0.9505)
    assert times.p99 == pytest.approx(0.9901)
    assert times.max == 1.0


def test_an_unanswered_service_is_missing_not_dropped_from_the_count():
    times = figures(0.1, None, 0.2)
    assert times.values == (0.1, 0.2)
    assert times.missing == 1
    assert times.complete is False


@pytest.mark.parametrize(
    ("probing", "baseline", "met"),
    [
        pytest.param(figures(0.6, 0.65, 0.7), figures(0.02, 0.03, 0.04), True, id="within"),
        pytest.param(figures(0.6, 0.65, 1.04), figures(0.02, 0.03, 0.04), True, id="just within"),
        pytest.param(figures(0.6, 0.65, 1.2), figures(0.02, 0.03, 0.04), False, id="beyond"),
        pytest.param(figures(0.6, None, 0.7), figures(0.02, 0.03, 0.04), False,
                     id="a probing Service never answered"),
        pytest.param(figures(0.6, 0.65, 0.7), figures(0.02, 0.03, expected=3), False,
                     id="a baseline Service never created"),
        pytest.param(figures(), figures(), False, id="nothing measured"),
        pytest.param(figures(0.6, math.nan), figures(0.02, 0.03), False, id="a nan sample"),
    ],
)  # fmt: skip
def test_the_goal_is_met_only_with_every_service_answered_and_p99_within_a_second(
    probing: Figures, baseline: Figures, met: bool
):
    assert judge(probing, baseline).met is met


def test_the_verdict_says_how_far_apart_and_what_is_missing():
    verdict = judge(figures(1.5, 1.6, label="with"), figures(0.02, 0.03, label="without"))
    assert verdict.difference == pytest.approx(1.6 - 0.03, abs=0.001)
    assert verdict.why == "+1.569 s > 1 s"
    missing = judge(figures(None, 0.6, label="with"), figures(0.02, 0.03, label="without"))
    assert missing.why == "with: 1 of 2 not answered"
    assert math.isfinite(missing.difference)  # shown, but not trusted


def test_the_goal_line_says_met_or_missed():
    met = judge(figures(0.6, 0.7), figures(0.02, 0.03))
    assert goal_line(met) == (
        f"goal create→announced p99 with probing <= p99 without + {GOAL:g} s: met (+0.669 s <= 1 s)"
    )
    assert ": MISSED (" in goal_line(judge(figures(None), figures(0.02)))


def test_the_table_shows_a_dash_for_a_missing_figure():
    lines = table(figures(0.02, 0.04, label="without"), figures(None, None, label="with"))
    assert lines[1].split() == ["without", "2/2", "0.030", "0.039", "0.040", "0.040"]
    assert lines[2].split() == ["with", "0/2", "-", "-", "-", "-"]
    assert lines[3].split()[-4:] == ["-", "-", "-", "-"]
