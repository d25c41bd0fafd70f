import pytest

from metalpool.errors import SpecError, Where
from metalpool.selectors import parse_selector, parse_selectors

WHERE = Where("L2Advertisement metallb-system/l2", "spec.nodeSelectors[0]")


@pytest.mark.parametrize(
    ("raw", "labels", "selected"),
    [
        pytest.param({}, {}, True, id="an empty selector selects everything"),
        pytest.param({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True, id="label match"),
        pytest.param({"matchLabels": {"a": "1"}}, {"a": "2"}, False, id="label mismatch"),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]},
            {"a": "2"},
            True,
            id="In",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
            {},
            True,
            id="NotIn holds for a missing key",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True, id="Exists"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]},
            {"a": "x"},
            False,
            id="DoesNotExist",
        ),
        pytest.param(
            {
                "matchLabels": {"a": "1"},
                "matchExpressions": [{"key": "b", "operator": "Exists"}],
            },
            {"a": "1"},
            False,
            id="every part must match",
        ),
    ],
)
def test_selectors_match_as_kubernetes_does(raw, labels, selected):
    assert parse_selector(raw, WHERE).matches(labels) is selected


def test_equivalent_selectors_print_the_same():
    a = {"matchExpressions": [{"key": "k", "operator": "In", "values": ["y", "x"]}]}
    b = {"matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]}
    assert str(parse_selector(a, WHERE)) == str(parse_selector(b, WHERE)) == "k in (x,y)"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "In"}]},
            "spec.nodeSelectors[0].matchExpressions[0].values must not be empty for operator In",
            id="In without values",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "spec.nodeSelectors[0].matchExpressions[0].values must be empty for operator Exists",
            id="Exists with values",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["x", "x"]}]},
            "spec.nodeSelectors[0].matchExpressions[0].values has the same value twice",
            id="a repeated value",
        ),
        pytest.param(
            {"matchExpressions": [{"operator": "Exists"}]},
            "spec.nodeSelectors[0].matchExpressions[0].key is missing",
            id="no key",
        ),
        pytest.param(
            {"matchLabels": {"a": 1}},
            'spec.nodeSelectors[0].matchLabels["a"] 1 is not a label (key and value are strings)',
            id="a non-string label value",
        ),
        pytest.param("a=b", "spec.nodeSelectors[0] is not a label selector", id="a string"),
    ],
)
def test_rejects_malformed_selectors_naming_the_field(raw, message):
    with pytest.raises(SpecError) as caught:
        parse_selector(raw, WHERE)
    assert message in str(caught.value)
    assert str(caught.value).startswith("L2Advertisement metallb-system/l2: ")


def test_rejects_the_same_selector_twice_in_a_list():
    with pytest.raises(SpecError, match=r"\[1\] repeats the selector"):
        parse_selectors([{"matchLabels": {"a": "b"}}] * 2, Where("X x", "spec.s"))
