from pathlib import Path

from speaker.wire.interfaces import Interface
from speaker.wire.links import read_interfaces

IF_INET6 = """\
00000000000000000000000000000001 01 80 10 80       lo
fe80000000000000020000fffe005301 02 40 20 80     eth0
20010db8000000000000000000000011 02 40 00 80     eth0
20010db8000000000000000000000012 03 40 00 80     eth1
"""


def make_link(root: Path, name: str, **files: str) -> Path:
    directory = root / name
    directory.mkdir()
    for attribute, value in files.items():
        (directory / attribute).write_text(value + "\n")
    return directory


def test_reads_sysfs_and_procfs_into_interfaces(tmp_path):
    net = tmp_path / "net"
    net.mkdir()
    make_link(net, "lo", ifindex="1", flags="0x9", type="772", address="00:00:00:00:00:00")
    make_link(net, "eth0", ifindex="2", flags="0x1003", type="1", address="02:00:00:00:53:01")
    eth1 = make_link(
        net, "eth1", ifindex="3", flags="0x1003", type="1", address="02:00:00:00:53:02"
    )
    make_link(net, "bond0", ifindex="4", flags="0x1403", type="1", address="02:00:00:00:53:02")
    (eth1 / "master").symlink_to(net / "bond0")
    make_link(net, "tun0", ifindex="5", flags="0x1091", type="65534", address="")
    (net / "gone").mkdir()  # vanished between listing and reading
    if_inet6 = tmp_path / "if_inet6"
    if_inet6.write_text(IF_INET6)

    found = {i.name: i for i in read_interfaces(net, if_inet6)}

    assert sorted(found) == ["bond0", "eth0", "eth1", "lo", "tun0"]
    assert found["eth0"] == Interface(
        name="eth0",
        index=2,
        mac=bytes.fromhex("020000005301"),
        flags=0x1003,
        link_type=1,
        master=None,
        has_link_local=True,
    )
    assert (found["eth1"].master, found["eth1"].has_link_local) == ("bond0", False)
    assert (found["tun0"].mac, found["tun0"].link_type) == (None, 65534)


def test_no_ipv6_means_no_link_local_addresses(tmp_path):
    net = tmp_path / "net"
    net.mkdir()
    make_link(net, "eth0", ifindex="2", flags="0x1003", type="1", address="02:00:00:00:53:01")

    (found,) = read_interfaces(net, tmp_path / "missing")

    assert not found.has_link_local


def test_an_unreadable_sysfs_gives_no_interfaces(tmp_path):
    assert read_interfaces(tmp_path / "missing", tmp_path / "missing") == []


def test_reads_this_hosts_interfaces_without_error():
    assert all(interface.index > 0 for interface in read_interfaces())
