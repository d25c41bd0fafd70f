"""RBAC: whether the Roles, ClusterRoles and bindings in the cluster allow a request.

Pure. Follows kube's RBAC authorizer (plugin/pkg/auth/authorizer/rbac/rbac.go and the rule
matching in pkg/apis/rbac/v1/evaluation_helpers.go): a request is allowed when some rule of a
role bound to the user allows it. A ClusterRoleBinding applies everywhere; a RoleBinding only to
requests in its own namespace, and its roleRef is a Role of that namespace or a ClusterRole. A
rule matches when its verbs, apiGroups, resources (`*`, `services/status`, `*/status`) and
resourceNames (none: any name) all match; non-resource URLs match exactly or by a trailing `*`.
A binding whose role does not exist grants nothing, and the denial says so, as kube's does
(`RBAC: role.rbac.authorization.k8s.io "x" not found`). Members of system:masters are allowed
everything before RBAC is asked. The bootstrap roles every cluster has for discovery
(system:discovery, system:public-info-viewer: plugin/pkg/auth/authorizer/rbac/bootstrappolicy/
policy.go) are built in rather than stored.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lab.apiserver.auth.attributes import Attributes
from lab.apiserver.auth.users import AUTHENTICATED, UNAUTHENTICATED, User

ALL = "*"
RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True, slots=True)
class Rule:
    """One PolicyRule."""

    verbs: frozenset[str]
    api_groups: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    resource_names: frozenset[str] = frozenset()
    non_resource_urls: tuple[str, ...] = ()

    def allows(self, request: Attributes) -> bool:
        """RuleAllows: every dimension of the rule matches the request."""
        if not (ALL in self.verbs or request.verb in self.verbs):
            return False
        if not request.is_resource_request:
            return any(_url_matches(url, request.path) for url in self.non_resource_urls)
        return (
            (ALL in self.api_groups or request.group in self.api_groups)
            and self._resource_matches(request)
            and (not self.resource_names or request.name in self.resource_names)
        )

    def _resource_matches(self, request: Attributes) -> bool:
        if ALL in self.resources or request.combined_resource in self.resources:
            return True
        return bool(request.subresource) and f"*/{request.subresource}" in self.resources


@dataclass(frozen=True, slots=True)
class Subject:
    """Who a binding names: a User, a Group or a ServiceAccount."""

    kind: str
    name: str
    namespace: str = ""

    def includes(self, user: User) -> bool:
        """Whether the user is this subject (rbac.go appliesToUser)."""
        match self.kind:
            case "User":
                return user.name == self.name
            case "Group":
                return self.name in user.groups
            case "ServiceAccount":
                return user.service_account == (self.namespace, self.name)
        return False


@dataclass(frozen=True, slots=True)
class Binding:
    """A RoleBinding (namespace set) or ClusterRoleBinding (namespace empty)."""

    namespace: str
    role_kind: str  # Role or ClusterRole
    role_name: str
    subjects: tuple[Subject, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    """Every role and binding in the cluster."""

    cluster_roles: Mapping[str, tuple[Rule, ...]]
    roles: Mapping[tuple[str, str], tuple[Rule, ...]]
    bindings: tuple[Binding, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed or not, and the reason kube appends to a denial (empty when there is none)."""

    allowed: bool
    reason: str = ""


DISCOVERY_URLS = (
    "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
    "/readyz", "/version", "/version/",
)  # fmt: skip
PUBLIC_INFO_URLS = ("/healthz", "/livez", "/readyz", "/version", "/version/")
BOOTSTRAP: Mapping[str, tuple[Rule, ...]] = {
    AUTHENTICATED: (Rule(frozenset({"get"}), non_resource_urls=DISCOVERY_URLS),),
    UNAUTHENTICATED: (Rule(frozenset({"get"}), non_resource_urls=PUBLIC_INFO_URLS),),
}


def decide(policy: Policy, user: User, request: Attributes) -> Decision:
    """Whether `user` may make `request` under `policy`."""
    if user.is_admin:
        return Decision(True)
    for group in user.groups:
        if any(rule.allows(request) for rule in BOOTSTRAP.get(group, ())):
            return Decision(True)
    missing: list[str] = []
    for binding in policy.bindings:
        if binding.namespace and binding.namespace != request.namespace:
            continue
        if not any(subject.includes(user) for subject in binding.subjects):
            continue
        rules = _rules(policy, binding)
        if rules is None:
            missing.append(_missing_role(binding))
        elif any(rule.allows(request) for rule in rules):
            return Decision(True)
    return Decision(False, f"RBAC: {_aggregate(missing)}" if missing else "")


def policy_from(
    cluster_roles: Iterable[Mapping[str, Any]],
    roles: Iterable[Mapping[str, Any]],
    cluster_bindings: Iterable[Mapping[str, Any]],
    role_bindings: Iterable[Mapping[str, Any]],
) -> Policy:
    """The policy from stored objects (dicts as the API serves them)."""
    return Policy(
        cluster_roles={_name(o): _rules_of(o) for o in cluster_roles},
        roles={(_namespace(o), _name(o)): _rules_of(o) for o in roles},
        bindings=tuple(
            [_binding(o, "") for o in cluster_bindings]
            + [_binding(o, _namespace(o)) for o in role_bindings]
        ),
    )


def _rules(policy: Policy, binding: Binding) -> tuple[Rule, ...] | None:
    if binding.role_kind == "ClusterRole":
        return policy.cluster_roles.get(binding.role_name)
    if binding.role_kind == "Role" and binding.namespace:
        return policy.roles.get((binding.namespace, binding.role_name))
    return None


def _missing_role(binding: Binding) -> str:
    kind = "clusterrole" if binding.role_kind == "ClusterRole" else "role"
    return f'{kind}.{RBAC_GROUP} "{binding.role_name}" not found'


def _aggregate(errors: list[str]) -> str:
    """utilerrors.NewAggregate's text: one error as is, several in brackets."""
    return errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]"


def _url_matches(rule_url: str, path: str) -> bool:
    if rule_url in (ALL, path):
        return True
    return rule_url.endswith("*") and path.startswith(rule_url[:-1])


def _rules_of(role: Mapping[str, Any]) -> tuple[Rule, ...]:
    return tuple(
        Rule(
            verbs=frozenset(rule.get("verbs") or ()),
            api_groups=frozenset(rule.get("apiGroups") or ()),
            resources=frozenset(rule.get("resources") or ()),
            resource_names=frozenset(rule.get("resourceNames") or ()),
            non_resource_urls=tuple(rule.get("nonResourceURLs") or ()),
        )
        for rule in role.get("rules") or ()
    )


def _binding(obj: Mapping[str, Any], namespace: str) -> Binding:
    ref = obj.get("roleRef") or {}
    return Binding(
        namespace=namespace,
        role_kind=str(ref.get("kind", "")),
        role_name=str(ref.get("name", "")),
        subjects=tuple(
            Subject(str(s.get("kind", "")), str(s.get("name", "")), str(s.get("namespace", "")))
            for s in obj.get("subjects") or ()
        ),
    )


def _name(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"]["name"])


def _namespace(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"].get("namespace", ""))
