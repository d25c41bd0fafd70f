"""The TokenRequest API: `POST .../serviceaccounts/NAME/token`, what `kubectl create token` calls.

Pure apart from minting through `Tokens`. The response is an authentication.k8s.io/v1
TokenRequest with status.token and status.expirationTimestamp
(pkg/registry/core/serviceaccount/storage/token.go); an expirationSeconds under ten minutes is
422 (pkg/apis/authentication/validation/validation.go ValidateTokenRequest).
"""

import datetime as dt
from typing import Any

from lab.apiserver.auth.tokens import DEFAULT_SECONDS, MINIMUM_SECONDS, Tokens
from lab.apiserver.objects.errors import invalid

AUDIENCES = ("https://kubernetes.default.svc.cluster.local",)


def token_request(
    tokens: Tokens, account: dict[str, Any], body: Any, *, now: float
) -> dict[str, Any]:
    """Mint a token for the stored ServiceAccount `account`; the TokenRequest to return."""
    metadata = account["metadata"]
    spec = dict((body or {}).get("spec") or {}) if isinstance(body, dict) else {}
    seconds = spec.get("expirationSeconds") or DEFAULT_SECONDS
    if not isinstance(seconds, int) or seconds < MINIMUM_SECONDS:
        raise invalid(
            "TokenRequest",
            "authentication.k8s.io",
            metadata["name"],
            f"spec.expirationSeconds: Invalid value: {seconds}: "
            "may not specify a duration less than 10 minutes",
        )
    token = tokens.issue(
        metadata["namespace"], metadata["name"], metadata["uid"], seconds=seconds, now=now
    )
    expires = dt.datetime.fromtimestamp(now + seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "creationTimestamp": None,
        },
        "spec": {
            "audiences": list(spec.get("audiences") or AUDIENCES),
            "expirationSeconds": seconds,
            "boundObjectRef": spec.get("boundObjectRef"),
        },
        "status": {"token": token, "expirationTimestamp": expires},
    }
