"""When the worker runs an election pass (speaker.cluster.pacing): tables over simulated time."""

from speaker.cluster.pacing import Pacing

COST = 0.03  # a pass over 1,000 Services on a loaded node


def passes_for(
    events: list[float],
    *,
    cost: float = COST,
    urgent: frozenset[float] = frozenset(),
    pacing: Pacing | None = None,
) -> list[float]:
    """Drive a Pacing as the worker does: the start of every pass, with each news event noted.

    The loop wakes on each event and at the pacing's next due time; a pass blocks it for `cost`.
    """
    pacing = pacing or Pacing()
    started: list[float] = []
    busy_until = 0.0
    wakes = sorted(events)
    i = 0
    while i < len(wakes) or pacing.pending:
        due = pacing.next_due()
        now = wakes[i] if i < len(wakes) else due
        assert now is not None
        if due is not None and due < now:
            now = due
        else:
            i += 1
            pacing.note()
        now = max(now, busy_until)  # the loop was inside a pass
        if pacing.due(now, urgent=now in urgent):
            started.append(now)
            busy_until = now + cost
            pacing.ran(busy_until, cost)
    return started


def test_a_flood_of_a_thousand_events_takes_a_handful_of_passes_not_a_busy_loop():
    """One Service event a millisecond for a second (each status written, ours and the peers').

    Before pacing, each wake-up ran a pass: the loop ran passes back to back (the second
    assertion, with no batching), and the responder's heartbeats waited for the GIL.
    """
    events = [i / 1000 for i in range(1000)]
    started = passes_for(events)
    assert len(started) <= 1 / (COST * 5) + 2  # a pass, then four of its cost idle
    assert started[-1] >= events[-1]  # the last event still had its pass
    unpaced = passes_for(events, pacing=Pacing(minimum=0.0, share=0.0))
    assert len(unpaced) * COST >= 0.9 * events[-1]


def test_batched_passes_take_at_most_a_fifth_of_the_loop_whatever_the_flood():
    events = [i / 10_000 for i in range(20_000)]
    started = passes_for(events, cost=0.1)
    assert len(started) * 0.1 <= (events[-1] + 0.5) / 5 + 0.1


def test_news_after_a_quiet_spell_has_its_pass_at_once():
    assert passes_for([5.0]) == [5.0]


def test_news_right_after_a_pass_waits_for_the_batch_and_never_less_than_the_minimum():
    pacing = Pacing()
    pacing.ran(10.0, 0.001)
    pacing.note()
    assert not pacing.due(10.01, urgent=False)
    assert pacing.next_due() == 10.0 + pacing.minimum
    assert pacing.due(10.0 + pacing.minimum, urgent=False)


def test_an_urgent_pass_runs_at_once_even_right_after_another_and_takes_the_pending_news():
    pacing = Pacing()
    pacing.ran(10.0, 0.05)
    pacing.note()
    assert pacing.due(10.001, urgent=True)
    pacing.ran(10.05, 0.05)
    assert pacing.next_due() is None
    assert not pacing.due(11.0, urgent=False)


def test_without_news_nothing_is_due():
    assert Pacing().next_due() is None
    assert not Pacing().due(100.0, urgent=False)
