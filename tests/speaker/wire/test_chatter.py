from pathlib import Path

import pytest

from speaker.membership.messages import ETHERTYPE, GROUP_MAC
from speaker.wire.chatter import MIN_FRAME, CarrierFile, frame, has_carrier

SOURCE = bytes.fromhex("02aabbccddee")


@pytest.mark.parametrize(
    ("payload", "length"),
    [
        pytest.param(b"", MIN_FRAME, id="empty-padded-to-60"),
        pytest.param(b"hello", MIN_FRAME, id="short-padded-to-60"),
        pytest.param(b"p" * 46, MIN_FRAME, id="exactly-60"),
        pytest.param(b"p" * 100, 114, id="longer-left-alone"),
    ],
)
def test_a_frame_is_header_then_payload_zero_padded_to_60_bytes(payload, length):
    raw = frame(GROUP_MAC, SOURCE, ETHERTYPE, payload)
    header = GROUP_MAC + SOURCE + b"\x88\xb5"
    assert (len(raw), raw[:14], raw[14 : 14 + len(payload)]) == (length, header, payload)
    assert raw[14 + len(payload) :] == bytes(length - 14 - len(payload))


@pytest.mark.parametrize(
    ("content", "carrier"),
    [
        pytest.param("1\n", True, id="carrier-up"),
        pytest.param("0\n", False, id="carrier-down"),
        pytest.param(None, False, id="no-carrier-file"),
    ],
)
def test_has_carrier_reads_the_sysfs_carrier_file(tmp_path: Path, content, carrier):
    link = tmp_path / "eth0"
    link.mkdir()
    if content is not None:
        (link / "carrier").write_text(content, encoding="ascii")
    assert has_carrier("eth0", tmp_path) is carrier


def test_an_interface_that_is_gone_has_no_carrier(tmp_path: Path):
    assert has_carrier("eth9", tmp_path) is False


def test_an_unreadable_carrier_file_means_no_carrier(tmp_path: Path):
    # An administratively down interface fails the read (EINVAL); a directory fails it too.
    (tmp_path / "eth0" / "carrier").mkdir(parents=True)
    assert has_carrier("eth0", tmp_path) is False


def test_a_kept_open_carrier_file_reads_each_change_and_a_late_file_once_it_appears(
    tmp_path: Path,
):
    """One pread a heartbeat instead of open, read and close (sysfs makes the value anew)."""
    carrier = CarrierFile("eth0", tmp_path)
    assert carrier.up() is False  # no such interface yet
    (tmp_path / "eth0").mkdir()
    path = tmp_path / "eth0" / "carrier"
    path.write_text("1\n", encoding="ascii")
    assert carrier.up() is True
    with path.open("r+", encoding="ascii") as rewrite:  # same file, as sysfs keeps it
        rewrite.write("0\n")
    assert carrier.up() is False
    carrier.close()
    carrier.close()
