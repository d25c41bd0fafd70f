"""One custom-resource write or read, start to finish, against its version's schema.

Pure. `compile_crd` compiles every version of a CRD (SchemaError when one cannot be served).
`admit` is what the CR decoder and strategy do to a write (apiextensions-apiserver
pkg/registry/customresource/strategy.go and validator.go): prune, drop disallowed nulls,
default, then validate the schema (ratcheting on update), the list types and, on update, the
transition rules, which
are skipped with kube's "some validation rules were not checked" error when a blocking error
(type, required, enum, too long, too many) is already there. `on_read` defaults a stored object.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lab.apiserver.objects.patches import copy_json
from lab.apiserver.schema.defaulting import (
    apply_defaults,
    has_any_default,
    lacks_defaults,
    prune_nulls,
)
from lab.apiserver.schema.fields import ErrorType, FieldError
from lab.apiserver.schema.listtypes import list_errors
from lab.apiserver.schema.pruning import prune_root
from lab.apiserver.schema.rules import transition_errors
from lab.apiserver.schema.structural import Schema, SchemaError, compile_schema
from lab.apiserver.schema.validation import ABSENT, child, validate

# strategy.go hasBlockingErr: after one of these, CEL rules are not evaluated.
BLOCKING = frozenset(
    {
        ErrorType.NOT_SUPPORTED,
        ErrorType.REQUIRED,
        ErrorType.TOO_LONG,
        ErrorType.TOO_MANY,
        ErrorType.TYPE_INVALID,
    }
)
NOT_CHECKED = FieldError(
    type=ErrorType.INVALID,
    field="<nil>",
    value=None,
    detail="some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionSchema:
    """The compiled schema of one CRD version."""

    root: Schema
    has_defaults: bool
    has_rules: bool

    def admit(self, obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
        """Prune and default `obj` in place; every field error of the result."""
        prune_root(obj, self.root)
        prune_nulls(obj, self.root)
        apply_defaults(obj, self.root)
        errors = validate(obj, self.root, "", ABSENT if old is None else old)
        # strategy.go ValidateUpdate ratchets list types as a whole: checked only when the old
        # object passes them.
        if old is None or not list_errors(old, self.root):
            errors += list_errors(obj, self.root)
        if old is not None and self.has_rules:
            if any(error.type in BLOCKING for error in errors):
                errors.append(NOT_CHECKED)
            else:
                errors += transition_errors(self.root, obj, old)
        return errors

    def on_read(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The stored object with its defaults; the same dict when none is missing."""
        if not self.has_defaults or not lacks_defaults(obj, self.root):
            return obj
        fresh: dict[str, Any] = copy_json(obj)
        apply_defaults(fresh, self.root)
        return fresh


def _has_rules(schema: Schema | None) -> bool:
    if schema is None:
        return False
    if schema.rules:
        return True
    return any(
        _has_rules(sub) for sub in (*schema.properties.values(), schema.additional, schema.items)
    )


def compile_version(version: Mapping[str, Any], path: str) -> VersionSchema:
    """The compiled schema of one entry of spec.versions; SchemaError if it cannot be served."""
    raw = (version.get("schema") or {}).get("openAPIV3Schema")
    root = compile_schema(raw, f"{path}.schema.openAPIV3Schema")
    wrong_defaults = _default_errors(root, f"{path}.schema.openAPIV3Schema")
    if wrong_defaults:
        raise SchemaError(wrong_defaults)
    return VersionSchema(root=root, has_defaults=has_any_default(root), has_rules=_has_rules(root))


def _default_errors(schema: Schema | None, path: str, field: str = "") -> list[FieldError]:
    """Defaults that do not validate against their own node: kube refuses such a CRD.

    apiextensions schema/defaulting/validation.go validates each default with the field's path
    in the messages and reports it under the schema path's `.default`.
    """
    if schema is None:
        return []
    errors: list[FieldError] = []
    if schema.has_default:
        errors += [
            FieldError(type=e.type, field=f"{path}.default", value=e.value, detail=e.detail)
            for e in validate(schema.default, schema, field)
        ]
    for name, sub in schema.properties.items():
        errors += _default_errors(sub, f"{path}.properties[{name}]", child(field, name))
    errors += _default_errors(schema.additional, f"{path}.additionalProperties", f"{field}[*]")
    errors += _default_errors(schema.items, f"{path}.items", f"{field}[*]")
    return errors


def compile_crd(crd: Mapping[str, Any]) -> dict[str, VersionSchema]:
    """Every version's compiled schema by version name; SchemaError listing all problems."""
    compiled: dict[str, VersionSchema] = {}
    errors: list[FieldError] = []
    for index, version in enumerate((crd.get("spec") or {}).get("versions") or ()):
        try:
            compiled[version.get("name", "")] = compile_version(version, f"spec.versions[{index}]")
        except SchemaError as error:
            errors += error.errors
    if errors:
        raise SchemaError(errors)
    return compiled
