"""A CRD version's openAPIV3Schema compiled into frozen nodes, refused when we cannot enforce it.

Pure. `compile_schema` follows apiextensions' structural-schema rules that matter here (every
node typed unless int-or-string or preserve-unknown-fields, arrays with `items`, no `properties`
next to `additionalProperties`) and refuses loudly, as a list of field errors under the CRD's
own path, every keyword the emulator does not evaluate (allOf/anyOf/oneOf/not, $ref, ...) and
every CEL rule `rules.parse_rule` does not understand: a rule or keyword that is silently not
enforced would make tests pass that the real apiserver fails.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lab.apiserver.schema.fields import FieldError, forbidden, invalid, not_supported, required
from lab.apiserver.schema.rules import Rule, RuleError, parse_rule

TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean"})
# Keywords kube accepts but this emulator does not evaluate: refused at CRD creation.
UNEVALUATED = ("allOf", "anyOf", "oneOf", "not")
# Keywords kube itself forbids in CRD schemas (apiextensions validation.go).
FORBIDDEN = ("$ref", "patternProperties", "dependencies", "additionalItems", "definitions", "id")


class SchemaError(Exception):
    """The schema cannot be served; `errors` name each problem under the CRD's path."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


class NoDefault:
    """The marker for a node without `default` (a default may itself be null)."""


NO_DEFAULT = NoDefault()


@dataclass(frozen=True, slots=True, kw_only=True)
class Schema:
    """One compiled schema node."""

    type: str = ""
    nullable: bool = False
    format: str = ""
    properties: Mapping[str, "Schema"] = field(default_factory=dict)
    additional: "Schema | None" = None  # additionalProperties as a schema
    additional_allowed: bool | None = None  # additionalProperties as a boolean; None: absent
    items: "Schema | None" = None
    required: tuple[str, ...] = ()
    enum: tuple[Any, ...] | None = None
    pattern: re.Pattern[str] | None = None
    pattern_text: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    multiple_of: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    min_properties: int | None = None
    max_properties: int | None = None
    default: Any = NO_DEFAULT
    preserve_unknown: bool = False
    int_or_string: bool = False
    embedded: bool = False
    list_type: str = ""
    list_map_keys: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()

    @property
    def has_default(self) -> bool:
        """Whether the node declares a default."""
        return not isinstance(self.default, NoDefault)

    @property
    def types(self) -> tuple[str, ...]:
        """The JSON types the node accepts ("integer" and "string" for int-or-string)."""
        if self.int_or_string:
            return ("integer", "string")
        return (self.type,) if self.type else ()


def compile_schema(raw: Any, path: str) -> Schema:
    """The compiled root schema; SchemaError listing every problem found under `path`."""
    errors: list[FieldError] = []
    if not isinstance(raw, Mapping):
        raise SchemaError([required(path, "schemas are required")])
    if not raw.get("type") and not raw.get("x-kubernetes-preserve-unknown-fields"):
        errors.append(required(f"{path}.type", "must not be empty at the root"))
    schema = _compile(raw, path, errors, correlatable=True)
    if errors:
        raise SchemaError(errors)
    return schema


def _compile(
    raw: Mapping[str, Any], path: str, errors: list[FieldError], *, correlatable: bool
) -> Schema:
    errors.extend(
        invalid(f"{path}.{keyword}", "", "not supported by the emulated apiserver")
        for keyword in UNEVALUATED
        if keyword in raw
    )
    errors.extend(
        forbidden(f"{path}.{keyword}", f"{keyword} is not supported")
        for keyword in FORBIDDEN
        if keyword in raw
    )
    if raw.get("uniqueItems"):
        errors.append(
            forbidden(
                f"{path}.uniqueItems",
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            )
        )
    kind = raw.get("type") or ""
    int_or_string = bool(raw.get("x-kubernetes-int-or-string"))
    if kind and kind not in TYPES:
        errors.append(not_supported(f"{path}.type", kind, sorted(TYPES)))
    properties = {
        name: _child(sub, f"{path}.properties[{name}]", errors, correlatable=correlatable)
        for name, sub in sorted((raw.get("properties") or {}).items())
    }
    additional, allowed = None, None
    extra = raw.get("additionalProperties")
    if isinstance(extra, bool):
        allowed = extra
    elif isinstance(extra, Mapping):
        additional = _child(
            extra, f"{path}.additionalProperties", errors, correlatable=correlatable
        )
    if properties and extra not in (None, False):
        errors.append(
            forbidden(
                f"{path}.additionalProperties",
                "additionalProperties and properties are mutual exclusive",
            )
        )
    list_type = raw.get("x-kubernetes-list-type") or ""
    items = None
    if isinstance(raw.get("items"), Mapping):
        items = _child(
            raw["items"], f"{path}.items", errors, correlatable=correlatable and list_type == "map"
        )
    elif kind == "array":
        errors.append(required(f"{path}.items", "must be specified"))
    rules = []
    for index, entry in enumerate(raw.get("x-kubernetes-validations") or ()):
        try:
            rules.append(parse_rule(entry, correlatable=correlatable))
        except RuleError as error:
            rule_text = entry.get("rule", "") if isinstance(entry, Mapping) else entry
            errors.append(
                invalid(f"{path}.x-kubernetes-validations[{index}].rule", rule_text, str(error))
            )
    pattern = None
    if raw.get("pattern"):
        try:
            pattern = re.compile(raw["pattern"])
        except re.error as error:
            errors.append(
                invalid(
                    f"{path}.pattern",
                    raw["pattern"],
                    f"must be a valid regular expression, but isn't: {error}",
                )
            )
    return Schema(
        type=kind,
        nullable=bool(raw.get("nullable")),
        format=raw.get("format") or "",
        properties=properties,
        additional=additional,
        additional_allowed=allowed,
        items=items,
        required=tuple(raw.get("required") or ()),
        enum=tuple(raw["enum"]) if raw.get("enum") is not None else None,
        pattern=pattern,
        pattern_text=raw.get("pattern") or "",
        minimum=raw.get("minimum"),
        maximum=raw.get("maximum"),
        exclusive_minimum=bool(raw.get("exclusiveMinimum")),
        exclusive_maximum=bool(raw.get("exclusiveMaximum")),
        multiple_of=raw.get("multipleOf"),
        min_length=raw.get("minLength"),
        max_length=raw.get("maxLength"),
        min_items=raw.get("minItems"),
        max_items=raw.get("maxItems"),
        min_properties=raw.get("minProperties"),
        max_properties=raw.get("maxProperties"),
        default=raw.get("default", NO_DEFAULT),
        preserve_unknown=bool(raw.get("x-kubernetes-preserve-unknown-fields")),
        int_or_string=int_or_string,
        embedded=bool(raw.get("x-kubernetes-embedded-resource")),
        list_type=list_type,
        list_map_keys=tuple(raw.get("x-kubernetes-list-map-keys") or ()),
        rules=tuple(rules),
    )


def _child(raw: Any, path: str, errors: list[FieldError], *, correlatable: bool) -> Schema:
    if not isinstance(raw, Mapping):
        errors.append(invalid(path, "", "must be an object"))
        return Schema()
    untyped = not raw.get("type")
    if (
        untyped
        and not raw.get("x-kubernetes-int-or-string")
        and not raw.get("x-kubernetes-preserve-unknown-fields")
    ):
        errors.append(required(f"{path}.type", "must not be empty for specified object fields"))
    return _compile(raw, path, errors, correlatable=correlatable)
