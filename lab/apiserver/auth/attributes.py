"""What a request asks to do, in the terms RBAC decides on: verb, resource, namespace, name.

Pure. Follows k8s.io/apiserver/pkg/endpoints/request/requestinfo.go (RequestInfoFactory.
NewRequestInfo): a GET of a collection is `list`, or `watch` with ?watch=true; a GET of one object
is `get`; POST `create`, PUT `update`, PATCH `patch`, DELETE `delete`, or `deletecollection`
without a name. For list and watch an exact `metadata.name=` field selector becomes the name,
which is how a rule with resourceNames can allow them. `/api/v1/namespaces/NAME` is in the
namespace NAME. Any other URL (discovery, /version, /healthz) is a non-resource request whose
verb is the lowercased method.
"""

import urllib.parse
from dataclasses import dataclass

from lab.apiserver.http.routing import parse_path
from lab.apiserver.objects.selectors import SelectorError, parse_fields

METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True, slots=True)
class Attributes:
    """One request as the authorizer sees it (authorizer.AttributesRecord)."""

    verb: str
    path: str
    resource: str = ""  # empty for a non-resource request
    subresource: str = ""
    group: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def is_resource_request(self) -> bool:
        """Whether it addresses a resource (else a non-resource URL such as /apis)."""
        return bool(self.resource)

    @property
    def combined_resource(self) -> str:
        """`services` or `services/status`, as rules name resources."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def request_attributes(method: str, path: str, query: str) -> Attributes:
    """The attributes of a request from its method, path and raw query string."""
    target = parse_path(path)
    if target is None:
        return Attributes(verb=method.lower(), path=path)
    params = urllib.parse.parse_qs(query)
    name, verb = target.name, METHOD_VERBS.get(method, method.lower())
    if method == "GET":
        verb = "get" if name else ("watch" if _watching(params) else "list")
    if not name and verb in ("list", "watch"):
        name = _pinned_name((params.get("fieldSelector") or [""])[0])
    if not name and verb == "delete":
        verb = "deletecollection"
    namespace = target.namespace or ""
    if target.plural == "namespaces" and target.group == "" and target.name:
        namespace = target.name  # requestinfo.go: /namespaces/{name} is in namespace {name}
    return Attributes(
        verb=verb,
        path=path,
        resource=target.plural,
        subresource=target.subresource,
        group=target.group,
        namespace=namespace,
        name=name,
    )


def _watching(params: dict[str, list[str]]) -> bool:
    values = params.get("watch") or []
    return bool(values) and values[0].lower() not in ("false", "0")


def _pinned_name(selector: str) -> str:
    """The name a `metadata.name=` requirement pins ('' when none, or when it does not parse).

    requestinfo.go falls back to a plain list, without a name, when the selector does not parse.
    """
    try:
        return parse_fields(selector).exact_name() or ""
    except SelectorError:
        return ""
