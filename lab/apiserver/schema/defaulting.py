"""Defaulting: `default` values fill absent fields on every write and on every read.

Pure. Follows apiextensions-apiserver pkg/apiserver/schema/defaulting: first
PruneNonNullableNullsWithoutDefaults drops `null`s the schema does not allow and cannot
default (prunenulls.go), then Default (algorithm.go) sets each declared property that is
absent (or a non-nullable null) to a copy of its default and recurses into everything present,
including the defaults it has just set. The CR decoder runs both on requests and on objects read
from storage, so a default added to a CRD shows on old objects too.
"""

import copy
from typing import Any

from lab.apiserver.schema.structural import Schema


def _field_schema(schema: Schema | None, key: str) -> Schema | None:
    if schema is None:
        return None
    return schema.properties.get(key) or schema.additional


def prune_nulls(value: Any, schema: Schema | None) -> None:
    """Drop null fields that are neither nullable nor defaulted (in place)."""
    if isinstance(value, dict):
        for key in list(value):
            sub = _field_schema(schema, key)
            item = value[key]
            if item is None and sub is not None and not sub.nullable and not sub.has_default:
                del value[key]
            else:
                prune_nulls(item, sub)
    elif isinstance(value, list):
        items = schema.items if schema is not None else None
        for item in value:
            prune_nulls(item, items)


def _unset(value: dict[str, Any], key: str, sub: Schema) -> bool:
    return key not in value or (value[key] is None and not sub.nullable)


def apply_defaults(value: Any, schema: Schema | None) -> None:
    """Set the defaults of absent fields, recursively (in place)."""
    if schema is None:
        return
    if isinstance(value, dict):
        for key, sub in schema.properties.items():
            if sub.has_default and _unset(value, key, sub):
                value[key] = copy.deepcopy(sub.default)
        for key in value:
            sub_or_extra = _field_schema(schema, key)
            if sub_or_extra is None:
                continue
            extra = key not in schema.properties
            if extra and sub_or_extra.has_default and _unset(value, key, sub_or_extra):
                value[key] = copy.deepcopy(sub_or_extra.default)
            apply_defaults(value[key], sub_or_extra)
    elif isinstance(value, list) and schema.items is not None:
        for index, item in enumerate(value):
            if item is None and schema.items.has_default and not schema.items.nullable:
                value[index] = copy.deepcopy(schema.items.default)
            apply_defaults(value[index], schema.items)


def lacks_defaults(value: Any, schema: Schema | None) -> bool:
    """Whether `apply_defaults` would change `value` (reads copy only when it would)."""
    if schema is None:
        return False
    if isinstance(value, dict):
        if any(sub.has_default and _unset(value, k, sub) for k, sub in schema.properties.items()):
            return True
        return any(lacks_defaults(item, _field_schema(schema, k)) for k, item in value.items())
    if isinstance(value, list) and schema.items is not None:
        return any(lacks_defaults(item, schema.items) for item in value)
    return False


def has_any_default(schema: Schema | None) -> bool:
    """Whether any node of the schema declares a default."""
    if schema is None:
        return False
    if schema.has_default:
        return True
    children = [*schema.properties.values(), schema.additional, schema.items]
    return any(has_any_default(sub) for sub in children)
