import re

import pytest

from speaker.wire.interfaces import (
    ARPHRD_ETHER,
    DEFAULT_EXCLUDES,
    IFF_BROADCAST,
    IFF_LOOPBACK,
    IFF_NOARP,
    IFF_UP,
    Interface,
    Selection,
    SkipReason,
    choose_interfaces,
    compile_excludes,
)

UP_BROADCAST = IFF_UP | IFF_BROADCAST
EXCLUDES = compile_excludes(DEFAULT_EXCLUDES)


def link(name: str, flags: int = UP_BROADCAST, **fields: object) -> Interface:
    defaults: dict[str, object] = {
        "index": 2,
        "mac": bytes.fromhex("00005e005301"),
        "has_link_local": True,
    }
    return Interface(name=name, flags=flags, **{**defaults, **fields})  # type: ignore[arg-type]


def choose(*links: Interface, allowed: frozenset[str] | None = None) -> Selection:
    return choose_interfaces(links, allowed, EXCLUDES)


@pytest.mark.parametrize(
    "name",
    ["docker0", "cbr0", "dummy0", "virbr0", "lxcbr0", "veth1234", "lo", "cali12ab", "tunl0",
     "flannel.1", "kube-ipvs0", "cni0", "nodelocaldns", "lxc5678"],
)  # fmt: skip
def test_skips_metallbs_default_excluded_names(name):
    assert choose(link(name)).skipped == ((name, SkipReason.EXCLUDED),)


@pytest.mark.parametrize("name", ["eth0", "ens3", "bond0", "br0", "eth0.100", "lo0", "wlan0"])
def test_keeps_names_the_default_list_does_not_match(name):
    assert [i.name for i in choose(link(name)).chosen] == [name]


@pytest.mark.parametrize(
    ("interface", "reason"),
    [
        pytest.param(link("eth0", flags=IFF_BROADCAST), SkipReason.DOWN, id="down"),
        pytest.param(link("eth0", master="bond0"), SkipReason.ENSLAVED, id="bond slave"),
        pytest.param(link("eth0", flags=UP_BROADCAST | IFF_NOARP), SkipReason.NOARP, id="noarp"),
        pytest.param(link("eth0", flags=IFF_UP | IFF_LOOPBACK), SkipReason.LOOPBACK, id="loop"),
        pytest.param(link("wg0", link_type=65534, mac=None), SkipReason.NOT_ETHERNET, id="none"),
        pytest.param(link("eth0", mac=None), SkipReason.NOT_ETHERNET, id="no mac"),
        pytest.param(
            link("eth0", flags=IFF_UP, has_link_local=False), SkipReason.NO_FAMILY, id="neither"
        ),
    ],
)
def test_skips_interfaces_nothing_could_be_answered_on(interface, reason):
    selection = choose(interface)
    assert (selection.chosen, selection.skipped) == ((), ((interface.name, reason),))


def test_down_and_enslaved_interfaces_still_count_as_local_names():
    selection = choose(link("eth0", flags=0), link("eth1", master="br0"), link("veth0"))
    assert selection.local_names == {"eth0", "eth1"}


def test_arp_needs_broadcast_and_ndp_needs_a_link_local_address():
    both = link("eth0", index=2)
    arp_only = link("eth1", index=3, has_link_local=False)
    ndp_only = link("eth2", index=4, flags=IFF_UP)

    selection = choose(ndp_only, arp_only, both)

    assert [i.name for i in selection.arp] == ["eth0", "eth1"]
    assert [i.name for i in selection.ndp] == ["eth0", "eth2"]
    assert [i.name for i in selection.chosen] == ["eth0", "eth1", "eth2"]


def test_allowed_names_replace_the_exclude_list_but_not_the_eligibility_rules():
    selection = choose(
        link("veth0"), link("eth0"), link("eth1", flags=0), allowed=frozenset({"veth0", "eth1"})
    )
    assert [i.name for i in selection.chosen] == ["veth0"]
    assert selection.local_names == {"veth0", "eth1"}
    assert ("eth0", SkipReason.NOT_ALLOWED) in selection.skipped


def test_patterns_are_searched_unanchored_as_metallb_does():
    pattern = compile_excludes(["docker", "^eth1$"])
    selection = choose_interfaces(
        [link("my-docker-if"), link("eth1"), link("eth10")], None, pattern
    )
    assert [i.name for i in selection.chosen] == ["eth10"]


def test_an_empty_exclude_list_excludes_nothing():
    assert compile_excludes([]) is None
    assert [i.name for i in choose_interfaces([link("veth0")], None, None).chosen] == ["veth0"]


def test_an_invalid_pattern_is_a_configuration_error():
    with pytest.raises(re.error):
        compile_excludes(["("])


def test_the_ethernet_link_type_is_arphrd_ether():
    assert link("eth0").link_type == ARPHRD_ETHER == 1
