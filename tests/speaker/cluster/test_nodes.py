import pytest

from metalpool.errors import SpecError
from metalpool.services import ServiceKey
from speaker.cluster.nodes import (
    Endpoints,
    EndpointSlice,
    EndpointState,
    NodeInfo,
    collect_endpoints,
    parse_endpoint_slice,
    parse_node,
)
from tests.support.objects import endpoint, endpoint_slice_object, node_object


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            node_object("n1", labels={"zone": "a"}),
            NodeInfo(name="n1", labels={"zone": "a"}),
            id="a node without a NetworkUnavailable condition has its network",
        ),
        pytest.param(
            node_object("n1", network_unavailable=True),
            NodeInfo(name="n1", network_unavailable=True),
            id="NetworkUnavailable True marks the network down",
        ),
        pytest.param(
            node_object("n1", network_unavailable=False),
            NodeInfo(name="n1"),
            id="NetworkUnavailable False leaves the network up",
        ),
        pytest.param(
            {"metadata": {"name": "n1"}},
            NodeInfo(name="n1"),
            id="a node without status or labels is plain",
        ),
    ],
)
def test_parses_nodes(obj, expected):
    assert parse_node(obj) == expected
    assert parse_node(obj).labels == expected.labels


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        pytest.param({"metadata": {}}, "Node : metadata.name is missing", id="no name"),
        pytest.param(
            {"metadata": {"name": "n1"}, "status": {"conditions": {"type": "x"}}},
            "Node n1: status.conditions is not a list",
            id="conditions not a list",
        ),
        pytest.param(
            {"metadata": {"name": "n1"}, "status": {"conditions": ["Ready"]}},
            "Node n1: status.conditions[0] is not an object with type and status",
            id="a condition that is not an object",
        ),
        pytest.param(
            {"metadata": {"name": "n1", "labels": {"a": 1}}},
            "Node n1: metadata.labels is not a map of strings to strings",
            id="labels that are not strings",
        ),
    ],
)
def test_node_errors_name_the_node_and_field(obj, message):
    with pytest.raises(SpecError) as caught:
        parse_node(obj)
    assert str(caught.value) == message


def test_parses_an_endpoint_slice_with_its_conditions():
    obj = endpoint_slice_object(
        "web",
        "demo",
        endpoint("n1"),
        endpoint("n2", ready=False, serving=True, terminating=True),
        endpoint(None, ready=None),
    )
    assert parse_endpoint_slice(obj) == EndpointSlice(
        name="web-abcde",
        service=ServiceKey("demo", "web"),
        endpoints=(
            EndpointState(node="n1", ready=True),
            EndpointState(node="n2", ready=False, serving=True, terminating=True),
            EndpointState(node=None),
        ),
    )


def test_an_endpoint_slice_without_endpoints_is_empty():
    obj = endpoint_slice_object("web", "demo")
    obj["endpoints"] = None
    assert parse_endpoint_slice(obj).endpoints == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            lambda o: o["metadata"].pop("labels"),
            'EndpointSlice demo/web-abcde: metadata.labels["kubernetes.io/service-name"]'
            " is missing",
            id="no service-name label",
        ),
        pytest.param(
            lambda o: o.update(endpoints={"a": 1}),
            "EndpointSlice demo/web-abcde: endpoints is not a list",
            id="endpoints not a list",
        ),
        pytest.param(
            lambda o: o["endpoints"].append("10.1.0.9"),
            "EndpointSlice demo/web-abcde: endpoints[1] is not an object",
            id="an endpoint that is not an object",
        ),
        pytest.param(
            lambda o: o["endpoints"][0].update(nodeName=7),
            "EndpointSlice demo/web-abcde: endpoints[0].nodeName 7 is not a node name",
            id="a node name that is not a string",
        ),
        pytest.param(
            lambda o: o["endpoints"][0]["conditions"].update(ready="yes"),
            "EndpointSlice demo/web-abcde: endpoints[0].conditions.ready 'yes'"
            " is not true, false or unset",
            id="a condition that is not a boolean",
        ),
        pytest.param(
            lambda o: o["endpoints"][0].update(conditions=[]),
            "EndpointSlice demo/web-abcde: endpoints[0].conditions is not an object",
            id="conditions that are not an object",
        ),
    ],
)
def test_endpoint_slice_errors_name_the_slice_and_field(change, message):
    obj = endpoint_slice_object("web", "demo", endpoint("n1"))
    change(obj)
    with pytest.raises(SpecError) as caught:
        parse_endpoint_slice(obj)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("state", "can_serve"),
    [
        pytest.param(EndpointState(node="n", ready=True), True, id="ready serves"),
        pytest.param(EndpointState(node="n"), True, id="ready unset counts as ready"),
        pytest.param(
            EndpointState(node="n", ready=False, serving=True, terminating=True),
            True,
            id="terminating but still serving serves, as in MetalLB",
        ),
        pytest.param(
            EndpointState(node="n", ready=False, serving=False, terminating=True),
            False,
            id="terminating and no longer serving does not",
        ),
        pytest.param(EndpointState(node="n", ready=False), False, id="not ready does not"),
    ],
)
def test_which_endpoints_can_serve(state, can_serve):
    assert state.can_serve is can_serve


def test_endpoints_of_a_service_are_collected_over_all_its_slices():
    slices = [
        parse_endpoint_slice(endpoint_slice_object("web", "demo", endpoint("n1"), name="web-1")),
        parse_endpoint_slice(
            endpoint_slice_object("web", "demo", endpoint("n2", ready=False), name="web-2")
        ),
        parse_endpoint_slice(
            endpoint_slice_object("web", "demo", endpoint("n3", ready=None), name="web-3")
        ),
        parse_endpoint_slice(endpoint_slice_object("db", "demo", endpoint("n2", ready=False))),
        parse_endpoint_slice(endpoint_slice_object("api", "demo", endpoint(None))),
    ]
    assert collect_endpoints(slices) == {
        ServiceKey("demo", "web"): Endpoints(
            any_serving=True, serving_nodes=frozenset({"n1", "n3"})
        ),
        ServiceKey("demo", "db"): Endpoints(),
        ServiceKey("demo", "api"): Endpoints(any_serving=True),
    }
