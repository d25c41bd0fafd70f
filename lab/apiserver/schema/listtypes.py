"""x-kubernetes-list-type invariants: a `set` holds each value once, a `map` each key once.

Pure. Follows apiextensions-apiserver pkg/apiserver/schema/listtype/validation.go
(ValidateListSetsAndMaps): a repeated set item or map key is field.Duplicate at the index of the
repeat; a map item without one of its keys is field.Required. `atomic` lists have no invariant.
"""

import json
from typing import Any

from lab.apiserver.schema.fields import FieldError, duplicate, required
from lab.apiserver.schema.structural import Schema
from lab.apiserver.schema.validation import child


def list_errors(value: Any, schema: Schema | None, path: str = "") -> list[FieldError]:
    """Every set/map uniqueness error under `value`."""
    if schema is None:
        return []
    errors: list[FieldError] = []
    if isinstance(value, dict):
        for key, item in value.items():
            errors += list_errors(
                item, schema.properties.get(key) or schema.additional, child(path, key)
            )
    elif isinstance(value, list):
        if schema.list_type == "set":
            errors += _set_errors(value, path)
        elif schema.list_type == "map":
            errors += _map_errors(value, schema.list_map_keys, path)
        for index, item in enumerate(value):
            errors += list_errors(item, schema.items, f"{path}[{index}]")
    return errors


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _set_errors(items: list[Any], path: str) -> list[FieldError]:
    seen: set[str] = set()
    errors = []
    for index, item in enumerate(items):
        key = _canonical(item)
        if key in seen:
            errors.append(duplicate(f"{path}[{index}]", item))
        seen.add(key)
    return errors


def _map_errors(items: list[Any], keys: tuple[str, ...], path: str) -> list[FieldError]:
    seen: set[str] = set()
    errors = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        missing = [k for k in keys if k not in item]
        if missing:
            errors += [required(f"{path}[{index}].{k}") for k in missing]
            continue
        identity = {k: item[k] for k in keys}
        if _canonical(identity) in seen:
            errors.append(duplicate(f"{path}[{index}]", identity))
        seen.add(_canonical(identity))
    return errors
