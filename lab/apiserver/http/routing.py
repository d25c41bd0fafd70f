"""URL paths of the resource API, parsed into what they address.

Pure. `/api/v1/namespaces/default/services/web/status` → group '', version v1, plural services,
namespace default, name web, subresource status. The Namespace resource's own paths
(`/api/v1/namespaces/NAME[/status|/finalize]`) are told apart from namespaced collections.
"""

from dataclasses import dataclass

NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass(frozen=True, slots=True)
class ResourcePath:
    """What a resource URL addresses; `namespace` is None when the URL has no namespace."""

    group: str
    version: str
    plural: str
    namespace: str | None = None
    name: str = ""
    subresource: str = ""


def parse_path(path: str) -> ResourcePath | None:
    """Parse a resource URL path; None for discovery paths and anything unrecognised."""
    match [part for part in path.split("/") if part]:
        case ["api", version, *rest]:
            group = ""
        case ["apis", group, version, *rest]:
            pass
        case _:
            return None
    namespace = None
    match rest:
        case ["namespaces", name, plural, *tail] if plural not in NAMESPACE_SUBRESOURCES:
            namespace, rest = name, [plural, *tail]
    match rest:
        case [plural]:
            return ResourcePath(group, version, plural, namespace)
        case [plural, name]:
            return ResourcePath(group, version, plural, namespace, name)
        case [plural, name, subresource]:
            return ResourcePath(group, version, plural, namespace, name, subresource)
    return None
