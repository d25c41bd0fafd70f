from ipaddress import IPv4Address, IPv6Address

from speaker.wire.ownership import OwnedTable, solicited_groups
from speaker.wire.replies import IPAddress

V4 = IPv4Address("192.0.2.10")
V4B = IPv4Address("192.0.2.11")
V6 = IPv6Address("2001:db8::10")
V6_SAME_GROUP = IPv6Address("2001:db8:1::10")


def test_an_ip_without_interfaces_is_answered_on_every_interface():
    table = OwnedTable.of({V4: None, V6: frozenset({"eth1"})})

    assert table.on("eth0") == {V4}
    assert table.on("eth1") == {V4, V6}
    assert (table.is_allowed(V6, "eth0"), table.is_allowed(V6, "eth1")) == (False, True)
    assert not table.is_allowed(V4B, "eth0")


def test_the_table_keeps_its_own_copy():
    source: dict[IPAddress, frozenset[str] | None] = {V4: None}
    table = OwnedTable.of(source)
    source[V4B] = None
    assert set(table.entries) == {V4}


def test_gained_counts_new_ips_and_changed_interfaces_lost_counts_removed_ips():
    before = OwnedTable.of({V4: None, V4B: frozenset({"eth0"})})
    after = OwnedTable.of({V4: None, V4B: frozenset({"eth0", "eth1"}), V6: None})

    assert after.gained_since(before) == [V4B, V6]
    assert after.lost_since(before) == []
    assert before.lost_since(after) == [V6]
    assert OwnedTable().gained_since(OwnedTable()) == []


def test_addresses_sharing_their_low_24_bits_share_one_solicited_node_group():
    groups = solicited_groups(frozenset({V4, V6, V6_SAME_GROUP}))
    assert groups == {IPv6Address("ff02::1:ff00:10")}
