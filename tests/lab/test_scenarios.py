"""`metalpool-lab chaos`: the timeline and verdict from samples (pure), and two scenarios run
in one lab (tier T3, root): a frozen speaker and a pulled link, judged from the client.
"""

import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.demo import Lab
from lab.observers import Move
from lab.scenarios import (
    FAILURE,
    LABEL,
    STEADY,
    WIDTH,
    Event,
    Timing,
    answered_by,
    judge,
    longest_silence,
    run_scenarios,
    strips,
    timeline,
    verdict,
)
from tests.support.netns import unavailable_reason

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
NODE_1, NODE_2 = "02:00:00:00:00:01", "02:00:00:00:00:02"
GLYPHS = {NODE_1: "1", NODE_2: "2"}


def sample(t: float, **answers: list[str]) -> dict[str, object]:
    return {"t": t, "answers": {ip.replace("_", "."): macs for ip, macs in answers.items()}}


def samples(ip: str, *answers: list[str], every: float = 0.5) -> list[dict[str, object]]:
    return [{"t": i * every, "answers": {ip: macs}} for i, macs in enumerate(answers)]


def is_address_row(line: str) -> bool:
    """A timeline row: an address, then only sample glyphs."""
    try:
        ipaddress.ip_address(line.split(" ", 1)[0])
    except ValueError:
        return False
    return set(line[LABEL:]) <= set("0123456789.X? ")


# ------------------------------------------------------------------ pure


def test_a_sample_becomes_the_answering_nodes_digit_a_dot_or_an_x():
    lines = samples("192.0.2.10", [NODE_1], [], [NODE_1, NODE_2], [NODE_2], ["02:99:00:00:00:00"])
    assert strips(lines, ["192.0.2.10"], GLYPHS, 0.5) == {"192.0.2.10": "1.X2?"}


def test_the_timeline_has_a_time_axis_a_row_per_address_and_lettered_events():
    lines = [
        sample(i * 0.5, **{"192_0_2_10": [NODE_1] if i < 4 else [NODE_2], "192_0_2_11": [NODE_2]})
        for i in range(12)
    ]
    rows = timeline(
        lines,
        ["192.0.2.10", "192.0.2.11"],
        GLYPHS,
        every=0.5,
        events=[Event(at=2.0, what="speaker on node-1 killed")],
    )
    assert rows[1:] == [
        "t (s)           0         5",
        "192.0.2.10      111122222222",
        "192.0.2.11      222222222222",
        "events              a",
        "  a     2.0 s  speaker on node-1 killed",
    ]


def test_a_missing_sample_leaves_a_blank_column():
    lines = [sample(0.0, **{"192_0_2_10": [NODE_1]}), sample(1.0, **{"192_0_2_10": [NODE_1]})]
    assert strips(lines, ["192.0.2.10"], GLYPHS, 0.5) == {"192.0.2.10": "1 1"}


def test_a_long_timeline_wraps_into_blocks_that_fit_the_terminal():
    lines = samples("198.51.100.16", *([[NODE_1]] * 200))
    rows = timeline(lines, ["198.51.100.16"], GLYPHS, every=0.5)
    assert max(len(r) for r in rows) <= WIDTH
    assert [r.split()[2] for r in rows if r.startswith("t (s)")] == ["0", "40", "80"]
    assert "".join(r.split()[1] for r in rows if is_address_row(r)) == "1" * 200


def test_the_outage_is_the_longest_silent_run_times_the_period():
    assert longest_silence("11..1...22", 0.5) == 1.5
    assert longest_silence("1111", 0.5) == 0.0


def test_answered_by_lists_the_nodes_in_turn_ignoring_silence_and_splits():
    assert answered_by("11.22X2211") == "1>2>1"
    assert answered_by("....") == "-"


@pytest.mark.parametrize(
    ("strip", "found", "limits", "expected"),
    [
        pytest.param("1111", [], STEADY, [], id="steady"),
        pytest.param("11.1", [], STEADY, ["ip unanswered for 0.5 s"], id="one silent sample"),
        pytest.param("1122", [], STEADY, ["ip changed answerer"], id="moved under an API stall"),
        pytest.param(
            "11X2", [Move(old=NODE_1, new=NODE_2, at=1.0, overlap=0.0, gap=0.3)], FAILURE,
            ["1 split sample(s)"], id="split",
        ),
        pytest.param(
            "11.2211", [Move(old=NODE_1, new=NODE_2, at=1.0, overlap=0.0, gap=0.4),
                        Move(old=NODE_2, new=NODE_1, at=5.0, overlap=0.01, gap=0.0)],
            FAILURE, [], id="failover and hand-back",
        ),
        pytest.param(
            "11..22", [Move(old=NODE_1, new=NODE_2, at=1.0, overlap=0.0, gap=1.2)], FAILURE,
            ["move 1: gap 1200 ms, overlap 0 ms"], id="slow failover",
        ),
        pytest.param("1111", [], FAILURE, ["the watched address never moved"], id="no failover"),
        pytest.param("1122.", [], STEADY, ["ip unanswered for 0.5 s", "ip changed answerer",
                                           "ip not answered by one node at the end"], id="end"),
    ],
)  # fmt: skip
def test_the_verdict_judges_the_clients_view(strip, found, limits, expected):
    assert judge({"ip": strip}, found, limits, 0.5) == expected


def test_the_verdict_line_says_ok_or_lists_the_problems():
    assert verdict([], FAILURE).startswith("verdict: OK: no split samples")
    assert verdict(["2 split sample(s)"], FAILURE) == "verdict: FAIL: 2 split sample(s)"


# ------------------------------------------------------------------ the lab (root)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(nodes=3, examples=EXAMPLES, say=lambda _: None) as running:
        running.build()
        yield running


@pytest.mark.wire
@pytest.mark.timeout(120)
@pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
def test_a_frozen_speaker_and_a_pulled_link_show_one_answerer_at_a_time(lab: Lab):
    said: list[str] = []
    started = time.monotonic()
    timing = Timing(freeze=2.0, link=3.0, lead=1.0, tail=3.0)
    ok = run_scenarios(lab, ["freeze", "link-down"], timing=timing, say=said.append)
    output = "\n".join(said)
    rows = [line for line in said if is_address_row(line)]
    assert rows, output
    assert not [row for row in rows if "X" in row[LABEL:]], output
    verdicts = [line for line in said if line.startswith("verdict:")]
    assert len(verdicts) == 2, output
    assert all(v.startswith("verdict: OK") for v in verdicts), output
    assert ok, output
    assert time.monotonic() - started < 60
