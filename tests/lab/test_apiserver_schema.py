"""Custom resources as kube-apiserver's apiextensions-apiserver takes them: pruned, defaulted,
validated against the CRD version's openAPIV3Schema, with transition rules, every error listed.

The HTTP tests use the real CRDs of deploy/crds; the keyword tables use a small schema through
the same pure pipeline (lab.apiserver.schema.customresources) the server runs.
"""

from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.apiserver.schema.customresources import compile_crd
from lab.apiserver.schema.structural import SchemaError
from tests.lab.rest import Rest
from tests.lab.test_apiserver_kubectl import KUBECTL, Kubectl, kubectl  # noqa: F401 -- fixture

CRDS = Path(__file__).parents[2] / "deploy" / "crds"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@pytest.fixture
def metallb(rest: Rest) -> None:
    for path in sorted(CRDS.glob("*.yaml")):
        status, body = rest.post(CRD_PATH, yaml.safe_load(path.read_text()))
        assert status in (201, 409), body


def pools(namespace: str) -> str:
    return f"/apis/metallb.io/v1beta1/namespaces/{namespace}/ipaddresspools"


def l2statuses(namespace: str) -> str:
    return f"/apis/metallb.io/v1beta1/namespaces/{namespace}/servicel2statuses"


def pool(name: str = "p", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name},
        "spec": spec,
    }


# ------------------------------------------------------------------ the 422 and its wording


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({}, "spec.addresses: Required value", id="required"),
        pytest.param(
            {"addresses": []},
            "spec.addresses: Invalid value: 0: spec.addresses in body should have at least 1 items",
            id="min-items",
        ),
        pytest.param(
            {"addresses": ["192.0.2.0/28", "192.0.2.1,192.0.2.2"]},
            'spec.addresses[1]: Invalid value: "192.0.2.1,192.0.2.2": spec.addresses[1] in body'
            " should match '^[0-9A-Fa-f.:/\\s-]+$'",
            id="pattern",
        ),
        pytest.param(
            {"addresses": ["192.0.2.0/28"], "autoAssign": "yes"},
            'spec.autoAssign: Invalid value: "string": spec.autoAssign in body must be of type'
            ' boolean: "string"',
            id="type",
        ),
        pytest.param(
            {"addresses": [42]},
            'spec.addresses[0]: Invalid value: "integer": spec.addresses[0] in body must be of'
            ' type string: "integer"',
            id="item-type",
        ),
        pytest.param(
            {
                "addresses": ["192.0.2.0/28"],
                "serviceAllocation": {
                    "namespaceSelectors": [{"matchExpressions": [{"key": "a", "operator": "Is"}]}]
                },
            },
            "spec.serviceAllocation.namespaceSelectors[0].matchExpressions[0].operator:"
            ' Unsupported value: "Is": supported values: "In", "NotIn", "Exists", "DoesNotExist"',
            id="enum",
        ),
        pytest.param(
            {"addresses": ["192.0.2.0/28"], "serviceAllocation": {"priority": 1.5}},
            'spec.serviceAllocation.priority: Invalid value: "number":'
            ' spec.serviceAllocation.priority in body must be of type integer: "number"',
            id="integer",
        ),
    ],
)
def test_an_invalid_pool_is_refused_with_the_field_path_and_kubes_wording(
    rest: Rest, namespace: str, metallb: None, spec: dict[str, Any], message: str
):
    """apiextensions-apiserver pkg/apiserver/validation/validation.go
    kubeOpenAPIResultToFieldErrors turns kube-openapi's errors (validate/errors/schema.go
    wording, "%s in body must be of type %s: %q" with the value's JSON type) into field.Error
    (apimachinery util/validation/field/errors.go); errors.NewInvalid makes the 422."""
    status, body = rest.post(pools(namespace), pool(**spec))
    assert status == 422, body
    assert body["message"] == f'IPAddressPool.metallb.io "p" is invalid: {message}'


def test_every_error_is_listed_in_brackets_and_as_a_cause(rest: Rest, namespace: str, metallb):
    """apimachinery pkg/api/errors/errors.go NewInvalid: `Kind.group "name" is invalid: [a, b]`
    (utilerrors.NewAggregate), reason Invalid, and one details.causes entry per field error
    with the error type as reason, ErrorBody as message and the path as field."""
    status, body = rest.post(pools(namespace), pool(addresses=[], avoidBuggyIPs="no"))
    assert status == 422
    first = "spec.addresses: Invalid value: 0: spec.addresses in body should have at least 1 items"
    second = (
        'spec.avoidBuggyIPs: Invalid value: "string": spec.avoidBuggyIPs in body must be of'
        ' type boolean: "string"'
    )
    assert body["message"] == f'IPAddressPool.metallb.io "p" is invalid: [{first}, {second}]'
    assert body["reason"] == "Invalid"
    assert body["code"] == 422
    assert body["details"] == {
        "name": "p",
        "group": "metallb.io",
        "kind": "IPAddressPool",
        "causes": [
            {
                "reason": "FieldValueInvalid",
                "message": first.split(": ", 1)[1],
                "field": "spec.addresses",
            },
            {
                "reason": "FieldValueTypeInvalid",
                "message": second.split(": ", 1)[1],
                "field": "spec.avoidBuggyIPs",
            },
        ],
    }


def test_a_pool_without_spec_is_refused_by_the_root_required_list(rest, namespace, metallb):
    """The IPAddressPool schema requires spec at the root: kube-openapi objectValidator reports
    Required(".spec"), which kubeOpenAPIResultToFieldErrors trims to "spec"."""
    status, body = rest.post(pools(namespace), {"metadata": {"name": "p"}})
    assert status == 422
    assert body["message"] == 'IPAddressPool.metallb.io "p" is invalid: spec: Required value'


def test_an_update_is_validated_like_a_create(rest: Rest, namespace: str, metallb):
    """customresource strategy.go ValidateUpdate runs the same schema validator on the new
    object (a merge patch that empties the address list is a 422 and changes nothing)."""
    rest.ok("POST", pools(namespace), pool(addresses=["192.0.2.0/28"]))
    status, body = rest.patch(f"{pools(namespace)}/p", {"spec": {"addresses": []}})
    assert status == 422
    assert "spec.addresses in body should have at least 1 items" in body["message"]
    assert rest.ok("GET", f"{pools(namespace)}/p")["spec"]["addresses"] == ["192.0.2.0/28"]


def test_l2advertisement_weights_are_bounded(rest: Rest, namespace: str, metallb):
    """kube-openapi numberValidator: `should be less than or equal to 100` / `greater than or
    equal to 1` (MaximumInt/MinimumInt with the integer bound printed as an integer)."""
    ads = f"/apis/metallb.io/v1beta1/namespaces/{namespace}/l2advertisements"
    selectors = [{"weight": 101, "preference": {}}, {"weight": 0, "preference": {}}]
    status, body = rest.post(
        ads, {"metadata": {"name": "a"}, "spec": {"preferredNodeSelectors": selectors}}
    )
    assert status == 422
    assert body["message"] == (
        'L2Advertisement.metallb.io "a" is invalid: ['
        "spec.preferredNodeSelectors[0].weight: Invalid value: 101:"
        " spec.preferredNodeSelectors[0].weight in body should be less than or equal to 100, "
        "spec.preferredNodeSelectors[1].weight: Invalid value: 0:"
        " spec.preferredNodeSelectors[1].weight in body should be greater than or equal to 1]"
    )


# ------------------------------------------------------------------ pruning and defaulting


def test_unknown_fields_are_dropped_silently_on_create_patch_and_status(rest, namespace, metallb):
    """apiextensions pkg/apiserver/schema/pruning/algorithm.go: fields the schema does not
    declare are removed (the root keeps apiVersion/kind/metadata); objectmeta/coerce.go keeps
    only metav1.ObjectMeta's own fields in metadata. Applies to every write, /status too."""
    body = pool(addresses=["192.0.2.0/28"], bogus=1)
    body["extra"] = {"a": 1}
    body["metadata"]["bogus"] = "x"
    created = rest.ok("POST", pools(namespace), body)
    assert "bogus" not in created["spec"]
    assert "extra" not in created
    assert "bogus" not in created["metadata"]
    patched = rest.ok(
        "PATCH",
        f"{pools(namespace)}/p",
        {"spec": {"nope": True}},
        content_type="application/merge-patch+json",
    )
    assert "nope" not in patched["spec"]
    counts = {"assignedIPv4": 0, "assignedIPv6": 0, "availableIPv4": 16, "availableIPv6": 0}
    status = rest.ok(
        "PATCH",
        f"{pools(namespace)}/p/status",
        {"status": {**counts, "unknownCounter": 3}},
        content_type="application/merge-patch+json",
    )
    assert status["status"] == counts
    assert rest.ok("GET", f"{pools(namespace)}/p")["status"] == counts


def test_pool_defaults_fill_absent_fields_on_create_and_update(rest, namespace, metallb):
    """deploy/crds: autoAssign defaults to true, avoidBuggyIPs to false. apiextensions
    schema/defaulting/algorithm.go sets absent properties; prunenulls.go first drops a null
    the schema neither allows nor defaults, and a non-nullable null with a default is defaulted
    (so a merge patch setting autoAssign to null brings the default back)."""
    created = rest.ok("POST", pools(namespace), pool(addresses=["192.0.2.0/28"]))
    assert created["spec"]["autoAssign"] is True
    assert created["spec"]["avoidBuggyIPs"] is False
    rest.ok(
        "PATCH",
        f"{pools(namespace)}/p",
        {"spec": {"autoAssign": False}},
        content_type="application/merge-patch+json",
    )
    reset = rest.ok(
        "PATCH",
        f"{pools(namespace)}/p",
        {"spec": {"autoAssign": None}},
        content_type="application/merge-patch+json",
    )
    assert reset["spec"]["autoAssign"] is True


GADGETS: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.lab.metalpool.io"},
    "spec": {
        "group": "lab.metalpool.io",
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer"}},
                            }
                        },
                    }
                },
            }
        ],
    },
}


def test_a_default_added_to_the_crd_later_shows_on_old_objects_when_read(rest, namespace):
    """The CR storage decodes what it reads from etcd with the schema's defaulting
    (apiextensions-apiserver pkg/apiserver/customresource_handler.go, unstructuredDefaulter in
    the storage codec), so a default added to a CRD appears on objects stored before it."""
    crd = yaml.safe_load(yaml.safe_dump(GADGETS))
    rest.ok("POST", CRD_PATH, crd)
    gadgets = f"/apis/lab.metalpool.io/v1/namespaces/{namespace}/gadgets"
    rest.ok("POST", gadgets, {"metadata": {"name": "g"}, "spec": {}})
    stored = rest.ok("GET", f"{CRD_PATH}/gadgets.lab.metalpool.io")
    schema = stored["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["size"]["default"] = 3
    rest.ok("PUT", f"{CRD_PATH}/gadgets.lab.metalpool.io", stored)
    try:
        assert rest.ok("GET", f"{gadgets}/g")["spec"] == {"size": 3}
        assert [g["spec"] for g in rest.ok("GET", gadgets)["items"]] == [{"size": 3}]
    finally:
        rest.ok("DELETE", f"{CRD_PATH}/gadgets.lab.metalpool.io")


def test_an_unchanged_value_that_a_tightened_crd_refuses_still_passes_updates(rest, namespace):
    """Validation ratcheting (KEP-4008, CRDValidationRatcheting, on by default since 1.30;
    apiextensions pkg/apiserver/validation/ratcheting.go): on update, errors of a value equal
    to the old object's are dropped, so objects stored before a stricter schema stay writable
    as long as the offending field is left alone."""
    crd = yaml.safe_load(yaml.safe_dump(GADGETS))
    rest.ok("POST", CRD_PATH, crd)
    gadgets = f"/apis/lab.metalpool.io/v1/namespaces/{namespace}/gadgets"
    rest.ok("POST", gadgets, {"metadata": {"name": "g"}, "spec": {"size": 10}})
    stored = rest.ok("GET", f"{CRD_PATH}/gadgets.lab.metalpool.io")
    schema = stored["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["size"]["maximum"] = 5
    rest.ok("PUT", f"{CRD_PATH}/gadgets.lab.metalpool.io", stored)
    try:
        labelled = {"metadata": {"labels": {"a": "b"}}}
        assert rest.patch(f"{gadgets}/g", labelled)[0] == 200
        status, body = rest.patch(f"{gadgets}/g", {"spec": {"size": 11}})
        assert status == 422
        assert body["message"] == (
            'Gadget.lab.metalpool.io "g" is invalid: spec.size: Invalid value: 11: spec.size in'
            " body should be less than or equal to 5"
        )
        assert rest.patch(f"{gadgets}/g", {"spec": {"size": 4}})[0] == 200
    finally:
        rest.ok("DELETE", f"{CRD_PATH}/gadgets.lab.metalpool.io")


# ------------------------------------------------------------------ status subresource and CEL


def l2status(name: str = "l2-a") -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ServiceL2Status",
        "metadata": {"name": name},
    }


def write_status(rest: Rest, namespace: str, status: dict[str, Any]) -> tuple[int, Any]:
    return rest.patch(f"{l2statuses(namespace)}/l2-a/status", {"status": status})


def test_service_l2_status_fields_are_immutable_once_set(rest, namespace, metallb):
    """deploy/crds ServiceL2Status: status.node/serviceName/serviceNamespace carry
    `self == oldSelf` ("Value is immutable"). apiextensions schema/cel/validation.go runs a
    transition rule only on update and only where the old object has the field, and reports
    fieldErrorForReason(path, schema type, message): field.Invalid with the type as value."""
    rest.ok("POST", l2statuses(namespace), l2status())
    first = {"node": "node-a", "serviceName": "web", "serviceNamespace": "default"}
    assert write_status(rest, namespace, first)[0] == 200  # nothing to compare with yet
    assert write_status(rest, namespace, {"interfaces": [{"name": "eth0"}]})[0] == 200
    status, body = write_status(rest, namespace, {"node": "node-b", "serviceName": "api"})
    assert status == 422
    assert body["message"] == (
        'ServiceL2Status.metallb.io "l2-a" is invalid: ['
        'status.node: Invalid value: "string": Value is immutable, '
        'status.serviceName: Invalid value: "string": Value is immutable]'
    )
    assert rest.ok("GET", f"{l2statuses(namespace)}/l2-a")["status"]["node"] == "node-a"


def test_rules_are_not_checked_after_a_blocking_error(rest, namespace, metallb):
    """customresource strategy.go hasBlockingErr: after a type error (or required, enum, too
    long, too many) CEL rules are skipped and field.Invalid(nil, nil, "some validation rules
    were not checked ...") is added, which renders as `<nil>: Invalid value: "null": ...`."""
    rest.ok("POST", l2statuses(namespace), l2status())
    write_status(rest, namespace, {"node": "node-a", "serviceName": "web"})
    status, body = write_status(rest, namespace, {"node": "node-b", "serviceName": 7})
    assert status == 422
    assert body["message"] == (
        'ServiceL2Status.metallb.io "l2-a" is invalid: ['
        'status.serviceName: Invalid value: "integer": status.serviceName in body must be of'
        ' type string: "integer", <nil>: Invalid value: "null": some validation rules were not'
        " checked because the object was invalid; correct the existing errors to complete"
        " validation]"
    )


def test_the_main_resource_ignores_status_and_status_ignores_the_rest(rest, namespace, metallb):
    """customresource strategy.go PrepareForUpdate keeps the stored status on the main
    resource, status_strategy.go keeps everything but status on /status; validation then runs
    on the whole object, so a bad spec sent to /status is dropped rather than refused."""
    created = rest.ok("POST", pools(namespace), pool(addresses=["192.0.2.0/28"]))
    created["spec"]["addresses"] = []  # would be a 422 on the main resource
    created["status"] = {
        "assignedIPv4": 1,
        "assignedIPv6": 0,
        "availableIPv4": 15,
        "availableIPv6": 0,
    }
    written = rest.ok("PUT", f"{pools(namespace)}/p/status", created)
    assert written["spec"]["addresses"] == ["192.0.2.0/28"]
    assert written["status"]["assignedIPv4"] == 1
    written["status"] = {"assignedIPv4": "many"}  # would be a 422 on /status
    kept = rest.ok("PUT", f"{pools(namespace)}/p", written)
    assert kept["status"]["assignedIPv4"] == 1


# ------------------------------------------------------------------ CRDs we cannot enforce


def crd_with(**spec_schema: Any) -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(yaml.safe_dump(GADGETS))
    crd["metadata"]["name"] = "doodads.lab.metalpool.io"
    crd["spec"]["names"] = {"plural": "doodads", "kind": "Doodad"}
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"] = spec_schema
    return crd


@pytest.mark.parametrize(
    ("spec_schema", "message"),
    [
        pytest.param(
            {"type": "object", "x-kubernetes-validations": [{"rule": "self.size > 0"}]},
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0]"
            '.rule: Invalid value: "self.size > 0": compilation failed: the emulated apiserver'
            " evaluates only the transition rule `self == oldSelf`",
            id="unknown-rule",
        ),
        pytest.param(
            {"type": "object", "anyOf": [{"required": ["size"]}]},
            'spec.versions[0].schema.openAPIV3Schema.properties[spec].anyOf: Invalid value: "":'
            " not supported by the emulated apiserver",
            id="anyOf",
        ),
        pytest.param(
            {"properties": {"size": {"type": "integer"}}},
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value:"
            " must not be empty for specified object fields",
            id="untyped",
        ),
        pytest.param(
            {"type": "array"},
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].items: Required value:"
            " must be specified",
            id="array-without-items",
        ),
        pytest.param(
            {"type": "object", "properties": {"size": {"type": "integer", "default": "big"}}},
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size].default:"
            ' Invalid value: "string": spec.size in body must be of type integer: "string"',
            id="wrong-default",
        ),
    ],
)
def test_a_crd_whose_schema_cannot_be_enforced_is_refused(
    rest: Rest, spec_schema: dict[str, Any], message: str
):
    """A rule or keyword the emulator would not enforce must fail loudly at CRD creation, as
    kube refuses a rule that does not compile (apiextensions validation.go, "compilation
    failed") and a non-structural schema (schema/validation.go ValidateStructural)."""
    status, body = rest.post(CRD_PATH, crd_with(**spec_schema))
    assert status == 422, body
    assert body["message"] == (
        f'CustomResourceDefinition.apiextensions.k8s.io "doodads.lab.metalpool.io" is invalid:'
        f" {message}"
    )
    assert rest.get(f"{CRD_PATH}/doodads.lab.metalpool.io")[0] == 404


# ------------------------------------------------------------------ keywords, through the pure core

KEYWORDS = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "minProperties": 1,
            "properties": {
                "port": {"x-kubernetes-int-or-string": True},
                "name": {"type": "string", "minLength": 2, "maxLength": 5},
                "when": {"type": "string", "format": "date-time"},
                "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1.5},
                "tags": {
                    "type": "array",
                    "maxItems": 2,
                    "x-kubernetes-list-type": "set",
                    "items": {"type": "string"},
                },
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["port"],
                    "items": {
                        "type": "object",
                        "properties": {"port": {"type": "integer"}, "name": {"type": "string"}},
                    },
                },
                "labels": {
                    "type": "object",
                    "maxProperties": 1,
                    "additionalProperties": {"type": "string"},
                },
                "note": {"type": "string", "nullable": True},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        }
    },
}


def keywords() -> Any:
    crd = {"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": KEYWORDS}}]}}
    return compile_crd(crd)["v1"]


@pytest.mark.parametrize(
    ("spec", "errors"),
    [
        pytest.param({"port": 80}, [], id="int-or-string-int"),
        pytest.param({"port": "http"}, [], id="int-or-string-string"),
        pytest.param(
            {"port": True},
            [
                'spec.port: Invalid value: "boolean": spec.port in body must be of type'
                ' integer,string: "boolean"'
            ],
            id="int-or-string-bool",
        ),
        pytest.param(
            {},
            ["spec: Invalid value: 1: spec in body should have at least 1 properties"],
            id="min-properties",
        ),
        pytest.param(
            {"name": "a"},
            ['spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long'],
            id="min-length",
        ),
        pytest.param(
            {"name": "abcdef"}, ["spec.name: Too long: may not be longer than 5"], id="max-length"
        ),
        pytest.param({"when": "2026-12-02T10:51:49Z"}, [], id="date-time"),
        pytest.param(
            {"when": "yesterday"},
            [
                'spec.when: Invalid value: "yesterday": spec.when in body must be of type'
                ' date-time: "yesterday"'
            ],
            id="date-time-bad",
        ),
        pytest.param(
            {"ratio": 0},
            ["spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0"],
            id="exclusive-minimum",
        ),
        pytest.param(
            {"ratio": 2.5},
            [
                "spec.ratio: Invalid value: 2.5: spec.ratio in body should"
                " be less than or equal to 1.5"
            ],
            id="maximum",
        ),
        pytest.param(
            {"tags": ["a", "b", "c"]},
            ["spec.tags: Too many: 3: must have at most 2 items"],
            id="max-items",
        ),
        pytest.param({"tags": ["a", "a"]}, ['spec.tags[1]: Duplicate value: "a"'], id="set"),
        pytest.param(
            {"ports": [{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]},
            ['spec.ports[1]: Duplicate value: map[string]interface {}{"port":80}'],
            id="map",
        ),
        pytest.param(
            {"labels": {"a": "1", "b": "2"}},
            ["spec.labels: Too many: 1: must have at most 1 items"],
            id="max-properties",
        ),
        pytest.param(
            {"labels": {"a": 1}},
            [
                'spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type'
                ' string: "integer"'
            ],
            id="additional-properties",
        ),
        pytest.param({"note": None}, [], id="nullable"),
        pytest.param({"free": {"anything": {"goes": 1}}}, [], id="preserve-unknown-fields"),
    ],
)
def test_schema_keywords_give_kube_openapis_errors(spec: dict[str, Any], errors: list[str]):
    """k8s.io/kube-openapi pkg/validation/validate (type.go, slice_validator.go,
    object_validator.go, validator.go) with errors/schema.go's sentences, converted by
    kubeOpenAPIResultToFieldErrors; list types by apiextensions schema/listtype/validation.go;
    maxProperties reports its limit as the count (kubeOpenAPIResultToFieldErrors passes the
    error's Value, which is the limit)."""
    obj = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "x"}, "spec": spec}
    assert [str(error) for error in keywords().admit(obj, None)] == errors


def test_preserve_unknown_fields_keeps_what_pruning_would_drop():
    """pruning/algorithm.go skipPrune: under x-kubernetes-preserve-unknown-fields unknown keys
    stay; a null that is neither nullable nor defaulted is dropped (prunenulls.go)."""
    obj = {"metadata": {"name": "x"}, "spec": {"free": {"a": {"b": 1}}, "zap": 1, "name": None}}
    assert keywords().admit(obj, None) == []
    assert obj["spec"] == {"free": {"a": {"b": 1}}}


def test_a_transition_rule_under_a_plain_list_cannot_compile():
    """apiextensions cel compilation: oldSelf is unavailable where the schema cannot correlate
    old and new (inside an atomic or set list), so such a rule is refused."""
    schema = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "string",
                    "x-kubernetes-validations": [{"rule": "self == oldSelf"}],
                },
            }
        },
    }
    crd = {"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": schema}}]}}
    with pytest.raises(SchemaError, match="oldSelf cannot be used"):
        compile_crd(crd)


# ------------------------------------------------------------------ through the real kubectl


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_shows_the_422_with_the_field_path(
    kubectl: Kubectl,  # noqa: F811 -- the fixture imported above
    namespace: str,
    metallb: None,
):
    """kubectl's StandardErrorMessage (k8s.io/kubectl pkg/cmd/util/helpers.go) prints an
    Invalid status from its details: `The <Kind> "<name>" is invalid: <field>: <message>` for
    one cause, one `* <field>: <message>` line per cause for several (MultilineError)."""
    one = (
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: one}\n"
        "spec: {addresses: ['a,b']}\n"
    )
    done = kubectl("create", "-n", namespace, "-f", "-", stdin=one, ok=False)
    assert done.stderr.strip() == (
        'The IPAddressPool "one" is invalid: spec.addresses[0]: Invalid value: "a,b":'
        " spec.addresses[0] in body should match '^[0-9A-Fa-f.:/\\s-]+$'"
    )
    bad = (
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: bad}\n"
        "spec: {addresses: [], autoAssign: 'yes'}\n"
    )
    done = kubectl("apply", "-n", namespace, "-f", "-", stdin=bad, ok=False)
    assert done.returncode != 0
    assert 'The IPAddressPool "bad" is invalid:' in done.stderr
    assert (
        "* spec.addresses: Invalid value: 0: spec.addresses in body should have at least 1"
        " items" in done.stderr
    )
    assert (
        '* spec.autoAssign: Invalid value: "string": spec.autoAssign in body must be of'
        ' type boolean: "string"' in done.stderr
    )
