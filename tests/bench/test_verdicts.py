import math

import pytest

from bench.verdicts import at_least, at_most, below, least, worst

NAN = math.nan


@pytest.mark.parametrize("values", [(NAN, 0.3), (0.3, NAN), (0.1, NAN, 0.2), ()])
def test_a_missing_figure_makes_the_worst_and_the_least_missing_whatever_its_place(values):
    assert math.isnan(worst(values))
    assert math.isnan(least(values))


def test_measured_figures_give_their_extremes():
    assert worst((0.1, 0.3, 0.2)) == 0.3
    assert least((0.1, 0.3, 0.2)) == 0.1


@pytest.mark.parametrize("check", [at_most, at_least, below])
def test_a_missing_figure_never_meets_a_goal(check):
    assert check(NAN, 1.0) is False


def test_goals_compare_as_written():
    assert at_most(1.0, 1.0)
    assert not at_most(1.01, 1.0)
    assert at_least(20_000, 20_000)
    assert not at_least(19_999, 20_000)
    assert below(0.49, 0.5)
    assert not below(0.5, 0.5)
