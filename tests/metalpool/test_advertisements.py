import pytest

from metalpool.advertisements import parse_l2_advertisement
from metalpool.errors import SpecError
from tests.support.objects import pool


def advertisement(**spec: object) -> dict[str, object]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": "l2", "namespace": "metallb-system"},
        "spec": spec,
    }


def test_an_empty_advertisement_covers_every_pool_node_and_service():
    parsed = parse_l2_advertisement(advertisement())
    assert parsed.covers_pool(pool("any", "192.0.2.0/24"))
    assert parsed.covers_node({"kubernetes.io/hostname": "n1"})
    assert parsed.covers_service({})


def test_pools_are_covered_by_name_or_by_label():
    parsed = parse_l2_advertisement(
        advertisement(
            ipAddressPools=["named"],
            ipAddressPoolSelectors=[{"matchLabels": {"tier": "public"}}],
        )
    )
    assert parsed.covers_pool(pool("named", "192.0.2.0/24"))
    assert parsed.covers_pool(pool("other", "192.0.2.0/24", labels={"tier": "public"}))
    assert not parsed.covers_pool(pool("other", "192.0.2.0/24"))


def test_node_and_service_selectors_restrict():
    parsed = parse_l2_advertisement(
        advertisement(
            nodeSelectors=[{"matchLabels": {"zone": "a"}}],
            serviceSelectors=[{"matchLabels": {"expose": "lan"}}],
            interfaces=["eth1", "eth0"],
        )
    )
    assert parsed.covers_node({"zone": "a"})
    assert not parsed.covers_node({"zone": "b"})
    assert parsed.covers_service({"expose": "lan"})
    assert not parsed.covers_service({})
    assert parsed.interfaces == ("eth0", "eth1")


def test_preferences_carry_weights():
    parsed = parse_l2_advertisement(
        advertisement(preferredNodeSelectors=[{"weight": 30, "preference": {}}])
    )
    assert parsed.preferences[0].weight == 30
    assert parsed.preferences[0].selector.matches({"any": "node"})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            {"preferredNodeSelectors": [{"weight": 0, "preference": {}}]},
            "spec.preferredNodeSelectors[0].weight 0 is not a whole number from 1 to 100",
            id="weight too low",
        ),
        pytest.param(
            {"preferredNodeSelectors": [{"weight": 101, "preference": {}}]},
            "spec.preferredNodeSelectors[0].weight 101 is not a whole number from 1 to 100",
            id="weight too high",
        ),
        pytest.param(
            {"preferredNodeSelectors": [{"weight": 5}]},
            "spec.preferredNodeSelectors[0].preference is missing",
            id="no preference",
        ),
        pytest.param(
            {"ipAddressPools": ["a", "a"]},
            "spec.ipAddressPools names the same thing twice",
            id="a pool named twice",
        ),
        pytest.param(
            {"nodeSelectors": [{"matchLabels": {"a": "b"}}, {"matchLabels": {"a": "b"}}]},
            'spec.nodeSelectors[1] repeats the selector "a=b"',
            id="a node selector twice",
        ),
    ],
)
def test_rejects_invalid_advertisements_naming_the_field(spec, message):
    with pytest.raises(SpecError) as caught:
        parse_l2_advertisement(advertisement(**spec))
    assert str(caught.value) == f"L2Advertisement metallb-system/l2: {message}"
