import pytest

from lab.observers import Move, moves, summarise

A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


def replies(*rounds: tuple[int, str]) -> list[dict[str, object]]:
    return [{"t": round(n * 0.01 + 0.001, 4), "mac": mac, "round": n} for n, mac in rounds]


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param(
            [(0, A), (1, A), (2, B), (3, B)],
            [Move(old=A, new=B, at=0.021, overlap=0.0, gap=0.0)],
            id="a clean hand-off: no overlap, no gap",
        ),
        pytest.param(
            [(0, A), (1, A), (5, B), (6, B)],
            [Move(old=A, new=B, at=0.051, overlap=0.0, gap=0.03)],
            id="three unanswered requests: a 30 ms gap",
        ),
        pytest.param(
            [(0, A), (1, A), (1, B), (2, A), (2, B), (3, B)],
            [Move(old=A, new=B, at=0.031, overlap=0.02, gap=0.0)],
            id="two requests answered by both: a 20 ms overlap",
        ),
        pytest.param(
            [(0, A), (1, B), (2, B), (3, A), (4, A)],
            [
                Move(old=A, new=B, at=0.011, overlap=0.0, gap=0.0),
                Move(old=B, new=A, at=0.031, overlap=0.0, gap=0.0),
            ],
            id="away and back are two moves",
        ),
        pytest.param([(0, A), (3, A)], [], id="silence without a new answerer is no move"),
        pytest.param([], [], id="no replies, no moves"),
    ],
)
def test_moves_are_judged_request_by_request(answers, expected):
    assert moves(replies(*answers), period=0.01) == expected


def test_a_late_reply_counts_against_the_request_it_answers():
    late = {"t": 9.0, "mac": A, "round": 1}  # a burst after a freeze answers an old request
    assert moves([*replies((0, A), (1, B), (2, B)), late], period=0.01) == [
        Move(old=A, new=B, at=0.021, overlap=0.01, gap=0.0)
    ]


def test_summaries_count_split_and_silent_samples_and_changes():
    lines = [
        {"t": 0.0, "answers": {"192.0.2.1": [A]}},
        {"t": 0.5, "answers": {"192.0.2.1": [A, B]}},
        {"t": 1.0, "answers": {"192.0.2.1": []}},
        {"t": 1.5, "answers": {"192.0.2.1": [B]}},
    ]
    (summary,) = summarise(lines).values()
    assert (summary.samples, summary.split, summary.silent, summary.answerers, summary.changes) == (
        4,
        1,
        1,
        (A, B),
        1,
    )
