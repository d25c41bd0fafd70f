"""Every field error of a value against a compiled schema, worded as kube-openapi words them.

Pure. Follows k8s.io/kube-openapi pkg/validation/validate (type, string, format, number, slice,
enum, then object checks, in SchemaValidator's order) and the conversion of its results in
apiextensions-apiserver pkg/apiserver/validation/validation.go kubeOpenAPIResultToFieldErrors:
required → Required, enum → NotSupported, maxLength → TooLong, maxItems/maxProperties →
TooMany, type and format → TypeInvalid, the rest → Invalid with kube-openapi's sentence
("spec.x in body should match '...'"). Sibling properties are visited in name order (kube's
order is Go map order, i.e. random).
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


def validate(value: Any, schema: Schema, path: str = "") -> list[FieldError]:
    """All errors of `value` against `schema`, outermost first."""
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
        errors += _array_errors(value, schema, path)
    if schema.enum is not None and not any(_enum_equal(value, e) for e in schema.enum):
        allowed = [e if isinstance(e, str) else _json(e) for e in schema.enum]
        errors.append(not_supported(path, value, allowed))
    if isinstance(value, dict):
        errors += _object_errors(value, schema, path)
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


def _array_errors(value: list[Any], schema: Schema, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if schema.items is not None:
        for index, item in enumerate(value):
            errors += validate(item, schema.items, f"{path}[{index}]")
    if schema.min_items is not None and len(value) < schema.min_items:
        errors.append(
            invalid(
                path, len(value), f"{path} in body should have at least {schema.min_items} items"
            )
        )
    if schema.max_items is not None and len(value) > schema.max_items:
        errors.append(too_many(path, len(value), schema.max_items))
    return errors


def _object_errors(value: dict[str, Any], schema: Schema, path: str) -> list[FieldError]:
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
                errors += validate(value[key], schema.additional, child(path, key))
    for name, sub in schema.properties.items():
        if name in value:
            errors += validate(value[name], sub, child(path, name))
    errors += [required(child(path, name)) for name in schema.required if name not in value]
    return errors


def _enum_equal(value: Any, allowed: Any) -> bool:
    if isinstance(value, bool) or isinstance(allowed, bool):
        return type(value) is type(allowed) and value == allowed
    return bool(value == allowed)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
