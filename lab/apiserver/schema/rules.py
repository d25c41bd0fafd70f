"""The CEL rules (x-kubernetes-validations) the emulator evaluates: exactly `self == oldSelf`.

Pure. Our CRDs use only that transition rule ("Value is immutable"), so this is not a CEL
interpreter: `parse_rule` accepts that one expression and refuses every other, which makes the
CRD itself fail to apply (422 naming the rule) instead of leaving a rule unenforced. Transition
rules run only on update and only where the old object has the field, as apiextensions'
cel/validation.go does; a failure is field.Invalid with the schema's type as the value.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lab.apiserver.schema.fields import FieldError, duplicate, forbidden, invalid, required

if TYPE_CHECKING:
    from lab.apiserver.schema.structural import Schema

_SELF_EQUALS_OLD = re.compile(r"\s*(self\s*==\s*oldSelf|oldSelf\s*==\s*self)\s*")
_UNSUPPORTED_KEYS = ("messageExpression", "fieldPath", "optionalOldSelf")
_REASONS = ("FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate")


class RuleError(Exception):
    """A rule the emulator cannot evaluate (the CRD is refused)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One understood rule: `self == oldSelf`, with its message and reason."""

    text: str
    message: str = ""
    reason: str = ""

    def holds(self, new: Any, old: Any) -> bool:
        """Whether the transition keeps the value (CEL equality: a bool is never a number)."""
        return same_value(new, old)

    def error(self, path: str, schema_type: str) -> FieldError:
        """The field error for a failed rule, as fieldErrorForReason builds it."""
        message = self.message or f"failed rule: {self.text.strip()}"
        if self.reason == "FieldValueForbidden":
            return forbidden(path, message)
        if self.reason == "FieldValueRequired":
            return required(path, message)
        if self.reason == "FieldValueDuplicate":
            return duplicate(path, schema_type)
        return invalid(path, schema_type, message)


def parse_rule(entry: Any, *, correlatable: bool) -> Rule:
    """The rule of one x-kubernetes-validations entry; RuleError when we cannot enforce it."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("rule"), str):
        raise RuleError("rule: Required value")
    for key in _UNSUPPORTED_KEYS:
        if entry.get(key):
            raise RuleError(f"{key} is not supported by the emulated apiserver")
    text = entry["rule"]
    if not _SELF_EQUALS_OLD.fullmatch(text):
        raise RuleError(
            "compilation failed: the emulated apiserver evaluates only the transition rule "
            "`self == oldSelf`"
        )
    if not correlatable:
        raise RuleError(
            "oldSelf cannot be used on the uncorrelatable portion of the schema within "
            "x-kubernetes-validations"
        )
    reason = entry.get("reason") or ""
    if reason and reason not in _REASONS:
        raise RuleError(f"reason: Unsupported value: {reason!r}")
    return Rule(text=text, message=entry.get("message") or "", reason=reason)


def transition_errors(schema: "Schema", new: Any, old: Any, path: str = "") -> list[FieldError]:
    """Every failed transition rule between the old and new object, walking correlated fields."""
    errors = [rule.error(path, schema.type) for rule in schema.rules if not rule.holds(new, old)]
    if isinstance(new, dict) and isinstance(old, dict):
        for name, value in new.items():
            sub = schema.properties.get(name) or schema.additional
            if sub is not None and name in old:
                child = f"{path}.{name}" if path else name
                errors += transition_errors(sub, value, old[name], child)
    elif isinstance(new, list) and isinstance(old, list) and schema.list_type == "map":
        assert schema.items is not None  # noqa: S101 -- compile requires items on arrays
        keys = schema.list_map_keys
        before = {_key(item, keys): item for item in old if isinstance(item, dict)}
        for index, item in enumerate(new):
            if isinstance(item, dict) and _key(item, keys) in before:
                errors += transition_errors(
                    schema.items, item, before[_key(item, keys)], f"{path}[{index}]"
                )
    return errors


def _key(item: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(repr(item.get(k)) for k in keys)


def same_value(a: Any, b: Any) -> bool:
    """Deep equality of decoded JSON values in which a boolean never equals a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
