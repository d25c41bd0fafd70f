"""The gate every request passes: authenticate, then authorize, as kube-apiserver's filters do.

Reads the cluster's RBAC objects (cached until one of them changes) and the ServiceAccounts
tokens are bound to; raises the `ApiError` kube sends: 401 `Unauthorized` for a bad token, 403
Forbidden worded by k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go
(forbiddenMessage, wrapped by apimachinery's errors.NewForbidden):
`services is forbidden: User "system:serviceaccount:ns:sa" cannot list resource "services" in
API group "" at the cluster scope`.
"""

from collections import deque

from lab.apiserver.auth.attributes import Attributes, request_attributes
from lab.apiserver.auth.rbac import Policy, decide, policy_from
from lab.apiserver.auth.tokens import AccountLookup, Tokens, UnauthorizedError
from lab.apiserver.auth.users import User
from lab.apiserver.objects.errors import ApiError, qualified
from lab.apiserver.objects.store import Store

RBAC = "rbac.authorization.k8s.io"
CLUSTER_ROLES, ROLES = f"{RBAC}/clusterroles", f"{RBAC}/roles"
CLUSTER_BINDINGS, ROLE_BINDINGS = f"{RBAC}/clusterrolebindings", f"{RBAC}/rolebindings"
DENIALS_KEPT = 1000
RBAC_STORAGES = (CLUSTER_ROLES, ROLES, CLUSTER_BINDINGS, ROLE_BINDINGS)
SERVICE_ACCOUNTS = "/serviceaccounts"


class Access:
    """Tokens this server issued, and the RBAC policy of its cluster."""

    def __init__(self) -> None:
        self.tokens = Tokens()
        self.denied: deque[str] = deque(maxlen=DENIALS_KEPT)  # what this gate refused, newest last
        self._policy: Policy | None = None
        self._policy_key: tuple[int, ...] = ()

    def admit(
        self, store: Store, authorization: str, method: str, path: str, query: str, *, now: float
    ) -> User:
        """The requesting user, if it may do what it asks; else the 401 or 403 to send."""
        try:
            user = self.tokens.authenticate(authorization, _account_uid(store), now)
        except UnauthorizedError:
            self.denied.append(f"401 {method} {path}")
            raise ApiError(401, "Unauthorized") from None
        request = request_attributes(method, path, query)
        decision = decide(self._current_policy(store), user, request)
        if not decision.allowed:
            error = forbidden(user, request, decision.reason)
            self.denied.append(f"403 {method} {path}: {error.message}")
            raise error
        return user

    def _current_policy(self, store: Store) -> Policy:
        key = tuple(
            store.latest(s) for s in (CLUSTER_ROLES, ROLES, CLUSTER_BINDINGS, ROLE_BINDINGS)
        )
        if self._policy is None or key != self._policy_key:
            self._policy = policy_from(
                store.iterate(CLUSTER_ROLES, None),
                store.iterate(ROLES, None),
                store.iterate(CLUSTER_BINDINGS, None),
                store.iterate(ROLE_BINDINGS, None),
            )
            self._policy_key = key
        return self._policy


def forbidden(user: User, request: Attributes, reason: str = "") -> ApiError:
    """The 403 kube-apiserver sends when `user` may not make `request`."""
    if not request.is_resource_request:
        message = f'User "{user.name}" cannot {request.verb} path "{request.path}"'
    else:
        scope = (
            f'in the namespace "{request.namespace}"'
            if request.namespace
            else "at the cluster scope"
        )
        message = (
            f'User "{user.name}" cannot {request.verb} resource "{request.combined_resource}"'
            f' in API group "{request.group}" {scope}'
        )
    if reason:
        message = f"{message}: {reason}"
    if not request.is_resource_request:
        return ApiError(403, f"forbidden: {message}")
    resource = qualified(request.resource, request.group)
    subject = f'{resource} "{request.name}"' if request.name else resource
    return ApiError(
        403,
        f"{subject} is forbidden: {message}",
        name=request.name,
        group=request.group,
        kind=request.resource,
    )


def _account_uid(store: Store) -> AccountLookup:
    def uid(namespace: str, name: str) -> str | None:
        account = store.get(SERVICE_ACCOUNTS, namespace, name)
        return None if account is None else str(account["metadata"].get("uid", ""))

    return uid
