"""The failover bench's figures from recorded frames: moves, lost datagrams, goals.

Pure: no lab, no root. The bench itself (`python -m bench.failover --quick`, about 2 minutes,
root) is run by hand; these check the counting it reports, on hand-made records.
"""

import math

import pytest

from bench.datagrams import INTERVAL
from bench.failover_figures import (
    Row,
    answering,
    datagram_moves,
    dense_rounds,
    known_gone,
    lost_datagrams,
    per_move,
    percentile,
)
from bench.failover_results import Trial, floor

A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


def frames(*macs: str, start: float = 100.0) -> list[list[object]]:
    """One frame per MAC, INTERVAL apart, sequence numbers from 1."""
    return [[start + i * INTERVAL, mac, i + 1] for i, mac in enumerate(macs)]


def test_a_move_is_each_change_of_destination_mac():
    sent = frames(A, A, B, B, A)
    assert datagram_moves(sent) == [(sent[2][0], A, B), (sent[4][0], B, A)]


def test_frames_to_a_node_that_stopped_answering_are_lost_until_the_client_moves():
    sent = frames(A, A, A, A, B, B)  # A stops at 100.015, B answers from 100.035
    answers = answering([(100.015, A, False), (100.035, B, True)], [A])
    lost = lost_datagrams(sent, answers)
    assert [sequence for _, sequence in lost] == [3, 4]


def test_sequence_numbers_that_never_left_are_lost_too():
    sent = [[100.0, A, 1], [100.01, A, 2], [100.05, B, 6]]  # 3, 4, 5 dropped unresolved
    answers = answering([(100.02, A, False), (100.04, B, True)], [A])
    assert [sequence for _, sequence in lost_datagrams(sent, answers)] == [3, 4, 5]


def test_a_node_that_stops_and_answers_again_loses_what_was_sent_between():
    sent = frames(A, A, A, A, A, A)  # no change of MAC at all
    answers = answering([(100.015, A, False), (100.035, A, True)], [A])
    assert [sequence for _, sequence in lost_datagrams(sent, answers)] == [3, 4]
    assert datagram_moves(sent) == []


def test_lost_datagrams_count_for_the_nearest_move_or_for_none():
    lost = [(10.0, 1), (10.5, 2), (19.0, 3), (50.0, 4)]
    grouped, outside = per_move(lost, [10.2, 20.0], reach=3.0)
    assert grouped == [[(10.0, 1), (10.5, 2)], [(19.0, 3)]]
    assert outside == [(50.0, 4)]
    assert per_move(lost[:1], []) == ([], [(10.0, 1)])


def test_a_dense_probe_shows_its_longest_silence_and_its_doubly_answered_requests():
    lines = [{"t": n * 0.01, "mac": A, "round": n} for n in (1, 2, 3, 7, 8)]
    lines += [{"t": 0.081, "mac": B, "round": 8}]
    rounds = dense_rounds(lines, 0.01)
    assert rounds.silence == 0.03  # requests 4, 5 and 6
    assert rounds.at == 0.03
    assert rounds.both == 1


def test_a_row_passes_on_its_statistic_and_only_with_every_trial():
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert Row("x", [0.1, 0.2, 0.6], 3, 0.5, "p95").ok is False
    assert Row("x", [0.1, 0.2, 0.3], 3, 0.5, "p95").ok is True
    assert Row("x", [0.1, 0.2], 3, 0.5, "p95").ok is False  # a trial did not fail over
    assert Row("x", [0.0, 2.0], 2, 1, "max", "").ok is False
    assert Row("x", [0.1], 1, 0.5, miss="a speaker had to be killed").ok is False
    assert Row("x", [], 0, None).ok is True  # information only


def test_a_crash_is_known_a_hold_after_the_last_heartbeat_heard():
    heard = {"last": 100.05, "hold": 0.35, "leaving": None}
    assert known_gone(100.1, heard, graceful=False) == pytest.approx(0.30)


def test_a_graceful_stop_is_known_when_its_goodbye_is_heard():
    heard = {"last": 100.104, "hold": 0.35, "leaving": 100.104}
    assert known_gone(100.1, heard, graceful=True) == pytest.approx(0.004)


@pytest.mark.parametrize(
    ("heard", "graceful"),
    [
        pytest.param({"last": None, "hold": None, "leaving": None}, False, id="no heartbeat"),
        pytest.param({"last": 100.0, "hold": 0.0, "leaving": None}, False, id="no hold read"),
        pytest.param({"last": 100.0, "hold": 0.35, "leaving": None}, True, id="no goodbye"),
    ],
)
def test_a_floor_the_probe_did_not_hear_is_unknown(heard, graceful):
    assert known_gone(100.1, heard, graceful=graceful) is None


def test_a_failover_row_is_measured_against_the_floor_of_its_own_trials():
    trials = [Trial(seconds=0.31, known=0.30), Trial(seconds=0.2, known=0.2), Trial()]
    assert floor(trials, graceful=False) == ("last beat + hold, p50 0.250 s", 0.25)
    label, value = floor([Trial(seconds=0.3)], graceful=True)
    assert label == "goodbye heard: not heard"
    assert math.isnan(value)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([0.1, math.nan, 0.2], id="a missing figure among them"),
        pytest.param([math.nan, 0.1, 0.2], id="a missing figure first"),
    ],
)
@pytest.mark.parametrize("stat", ["p95", "max"])
def test_a_row_with_a_missing_figure_fails(values, stat):
    assert Row("x", values, 3, 0.5, stat).ok is False


def test_a_row_without_a_measured_baseline_shows_no_ratio():
    line = Row("x", [0.3], 1, 0.5, baseline_label="last beat + hold: not heard").line()
    assert line.endswith("-")
    assert "PASS" in line
