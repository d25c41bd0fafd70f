"""The identities a request can carry: a name and groups, as kube-apiserver's user.Info.

Pure. A ServiceAccount's user name and groups follow k8s.io/apiserver/pkg/authentication/
serviceaccount/util.go (MakeUsername, MakeGroupNames); every authenticated user is also in
`system:authenticated`, the anonymous one in `system:unauthenticated`
(k8s.io/apiserver/pkg/authentication/user/user.go).
"""

from dataclasses import dataclass

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
MASTERS = "system:masters"  # the privileged group: every request allowed, RBAC never asked
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
SERVICE_ACCOUNTS = "system:serviceaccounts"


@dataclass(frozen=True, slots=True)
class User:
    """A requester: the name in 403 messages and the groups bindings may name."""

    name: str
    groups: frozenset[str]

    @property
    def is_admin(self) -> bool:
        """Whether the user is in system:masters (kube's authorizer short-circuits it)."""
        return MASTERS in self.groups

    @property
    def service_account(self) -> tuple[str, str] | None:
        """(namespace, name) of the ServiceAccount this user is, or None."""
        if not self.name.startswith(SERVICE_ACCOUNT_PREFIX):
            return None
        namespace, _, name = self.name.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
        return namespace, name


ADMIN = User("lab-admin", frozenset({MASTERS, AUTHENTICATED}))
ANONYMOUS = User("system:anonymous", frozenset({UNAUTHENTICATED}))


def service_account_user(namespace: str, name: str) -> User:
    """The user a ServiceAccount's token authenticates as."""
    return User(
        f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}",
        frozenset({SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{namespace}", AUTHENTICATED}),
    )
