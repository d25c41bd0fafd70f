from metalpool.services import ServiceKey
from speaker.cluster.l2status import Existing, parse_existing, plan_statuses

WEB = ServiceKey("demo", "web")
DB = ServiceKey("demo", "db")


def existing(
    name: str, node: str, service: ServiceKey, status: dict[str, object] | None = None
) -> Existing:
    return Existing(name=name, node=node, service=service, status=status or {})


def test_a_newly_announced_service_gets_one_object_with_labels_and_status():
    todo = plan_statuses("n1", {WEB: None}, [], "metallb-system")
    ((service, body, status),) = todo.create
    assert service == WEB
    assert body["metadata"]["generateName"] == "l2-"
    assert body["metadata"]["labels"] == {
        "metallb.io/node": "n1",
        "metallb.io/service-name": "web",
        "metallb.io/service-namespace": "demo",
    }
    assert status == {"node": "n1", "serviceName": "web", "serviceNamespace": "demo"}


def test_interfaces_are_listed_only_when_restricted():
    todo = plan_statuses("n1", {WEB: frozenset({"eth1", "eth0"})}, [], "metallb-system")
    assert todo.create[0][2]["interfaces"] == [{"name": "eth0"}, {"name": "eth1"}]


def test_the_new_owner_removes_the_previous_owners_object_and_duplicates():
    status: dict[str, object] = {"node": "n1", "serviceName": "web", "serviceNamespace": "demo"}
    todo = plan_statuses(
        "n1",
        {WEB: None},
        [
            existing("l2-old", "n2", WEB),
            existing("l2-a", "n1", WEB, dict(status)),
            existing("l2-b", "n1", WEB),
        ],
        "metallb-system",
    )
    assert todo.create == ()
    assert todo.set_status == ()
    assert sorted(todo.delete) == ["l2-b", "l2-old"]


def test_a_node_deletes_its_objects_for_services_it_no_longer_announces_only():
    todo = plan_statuses(
        "n1",
        {},
        [existing("l2-mine", "n1", DB), existing("l2-theirs", "n2", WEB)],
        "metallb-system",
    )
    assert todo.delete == ("l2-mine",)


def test_a_stale_status_is_rewritten():
    todo = plan_statuses("n1", {WEB: None}, [existing("l2-a", "n1", WEB)], "metallb-system")
    assert todo.set_status == (
        ("l2-a", {"node": "n1", "serviceName": "web", "serviceNamespace": "demo"}),
    )


def test_objects_without_the_three_labels_are_ignored():
    assert parse_existing({"metadata": {"name": "x", "labels": {"metallb.io/node": "n1"}}}) is None
    parsed = parse_existing(
        {
            "metadata": {
                "name": "l2-x",
                "labels": {
                    "metallb.io/node": "n1",
                    "metallb.io/service-name": "web",
                    "metallb.io/service-namespace": "demo",
                },
            },
            "status": {"node": "n1"},
        }
    )
    assert parsed == Existing(name="l2-x", node="n1", service=WEB, status={"node": "n1"})
