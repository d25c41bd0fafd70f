"""The HTTP edge: one aiohttp handler that parses requests into `Cluster` calls.

Rule: this module decides nothing about objects. Every request passes the gate (authentication
and RBAC, `auth.access`) first. It routes (discovery documents, resource URLs),
reads bodies and query parameters, checks injected faults first, and turns results and `ApiError`s
into JSON responses (or a Table when kubectl asks with `Accept: ...;as=Table`). Every request is
recorded in `requests` (bounded), so tests can assert on what a client sent.
"""

import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import yaml
from aiohttp import web

from lab.apiserver.auth.access import SERVICE_ACCOUNTS, Access
from lab.apiserver.auth.token_requests import token_request
from lab.apiserver.faults import Faults
from lab.apiserver.http import discovery, protobuf, tables
from lab.apiserver.http.routing import ResourcePath, parse_path
from lab.apiserver.http.watches import Stream, WatchFilter, WatchRequest, present
from lab.apiserver.objects.cluster import Cluster
from lab.apiserver.objects.errors import ApiError
from lab.apiserver.objects.resources import ResourceType
from lab.apiserver.objects.selectors import SelectorError, parse_fields, parse_labels

logger = logging.getLogger(__name__)
JSON = "application/json"
HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz"})


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the server saw it."""

    method: str
    path: str
    query: str
    content_type: str
    status: int


@dataclass(slots=True)
class ServerState:
    """What the handler needs: the cluster, the fault rules, the request journal and the gate."""

    cluster: Cluster
    faults: Faults
    requests: deque[RequestRecord]
    access: Access = field(default_factory=Access)


STATE = web.AppKey("state", ServerState)


def build_app(state: ServerState) -> web.Application:
    """The aiohttp application serving the whole API from one catch-all route."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE] = state
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def respond(body: Any, status: int = 200) -> web.Response:
    """A JSON response."""
    text = json.dumps(body, separators=(",", ":"))
    return web.Response(text=text, status=status, content_type=JSON)


async def handle(request: web.Request) -> web.StreamResponse:
    """Serve one request; every failure becomes a Status object."""
    state = request.app[STATE]
    try:
        response = await _dispatch(request, state)
    except ApiError as error:
        if error.code in (401, 403):  # a denial is worth a line: least privilege is tested by it
            logger.warning("denied %s %s: %s", request.method, request.path_qs, error.message)
        response = respond(error.status(), error.code)
    except Exception as error:
        logger.exception("internal error serving %s %s", request.method, request.path_qs)
        response = respond(ApiError(500, f"internal error: {error}").status(), 500)
    state.requests.append(
        RequestRecord(
            request.method,
            request.path,
            request.query_string,
            request.headers.get("Content-Type", ""),
            response.status,
        )
    )
    return response


def _discovery(path: str, request: web.Request, cluster: Cluster) -> Any:
    """The discovery document at `path`, or None (an unknown path or group/version)."""
    registry = cluster.registry
    document: Any = None
    match [part for part in path.split("/") if part]:
        case ["version"]:
            document = discovery.SERVER_VERSION
        case ["api"]:
            document = discovery.api_versions(request.host)
        case ["apis"]:
            document = discovery.api_group_list(registry)
        case ["openapi", "v3"]:
            document = discovery.openapi_root(registry)
        case ["openapi", "v3", "api", version] if registry.in_version("", version):
            document = discovery.openapi_document(registry, "", version)
        case ["openapi", "v3", "apis", group, version] if registry.in_version(group, version):
            document = discovery.openapi_document(registry, group, version)
        case ["api", version] if registry.in_version("", version):
            document = discovery.resource_list(registry, "", version)
        case ["apis", group] if group in registry.groups():
            document = discovery.api_group(group, registry.groups()[group])
        case ["apis", group, version] if registry.in_version(group, version):
            document = discovery.resource_list(registry, group, version)
    return document


async def _dispatch(request: web.Request, state: ServerState) -> web.StreamResponse:
    cluster, path, method = state.cluster, request.path, request.method
    target = parse_path(path)
    watch = request.query.get("watch") in ("true", "1")
    fault = state.faults.check(
        method,
        path,
        target.plural if target else "",
        target.subresource if target else "",
        watch,
    )
    if fault is not None:
        raise fault
    authorization = request.headers.get("Authorization", "")
    state.access.admit(
        cluster.store, authorization, method, path, request.query_string, now=time.time()
    )
    if path in HEALTH_PATHS:
        return web.Response(text="ok")
    if target is None:
        document = _discovery(path, request, cluster) if method == "GET" else None
        if document is None:
            raise ApiError(404, "the server could not find the requested resource")
        return respond(document)
    rt = cluster.registry.lookup(target.group, target.version, target.plural)
    if rt is None or (target.namespace is not None and not rt.namespaced):
        raise ApiError(404, "the server could not find the requested resource")
    if _is_token_request(method, rt, target):
        account = cluster.get(rt, target.namespace or "", target.name)
        body = await _body(request, optional=True)
        return respond(token_request(state.access.tokens, account, body, now=time.time()), 201)
    if target.subresource and target.subresource not in rt.subresources:
        raise ApiError(404, "the server could not find the requested resource")
    if target.name and rt.namespaced and target.namespace is None:
        raise ApiError(404, "the server could not find the requested resource")
    namespace = (target.namespace or "") if rt.namespaced else ""
    if not target.name:
        return await _collection(request, state, rt, target, watch)
    return await _item(request, cluster, rt, namespace, target)


async def _collection(
    request: web.Request,
    state: ServerState,
    rt: ResourceType,
    target: ResourcePath,
    watch: bool,
) -> web.StreamResponse:
    cluster, query = state.cluster, request.query
    try:
        labels = parse_labels(query.get("labelSelector"))
        fields = parse_fields(query.get("fieldSelector"))
    except SelectorError as error:
        raise ApiError(400, f"unable to parse requirement: {error}") from None
    namespace = target.namespace if rt.namespaced else None
    as_table = _wants_table(request)
    include = query.get("includeObject", "Metadata")
    if request.method == "GET" and watch:
        cluster.check_fields(rt, fields)
        timeout = query.get("timeoutSeconds")
        watch_request = WatchRequest(
            since=query.get("resourceVersion", ""),
            timeout=float(timeout) if timeout else None,
            bookmarks=query.get("allowWatchBookmarks") in ("true", "1"),
            initial_events=query.get("sendInitialEvents") in ("true", "1"),
            as_table=as_table,
            include_object=include,
        )
        stream = Stream(cluster, rt, WatchFilter(namespace, labels, fields), watch_request)
        return await stream.serve(request, state.faults)
    if request.method == "GET":
        items, version, following = cluster.list(
            rt,
            namespace,
            labels,
            fields,
            limit=int(query.get("limit") or 0),
            token=query.get("continue", ""),
        )
        if as_table:
            return respond(
                tables.table(
                    rt,
                    [present(rt, o) for o in items],
                    resource_version=version,
                    include_object=include,
                    continue_token=following,
                )
            )
        return respond(_list_body(rt, items, version, following))
    if request.method == "POST":
        if rt.namespaced and target.namespace is None:
            raise ApiError(404, "the server could not find the requested resource")
        body = await _body(request)
        created = cluster.create(rt, target.namespace or "", body, dry_run=_dry_run(request))
        return respond(present(rt, created), 201)
    if request.method == "DELETE":
        items, version, _ = cluster.list(rt, namespace, labels, fields)
        deleted = [
            cluster.delete(rt, o["metadata"].get("namespace", ""), o["metadata"]["name"])
            for o in items
        ]
        return respond(_list_body(rt, deleted, str(cluster.store.resource_version), ""))
    raise ApiError(405, f"{request.method} is not supported on a collection")


async def _item(
    request: web.Request,
    cluster: Cluster,
    rt: ResourceType,
    namespace: str,
    target: ResourcePath,
) -> web.StreamResponse:
    name, sub, dry_run = target.name, target.subresource, _dry_run(request)
    match request.method:
        case "GET":
            found = present(rt, cluster.get(rt, namespace, name))
            if _wants_table(request):
                version = found["metadata"]["resourceVersion"]
                include = request.query.get("includeObject", "Metadata")
                return respond(
                    tables.table(rt, [found], resource_version=version, include_object=include)
                )
            return respond(found)
        case "PUT":
            body = await _body(request)
            replaced = cluster.replace(rt, namespace, name, body, subresource=sub, dry_run=dry_run)
            return respond(present(rt, replaced))
        case "PATCH":
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            patch = await _body(request, yaml_allowed=content_type.endswith("+yaml"))
            patched, created = cluster.patch(
                rt,
                namespace,
                name,
                content_type,
                patch,
                subresource=sub,
                dry_run=dry_run,
                field_manager=request.query.get("fieldManager", ""),
            )
            return respond(present(rt, patched), 201 if created else 200)
        case "DELETE":
            options = await _body(request, optional=True) or {}
            preconditions = options.get("preconditions") if isinstance(options, dict) else None
            dry_run = dry_run or "All" in ((options or {}).get("dryRun") or ())
            gone = cluster.delete(rt, namespace, name, preconditions=preconditions, dry_run=dry_run)
            return respond(present(rt, gone))
    raise ApiError(405, f"{request.method} is not supported here")


def _is_token_request(method: str, rt: ResourceType, target: ResourcePath) -> bool:
    """`POST .../serviceaccounts/NAME/token`: the TokenRequest API (`kubectl create token`)."""
    return (
        method == "POST"
        and rt.storage == SERVICE_ACCOUNTS
        and target.subresource == "token"
        and bool(target.name)
    )


def _list_body(rt: ResourceType, items: list[Any], version: str, following: str) -> Any:
    metadata = {"resourceVersion": version}
    if following:
        metadata["continue"] = following
    return {
        "kind": f"{rt.kind}List",
        "apiVersion": rt.api_version,
        "metadata": metadata,
        "items": [present(rt, item) for item in items],
    }


def _wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    first = accept.split(",")[0]
    return "as=Table" in first and "g=meta.k8s.io" in first


def _dry_run(request: web.Request) -> bool:
    return "All" in request.query.getall("dryRun", [])


async def _body(request: web.Request, *, yaml_allowed: bool = False, optional: bool = False) -> Any:
    content_type = request.headers.get("Content-Type", "")
    raw = await request.read()
    if "protobuf" in content_type or "cbor" in content_type:
        try:
            return protobuf.decode(raw)  # kubectl's imperative generators send protobuf
        except protobuf.ProtobufError as error:
            raise ApiError(
                415,
                f"the body of the request was in an unknown format - {content_type}: {error}; "
                "this emulator reads JSON",
            ) from None
    if not raw.strip():
        if optional:
            return None
        raise ApiError(400, "the request has no body")
    try:
        return json.loads(raw)
    except ValueError:
        if yaml_allowed or "yaml" in content_type:
            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError as error:
                raise ApiError(400, f"the body is not valid YAML: {error}") from None
        raise ApiError(400, "the body is not valid JSON") from None
