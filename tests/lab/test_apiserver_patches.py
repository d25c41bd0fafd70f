"""The patch languages: RFC 7386 merge, RFC 6902 JSON patch, and strategic merge patch."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.apiserver.objects.patches import (
    PatchError,
    PatchTestFailedError,
    copy_json,
    json_equal,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)

# RFC 7386 appendix A, verbatim.
MERGE_CASES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), MERGE_CASES)
def test_merge_patch_follows_rfc_7386(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


DOC: dict[str, Any] = {
    "metadata": {"resourceVersion": "5", "finalizers": ["a"]},
    "spec": {"list": [1, 2]},
}

JSON_CASES = [
    ([{"op": "add", "path": "/spec/x", "value": 1}], {"x": 1, "list": [1, 2]}),
    ([{"op": "add", "path": "/spec/list/-", "value": 3}], {"list": [1, 2, 3]}),
    ([{"op": "add", "path": "/spec/list/0", "value": 0}], {"list": [0, 1, 2]}),
    ([{"op": "remove", "path": "/spec/list/0"}], {"list": [2]}),
    ([{"op": "replace", "path": "/spec/list/1", "value": 9}], {"list": [1, 9]}),
    ([{"op": "move", "from": "/spec/list", "path": "/spec/moved"}], {"moved": [1, 2]}),
    (
        [{"op": "copy", "from": "/spec/list", "path": "/spec/copied"}],
        {"list": [1, 2], "copied": [1, 2]},
    ),
    ([{"op": "test", "path": "/spec/list", "value": [1, 2]}], {"list": [1, 2]}),
]


@pytest.mark.parametrize(("ops", "spec"), JSON_CASES)
def test_json_patch_applies_each_operation(ops: list[Any], spec: dict[str, Any]) -> None:
    assert json_patch(DOC, ops)["spec"] == spec


def test_json_patch_escapes_slashes_and_tildes_in_keys() -> None:
    doc: dict[str, Any] = {"metadata": {"annotations": {}}}
    ops = [
        {
            "op": "add",
            "path": "/metadata/annotations/kopf.zalando.org~1last-handled~0x",
            "value": "1",
        }
    ]
    assert json_patch(doc, ops)["metadata"]["annotations"] == {
        "kopf.zalando.org/last-handled~x": "1"
    }


def test_a_failing_test_op_raises_the_test_failure_and_applies_nothing() -> None:
    ops = [
        {"op": "add", "path": "/metadata/finalizers/-", "value": "b"},
        {"op": "test", "path": "/metadata/resourceVersion", "value": "4"},
    ]
    with pytest.raises(PatchTestFailedError):
        json_patch(DOC, ops)
    assert DOC["metadata"]["finalizers"] == ["a"]


def test_a_test_op_on_a_missing_path_is_a_test_failure() -> None:
    with pytest.raises(PatchTestFailedError):
        json_patch({}, [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"}])


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "remove", "path": "/nope"}],
        [{"op": "replace", "path": "/spec/nope", "value": 1}],
        [{"op": "add", "path": "/a/b/c", "value": 1}],
        [{"op": "add", "path": "/spec/list/7", "value": 1}],
        [{"op": "frobnicate", "path": "/spec"}],
        [{"path": "/spec"}],
        {"op": "add"},
    ],
)
def test_impossible_json_patches_are_refused(ops: Any) -> None:
    with pytest.raises(PatchError):
        json_patch(DOC, ops)


def test_json_equality_does_not_confuse_true_with_one() -> None:
    assert not json_equal(True, 1)
    assert json_equal({"a": [1, "x"]}, {"a": [1, "x"]})
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})


SERVICE = {
    "metadata": {"finalizers": ["a"], "labels": {"x": "1"}},
    "spec": {
        "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}],
        "selector": {"app": "web"},
    },
}

STRATEGIC_CASES = [
    ({"spec": {"ports": [{"port": 80, "name": "web"}]}}, ["web", "https"]),
    ({"spec": {"ports": [{"port": 8080, "name": "alt"}]}}, ["http", "https", "alt"]),
    ({"spec": {"ports": [{"port": 80, "$patch": "delete"}]}}, ["https"]),
    ({"spec": {"ports": [{"$patch": "replace"}, {"port": 1, "name": "one"}]}}, ["one"]),
    (
        {
            "spec": {
                "$setElementOrder/ports": [{"port": 443}, {"port": 80}],
                "ports": [{"port": 80}],
            }
        },
        ["https", "http"],
    ),
]


@pytest.mark.parametrize(("patch", "names"), STRATEGIC_CASES)
def test_strategic_merge_merges_service_ports_by_port(
    patch: dict[str, Any], names: list[Any]
) -> None:
    merged = strategic_merge_patch(SERVICE, patch)
    assert [p["name"] for p in merged["spec"]["ports"]] == names


def test_strategic_merge_treats_finalizers_as_a_set_and_can_delete_from_it() -> None:
    added = strategic_merge_patch(SERVICE, {"metadata": {"finalizers": ["a", "b"]}})
    assert added["metadata"]["finalizers"] == ["a", "b"]
    removed = strategic_merge_patch(
        added, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    )
    assert removed["metadata"]["finalizers"] == ["b"]


def test_strategic_merge_map_directives_and_nulls() -> None:
    assert (
        strategic_merge_patch(SERVICE, {"spec": {"selector": None}})["spec"].get("selector") is None
    )
    replaced = strategic_merge_patch(
        SERVICE, {"spec": {"selector": {"$patch": "replace", "b": "2"}}}
    )
    assert replaced["spec"]["selector"] == {"b": "2"}
    retained = strategic_merge_patch(SERVICE, {"spec": {"$retainKeys": ["ports"], "ports": []}})
    assert set(retained["spec"]) == {"ports"}


def test_strategic_merge_replaces_lists_without_a_merge_key() -> None:
    status = {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}
    patched = strategic_merge_patch(
        status, {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.2"}]}}}
    )
    assert patched["status"]["loadBalancer"]["ingress"] == [{"ip": "192.0.2.2"}]


def test_strategic_merge_merges_conditions_by_type() -> None:
    node = {
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "X", "status": "True"}]
        }
    }
    patched = strategic_merge_patch(
        node, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    )
    assert patched["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "X", "status": "True"},
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(json_values, json_values)
def test_patches_never_mutate_their_inputs(target: Any, patch: Any) -> None:
    before_target, before_patch = copy_json(target), copy_json(patch)
    merge_patch(target, patch)
    strategic_merge_patch(target, patch)
    assert target == before_target
    assert patch == before_patch


@given(st.dictionaries(st.text(max_size=3), json_values, max_size=4))
def test_an_empty_json_patch_is_the_identity(doc: dict[str, Any]) -> None:
    assert json_patch(doc, []) == doc
