"""What the speaker writes on a Service: read back, compared, patched, and told as an Event."""

from datetime import UTC, datetime
from ipaddress import ip_address
from typing import Any

import pytest

from metalpool.events import Severity
from metalpool.quarantine import Conflict, format_conflicts, read_conflicts
from speaker.cluster.reasons import AnnouncedReason
from speaker.conditions import NOTHING, Condition, Desired
from speaker.writes import Shown, Telling, notice, parse_shown, status_patch
from tests.support.objects import service_object

R = AnnouncedReason
NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
ALLOCATED = {
    "type": "metallb.io/IPAllocated",
    "status": "True",
    "reason": "IPAllocated",
    "message": "192.0.2.10 from pool public",
    "lastTransitionTime": "2026-04-01T00:00:00Z",
}
ANNOUNCED = Condition(announced=True, reason=R.ANNOUNCED, message='node "n1" announces 192.0.2.10')
NO_ENDPOINTS = Condition(
    announced=False, reason=R.NO_ENDPOINTS, message="the Service has no ready endpoint"
)
CONFLICT = Conflict(
    ip=ip_address("192.0.2.10"), mac="02:00:00:00:00:99", interface="eth0", node="n1"
)
CONFLICT_JSON = format_conflicts([CONFLICT])


def written(condition: Condition, since: str = "2026-04-02T00:00:00Z") -> dict[str, Any]:
    return {
        "type": "metallb.io/Announced",
        "status": "True" if condition.announced else "False",
        "reason": condition.reason.value,
        "message": condition.message,
        "lastTransitionTime": since,
    }


def body(*conditions: dict[str, Any], conflicts: str | None = None, **spec: Any) -> dict[str, Any]:
    obj = service_object("web", ingress=("192.0.2.10",), **spec)
    obj["metadata"] |= {"resourceVersion": "42", "uid": "u-1", "generation": 3}
    if conflicts is not None:
        obj["metadata"]["annotations"]["metalpool.io/address-conflict"] = conflicts
    obj["status"]["conditions"] = list(conditions)
    return obj


def shown(*conditions: dict[str, Any], conflicts: str | None = None) -> Shown:
    found = parse_shown(body(*conditions, conflicts=conflicts))
    assert found is not None
    return found


# ---------------------------------------------------------------- reading back


def test_reading_back_keeps_the_version_and_sets_our_condition_apart_from_the_others():
    assert shown(ALLOCATED, written(ANNOUNCED), conflicts=CONFLICT_JSON) == Shown(
        resource_version="42",
        uid="u-1",
        generation=3,
        condition=written(ANNOUNCED),
        others=(ALLOCATED,),
        conflicts=CONFLICT_JSON,
    )


@pytest.mark.parametrize(
    ("obj", "kept"),
    [
        pytest.param(body(type="ClusterIP"), False, id="a plain ClusterIP Service is not kept"),
        pytest.param(
            body(written(ANNOUNCED), type="ClusterIP"),
            True,
            id="one that still shows our condition is (it is to be cleared)",
        ),
        pytest.param(
            body(conflicts="[]", type="ClusterIP"), True, id="one that shows our annotation too"
        ),
        pytest.param(body(), True, id="a LoadBalancer always is"),
    ],
)
def test_only_services_we_may_write_are_kept(obj, kept):
    assert (parse_shown(obj) is not None) == kept


def test_malformed_conditions_read_as_none():
    obj = body()
    obj["status"]["conditions"] = "nonsense"
    assert parse_shown(obj) == Shown(resource_version="42", uid="u-1", generation=3)


# ---------------------------------------------------------------- patches


def test_a_new_condition_goes_next_to_the_controllers_with_the_version_it_was_compared_with():
    assert status_patch(Desired(condition=NO_ENDPOINTS), shown(ALLOCATED), NOW) == {
        "metadata": {"resourceVersion": "42"},
        "status": {
            "conditions": [
                ALLOCATED,
                written(NO_ENDPOINTS, "2026-05-01T12:00:00Z") | {"observedGeneration": 3},
            ]
        },
    }


def test_nothing_is_written_when_the_service_shows_what_is_wanted():
    current = shown(ALLOCATED, written(ANNOUNCED))
    assert status_patch(Desired(condition=ANNOUNCED), current, NOW) is None


def test_a_new_message_keeps_the_transition_time_while_the_status_stays():
    moved = Condition(announced=True, reason=R.ANNOUNCED, message='node "n2" announces 192.0.2.10')
    patch = status_patch(Desired(condition=moved), shown(written(ANNOUNCED)), NOW)
    assert patch is not None
    (condition,) = patch["status"]["conditions"]
    assert condition["lastTransitionTime"] == "2026-04-02T00:00:00Z"
    assert condition["message"] == moved.message


def test_a_flip_of_the_status_stamps_a_new_transition_time():
    patch = status_patch(Desired(condition=NO_ENDPOINTS), shown(written(ANNOUNCED)), NOW)
    assert patch is not None
    assert patch["status"]["conditions"][0]["lastTransitionTime"] == "2026-05-01T12:00:00Z"


def test_a_conflict_is_written_in_the_annotation_and_removed_when_it_is_gone():
    conflicted = Condition(announced=False, reason=R.ADDRESS_CONFLICT, message="held")
    patch = status_patch(Desired(condition=conflicted, conflicts=(CONFLICT,)), shown(), NOW)
    assert patch is not None
    assert patch["metadata"]["annotations"] == {"metalpool.io/address-conflict": CONFLICT_JSON}
    after = shown(written(ANNOUNCED), conflicts=CONFLICT_JSON)
    patch = status_patch(Desired(condition=ANNOUNCED), after, NOW)
    assert patch is not None
    assert patch["metadata"]["annotations"] == {"metalpool.io/address-conflict": None}


def test_the_annotation_is_left_alone_when_it_says_what_is_wanted():
    conflicted = Condition(announced=False, reason=R.ADDRESS_CONFLICT, message="held")
    current = shown(written(ANNOUNCED), conflicts=CONFLICT_JSON)
    patch = status_patch(Desired(condition=conflicted, conflicts=(CONFLICT,)), current, NOW)
    assert patch is not None
    assert "annotations" not in patch["metadata"]


def test_an_unreadable_annotation_is_rewritten():
    current = shown(written(ANNOUNCED), conflicts="{not json")
    patch = status_patch(Desired(condition=ANNOUNCED), current, NOW)
    assert patch == {
        "metadata": {
            "resourceVersion": "42",
            "annotations": {"metalpool.io/address-conflict": None},
        },
        "status": {"conditions": [written(ANNOUNCED) | {"observedGeneration": 3}]},
    }


def test_clearing_removes_our_condition_and_keeps_the_others():
    patch = status_patch(NOTHING, shown(ALLOCATED, written(ANNOUNCED)), NOW)
    assert patch == {"metadata": {"resourceVersion": "42"}, "status": {"conditions": [ALLOCATED]}}
    assert status_patch(NOTHING, shown(ALLOCATED), NOW) is None


def test_the_annotation_is_what_the_controller_reads():
    conflicted = Condition(announced=False, reason=R.ADDRESS_CONFLICT, message="held")
    patch = status_patch(Desired(condition=conflicted, conflicts=(CONFLICT,)), shown(), NOW)
    assert patch is not None
    written = {"metadata": {"annotations": patch["metadata"]["annotations"]}}
    assert read_conflicts(written) == (CONFLICT,)


# ---------------------------------------------------------------- events


@pytest.mark.parametrize(
    ("wanted", "before", "expected"),
    [
        pytest.param(
            NO_ENDPOINTS,
            shown(written(ANNOUNCED)),
            Telling(severity=Severity.WARNING, reason="NoEndpoints", message=NO_ENDPOINTS.message),
            id="a change from True to a False reason is a Warning",
        ),
        pytest.param(
            NO_ENDPOINTS,
            shown(),
            Telling(severity=Severity.WARNING, reason="NoEndpoints", message=NO_ENDPOINTS.message),
            id="a first condition with a False reason is a Warning",
        ),
        pytest.param(
            NO_ENDPOINTS,
            shown(written(Condition(announced=False, reason=R.PROBING, message="checking"))),
            Telling(severity=Severity.WARNING, reason="NoEndpoints", message=NO_ENDPOINTS.message),
            id="a change from one False reason to another is a Warning",
        ),
        pytest.param(
            Condition(announced=False, reason=R.NO_ENDPOINTS, message="other words"),
            shown(written(NO_ENDPOINTS)),
            None,
            id="new words for the same reason are no news",
        ),
        pytest.param(ANNOUNCED, shown(written(NO_ENDPOINTS)), None, id="being announced is not"),
        pytest.param(
            Condition(announced=False, reason=R.PROBING, message="checking"),
            shown(),
            None,
            id="probing is no news: every new address is probed",
        ),
    ],
)
def test_a_change_to_a_false_reason_is_told(wanted, before, expected):
    assert notice(Desired(condition=wanted), before) == expected


def test_clearing_tells_nothing():
    assert notice(NOTHING, shown(written(NO_ENDPOINTS))) is None
