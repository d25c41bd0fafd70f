"""Our CRDs in deploy/crds accept what MetalLB accepts and reject what MetalLB's parser rejects.

The accepted manifests are written in the shapes MetalLB documents (metallb.universe.tf
configuration pages and design docs), so a cluster's existing MetalLB objects apply unchanged.
"""

from typing import Any

import jsonschema
import pytest

from metalpool import names
from metalpool.advertisements import parse_l2_advertisement
from metalpool.pools import parse_pool
from tests.deploy.schemas import (
    as_json_schema,
    crd_definitions,
    crd_violations,
    load_text,
    schema_nodes,
    served_schema,
)

# The keywords apiextensions.k8s.io/v1 JSONSchemaProps knows; anything else is a typo that the
# API server would reject.
SCHEMA_KEYWORDS = frozenset(
    {
        "$ref", "$schema", "additionalItems", "additionalProperties", "allOf", "anyOf",
        "default", "definitions", "dependencies", "description", "enum", "example",
        "exclusiveMaximum", "exclusiveMinimum", "externalDocs", "format", "id", "items",
        "maxItems", "maxLength", "maxProperties", "maximum", "minItems", "minLength",
        "minProperties", "minimum", "multipleOf", "not", "nullable", "oneOf", "pattern",
        "patternProperties", "properties", "required", "title", "type", "uniqueItems",
        "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string",
        "x-kubernetes-list-map-keys", "x-kubernetes-list-type", "x-kubernetes-map-type",
        "x-kubernetes-preserve-unknown-fields", "x-kubernetes-validations",
    }
)  # fmt: skip

CRD_NAMES = {
    "IPAddressPool": ("ipaddresspools", "ipaddresspool"),
    "L2Advertisement": ("l2advertisements", "l2advertisement"),
    "ServiceL2Status": ("servicel2statuses", "servicel2status"),
}


def field(kind: str, dotted: str) -> dict[str, Any]:
    """The schema node of a field of a kind, e.g. "spec.autoAssign" or "spec.interfaces[]"."""
    nodes = dict(schema_nodes(served_schema(crd_definitions()[kind])))
    return nodes["." + dotted]


def test_there_is_one_crd_per_metallb_kind_we_serve():
    assert sorted(crd_definitions()) == sorted(CRD_NAMES)


def test_the_crds_serve_the_wire_names_the_code_uses():
    served = {
        (crd["spec"]["group"], version["name"], kind, crd["spec"]["names"]["plural"])
        for kind, crd in crd_definitions().items()
        for version in crd["spec"]["versions"]
    }
    assert served == {
        (names.GROUP, names.VERSION, names.POOL_KIND, names.POOL_PLURAL),
        (names.GROUP, names.VERSION, names.L2_KIND, names.L2_PLURAL),
        (names.GROUP, names.VERSION, names.L2_STATUS_KIND, names.L2_STATUS_PLURAL),
    }


@pytest.mark.parametrize("kind", sorted(CRD_NAMES))
def test_each_crd_serves_and_stores_metallb_io_v1beta1_namespaced_with_status(kind):
    crd = crd_definitions()[kind]
    plural, singular = CRD_NAMES[kind]
    versions = [
        (entry["name"], entry["served"], entry["storage"], entry["subresources"])
        for entry in crd["spec"]["versions"]
    ]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{plural}.metallb.io"
    assert (crd["spec"]["group"], crd["spec"]["scope"]) == ("metallb.io", "Namespaced")
    assert crd["spec"]["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": singular,
    }
    assert versions == [("v1beta1", True, True, {"status": {}})]


@pytest.mark.parametrize("kind", sorted(CRD_NAMES))
def test_every_crd_schema_is_structural_and_uses_only_known_keywords(kind):
    problems = [
        f"{path or '<root>'}: {problem}"
        for path, node in schema_nodes(served_schema(crd_definitions()[kind]))
        for problem in [
            *(f"unknown keyword {key}" for key in sorted(set(node) - SCHEMA_KEYWORDS)),
            *(["no type"] if "type" not in node else []),
        ]
    ]
    assert problems == []
    jsonschema.Draft4Validator.check_schema(as_json_schema(served_schema(crd_definitions()[kind])))


@pytest.mark.parametrize(
    ("kind", "columns"),
    [
        pytest.param(
            "IPAddressPool",
            [
                ("Auto Assign", "boolean", ".spec.autoAssign", 0),
                ("Avoid Buggy IPs", "boolean", ".spec.avoidBuggyIPs", 0),
                ("Addresses", "string", ".spec.addresses", 0),
                ("IPv4 In Use", "integer", ".status.assignedIPv4", 0),
                ("IPv4 Available", "integer", ".status.availableIPv4", 0),
                ("IPv6 In Use", "integer", ".status.assignedIPv6", 0),
                ("IPv6 Available", "integer", ".status.availableIPv6", 0),
                ("Quarantined", "string", ".status.quarantinedIPs", 0),
            ],
            id="pools: MetalLB's columns plus addresses in use, available and quarantined",
        ),
        pytest.param(
            "L2Advertisement",
            [
                ("IPAddressPools", "string", ".spec.ipAddressPools", 0),
                ("IPAddressPool Selectors", "string", ".spec.ipAddressPoolSelectors", 0),
                ("Interfaces", "string", ".spec.interfaces", 0),
                ("Node Selectors", "string", ".spec.nodeSelectors", 10),
            ],
            id="advertisements: MetalLB's columns",
        ),
        pytest.param(
            "ServiceL2Status",
            [
                ("Allocated Node", "string", ".status.node", 0),
                ("Service Name", "string", ".status.serviceName", 0),
                ("Service Namespace", "string", ".status.serviceNamespace", 0),
            ],
            id="l2 statuses: MetalLB's columns",
        ),
    ],
)
def test_printer_columns_are_metallbs_and_point_at_schema_fields(kind, columns):
    (version,) = crd_definitions()[kind]["spec"]["versions"]
    printed = [
        (column["name"], column["type"], column["jsonPath"], column.get("priority", 0))
        for column in version["additionalPrinterColumns"]
    ]
    known_paths = dict(schema_nodes(served_schema(crd_definitions()[kind])))
    assert printed == columns
    assert [path for _, _, path, _ in columns if path not in known_paths] == []


FIELD_TYPES = [
    ("IPAddressPool", "spec.addresses", {"type": "array"}),
    ("IPAddressPool", "spec.addresses[]", {"type": "string"}),
    ("IPAddressPool", "spec.autoAssign", {"type": "boolean", "default": True}),
    ("IPAddressPool", "spec.avoidBuggyIPs", {"type": "boolean", "default": False}),
    ("IPAddressPool", "spec.serviceAllocation.priority", {"type": "integer"}),
    ("IPAddressPool", "spec.serviceAllocation.namespaces[]", {"type": "string"}),
    ("IPAddressPool", "spec.serviceAllocation.namespaceSelectors[]", {"type": "object"}),
    ("IPAddressPool", "spec.serviceAllocation.serviceSelectors[]", {"type": "object"}),
    ("IPAddressPool", "status.assignedIPv4", {"type": "integer", "format": "int64"}),
    ("IPAddressPool", "status.assignedIPv6", {"type": "integer", "format": "int64"}),
    ("IPAddressPool", "status.availableIPv4", {"type": "integer", "format": "int64"}),
    ("IPAddressPool", "status.availableIPv6", {"type": "integer", "format": "int64"}),
    ("IPAddressPool", "status.quarantinedIPs", {"type": "array"}),
    ("IPAddressPool", "status.quarantinedIPs[]", {"type": "string"}),
    ("L2Advertisement", "spec.ipAddressPools[]", {"type": "string"}),
    ("L2Advertisement", "spec.ipAddressPoolSelectors[]", {"type": "object"}),
    ("L2Advertisement", "spec.nodeSelectors[].matchLabels{}", {"type": "string"}),
    ("L2Advertisement", "spec.interfaces[]", {"type": "string"}),
    ("L2Advertisement", "spec.serviceSelectors[]", {"type": "object"}),
    (
        "L2Advertisement",
        "spec.preferredNodeSelectors[].weight",
        {"type": "integer", "format": "int32", "minimum": 1, "maximum": 100},
    ),
    ("L2Advertisement", "spec.preferredNodeSelectors[].preference", {"type": "object"}),
    ("ServiceL2Status", "status.interfaces[].name", {"type": "string"}),
]


@pytest.mark.parametrize(
    ("kind", "dotted", "expected"),
    [pytest.param(*row, id=f"{row[0]} {row[1]}") for row in FIELD_TYPES],
)
def test_fields_have_metallbs_types_and_defaults(kind, dotted, expected):
    node = field(kind, dotted)
    assert {key: node.get(key) for key in expected} == expected


@pytest.mark.parametrize(
    ("kind", "dotted", "required"),
    [
        ("IPAddressPool", "", ["spec"]),
        ("IPAddressPool", "spec", ["addresses"]),
        (
            "IPAddressPool",
            "status",
            ["assignedIPv4", "assignedIPv6", "availableIPv4", "availableIPv6"],
        ),
        ("L2Advertisement", "spec.preferredNodeSelectors[]", ["weight", "preference"]),
        ("L2Advertisement", "spec.nodeSelectors[].matchExpressions[]", ["key", "operator"]),
    ],
    ids=["pool", "pool spec", "pool status", "preferred node", "label requirement"],
)
def test_required_fields_are_metallbs(kind, dotted, required):
    nodes = dict(schema_nodes(served_schema(crd_definitions()[kind])))
    assert nodes["." + dotted if dotted else ""]["required"] == required


@pytest.mark.parametrize("name", ["node", "serviceName", "serviceNamespace"])
def test_service_l2_status_identity_fields_are_immutable(name):
    rules = field("ServiceL2Status", f"status.{name}")["x-kubernetes-validations"]
    assert rules == [{"rule": "self == oldSelf", "message": "Value is immutable"}]


METALLB_MANIFESTS = {
    "pool with a CIDR, a range and IPv6": """
        apiVersion: metallb.io/v1beta1
        kind: IPAddressPool
        metadata: {name: first-pool, namespace: metallb-system}
        spec:
          addresses:
            - 192.168.10.0/24
            - 192.168.9.1-192.168.9.5
            - fc00:f853:0ccd:e799::/124
    """,
    "pool with blanks around a range": """
        apiVersion: metallb.io/v1beta1
        kind: IPAddressPool
        metadata: {name: spaced, namespace: metallb-system}
        spec: {addresses: ["192.168.1.240 - 192.168.1.250"]}
    """,
    "pool not auto-assigned": """
        apiVersion: metallb.io/v1beta1
        kind: IPAddressPool
        metadata: {name: expensive, namespace: metallb-system}
        spec: {addresses: [42.176.25.64/30], autoAssign: false}
    """,
    "pool avoiding buggy IPs": """
        apiVersion: metallb.io/v1beta1
        kind: IPAddressPool
        metadata: {name: cheap, namespace: metallb-system}
        spec: {addresses: [192.168.144.0/20], avoidBuggyIPs: true}
    """,
    "pool with a service allocation": """
        apiVersion: metallb.io/v1beta1
        kind: IPAddressPool
        metadata: {name: ns-pool, namespace: metallb-system}
        spec:
          addresses: [192.168.20.0/24]
          serviceAllocation:
            priority: 50
            namespaces: [namespace-a, namespace-b]
            namespaceSelectors:
              - matchLabels: {foo: bar}
            serviceSelectors:
              - matchExpressions:
                  - {key: serviceType, operator: In, values: [database]}
                  - {key: tier, operator: Exists}
    """,
    "pool with its status": """
        apiVersion: metallb.io/v1beta1
        kind: IPAddressPool
        metadata: {name: counted, namespace: metallb-system}
        spec: {addresses: [192.168.10.0/24, "fc00::/64"]}
        status:
          assignedIPv4: 2
          assignedIPv6: 1
          availableIPv4: 254
          availableIPv6: 9223372036854775807
          quarantinedIPs: [192.168.10.7]
    """,
    "advertisement without a spec": """
        apiVersion: metallb.io/v1beta1
        kind: L2Advertisement
        metadata: {name: example, namespace: metallb-system}
    """,
    "advertisement with pools, nodes and interfaces": """
        apiVersion: metallb.io/v1beta1
        kind: L2Advertisement
        metadata: {name: example, namespace: metallb-system}
        spec:
          ipAddressPools: [first-pool]
          nodeSelectors:
            - matchLabels: {kubernetes.io/hostname: NodeA}
            - matchLabels: {kubernetes.io/hostname: NodeB}
          interfaces: [eth3, eth4]
    """,
    "advertisement with pool and service selectors": """
        apiVersion: metallb.io/v1beta1
        kind: L2Advertisement
        metadata: {name: l2advertisement1, namespace: metallb-system}
        spec:
          ipAddressPoolSelectors:
            - matchExpressions:
                - {key: ipaddresspool, operator: In, values: [first-pool]}
          serviceSelectors:
            - matchLabels: {app: frontend}
            - matchExpressions:
                - {key: legacy, operator: DoesNotExist}
    """,
    "advertisement with preferred nodes": """
        apiVersion: metallb.io/v1beta1
        kind: L2Advertisement
        metadata: {name: tiered-zones, namespace: metallb-system}
        spec:
          ipAddressPools: [production-pool]
          nodeSelectors:
            - matchLabels: {role: lb}
          preferredNodeSelectors:
            - weight: 100
              preference:
                matchLabels: {zone: primary}
            - weight: 1
              preference: {}
    """,
    "l2 status written by a speaker": """
        apiVersion: metallb.io/v1beta1
        kind: ServiceL2Status
        metadata:
          name: l2-7xq2k
          namespace: metallb-system
          labels:
            metallb.io/node: node-a
            metallb.io/service-name: web
            metallb.io/service-namespace: default
        spec: {}
        status:
          node: node-a
          serviceName: web
          serviceNamespace: default
          interfaces: [{name: eth0}]
    """,
}


@pytest.mark.parametrize("text", METALLB_MANIFESTS.values(), ids=METALLB_MANIFESTS.keys())
def test_a_metallb_manifest_is_accepted_unchanged(text):
    assert crd_violations(load_text(text)) == []


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(text, id=name)
        for name, text in METALLB_MANIFESTS.items()
        if load_text(text)["kind"] in {names.POOL_KIND, names.L2_KIND}
    ],
)
def test_a_metallb_manifest_the_crd_accepts_is_also_accepted_by_our_parser(text):
    manifest = load_text(text)
    if manifest["kind"] == names.POOL_KIND:
        assert parse_pool(manifest).name == manifest["metadata"]["name"]
    else:
        assert parse_l2_advertisement(manifest).name == manifest["metadata"]["name"]


POOL = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\n"
ADVERTISEMENT = "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: a}\n"


@pytest.mark.parametrize(
    ("text", "violations"),
    [
        pytest.param(POOL, ["<root>: required"], id="pool without spec"),
        pytest.param(POOL + "spec: {autoAssign: true}", ["spec: required"], id="no addresses"),
        pytest.param(POOL + "spec: {addresses: []}", ["spec.addresses: minItems"], id="empty"),
        pytest.param(
            POOL + "spec: {adresses: [192.0.2.0/24]}",
            ["spec: additionalProperties", "spec: required"],
            id="misspelled addresses",
        ),
        pytest.param(
            POOL + "spec: {addresses: ['192.0.2.0/28,198.51.100.0/28']}",
            ["spec.addresses[0]: pattern"],
            id="comma-separated addresses",
        ),
        pytest.param(
            POOL + "spec: {addresses: [lb.example.com]}",
            ["spec.addresses[0]: pattern"],
            id="host name",
        ),
        pytest.param(
            POOL + "spec: {addresses: [192.0.2.0/24], autoAssign: 'no'}",
            ["spec.autoAssign: type"],
            id="autoAssign as a string",
        ),
        pytest.param(
            POOL + "spec: {addresses: [192.0.2.0/24], serviceAllocation: {priority: high}}",
            ["spec.serviceAllocation.priority: type"],
            id="priority as a string",
        ),
        pytest.param(
            POOL + "spec: {addresses: [192.0.2.0/24]}\nstatus: {assignedIPv4: 1}",
            ["status: required"] * 3,
            id="partial status",
        ),
        pytest.param(
            ADVERTISEMENT + "spec: {preferredNodeSelectors: [{weight: 0, preference: {}}]}",
            ["spec.preferredNodeSelectors[0].weight: minimum"],
            id="weight 0",
        ),
        pytest.param(
            ADVERTISEMENT + "spec: {preferredNodeSelectors: [{weight: 101, preference: {}}]}",
            ["spec.preferredNodeSelectors[0].weight: maximum"],
            id="weight 101",
        ),
        pytest.param(
            ADVERTISEMENT + "spec: {preferredNodeSelectors: [{preference: {}}]}",
            ["spec.preferredNodeSelectors[0]: required"],
            id="weight missing",
        ),
        pytest.param(
            ADVERTISEMENT + "spec: {preferredNodeSelectors: [{weight: 10}]}",
            ["spec.preferredNodeSelectors[0]: required"],
            id="preference missing",
        ),
        pytest.param(
            ADVERTISEMENT + "spec: {nodeSelectors: [{matchExpressions: [{key: a, operator: in}]}]}",
            ["spec.nodeSelectors[0].matchExpressions[0].operator: enum"],
            id="lower-case operator",
        ),
        pytest.param(
            ADVERTISEMENT + "spec: {interfaces: eth0}",
            ["spec.interfaces: type"],
            id="interfaces not a list",
        ),
    ],
)
def test_an_invalid_manifest_is_rejected(text, violations):
    assert crd_violations(load_text(text)) == violations
