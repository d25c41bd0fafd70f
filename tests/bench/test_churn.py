"""The allocator bench's fragmentation case: its plans, and the model that judges every answer.

Pure: the bench itself (`python -m bench.allocator`, about 30 s) is run by hand; these check that
its workload is what it says and that a wrong answer from the allocator cannot pass unseen.
"""

import math
from ipaddress import ip_address

import pytest

from bench.allocator import CHURN, churn_checked, make_services
from bench.churn import Ledger, Wave, churn_met, newest_waves, random_waves, runs_of
from bench.verdicts import worst
from controller.allocator import Allocation, Allocator


def held_after(fill: int, plan: tuple[Wave, ...]) -> set[int]:
    live = set(range(fill))
    for wave in plan:
        assert set(wave.releases) <= live, "a wave releases only Services that hold addresses"
        live -= set(wave.releases)
        live |= set(wave.allocations)
    return live


def test_a_seed_gives_the_same_churn_every_time_and_another_seed_another():
    assert random_waves(7, 100, 5, 20) == random_waves(7, 100, 5, 20)
    assert random_waves(7, 100, 5, 20) != random_waves(8, 100, 5, 20)


def test_random_waves_release_distinct_holding_services_and_keep_the_count():
    plan = random_waves(3, 100, 30, 40)
    for wave in plan:
        assert len(set(wave.releases)) == len(wave.releases) == 40
        assert len(wave.allocations) == 40
    assert len(held_after(100, plan)) == 100
    assert [w.allocations[0] for w in plan[:3]] == [100, 140, 180]


def test_the_baseline_releases_the_newest_services_first():
    plan = newest_waves(5, 2, 2)
    assert plan == (
        Wave(releases=(4, 3), allocations=(5, 6)),
        Wave(releases=(6, 5), allocations=(7, 8)),
    )
    assert held_after(5, plan) == {0, 1, 2, 7, 8}


@pytest.mark.parametrize("plan", [random_waves, lambda *a: newest_waves(*a[1:])])
def test_a_wave_larger_than_the_services_holding_is_refused(plan):
    with pytest.raises(ValueError, match="needs 1 to 3"):
        plan(1, 3, 1, 4)


def test_runs_count_the_stretches_without_a_hole():
    assert runs_of([]) == 0
    assert runs_of([4, 2, 3]) == 1
    assert runs_of([0, 2, 3, 9]) == 3


def test_lowest_free_answers_are_right():
    ledger = Ledger(size=4)
    for number in range(3):
        ledger.give(number, number)
    ledger.take(1, 1)
    ledger.give(3, 1)
    ledger.give(4, 3)
    ledger.give(5, None)  # the pool is full
    assert ledger.wrong == []
    assert ledger.checked == 7


@pytest.mark.parametrize(
    ("slot", "fault"),
    [
        pytest.param(0, "got slot 0, held by Service 0", id="an address given twice"),
        pytest.param(4, "outside the pool of 4", id="an address outside the pool"),
        pytest.param(-1, "outside the pool of 4", id="an address below the pool"),
        pytest.param(3, "not the lowest free (2)", id="a higher address than the lowest free"),
        pytest.param(None, "got nothing while slot 2 was free", id="nothing while one is free"),
    ],
)
def test_a_wrong_answer_is_noticed(slot, fault):
    ledger = Ledger(size=4)
    ledger.give(0, 0)
    ledger.give(1, 1)
    ledger.give(2, slot)
    assert len(ledger.wrong) == 1
    assert fault in ledger.wrong[0]


def test_a_release_of_another_address_than_the_one_held_is_noticed():
    ledger = Ledger(size=4)
    ledger.give(0, 0)
    ledger.take(0, 2)
    ledger.take(1, None)
    assert ledger.wrong == [
        "Service 0 released slot 2, but it held 0",
        "Service 1 released slot None, but it held None",
    ]


def test_the_allocators_own_view_is_compared_with_the_answers():
    ledger = Ledger(size=4)
    ledger.give(0, 0)
    ledger.agrees([(0, 0), (1, None)])
    assert ledger.wrong == []
    ledger.agrees([(0, 3)])
    assert ledger.wrong == ["the allocator says Service 0 holds slot 3, the answers say 0"]


def test_only_the_first_faults_are_kept():
    ledger = Ledger(size=1, keep=2)
    for number in range(5):
        ledger.give(number, 7)
    assert len(ledger.wrong) == 3
    assert ledger.wrong[-1] == "… and more"


def test_the_real_allocator_answers_a_small_random_churn_rightly_in_a_fragmented_pool():
    plan = random_waves(1, 64, 4, 32)
    ledger = churn_checked(make_services(CHURN, 64 + 4 * 32), 64, plan)
    assert ledger.wrong == []
    assert ledger.most_runs > 1  # holes were open while it allocated
    assert ledger.checked == 64 + 2 * 4 * 32


def test_a_wrong_allocator_is_caught_by_the_replay(monkeypatch):
    def always_the_first(self, service):
        return Allocation(service=service.key, pool="bench", ips=(ip_address("10.0.0.0"),))

    monkeypatch.setattr(Allocator, "allocate", always_the_first)
    ledger = churn_checked(make_services(CHURN, 8 + 4), 8, random_waves(1, 8, 1, 4))
    assert "Service 1 got slot 0, held by Service 0" in ledger.wrong


def test_the_churn_goal_is_met_by_right_answers_within_the_ratio_on_a_fragmented_pool():
    assert churn_met(1.5, 1.5, faults=0, most_runs=128, wave=512)


@pytest.mark.parametrize(
    ("ratios", "faults", "most_runs"),
    [
        pytest.param((1.0, 1.6), 0, 400, id="a ratio over the goal"),
        pytest.param((1.0, math.nan), 0, 400, id="a missing figure"),
        pytest.param((), 0, 400, id="no figure at all"),
        pytest.param((1.0, 1.1), 1, 400, id="a wrong answer"),
        pytest.param((1.0, 1.1), 0, 1, id="a churn that left no hole"),
    ],
)
def test_the_churn_goal_is_missed(ratios, faults, most_runs):
    assert not churn_met(worst(ratios), 1.5, faults=faults, most_runs=most_runs, wave=512)
