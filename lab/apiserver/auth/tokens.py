"""Bearer tokens: the admin's, and the ServiceAccount tokens the TokenRequest API hands out.

No I/O. A token minted for a ServiceAccount is bound to that object's uid and expires, like
kube's bound service account tokens (pkg/serviceaccount/claims.go): it stops working when the
account is deleted, even if one of the same name is made again. The tokens are opaque random
strings, not JWTs; no client here reads inside them. A request with no token is anonymous; a
token the server does not know is refused with 401 (kube's anonymous authenticator runs only
when no credentials were presented: k8s.io/apiserver/pkg/authentication/request/anonymous).
Expiry follows TokenRequest validation (pkg/apis/authentication/validation): at least 10 minutes,
an hour when none is asked for.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from lab.apiserver.auth.users import ADMIN, ANONYMOUS, User, service_account_user

ADMIN_TOKEN = "lab"  # noqa: S105 -- the lab's well-known admin credential, in every kubeconfig
DEFAULT_SECONDS = 3600
MINIMUM_SECONDS = 600
PREFIX = "metalpool-lab-sa."


def bearer(token: str = ADMIN_TOKEN) -> dict[str, str]:
    """The Authorization header carrying `token` (the lab admin's by default)."""
    return {"Authorization": f"Bearer {token}"}


class UnauthorizedError(Exception):
    """The request carries a token nobody issued, or one that no longer holds."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What one minted token stands for."""

    namespace: str
    name: str
    uid: str
    expires: float  # epoch seconds


# (namespace, name) → the account's uid now, or None when it does not exist.
AccountLookup = Callable[[str, str], str | None]


class Tokens:
    """The tokens this server accepts."""

    def __init__(self) -> None:
        self._grants: dict[str, Grant] = {}

    def issue(self, namespace: str, name: str, uid: str, *, seconds: int, now: float) -> str:
        """A new token for a ServiceAccount, valid for `seconds` from `now`."""
        token = PREFIX + secrets.token_urlsafe(32)
        self._grants[token] = Grant(namespace, name, uid, now + seconds)
        return token

    def authenticate(self, authorization: str, account_uid: AccountLookup, now: float) -> User:
        """The user an Authorization header names; anonymous without one."""
        scheme, _, token = authorization.strip().partition(" ")
        if not authorization.strip():
            return ANONYMOUS
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise UnauthorizedError
        if token == ADMIN_TOKEN:
            return ADMIN
        grant = self._grants.get(token)
        if grant is None or grant.expires <= now:
            raise UnauthorizedError
        if account_uid(grant.namespace, grant.name) != grant.uid:
            raise UnauthorizedError  # the account it was bound to is gone
        return service_account_user(grant.namespace, grant.name)
