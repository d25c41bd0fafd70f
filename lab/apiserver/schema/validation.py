"""Every field error of a value against a compiled schema, worded as kube-openapi words them.

Pure. Follows k8s.io/kube-openapi pkg/validation/validate (type, string, format, number, slice,
enum, then object checks, in SchemaValidator's order) and the conversion of its results in
apiextensions-apiserver pkg/apiserver/validation/validation.go kubeOpenAPIResultToFieldErrors:
required → Required, enum → NotSupported, maxLength → TooLong, maxItems/maxProperties →
TooMany, type and format → TypeInvalid, the rest → Invalid with kube-openapi's sentence
("spec.x in body should match '...'"). Sibling properties are visited in name order (kube's
order is Go map order, i.e. random). On update, validation ratchets (KEP-4008, GA in 1.30:
apiextensions validation/ratcheting.go): a value equal to the old object's correlated value (same
property; same key in a map list, same item in a set) reports no errors.
"""

import json
from typing import Any

from lab.apiserver.schema.fields import (
    FieldError,
    go_float,
    go_quote,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
    type_invalid,
)
from lab.apiserver.schema.formats import CHECKS
from lab.apiserver.schema.rules import same_value
from lab.apiserver.schema.structural import Schema

JSON_KINDS = {bool: "boolean", int: "integer", float: "number", str: "string"}


def json_kind(value: Any) -> str:
    """The JSON type name kube-openapi reports for a decoded value."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return JSON_KINDS.get(type(value), "object")


def child(path: str, name: str) -> str:
    """`spec.addresses` from `spec` and `addresses` (the root's children have no dot)."""
    return f"{path}.{name}" if path else name


class Absent:
    """No correlated old value (a create, or a field or item the old object lacks)."""


ABSENT = Absent()


def validate(value: Any, schema: Schema, path: str = "", old: Any = ABSENT) -> list[FieldError]:
    """All errors of `value` against `schema`, outermost first; none where `old` is equal."""
    if not isinstance(old, Absent) and same_value(value, old):
        return []
    if value is None:
        if schema.nullable or not schema.types:
            return []
        return [type_invalid(path, "", f"{path} in body must be of type {_types(schema)}")]
    errors = _type_errors(value, schema, path)
    if isinstance(value, str):
        errors += _string_errors(value, schema, path)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        errors += _number_errors(value, schema, path)
    elif isinstance(value, list):
        errors += _array_errors(value, schema, path, old)
    if schema.enum is not None and not any(_enum_equal(value, e) for e in schema.enum):
        allowed = [e if isinstance(e, str) else _json(e) for e in schema.enum]
        errors.append(not_supported(path, value, allowed))
    if isinstance(value, dict):
        errors += _object_errors(value, schema, path, old if isinstance(old, dict) else {})
    return errors


def _types(schema: Schema) -> str:
    return ",".join(schema.types)


def _type_errors(value: Any, schema: Schema, path: str) -> list[FieldError]:
    if not schema.types:
        return []
    kind = json_kind(value)
    accepted = set(schema.types)
    if kind in accepted or (kind == "integer" and "number" in accepted):
        return []
    if kind == "number" and "integer" in accepted and float(value).is_integer():
        return []
    return [
        type_invalid(
            path, kind, f"{path} in body must be of type {_types(schema)}: {go_quote(kind)}"
        )
    ]


def _string_errors(value: str, schema: Schema, path: str) -> list[FieldError]:
    # kube-openapi's stringValidator stops at the first failure: maxLength, minLength, pattern.
    if schema.max_length is not None and len(value) > schema.max_length:
        return [too_long(path, schema.max_length)]
    if schema.min_length is not None and len(value) < schema.min_length:
        return [
            invalid(
                path, value, f"{path} in body should be at least {schema.min_length} chars long"
            )
        ]
    if schema.pattern is not None and not schema.pattern.search(value):
        return [invalid(path, value, f"{path} in body should match '{schema.pattern_text}'")]
    check = CHECKS.get(schema.format)
    if check is not None and not check(value):
        return [
            type_invalid(
                path, value, f"{path} in body must be of type {schema.format}: {go_quote(value)}"
            )
        ]
    return []


def _bound(bound: float, value: float) -> str:
    if isinstance(value, int) and float(bound).is_integer():
        return str(int(bound))
    return go_float(float(bound))


def _number_errors(value: float, schema: Schema, path: str) -> list[FieldError]:
    errors = []
    if schema.multiple_of and (value / schema.multiple_of) % 1 != 0:
        errors.append(
            invalid(
                path,
                value,
                f"{path} in body should be a multiple of {_bound(schema.multiple_of, value)}",
            )
        )
    top = schema.maximum
    if top is not None and (value >= top if schema.exclusive_maximum else value > top):
        words = "less than" if schema.exclusive_maximum else "less than or equal to"
        errors.append(
            invalid(path, value, f"{path} in body should be {words} {_bound(top, value)}")
        )
    low = schema.minimum
    if low is not None and (value <= low if schema.exclusive_minimum else value < low):
        words = "greater than" if schema.exclusive_minimum else "greater than or equal to"
        errors.append(
            invalid(path, value, f"{path} in body should be {words} {_bound(low, value)}")
        )
    return errors


def _array_errors(value: list[Any], schema: Schema, path: str, old: Any) -> list[FieldError]:
    errors: list[FieldError] = []
    if schema.items is not None:
        for index, item in enumerate(value):
            previous = _correlated_item(item, schema, old)
            errors += validate(item, schema.items, f"{path}[{index}]", previous)
    if schema.min_items is not None and len(value) < schema.min_items:
        errors.append(
            invalid(
                path, len(value), f"{path} in body should have at least {schema.min_items} items"
            )
        )
    if schema.max_items is not None and len(value) > schema.max_items:
        errors.append(too_many(path, len(value), schema.max_items))
    return errors


def _correlated_item(item: Any, schema: Schema, old: Any) -> Any:
    """The old item a new one is compared with: same keys in a map list, equal in a set."""
    if not isinstance(old, list):
        return ABSENT
    if schema.list_type == "set":
        return next((o for o in old if same_value(o, item)), ABSENT)
    if schema.list_type == "map" and isinstance(item, dict):
        keys = schema.list_map_keys
        for candidate in old:
            if isinstance(candidate, dict) and all(
                k in item and k in candidate and same_value(item[k], candidate[k]) for k in keys
            ):
                return candidate
    return ABSENT


def _object_errors(
    value: dict[str, Any], schema: Schema, path: str, old: dict[str, Any]
) -> list[FieldError]:
    count = len(value)
    if schema.min_properties is not None and count < schema.min_properties:
        least = schema.min_properties
        return [invalid(path, least, f"{path} in body should have at least {least} properties")]
    if schema.max_properties is not None and count > schema.max_properties:
        # kubeOpenAPIResultToFieldErrors passes the limit as the "actual" count.
        return [too_many(path, schema.max_properties, schema.max_properties)]
    errors: list[FieldError] = []
    if schema.additional is not None:
        for key in sorted(value):
            if key not in schema.properties:
                previous = old.get(key, ABSENT)
                errors += validate(value[key], schema.additional, child(path, key), previous)
    for name, sub in schema.properties.items():
        if name in value:
            errors += validate(value[name], sub, child(path, name), old.get(name, ABSENT))
    errors += [required(child(path, name)) for name in schema.required if name not in value]
    return errors


def _enum_equal(value: Any, allowed: Any) -> bool:
    if isinstance(value, bool) or isinstance(allowed, bool):
        return type(value) is type(allowed) and value == allowed
    return bool(value == allowed)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
