"""What each speaker wants a Service's `metallb.io/Announced` condition to say, and who says it."""

from ipaddress import ip_address
from typing import Any

import pytest
from hypothesis import given

from metalpool.addresses import IPAddress
from metalpool.quarantine import Conflict
from metalpool.services import ServiceKey
from speaker.cluster.announcements import Snapshot, announcements_for, plan
from speaker.cluster.nodes import Endpoints, EndpointState
from speaker.cluster.reasons import AnnouncedReason
from speaker.conditions import NOTHING, Condition, Desired, Witness, desired
from tests.speaker.cluster.test_announcements_properties import snapshots
from tests.speaker.cluster.test_reasons import EVERYWHERE, ad, held, snapshot
from tests.support.objects import shared

R = AnnouncedReason
V4, V6 = ip_address("192.0.2.10"), ip_address("2001:db8::10")
WEB = held("192.0.2.10")
DUAL = held("192.0.2.10", "2001:db8::10")
KEY = ServiceKey("demo", "web")


def winner(snap: Snapshot, ip: IPAddress = V4) -> str:
    (found,) = [d.winner for d in plan(snap).decisions if d.ip == ip]
    assert found is not None
    return found


def loser(snap: Snapshot) -> str:
    return sorted(set(snap.live) - {winner(snap)})[0]


def wants(node: str, snap: Snapshot, **witness: Any) -> dict[ServiceKey, Desired]:
    """What `node` wants; it answers every IP it won unless told otherwise."""
    planned = plan(snap)
    fields: dict[str, Any] = {
        "node": node,
        "answering": announcements_for(node, snap, planned),
        "interfaces": frozenset({"eth0", "eth1"}),
    }
    return desired(snap, planned, Witness(**(fields | witness)))


def false(reason: AnnouncedReason, message: str) -> Condition:
    return Condition(announced=False, reason=reason, message=message)


# ---------------------------------------------------------------- the elected node


def test_the_winner_says_it_announces_the_address():
    snap = snapshot(WEB)
    me = winner(snap)
    assert wants(me, snap) == {
        KEY: Desired(
            condition=Condition(
                announced=True, reason=R.ANNOUNCED, message=f'node "{me}" announces 192.0.2.10'
            )
        )
    }


def test_the_other_speakers_say_nothing_about_it():
    snap = snapshot(WEB)
    assert wants(loser(snap), snap) == {}


def test_a_dual_stack_service_names_both_addresses():
    snap = snapshot(DUAL)
    me = winner(snap)
    (wanted,) = wants(me, snap).values()
    assert wanted.condition is not None
    assert wanted.condition.message == f'node "{me}" announces 192.0.2.10, 2001:db8::10'


def test_the_winner_says_probing_while_it_checks_the_lan():
    snap = snapshot(WEB)
    me = winner(snap)
    assert wants(me, snap, answering=frozenset(), probing=frozenset({V4})) == {
        KEY: Desired(
            condition=false(
                R.PROBING, f'node "{me}" is checking that no other device holds 192.0.2.10'
            )
        )
    }


def test_a_conflict_is_said_and_written_for_the_controller():
    snap = snapshot(WEB)
    me = winner(snap)
    fact = Conflict(ip=V4, mac="02:00:00:00:00:99", interface="eth0", node=me)
    assert wants(me, snap, answering=frozenset(), conflicts={V4: fact}) == {
        KEY: Desired(
            condition=false(
                R.ADDRESS_CONFLICT,
                "another device holds 192.0.2.10: 02:00:00:00:00:99 on interface eth0"
                f' of node "{me}"',
            ),
            conflicts=(fact,),
        )
    }


def test_a_conflict_outranks_probing_and_the_message_tells_both():
    snap = snapshot(DUAL)
    me = winner(snap)
    fact = Conflict(ip=V6, mac="02:00:00:00:00:99", interface="eth1", node=me)
    (wanted,) = wants(
        me, snap, answering=frozenset(), probing=frozenset({V4}), conflicts={V6: fact}
    ).values()
    assert wanted == Desired(
        condition=false(
            R.ADDRESS_CONFLICT,
            f'another device holds 2001:db8::10: 02:00:00:00:00:99 on interface eth1 of node "{me}"'
            f'; node "{me}" is checking that no other device holds 192.0.2.10',
        ),
        conflicts=(fact,),
    )


def test_an_advertisement_naming_interfaces_the_winner_lacks_is_said():
    snap = snapshot(WEB, advertisements=(ad("third", interfaces=["eth9"]),))
    me = winner(snap)
    assert wants(me, snap) == {
        KEY: Desired(
            condition=false(
                R.INTERFACE_MISSING,
                f'node "{me}" has none of the interfaces named for 192.0.2.10 by'
                ' L2Advertisement "third" (eth9)',
            )
        )
    }


def test_the_winner_says_nothing_while_the_address_is_handed_over_to_it():
    snap = snapshot(WEB)
    assert wants(winner(snap), snap, answering=frozenset()) == {}


# ---------------------------------------------------------------- nobody elected: the reporter


def test_when_nobody_is_elected_the_first_live_speaker_by_name_says_why():
    snap = snapshot(WEB, endpoints={})
    expected = {KEY: Desired(condition=false(R.NO_ENDPOINTS, "the Service has no ready endpoint"))}
    assert [wants(node, snap) for node in ("n1", "n2", "n3")] == [expected, {}, {}]


def test_a_speaker_that_is_not_ready_is_no_reporter():
    snap = snapshot(WEB, endpoints={}, live=frozenset({"n2", "n3"}))
    assert [bool(wants(node, snap)) for node in ("n1", "n2", "n3")] == [False, True, False]


def test_nobody_speaks_when_no_speaker_is_ready():
    snap = snapshot(WEB, endpoints={}, live=frozenset())
    assert [wants(node, snap) for node in ("n1", "n2", "n3")] == [{}, {}, {}]


@pytest.mark.parametrize(
    "service",
    [
        pytest.param(held("192.0.2.10", type="ClusterIP"), id="no longer a LoadBalancer"),
        pytest.param(held(), id="holding no address"),
    ],
)
def test_the_reporter_clears_the_condition_from_our_services_that_no_longer_carry_one(service):
    snap = snapshot(service)
    assert (wants("n1", snap), wants("n2", snap)) == ({KEY: NOTHING}, {})


def test_a_service_of_another_class_is_never_touched():
    snap = snapshot(held("192.0.2.10", loadBalancerClass="other"))
    assert [wants(node, snap) for node in ("n1", "n2", "n3")] == [{}, {}, {}]


# ---------------------------------------------------------------- addresses won apart


def split() -> tuple[Snapshot, str]:
    """web holds 192.0.2.10 (shared with api, which may be announced) and 2001:db8::10.

    web is Local with its endpoint on no named node: nobody may announce it for web, but api
    wins 192.0.2.10 a node. So web's first address is announced and its second is not.
    """
    web = held("192.0.2.10", "2001:db8::10", externalTrafficPolicy="Local", annotations=shared("k"))
    api = held("192.0.2.10", name="api", annotations=shared("k"))
    endpoints = {
        web.service.key: Endpoints.of([EndpointState(node=None)]),
        api.service.key: EVERYWHERE,
    }
    snap = snapshot(web, api, endpoints=endpoints)
    return snap, winner(snap)


def test_the_winner_of_the_first_address_speaks_for_the_rest_too():
    snap, me = split()
    assert wants(me, snap)[KEY] == Desired(
        condition=false(
            R.NO_LOCAL_ENDPOINT,
            "2001:db8::10: externalTrafficPolicy is Local and no node that may announce it"
            " (n1, n2, n3) runs a ready endpoint",
        )
    )
    assert all(KEY not in wants(node, snap) for node in {"n1", "n2", "n3"} - {me})


# ---------------------------------------------------------------- properties


@given(snapshots())
def test_each_service_that_carries_the_condition_has_exactly_one_speaker(snap):
    planned = plan(snap)
    speakers = set(snap.nodes) | set(snap.live)
    spoken: dict[ServiceKey, set[str]] = {}
    for node in speakers:
        witness = Witness(node=node, answering=announcements_for(node, snap, planned))
        for key, wanted in desired(snap, planned, witness).items():
            if wanted.condition is not None:
                spoken.setdefault(key, set()).add(node)
    for held_service in snap.services:
        carries = held_service.service.is_load_balancer and held_service.ingress
        expected = 1 if carries and snap.live else 0
        assert len(spoken.get(held_service.service.key, ())) == expected


@given(snapshots())
def test_the_condition_is_true_exactly_when_every_address_has_a_winner(snap):
    planned = plan(snap)
    winners = {d.ip: d.winner for d in planned.decisions}
    for node in set(snap.nodes) | set(snap.live):
        witness = Witness(
            node=node,
            answering=announcements_for(node, snap, planned),
            interfaces=frozenset({"eth1", "eth2"}),
        )
        for held_service in snap.services:
            wanted = desired(snap, planned, witness).get(held_service.service.key)
            if wanted is None or wanted.condition is None:
                continue
            every = all(winners.get(ip) is not None for ip in held_service.ingress)
            assert wanted.condition.announced == every
