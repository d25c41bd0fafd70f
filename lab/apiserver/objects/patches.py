"""The three patch languages of the Kubernetes API, applied to plain JSON documents.

Pure: each function takes the current document and the patch and returns a new document, never
mutating either. JSON merge patch is RFC 7386; JSON patch is RFC 6902 (a failed `test` raises
`PatchTestFailedError`, which the server answers with 422 as kopf expects); strategic merge patch
follows apimachinery for the list fields built-in kinds declare as `patchStrategy: merge` — that
table is an approximation keyed by field name, good for Services, Pods, Nodes and Deployments.
"""

from collections.abc import Mapping
from typing import Any

MISSING = object()

# Field name → candidate merge keys (the first one the list items carry wins: ServicePort merges
# by `port`, ContainerPort by `containerPort`). Absent fields are atomic: the patch replaces them.
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",),
    "hostAliases": ("ip",),
    "ports": ("port", "containerPort"),
    "conditions": ("type",),
    "addresses": ("type",),
    "ownerReferences": ("uid",),
    "topologySpreadConstraints": ("topologyKey",),
    "resourceClaims": ("name",),
}
# Lists of scalars that merge as sets.
MERGED_SCALAR_LISTS = frozenset({"finalizers"})


class PatchError(ValueError):
    """A patch that cannot be applied to this document."""


class PatchTestFailedError(PatchError):
    """A JSON-patch `test` operation did not hold."""


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON document; faster than copy.deepcopy for dicts, lists and scalars."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value


def json_equal(left: Any, right: Any) -> bool:
    """JSON equality: unlike Python's ==, `true` is not `1`."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    return bool(left == right)


# ---------------------------------------------------------------- RFC 7386 merge patch


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch: maps merge, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy_json(patch)
    result = copy_json(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---------------------------------------------------------------- RFC 6902 JSON patch


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], part: str, *, for_insert: bool) -> int:
    if for_insert and part == "-":
        return len(container)
    if not part.isdigit() or (len(part) > 1 and part.startswith("0")):
        raise PatchError(f"invalid list index {part!r}")
    index = int(part)
    if index > len(container) or (index == len(container) and not for_insert):
        raise PatchError(f"list index {index} out of range")
    return index


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list):
            node = node[_index(node, part, for_insert=False)]
        else:
            raise PatchError(f"path /{'/'.join(parts)} does not exist")
    return node


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    if isinstance(parent, dict):
        if parts[-1] not in parent:
            raise PatchError(f"path /{'/'.join(parts)} does not exist")
        return parent[parts[-1]]
    if isinstance(parent, list):
        return parent[_index(parent, parts[-1], for_insert=False)]
    raise PatchError(f"path /{'/'.join(parts)} does not exist")


def _remove(doc: Any, parts: list[str]) -> Any:
    _get(doc, parts)  # existence check with a clear message
    parent = _parent(doc, parts)
    if isinstance(parent, dict):
        return parent.pop(parts[-1])
    return parent.pop(_index(parent, parts[-1], for_insert=False))


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    if isinstance(parent, dict):
        parent[parts[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, parts[-1], for_insert=True), value)
    else:
        raise PatchError(f"cannot add to a scalar at /{'/'.join(parts)}")
    return doc


def _replace(doc: Any, parts: list[str], value: Any) -> Any:
    _get(doc, parts)  # replace requires the target to exist
    if not parts:
        return value
    parent = _parent(doc, parts)
    if isinstance(parent, dict):
        parent[parts[-1]] = value
    else:
        parent[_index(parent, parts[-1], for_insert=False)] = value
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """Apply a JSON patch (a list of operations) atomically: all or nothing."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy_json(target)
    for operation in operations:
        if not isinstance(operation, Mapping) or "op" not in operation or "path" not in operation:
            raise PatchError(f"invalid JSON patch operation {operation!r}")
        op, parts = operation["op"], _pointer(operation["path"])
        if op in ("add", "replace", "test") and "value" not in operation:
            raise PatchError(f"{op} operation needs a value")
        match op:
            case "add":
                doc = _add(doc, parts, copy_json(operation["value"]))
            case "remove":
                _remove(doc, parts)
            case "replace":
                doc = _replace(doc, parts, copy_json(operation["value"]))
            case "move" | "copy":
                source = _pointer(operation.get("from", ""))
                value = _remove(doc, source) if op == "move" else copy_json(_get(doc, source))
                doc = _add(doc, parts, value)
            case "test":
                try:
                    actual = _get(doc, parts)
                except PatchError as error:
                    raise PatchTestFailedError(f"test failed: {error}") from error
                if not json_equal(actual, operation["value"]):
                    raise PatchTestFailedError(
                        f"test failed: {operation['path']} is {actual!r}, "
                        f"not {operation['value']!r}"
                    )
            case _:
                raise PatchError(f"unknown JSON patch operation {op!r}")
    return doc


# ---------------------------------------------------------------- strategic merge patch


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch to a built-in object."""
    if not isinstance(patch, dict):
        return copy_json(patch)
    return _merge_map(target if isinstance(target, dict) else {}, patch)


def _merge_map(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any] | Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return MISSING
    body = {k: v for k, v in patch.items() if not k.startswith("$")}
    if directive == "replace":
        return copy_json(body)
    result = copy_json(target)
    for key, value in body.items():
        merged = _merge_field(key, result.get(key, MISSING), value)
        if merged is MISSING:
            result.pop(key, None)
        else:
            result[key] = merged
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/") and isinstance(result.get(key[25:]), list):
            field = key[25:]
            result[field] = [item for item in result[field] if item not in value]
        elif key.startswith("$setElementOrder/") and isinstance(result.get(key[17:]), list):
            field = key[17:]
            result[field] = _reorder(result[field], value, MERGE_KEYS.get(field, ()))
    if isinstance(patch.get("$retainKeys"), list):
        result = {k: v for k, v in result.items() if k in patch["$retainKeys"]}
    return result


def _merge_field(field: str, current: Any, value: Any) -> Any:
    if value is None:
        return MISSING
    if isinstance(value, dict):
        return _merge_map(current if isinstance(current, dict) else {}, value)
    if isinstance(value, list) and isinstance(current, list):
        if field in MERGED_SCALAR_LISTS:
            return current + [item for item in value if item not in current]
        key = _merge_key(field, current + value)
        if key is not None:
            return _merge_list(current, value, key)
    if isinstance(value, list):
        return [copy_json(item) for item in value if not _is_directive(item)]
    return copy_json(value)


def _is_directive(item: Any) -> bool:
    return isinstance(item, dict) and "$patch" in item


def _merge_key(field: str, items: list[Any]) -> str | None:
    for key in MERGE_KEYS.get(field, ()):
        if any(isinstance(item, dict) and key in item for item in items):
            return key
    return None


def _merge_list(current: list[Any], patch: list[Any], key: str) -> list[Any]:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [copy_json(item) for item in patch if not _is_directive(item)]
    result = [copy_json(item) for item in current]
    for item in patch:
        if not isinstance(item, dict):
            continue
        position = next(
            (
                i
                for i, old in enumerate(result)
                if isinstance(old, dict) and old.get(key) == item.get(key)
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if position is not None:
                result.pop(position)
        elif position is None:
            result.append(_merge_map({}, item))
        else:
            result[position] = _merge_map(result[position], item)
    return result


def _reorder(items: list[Any], order: list[Any], keys: tuple[str, ...]) -> list[Any]:
    def rank(item: Any) -> int:
        for index, wanted in enumerate(order):
            if isinstance(wanted, dict) and isinstance(item, dict):
                if any(k in wanted and wanted[k] == item.get(k) for k in keys):
                    return index
            elif wanted == item:
                return index
        return len(order)

    return sorted(items, key=rank)
