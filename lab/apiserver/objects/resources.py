"""What kinds of objects the server knows: the built-in table and the types a CRD declares.

Pure data. A `ResourceType` is one served group/version/plural; everything else (discovery, routing,
Tables, field selectors, the status-subresource rule) reads its facts from here, so adding a
built-in is one row. Storage is shared by all versions of a group/plural (CRD versions with the
`None` conversion strategy), which is why `storage` has no version in it.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lab.apiserver.schema.customresources import VersionSchema, compile_version

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
METADATA_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    """One printer column of `kubectl get`: a JSON path, or a named built-in rendering."""

    name: str
    json_path: str = ""
    type: str = "string"
    priority: int = 0
    format: str = ""
    description: str = ""
    renderer: str = ""


NAME_COLUMN = Column(name="Name", type="string", format="name", renderer="name")
AGE_COLUMN = Column(name="Age", type="date", renderer="age")


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceType:
    """One served resource: group/version/plural plus the facts clients discover about it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    columns: tuple[Column, ...] = (NAME_COLUMN, AGE_COLUMN)
    field_selectors: tuple[str, ...] = ()
    custom: bool = False
    # The real apiserver drops `status` on create for these (PrepareForCreate); Nodes keep it.
    status_reset_on_create: bool = True
    served_versions: tuple[str, ...] = field(default=())
    # A custom resource version's compiled openAPIV3Schema: writes are pruned, defaulted and
    # validated against it, reads defaulted (schema/customresources.py).
    schema: VersionSchema | None = field(default=None, compare=False, repr=False)

    @property
    def storage(self) -> str:
        """The key objects are stored under; shared across versions."""
        return f"{self.group}/{self.plural}"

    @property
    def api_version(self) -> str:
        """`v1` for the core group, `group/version` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def has_status(self) -> bool:
        """Whether writes to the main resource ignore `status` (and /status ignores the rest)."""
        return "status" in self.subresources

    @property
    def singular_name(self) -> str:
        """The singular name; the lower-cased kind when none is declared."""
        return self.singular or self.kind.lower()

    @property
    def selectable_fields(self) -> frozenset[str]:
        """Fields a fieldSelector may use on this resource; others are refused with 400."""
        return frozenset(METADATA_FIELDS + self.field_selectors)


def _builtin(group: str, version: str, plural: str, kind: str, **facts: Any) -> ResourceType:
    return ResourceType(group=group, version=version, plural=plural, kind=kind, **facts)


STATUS = frozenset({"status"})
POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)

SERVICE_COLUMNS = (
    NAME_COLUMN,
    Column(name="Type", renderer="service-type"),
    Column(name="Cluster-IP", renderer="service-cluster-ip"),
    Column(name="External-IP", renderer="service-external-ip"),
    Column(name="Port(s)", renderer="service-ports"),
    AGE_COLUMN,
    Column(name="Selector", renderer="service-selector", priority=1),
)

BUILTINS: tuple[ResourceType, ...] = (
    _builtin(
        "",
        "v1",
        "namespaces",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        subresources=STATUS,
        field_selectors=("status.phase",),
        columns=(NAME_COLUMN, Column(name="Status", json_path=".status.phase"), AGE_COLUMN),
    ),
    _builtin(
        "",
        "v1",
        "services",
        "Service",
        short_names=("svc",),
        categories=("all",),
        subresources=STATUS,
        columns=SERVICE_COLUMNS,
    ),
    _builtin("", "v1", "endpoints", "Endpoints", short_names=("ep",), singular="endpoints"),
    _builtin(
        "",
        "v1",
        "nodes",
        "Node",
        namespaced=False,
        short_names=("no",),
        subresources=STATUS,
        field_selectors=("spec.unschedulable",),
        status_reset_on_create=False,
        columns=(
            NAME_COLUMN,
            Column(name="Status", renderer="node-status"),
            Column(name="Roles", renderer="node-roles"),
            AGE_COLUMN,
            Column(name="Version", json_path=".status.nodeInfo.kubeletVersion"),
            Column(name="Internal-IP", renderer="node-internal-ip", priority=1),
        ),
    ),
    _builtin(
        "",
        "v1",
        "pods",
        "Pod",
        short_names=("po",),
        categories=("all",),
        subresources=STATUS,
        field_selectors=POD_FIELDS,
        status_reset_on_create=False,
        columns=(
            NAME_COLUMN,
            Column(name="Status", json_path=".status.phase"),
            Column(name="IP", json_path=".status.podIP", priority=1),
            Column(name="Node", json_path=".spec.nodeName", priority=1),
            AGE_COLUMN,
        ),
    ),
    _builtin(
        "",
        "v1",
        "events",
        "Event",
        short_names=("ev",),
        field_selectors=EVENT_FIELDS,
        columns=(
            Column(name="Last Seen", renderer="event-last-seen"),
            Column(name="Type", json_path=".type"),
            Column(name="Reason", json_path=".reason"),
            Column(name="Object", renderer="event-object"),
            Column(name="Message", json_path=".message"),
            Column(name="Name", type="string", format="name", renderer="name", priority=1),
        ),
    ),
    _builtin("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _builtin("", "v1", "secrets", "Secret", field_selectors=("type",)),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _builtin(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        short_names=("ev",),
        field_selectors=("reason", "type", "reportingController"),
    ),
    _builtin("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    _builtin(
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        columns=(NAME_COLUMN, Column(name="Holder", json_path=".spec.holderIdentity"), AGE_COLUMN),
    ),
    *(
        _builtin(
            "apps",
            "v1",
            plural,
            kind,
            short_names=(short,),
            categories=("all",),
            subresources=STATUS,
        )
        for plural, kind, short in (
            ("deployments", "Deployment", "deploy"),
            ("daemonsets", "DaemonSet", "ds"),
            ("statefulsets", "StatefulSet", "sts"),
            ("replicasets", "ReplicaSet", "rs"),
        )
    ),
    *(
        _builtin("rbac.authorization.k8s.io", "v1", plural, kind, namespaced=namespaced)
        for plural, kind, namespaced in (
            ("roles", "Role", True),
            ("rolebindings", "RoleBinding", True),
            ("clusterroles", "ClusterRole", False),
            ("clusterrolebindings", "ClusterRoleBinding", False),
        )
    ),
    _builtin(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        short_names=("ing",),
        subresources=STATUS,
    ),
    _builtin("networking.k8s.io", "v1", "ingressclasses", "IngressClass", namespaced=False),
    _builtin(
        "networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short_names=("netpol",)
    ),
    _builtin("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",)),
    _builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        subresources=STATUS,
        columns=(NAME_COLUMN, Column(name="Created At", renderer="created-at")),
    ),
)

CRD_STORAGE = "apiextensions.k8s.io/customresourcedefinitions"
NAMESPACE_STORAGE = "/namespaces"
SERVICE_STORAGE = "/services"
SECRET_STORAGE = "/secrets"  # noqa: S105 -- a storage key, not a password


def from_crd(crd: Mapping[str, Any]) -> Iterator[ResourceType]:
    """The resource types a CustomResourceDefinition serves, one per served version.

    Raises SchemaError for a version whose schema cannot be served (checked at admission).
    """
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    declared = list(enumerate(spec.get("versions") or ()))
    versions = [(i, v) for i, v in declared if v.get("served", True)]
    served = tuple(v["name"] for _, v in versions)
    for index, version in versions:
        columns = tuple(
            Column(
                name=column.get("name", ""),
                json_path=column.get("jsonPath", ""),
                type=column.get("type", "string"),
                priority=int(column.get("priority", 0)),
                format=column.get("format", ""),
                description=column.get("description", ""),
            )
            for column in version.get("additionalPrinterColumns") or ()
        )
        yield ResourceType(
            group=spec.get("group", ""),
            version=version["name"],
            plural=names.get("plural", ""),
            kind=names.get("kind", ""),
            singular=names.get("singular", ""),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            subresources=frozenset(version.get("subresources") or {}),
            columns=(NAME_COLUMN, *columns) if columns else (NAME_COLUMN, AGE_COLUMN),
            field_selectors=tuple(
                selectable["jsonPath"].lstrip(".")
                for selectable in version.get("selectableFields") or ()
            ),
            custom=True,
            served_versions=served,
            schema=compile_version(version, f"spec.versions[{index}]"),
        )
