"""The real kopf operator runs against the emulated API server, end to end."""

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner

from lab.apiserver.runner import ApiServerThread
from tests.lab.rest import Rest, eventually

OPERATOR = Path(__file__).parent / "operator_widgets.py"
FINALIZER = "lab.metalpool.io/finalizer"

pytestmark = [
    pytest.mark.timeout(60),
    # KopfRunner stops kopf's event loop while aiohttp still closes its TLS connections (the
    # SSL shutdown is asynchronous), so their sockets are collected unclosed in this process.
    # A real operator's process ends there; nothing of the behaviour under test is hidden.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(autouse=True)
def collected_here() -> Iterator[None]:
    """Collect kopf's closed-loop leftovers in this test's teardown, where they are expected."""
    yield
    gc.collect()


def widgets(namespace: str) -> str:
    return f"/apis/lab.metalpool.io/v1/namespaces/{namespace}/widgets"


def ready(rest: Rest, namespace: str, name: str) -> bool:
    status, body = rest.get(f"{widgets(namespace)}/{name}")
    return (
        status == 200
        and FINALIZER in body["metadata"].get("finalizers", ())
        and body.get("status", {}).get("phase") == "Ready"
    )


def events(rest: Rest, namespace: str, selector: str) -> list[Any]:
    path = f"/api/v1/namespaces/{namespace}/events?fieldSelector={selector}"
    return list(rest.ok("GET", path)["items"])


@pytest.fixture
def operator(
    apiserver: ApiServerThread, monkeypatch: pytest.MonkeyPatch, namespace: str, widgets_crd
):
    monkeypatch.setenv("LAB_APISERVER_URL", apiserver.url)
    args = ["run", "--standalone", f"--namespace={namespace}", str(OPERATOR)]
    with KopfRunner(args, timeout=30) as runner:
        yield runner
    assert runner.exit_code == 0, runner.output  # reraise=True already raised any exception


def test_kopf_adds_its_finalizer_sets_status_and_posts_events(operator, rest, namespace):
    rest.ok("POST", widgets(namespace), {"metadata": {"name": "w1"}, "spec": {"size": 1}})
    eventually(lambda: ready(rest, namespace, "w1"))
    found = eventually(lambda: events(rest, namespace, "involvedObject.name=w1,reason=WidgetReady"))
    assert found[0]["involvedObject"]["kind"] == "Widget"


def test_kopf_runs_the_delete_handler_then_the_object_is_gone(operator, rest, namespace):
    rest.ok("POST", widgets(namespace), {"metadata": {"name": "w2"}})
    eventually(lambda: ready(rest, namespace, "w2"))
    deleting = rest.ok("DELETE", f"{widgets(namespace)}/w2")
    assert deleting["metadata"]["deletionTimestamp"]
    eventually(lambda: rest.get(f"{widgets(namespace)}/w2")[0] == 404)
    assert eventually(lambda: events(rest, namespace, "involvedObject.name=w2,reason=WidgetGone"))


def test_kopf_resumes_its_watch_after_the_server_drops_it(operator, apiserver, rest, namespace):
    rest.ok("POST", widgets(namespace), {"metadata": {"name": "before"}})
    eventually(lambda: ready(rest, namespace, "before"))
    assert apiserver.faults.drop_watches() >= 1
    rest.ok("POST", widgets(namespace), {"metadata": {"name": "after"}})
    eventually(lambda: ready(rest, namespace, "after"))


def test_kopf_relists_after_410_gone(operator, apiserver, rest, namespace):
    rest.ok("POST", widgets(namespace), {"metadata": {"name": "before"}})
    eventually(lambda: ready(rest, namespace, "before"))
    # A newer write elsewhere, then compaction: kopf's last widget resourceVersion is now too old.
    rest.ok("POST", f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "x"}})
    apiserver.call(apiserver.cluster.store.compact)
    seen = len(apiserver.requests)
    apiserver.faults.drop_watches()
    rest.ok("POST", widgets(namespace), {"metadata": {"name": "after"}})
    eventually(lambda: ready(rest, namespace, "after"))
    relists = [
        r
        for r in list(apiserver.requests)[seen:]
        if r.method == "GET" and r.path == widgets(namespace) and "watch=" not in r.query
    ]
    assert relists  # kopf got the 410 ERROR event on resuming and listed again


def test_kopf_retries_a_status_patch_that_failed_with_503(operator, apiserver, rest, namespace):
    rule = apiserver.faults.fail(
        method="PATCH", resource="widgets", subresource="status", status=503, times=2
    )
    rest.ok("POST", widgets(namespace), {"metadata": {"name": "flaky"}})
    eventually(lambda: ready(rest, namespace, "flaky"))
    assert rule.hits == 2


def test_kopf_patches_a_service_status_through_the_subresource(operator, rest, namespace):
    service = {
        "metadata": {"name": "web"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }
    rest.ok("POST", f"/api/v1/namespaces/{namespace}/services", service)

    def ingress() -> list[Any]:
        body = rest.ok("GET", f"/api/v1/namespaces/{namespace}/services/web")
        return list(body["status"]["loadBalancer"].get("ingress", []))

    assert eventually(ingress) == [{"ip": "192.0.2.10"}]
    assert eventually(lambda: events(rest, namespace, "involvedObject.name=web,reason=IPAllocated"))
