"""MetalLB's `metallb-excludel2` ConfigMap, parsed as its speaker does (metallb-compat.md §4.5)."""

import time

import pytest

from speaker.wire.answers import Tally
from speaker.wire.interfaces import (
    DEFAULT_EXCLUDES,
    IFF_BROADCAST,
    IFF_UP,
    ExcludeConfigError,
    Interface,
    parse_exclude_config,
)
from speaker.wire.responder import Responder

KEY = "excludel2.yaml"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(None, DEFAULT_EXCLUDES, id="no ConfigMap: the defaults"),
        pytest.param(
            {KEY: 'announcedInterfacesToExclude: ["^docker.*", "^eth1$"]'},
            ("^docker.*", "^eth1$"),
            id="flow list replaces the defaults",
        ),
        pytest.param(
            {KEY: "announcedInterfacesToExclude:\n- ^lo$\n- ^br-.*\n"},
            ("^lo$", "^br-.*"),
            id="block list",
        ),
        pytest.param({KEY: "announcedInterfacesToExclude: []"}, (), id="empty list: none"),
        pytest.param({KEY: "announcedInterfacesToExclude:"}, (), id="null field: none"),
        pytest.param({KEY: ""}, (), id="empty document: none"),
        pytest.param({KEY: "other: 1"}, (), id="no field: none"),
        pytest.param(
            {KEY: "announcedInterfacesToExclude: [^eth9$]\nextra: x", "other.yaml": "x"},
            ("^eth9$",),
            id="other fields and keys are ignored",
        ),
    ],
)
def test_the_configmap_list_replaces_the_defaults_as_metallbs(data, expected):
    assert parse_exclude_config(data) == expected


@pytest.mark.parametrize(
    ("data", "why"),
    [
        pytest.param({}, "no key excludel2.yaml", id="no key"),
        pytest.param({KEY: "announcedInterfacesToExclude: [a"}, "not YAML", id="bad YAML"),
        pytest.param({KEY: "- ^eth0$"}, "not a YAML mapping", id="a list"),
        pytest.param({KEY: "announcedInterfacesToExclude: ^eth0$"}, "list", id="a string"),
        pytest.param({KEY: "announcedInterfacesToExclude: [1, 2]"}, "list", id="numbers"),
        pytest.param({KEY: "announcedInterfacesToExclude: ['(']"}, "invalid regex", id="regex"),
    ],
)
def test_a_malformed_configmap_is_refused_with_a_reason(data, why):
    with pytest.raises(ExcludeConfigError, match=why):
        parse_exclude_config(data)


def test_the_responder_rescans_at_once_with_a_new_exclude_list():
    links = [
        Interface(name=name, index=i, mac=bytes(6), flags=IFF_UP | IFF_BROADCAST)
        for i, name in enumerate(("eth0", "eth1"), start=2)
    ]
    responder = Responder(Tally(), read_links=lambda: links, rescan_interval=60.0)
    responder.set_excludes(["^eth1$"])  # before start: taken on the first turn
    try:
        responder.start()
        deadline = time.monotonic() + 2.0
        while "eth1" in responder.selection.local_names and time.monotonic() < deadline:
            time.sleep(0.01)
        assert responder.selection.local_names == {"eth0"}

        responder.set_excludes(())
        deadline = time.monotonic() + 2.0
        while "eth1" not in responder.selection.local_names and time.monotonic() < deadline:
            time.sleep(0.01)
        assert responder.selection.local_names == {"eth0", "eth1"}
    finally:
        responder.stop()
