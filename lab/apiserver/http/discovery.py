"""The registry of served resources and the documents clients discover them through.

`Registry` holds the built-ins plus whatever CRDs registered; the document builders are pure
functions of it. kubectl needs: legacy discovery (`/api`, `/apis`, `/api/v1`, `/apis/G/V`) with
`groupVersion: v1` for the core group, boolean `namespaced`, verbs and `x/status` subresource rows;
`/version`; and an OpenAPI v3 root whose per-group-version documents carry a PATCH operation tagged
with `x-kubernetes-group-version-kind` and a `fieldValidation` parameter, which tells kubectl the
server validates fields itself so `kubectl apply` needs no `--validate=false` and no schemas.
"""

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from lab.apiserver.objects.resources import ALL_VERBS, BUILTINS, ResourceType, from_crd

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0+metalpool",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key for versions, best first: GA before beta before alpha, higher numbers first."""
    match = _VERSION.match(version)
    if match is None:
        return (3, 0, 0, version)  # non-Kubernetes-looking versions last, alphabetically
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), version)


class Registry:
    """Which group/version/plurals are served now; CRD registration changes it at once."""

    def __init__(self, builtins: Iterable[ResourceType] = BUILTINS) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._by_crd: dict[str, list[ResourceType]] = {}
        for resource in builtins:
            self._types[resource.group, resource.version, resource.plural] = resource

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The served resource at this URL part, if any."""
        return self._types.get((group, version, plural))

    def register_crd(self, name: str, crd: Mapping[str, Any]) -> list[ResourceType]:
        """Serve (or re-serve, after an update) the versions a CRD declares."""
        self.unregister_crd(name)
        served = list(from_crd(crd))
        self._by_crd[name] = served
        for resource in served:
            self._types[resource.group, resource.version, resource.plural] = resource
        return served

    def unregister_crd(self, name: str) -> list[ResourceType]:
        """Stop serving a CRD's versions; returns what was served."""
        served = self._by_crd.pop(name, [])
        for resource in served:
            self._types.pop((resource.group, resource.version, resource.plural), None)
        return served

    def all(self) -> list[ResourceType]:
        """Every served resource type."""
        return list(self._types.values())

    def groups(self) -> dict[str, list[str]]:
        """Group name → served versions, best first; the core group is under ''."""
        groups: dict[str, set[str]] = {}
        for group, version, _ in self._types:
            groups.setdefault(group, set()).add(version)
        return {group: sorted(versions, key=version_priority) for group, versions in groups.items()}

    def in_version(self, group: str, version: str) -> list[ResourceType]:
        """The resources of one group/version, in a stable order."""
        found = [r for (g, v, _), r in self._types.items() if (g, v) == (group, version)]
        return sorted(found, key=lambda r: r.plural)


def api_versions(address: str) -> dict[str, Any]:
    """`/api`: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def api_group(group: str, versions: list[str]) -> dict[str, Any]:
    """`/apis/G`: one named group, its versions and the preferred one."""
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def api_group_list(registry: Registry) -> dict[str, Any]:
    """`/apis`: every named group."""
    groups = sorted((g, v) for g, v in registry.groups().items() if g)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [api_group(group, versions) for group, versions in groups],
    }


def resource_list(registry: Registry, group: str, version: str) -> dict[str, Any]:
    """`/api/v1` or `/apis/G/V`: the resources and their subresources, as kubectl expects."""
    rows: list[dict[str, Any]] = []
    for resource in registry.in_version(group, version):
        row: dict[str, Any] = {
            "name": resource.plural,
            "singularName": resource.singular_name,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(ALL_VERBS),
        }
        if resource.short_names:
            row["shortNames"] = list(resource.short_names)
        if resource.categories:
            row["categories"] = list(resource.categories)
        rows.append(row)
        rows.extend(
            {
                "name": f"{resource.plural}/{sub}",
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": ["get", "patch", "update"],
            }
            for sub in sorted(resource.subresources)
        )
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": rows}


def openapi_path(group: str, version: str) -> str:
    """The OpenAPI v3 key of a group/version: `api/v1` or `apis/G/V`."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_document(registry: Registry, group: str, version: str) -> dict[str, Any]:
    """A minimal OpenAPI v3 document for one group/version: PATCH operations, no schemas."""
    paths: dict[str, Any] = {}
    parameters = [
        {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for name in ("dryRun", "fieldManager", "fieldValidation", "force")
    ]
    prefix = "/" + openapi_path(group, version)
    for resource in registry.in_version(group, version):
        scope = "/namespaces/{namespace}" if resource.namespaced else ""
        gvk = {"group": group, "version": version, "kind": resource.kind}
        paths[f"{prefix}{scope}/{resource.plural}/{{name}}"] = {
            "patch": {
                "operationId": f"patch{resource.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": parameters,
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }


def openapi_root(registry: Registry) -> dict[str, Any]:
    """`/openapi/v3`: where each group/version's document is, with a content hash for caches."""
    paths: dict[str, Any] = {}
    for group, versions in registry.groups().items():
        for version in versions:
            key = openapi_path(group, version)
            document = json.dumps(openapi_document(registry, group, version), sort_keys=True)
            digest = hashlib.sha256(document.encode()).hexdigest()[:32].upper()
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}
