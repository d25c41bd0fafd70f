"""API failures as the real apiserver reports them: an HTTP code plus a `kind: Status` body.

Every refusal in the emulator is an `ApiError`; the HTTP layer turns it into a response, so the
rules elsewhere never build responses themselves. Reasons and messages follow the real apiserver's
wording, because clients (kopf, client-go, kubectl) match on `reason` and people read `message`.
"""

from collections.abc import Sequence
from typing import Any

from lab.apiserver.schema.fields import FieldError

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """A request the server refuses; `status()` is the body to send."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        name: str | None = None,
        group: str | None = None,
        kind: str | None = None,
        causes: Sequence[dict[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = {
            key: value
            for key, value in (("name", name), ("group", group), ("kind", kind))
            if value  # the real apiserver omits empty details (the core group is "")
        }
        self.causes = [dict(cause) for cause in causes]

    def status(self) -> dict[str, Any]:
        """The `kind: Status` object the real apiserver sends with this code."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details or self.causes:
            body["details"] = dict(self.details)
            if self.causes:
                body["details"]["causes"] = [dict(cause) for cause in self.causes]
        return body


def not_found(plural: str, group: str, name: str) -> ApiError:
    """404 for a missing object, worded as `services "web" not found`."""
    return ApiError(
        404, f'{qualified(plural, group)} "{name}" not found', name=name, group=group, kind=plural
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    """409 AlreadyExists for a create that collides with a live object."""
    return ApiError(
        409,
        f'{qualified(plural, group)} "{name}" already exists',
        reason="AlreadyExists",
        name=name,
        group=group,
        kind=plural,
    )


def conflict(plural: str, group: str, name: str) -> ApiError:
    """409 Conflict for a stale resourceVersion (optimistic concurrency)."""
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": '
        "the object has been modified; please apply your changes to the latest version "
        "and try again",
        name=name,
        group=group,
        kind=plural,
    )


def invalid(kind: str, group: str, name: str, why: str) -> ApiError:
    """422 Invalid: the request is well-formed but breaks a rule of the object."""
    return ApiError(422, f'{kind} "{name}" is invalid: {why}', name=name, group=group, kind=kind)


def invalid_fields(kind: str, group: str, name: str, errors: Sequence[FieldError]) -> ApiError:
    """422 Invalid listing field errors, as apimachinery's errors.NewInvalid builds it.

    The message is `Kind.group "name" is invalid: <errors>`, the errors aggregated as
    utilerrors does: one alone as is, several as `[a, b]`, repeats once; every error (repeats
    too) is also a `details.causes` entry with its reason, message and field.
    """
    qualified_kind = f"{kind}.{group}" if group else kind
    unique = list(dict.fromkeys(str(error) for error in errors))
    message = f'{qualified_kind} "{name}" is invalid'
    if len(unique) == 1:
        message += f": {unique[0]}"
    elif unique:
        message += f": [{', '.join(unique)}]"
    causes = [
        {"reason": str(error.type), "message": error.body, "field": error.field} for error in errors
    ]
    return ApiError(422, message, name=name, group=group, kind=kind, causes=causes)


def qualified(plural: str, group: str) -> str:
    """`services` or `ipaddresspools.metallb.io`, as the apiserver names a resource in messages."""
    return f"{plural}.{group}" if group else plural
