from datetime import UTC, datetime

from metalpool.conditions import condition_body

NOW = datetime(2026, 12, 2, 18, 0, 0, tzinfo=UTC)
EARLIER = "2026-12-01T09:00:00Z"


def body(holds: bool, previous: dict[str, str] | None, generation: object = 3) -> dict[str, object]:
    return condition_body(
        "example.io/Ready",
        holds=holds,
        reason="Because",
        message="words",
        previous=previous,
        generation=generation,
        now=NOW,
    )


def test_a_first_condition_transitions_now_and_says_which_generation_it_saw():
    assert body(True, None) == {
        "type": "example.io/Ready",
        "status": "True",
        "reason": "Because",
        "message": "words",
        "lastTransitionTime": "2026-12-02T18:00:00Z",
        "observedGeneration": 3,
    }


def test_a_rewrite_that_keeps_the_status_keeps_the_transition_time():
    previous = {"status": "False", "lastTransitionTime": EARLIER, "reason": "Other"}
    assert body(False, previous)["lastTransitionTime"] == EARLIER


def test_a_flip_transitions_now():
    previous = {"status": "True", "lastTransitionTime": EARLIER}
    assert body(False, previous)["lastTransitionTime"] == "2026-12-02T18:00:00Z"


def test_a_previous_condition_without_a_time_gets_one():
    assert body(True, {"status": "True"})["lastTransitionTime"] == "2026-12-02T18:00:00Z"


def test_no_generation_means_no_observed_generation():
    assert "observedGeneration" not in body(True, None, generation=None)
