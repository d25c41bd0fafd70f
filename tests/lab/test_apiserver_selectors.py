"""Label and field selectors in query syntax: parsing and matching."""

from typing import Any

import pytest

from lab.apiserver.objects.selectors import SelectorError, field_value, parse_fields, parse_labels


def labelled(**labels: str) -> dict[str, Any]:
    return {"metadata": {"labels": labels}}


LABEL_CASES = [
    ("", {}, True),
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "web"}, True),
    ("app=web", {"app": "db"}, False),
    ("app!=web", {"app": "db"}, True),
    ("app!=web", {}, True),
    ("app!=web", {"app": "web"}, False),
    ("app in (web, db)", {"app": "db"}, True),
    ("app in (web,db)", {"app": "x"}, False),
    ("app in (web)", {}, False),
    ("app notin (web)", {}, True),
    ("app notin (web)", {"app": "web"}, False),
    ("app", {"app": ""}, True),
    ("app", {}, False),
    ("!app", {}, True),
    ("!app", {"app": "x"}, False),
    ("app=web,tier in (a,b),!canary", {"app": "web", "tier": "b"}, True),
    ("app=web,tier in (a,b),!canary", {"app": "web", "tier": "b", "canary": "1"}, False),
    ("metallb.io/pool=a", {"metallb.io/pool": "a"}, True),
    ("app=", {"app": ""}, True),
]


@pytest.mark.parametrize(("selector", "labels", "matches"), LABEL_CASES)
def test_label_selectors_match_as_kubernetes_does(
    selector: str, labels: dict[str, Any], matches: bool
) -> None:
    assert parse_labels(selector).matches(labelled(**labels)) is matches


@pytest.mark.parametrize("selector", ["app in (a", "app)", "-bad=1", "a b c"])
def test_malformed_label_selectors_are_refused(selector: str) -> None:
    with pytest.raises(SelectorError):
        parse_labels(selector)


EVENT = {
    "metadata": {"name": "e1", "namespace": "default"},
    "involvedObject": {"kind": "Service", "name": "web"},
    "reason": "IPAllocated",
    "source": {"component": "metalpool"},
    "spec": {"unschedulable": False},
}

FIELD_CASES = [
    ("metadata.name=e1", True),
    ("metadata.name==e1", True),
    ("metadata.name!=e1", False),
    ("metadata.namespace=default,involvedObject.name=web", True),
    ("involvedObject.name=web,reason=IPAllocated", True),
    ("involvedObject.name=web,reason=Other", False),
    ("involvedObject.uid=", True),
    ("source=metalpool", True),
    ("spec.unschedulable=false", True),
]


@pytest.mark.parametrize(("selector", "matches"), FIELD_CASES)
def test_field_selectors_compare_string_forms(selector: str, matches: bool) -> None:
    assert parse_fields(selector).matches(EVENT) is matches


def test_field_selectors_report_their_fields_and_a_pinned_name() -> None:
    selector = parse_fields("metadata.name=web,reason!=x")
    assert selector.fields() == {"metadata.name", "reason"}
    assert selector.exact_name() == "web"
    assert parse_fields("metadata.name!=web").exact_name() is None


def test_absent_fields_read_as_empty_strings() -> None:
    assert field_value({}, "spec.nodeName") == ""
    assert field_value({"spec": "scalar"}, "spec.nodeName") == ""


def test_malformed_field_selectors_are_refused() -> None:
    with pytest.raises(SelectorError):
        parse_fields("metadata.name")
