"""The failover bench's figures from recorded frames: moves, lost datagrams, goals.

Pure: no lab, no root. The bench itself (`python -m bench.failover --quick`, about 2 minutes,
root) is run by hand; these check the counting it reports, on hand-made records.
"""

from bench.datagrams import INTERVAL
from bench.failover_figures import (
    Row,
    answering,
    datagram_moves,
    dense_rounds,
    lost_datagrams,
    per_move,
    percentile,
)

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
