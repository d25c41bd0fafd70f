from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given

from speaker.wire.arp import build_gratuitous_arp
from speaker.wire.gratuitous import BurstSchedule, build_announcements, gratuitous_schedule
from speaker.wire.ndp import build_unsolicited_na
from speaker.wire.replies import IPAddress
from tests.speaker.strategies import ipv4_addresses, ipv6_unicast, unicast_macs

VIP = IPv4Address("192.0.2.10")
VIP6 = IPv6Address("2001:db8::10")


def send_times(
    schedule: BurstSchedule, ip: IPAddress, until: float, start: float = 0.0, step: float = 0.01
):
    """When `take_due` hands out `ip`, polling every `step` seconds from `start` to `until`."""
    times = []
    for tick in range(round(start / step), round(until / step) + 1):
        now = tick * step
        if ip in schedule.take_due(now):
            times.append(round(now, 2))
    return times


def test_announces_at_once_then_every_1_1_s_for_5_s_as_metallb():
    schedule = BurstSchedule()
    schedule.trigger(VIP, 0.0)

    assert send_times(schedule, VIP, until=8.0) == [0.0, 1.1, 2.2, 3.3, 4.4]
    assert schedule.next_due() is None


def test_a_second_trigger_extends_the_burst_without_an_extra_send():
    schedule = BurstSchedule()
    schedule.trigger(VIP, 0.0)
    assert send_times(schedule, VIP, until=2.99) == [0.0, 1.1, 2.2]
    schedule.trigger(VIP, 3.0)

    assert schedule.take_due(3.0) == []
    assert send_times(schedule, VIP, start=3.0, until=9.0) == [3.3, 4.4, 5.5, 6.6, 7.7]


def test_a_forgotten_ip_is_not_announced_again():
    schedule = BurstSchedule()
    schedule.trigger(VIP, 0.0)
    schedule.take_due(0.0)
    schedule.forget(VIP)
    schedule.forget(VIP6)  # unknown: ignored

    assert send_times(schedule, VIP, until=6.0) == []
    assert VIP not in schedule


def test_a_stalled_loop_sends_one_late_round_not_a_backlog():
    schedule = BurstSchedule()
    schedule.trigger(VIP, 0.0)
    schedule.take_due(0.0)

    assert schedule.take_due(3.0) == [VIP]
    assert schedule.take_due(3.05) == []
    assert schedule.next_due() == 4.1


def test_next_due_is_the_earliest_burst():
    schedule = BurstSchedule()
    assert schedule.next_due() is None
    schedule.trigger(VIP, 2.0)
    schedule.trigger(VIP6, 1.0)
    assert schedule.next_due() == 1.0
    assert schedule.take_due(2.0) == [VIP, VIP6]


@given(ip=ipv4_addresses, mac=unicast_macs)
def test_ipv4_announcements_are_the_gratuitous_pair_request_first(ip, mac):
    assert build_announcements(ip, mac) == build_gratuitous_arp(ip, mac)


@given(ip=ipv6_unicast, mac=unicast_macs)
def test_ipv6_announcement_is_one_unsolicited_na(ip, mac):
    assert build_announcements(ip, mac) == (build_unsolicited_na(ip, mac),)


def test_gratuitous_burst_is_immediate_then_every_1_1_s_for_5_s_as_metallb():
    assert gratuitous_schedule() == (0.0, 1.1, 2.2, 3.3, 4.4)


@pytest.mark.parametrize(
    ("interval", "window", "expected"),
    [
        pytest.param(1.0, 3.0, (0.0, 1.0, 2.0), id="the window's end is not included"),
        pytest.param(0.1, 0.35, (0.0, 0.1, 0.2, 0.3), id="no float drift adds a round"),
        pytest.param(2.0, 1.0, (0.0,), id="a window shorter than the interval sends once"),
        pytest.param(0.0, 5.0, (0.0,), id="a zero interval sends once"),
    ],
)
def test_gratuitous_schedule_for_other_timings(interval, window, expected):
    assert gratuitous_schedule(interval, window) == expected
