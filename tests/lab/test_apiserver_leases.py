"""Leases as kube-apiserver takes them: conditional updates only, and MicroTime times."""

from tests.lab.rest import Rest

GOOD = "2026-12-02T10:51:49.123456Z"


def leases(namespace: str) -> str:
    return f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"


def lease(name: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name},
        "spec": {"holderIdentity": "node-a", "leaseDurationSeconds": 30, **spec},
    }


def test_a_lease_put_without_a_resource_version_is_refused_as_kube_apiserver_does(
    rest: Rest, namespace: str
):
    """pkg/registry/coordination/lease/strategy.go: AllowUnconditionalUpdate() is false, so
    the generic registry's Store.Update answers 422 "metadata.resourceVersion ... must be
    specified for an update" (a Service, whose strategy allows it, would be replaced)."""
    created = rest.ok("POST", leases(namespace), lease("a", renewTime=GOOD))
    status, body = rest.put(f"{leases(namespace)}/a", lease("a", holderIdentity="node-b"))
    assert status == 422
    assert "must be specified for an update" in body["message"]
    unconditional = lease("a", holderIdentity="node-b")
    unconditional["metadata"] = {
        "name": "a",
        "resourceVersion": created["metadata"]["resourceVersion"],
    }
    status, body = rest.put(f"{leases(namespace)}/a", unconditional)
    assert status == 200
    assert body["spec"]["holderIdentity"] == "node-b"


def test_lease_times_must_be_micro_time_with_six_fractional_digits(rest: Rest, namespace: str):
    """apimachinery pkg/apis/meta/v1/micro_time.go: MicroTime decodes with RFC3339Micro,
    "2006-01-02T15:04:05.000000Z07:00"; a body that does not decode is a 400 carrying Go's
    time.ParseError (src/time/format.go)."""
    refusals = {
        "2026-12-02 10:51:49.123456": 'cannot parse " 10:51:49.123456" as "T"',
        "2026-12-02T10:51:49Z": 'cannot parse "Z" as ".000000"',
        "2026-12-02T10:51:49.123Z": 'cannot parse ".123Z" as ".000000"',
    }
    for bad, why in refusals.items():
        status, body = rest.post(leases(namespace), lease("bad", renewTime=bad))
        assert status == 400, bad
        assert body["message"] == (
            f'Lease in version "v1" cannot be handled as a Lease: parsing time "{bad}" as'
            f' "2006-01-02T15:04:05.000000Z07:00": {why}'
        )
    for good in (GOOD, "2026-12-02T11:51:49.123456+01:00"):
        status, _ = rest.post(leases(namespace), lease(f"ok{len(good)}", acquireTime=good))
        assert status == 201, good
