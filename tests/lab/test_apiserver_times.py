"""metav1.Time and metav1.MicroTime fields of built-in kinds decode as kube-apiserver's do.

apimachinery pkg/apis/meta/v1/time.go: Time.UnmarshalJSON parses with time.RFC3339, and Go's
time.Parse accepts fractional seconds the layout lacks; micro_time.go: MicroTime parses with
RFC3339Micro, exactly six fractional digits. A value that does not parse fails the decode of the
whole body: 400 `<Kind> in version "v1" cannot be handled as a <Kind>: <time.ParseError>`.
"""

from typing import Any

import pytest

from lab.apiserver.schema.times import TimeKind, TimeParseError, check_time
from tests.lab.rest import Rest

RFC3339 = '"2006-01-02T15:04:05Z07:00"'
MICRO = '"2006-01-02T15:04:05.000000Z07:00"'


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        pytest.param(
            "yesterday",
            TimeKind.TIME,
            f'parsing time "yesterday" as {RFC3339}: cannot parse "yesterday" as "2006"',
            id="not-a-time",
        ),
        pytest.param(
            "2026-12-02 10:51:49Z",
            TimeKind.TIME,
            f'parsing time "2026-12-02 10:51:49Z" as {RFC3339}: cannot parse " 10:51:49Z" as "T"',
            id="space-for-T",
        ),
        pytest.param(
            "2026-13-02T10:51:49Z",
            TimeKind.TIME,
            'parsing time "2026-13-02T10:51:49Z": month out of range',
            id="month",
        ),
        pytest.param(
            "2026-02-30T10:51:49Z",
            TimeKind.TIME,
            'parsing time "2026-02-30T10:51:49Z": day out of range',
            id="day",
        ),
        pytest.param(
            "2026-12-02T10:51:49",
            TimeKind.TIME,
            f'parsing time "2026-12-02T10:51:49" as {RFC3339}: cannot parse "" as "Z07:00"',
            id="no-zone",
        ),
        pytest.param(
            "2026-12-02T10:51:49Z!",
            TimeKind.TIME,
            'parsing time "2026-12-02T10:51:49Z!": extra text: "!"',
            id="extra-text",
        ),
        pytest.param(
            "2026-12-02T10:51:49Z",
            TimeKind.MICRO_TIME,
            f'parsing time "2026-12-02T10:51:49Z" as {MICRO}: cannot parse "Z" as ".000000"',
            id="micro-without-fraction",
        ),
        pytest.param(
            "2026-12-02T10:51:49.123Z",
            TimeKind.MICRO_TIME,
            f'parsing time "2026-12-02T10:51:49.123Z" as {MICRO}: cannot parse ".123Z" as'
            ' ".000000"',
            id="micro-with-three-digits",
        ),
        pytest.param(
            17,
            TimeKind.TIME,
            "json: cannot unmarshal number into Go value of type string",
            id="number",
        ),
    ],
)
def test_a_bad_time_gives_gos_parse_error(value: Any, kind: TimeKind, message: str):
    """Go's time.Parse walks the layout's elements and reports the first that does not match
    (`cannot parse "<rest>" as "<element>"`), a value out of range (`month out of range`) or
    text left over (`extra text`): src/time/format.go ParseError.Error()."""
    with pytest.raises(TimeParseError) as caught:
        check_time(value, kind)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        pytest.param("2026-12-02T10:51:49Z", TimeKind.TIME, id="time"),
        pytest.param("2026-12-02T10:51:49.5Z", TimeKind.TIME, id="time-with-fraction"),
        pytest.param("2026-12-02T11:51:49+01:00", TimeKind.TIME, id="time-with-offset"),
        pytest.param(None, TimeKind.TIME, id="null"),
        pytest.param("2026-12-02T10:51:49.123456Z", TimeKind.MICRO_TIME, id="micro"),
        pytest.param("2026-12-02T11:51:49.123456+01:00", TimeKind.MICRO_TIME, id="micro-offset"),
    ],
)
def test_a_good_time_decodes(value: Any, kind: TimeKind):
    """time.go / micro_time.go UnmarshalJSON: null is the zero time; RFC 3339 parses."""
    check_time(value, kind)


def service(name: str, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"type": "ClusterIP", "ports": [{"port": 80}]},
        "status": status,
    }


def test_a_service_condition_time_must_be_rfc3339(rest: Rest, namespace: str):
    """core/v1 Service status.conditions[] are metav1.Condition (lastTransitionTime: Time). The
    body is decoded before the status subresource drops what it ignores, so a bad time is a
    400 on /status and on the main resource alike."""
    services = f"/api/v1/namespaces/{namespace}/services"
    created = rest.ok("POST", services, service("web"))
    condition = {
        "type": "Ready",
        "status": "True",
        "reason": "Ok",
        "message": "",
        "lastTransitionTime": "2026-12-02T10:51:49",
    }
    created["status"] = {"conditions": [condition]}
    for path in (f"{services}/web/status", f"{services}/web"):
        status, body = rest.put(path, created)
        assert status == 400, path
        assert body["message"] == (
            'Service in version "v1" cannot be handled as a Service: parsing time'
            f' "2026-12-02T10:51:49" as {RFC3339}: cannot parse "" as "Z07:00"'
        )
    condition["lastTransitionTime"] = "2026-12-02T10:51:49Z"
    assert rest.put(f"{services}/web/status", created)[0] == 200


def core_event(name: str, **times: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"kind": "Service", "name": "web"},
        "reason": "Test",
        "message": "m",
        "type": "Normal",
        **times,
    }


@pytest.mark.parametrize(
    ("times", "status"),
    [
        pytest.param({"firstTimestamp": "2026-12-02T10:51:49Z"}, 201, id="first-time"),
        pytest.param({"lastTimestamp": "2026-12-02T10:51:49.5Z"}, 201, id="last-fraction"),
        pytest.param({"firstTimestamp": "2026-12-02"}, 400, id="first-date-only"),
        pytest.param({"eventTime": "2026-12-02T10:51:49.000001Z"}, 201, id="event-time-micro"),
        pytest.param({"eventTime": "2026-12-02T10:51:49Z"}, 400, id="event-time-seconds"),
        pytest.param({"series": {"count": 2, "lastObservedTime": "x"}}, 400, id="series"),
    ],
)
def test_core_event_times(rest: Rest, namespace: str, times: dict[str, Any], status: int):
    """core/v1 Event (k8s.io/api core/v1 types.go): firstTimestamp and lastTimestamp are Time,
    eventTime and series.lastObservedTime MicroTime."""
    answer, body = rest.post(f"/api/v1/namespaces/{namespace}/events", core_event("e", **times))
    assert answer == status, body
    if status == 400:
        assert body["message"].startswith('Event in version "v1" cannot be handled as a Event:')


@pytest.mark.parametrize(
    ("times", "status"),
    [
        pytest.param({"eventTime": "2026-12-02T10:51:49.123456Z"}, 201, id="event-time"),
        pytest.param({"eventTime": "2026-12-02T10:51:49.123Z"}, 400, id="event-time-millis"),
        pytest.param({"deprecatedFirstTimestamp": "2026-12-02T10:51:49Z"}, 201, id="first"),
        pytest.param({"deprecatedLastTimestamp": "10:51"}, 400, id="last-bad"),
    ],
)
def test_events_k8s_io_event_times(rest: Rest, namespace: str, times: dict[str, Any], status):
    """events.k8s.io/v1 Event (k8s.io/api events/v1 types.go): eventTime is MicroTime,
    deprecatedFirstTimestamp/deprecatedLastTimestamp are Time."""
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e"},
        "reason": "Test",
        "action": "Test",
        "reportingController": "lab",
        "reportingInstance": "lab-1",
        "regarding": {"kind": "Service", "name": "web"},
        "type": "Normal",
        "eventTime": "2026-12-02T10:51:49.000000Z",
        **times,
    }
    path = f"/apis/events.k8s.io/v1/namespaces/{namespace}/events"
    answer, body = rest.post(path, event)
    assert answer == status, body


def test_a_client_sent_creation_timestamp_is_decoded_then_replaced(rest: Rest, namespace: str):
    """ObjectMeta.creationTimestamp is a Time, so a malformed one fails the decode (400); a
    well-formed one is overwritten on create (apiserver pkg/registry/rest/create.go
    BeforeCreate → FillObjectMetaSystemFields sets it to now)."""
    config_maps = f"/api/v1/namespaces/{namespace}/configmaps"
    bad = {"metadata": {"name": "bad", "creationTimestamp": "soon"}}
    status, body = rest.post(config_maps, bad)
    assert status == 400
    assert body["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: parsing time "soon" as'
        f' {RFC3339}: cannot parse "soon" as "2006"'
    )
    sent = {"metadata": {"name": "good", "creationTimestamp": "2001-01-01T00:00:00Z"}}
    created = rest.ok("POST", config_maps, sent)
    assert created["metadata"]["creationTimestamp"] != "2001-01-01T00:00:00Z"
    created["metadata"]["deletionTimestamp"] = "tomorrow"
    assert rest.put(f"{config_maps}/good", created)[0] == 400
