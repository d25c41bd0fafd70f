"""Label and field selectors in their query-string syntax: parse once, then match objects.

Pure. `parse_labels("app=web,tier in (a,b),!canary")` and `parse_fields("metadata.name=web")`
raise `SelectorError` on bad syntax; the server answers that with 400, as the real one does.
An empty selector matches everything.
"""

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_KEY = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_SET = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")
_EQUALITY = re.compile(r"^([^!=\s]+)\s*(==|!=|=)\s*(\S*)$")


class SelectorError(ValueError):
    """A selector string that does not parse."""


class Op(enum.Enum):
    """Label selector operators, spelt as in the query syntax."""

    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    NOT_EXISTS = "!"


@dataclass(frozen=True, slots=True)
class LabelRequirement:
    """One comma-separated term of a label selector."""

    key: str
    op: Op
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether `labels` satisfy this term (`!=` and `notin` match an absent key)."""
        value = labels.get(self.key)
        match self.op:
            case Op.EQUALS | Op.IN:
                return value is not None and value in self.values
            case Op.NOT_EQUALS | Op.NOT_IN:
                return value is None or value not in self.values
            case Op.EXISTS:
                return value is not None
            case Op.NOT_EXISTS:
                return value is None


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """All terms must hold."""

    requirements: tuple[LabelRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object's labels satisfy every term."""
        if not self.requirements:
            return True
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(requirement.matches(labels) for requirement in self.requirements)


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """`path=value` or `path!=value`; the path is dotted, as in `involvedObject.name`."""

    path: str
    value: str
    negated: bool = False

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object's field (as a string; absent is '') compares as required."""
        return (field_value(obj, self.path) == self.value) != self.negated


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """All terms must hold."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether every term holds for the object."""
        return all(requirement.matches(obj) for requirement in self.requirements)

    def fields(self) -> frozenset[str]:
        """The paths used, so the server can refuse unsupported ones."""
        return frozenset(requirement.path for requirement in self.requirements)

    def exact_name(self) -> str | None:
        """The name when the selector pins `metadata.name=X` (kubectl wait/delete do)."""
        for requirement in self.requirements:
            if requirement.path == "metadata.name" and not requirement.negated:
                return requirement.value
        return None


# The real apiserver exposes a few field labels under names that are not paths.
_FIELD_ALIASES = {"source": "source.component"}


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form the apiserver compares: absent → '', booleans → 'true'/'false'."""
    value: Any = obj
    for part in _FIELD_ALIASES.get(path, path).split("."):
        if not isinstance(value, Mapping):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside a parenthesised set."""
    terms: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced parentheses in {text!r}")
        elif char == "," and depth == 0:
            terms.append(text[start:index].strip())
            start = index + 1
    if depth:
        raise SelectorError(f"unbalanced parentheses in {text!r}")
    terms.append(text[start:].strip())
    return [term for term in terms if term]


def _checked_key(key: str, term: str) -> str:
    if not _KEY.match(key):
        raise SelectorError(f"invalid label key {key!r} in {term!r}")
    return key


def _parse_label_term(term: str) -> LabelRequirement:
    if match := _SET.match(term):
        key, op, values = match.groups()
        members = frozenset(v.strip() for v in values.split(",") if v.strip())
        return LabelRequirement(_checked_key(key, term), Op(op), members)
    if match := _EQUALITY.match(term):
        key, op, value = match.groups()
        kind = Op.NOT_EQUALS if op == "!=" else Op.EQUALS
        return LabelRequirement(_checked_key(key, term), kind, frozenset({value}))
    if term.startswith("!"):
        return LabelRequirement(_checked_key(term[1:].strip(), term), Op.NOT_EXISTS)
    return LabelRequirement(_checked_key(term, term), Op.EXISTS)


def parse_labels(text: str | None) -> LabelSelector:
    """Parse a `labelSelector` query value."""
    return LabelSelector(tuple(_parse_label_term(term) for term in _split_terms(text or "")))


def parse_fields(text: str | None) -> FieldSelector:
    """Parse a `fieldSelector` query value (`=`, `==`, `!=` joined by commas)."""
    requirements = []
    for term in _split_terms(text or ""):
        match = _EQUALITY.match(term)
        if match is None:
            raise SelectorError(f"invalid field selector term {term!r}")
        path, op, value = match.groups()
        requirements.append(FieldRequirement(path, value, negated=op == "!="))
    return FieldSelector(tuple(requirements))
