"""Kubernetes label selectors (`matchLabels` + `matchExpressions`): parse once, match many times.

Pure. An empty selector matches everything, as in Kubernetes. `str()` gives a canonical form,
so two selectors that mean the same thing compare and print the same.
"""

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from metalpool.errors import Where

Labels = Mapping[str, str]


class Operator(enum.StrEnum):
    """The operators of a `matchExpressions` entry."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirement:
    """One `matchExpressions` entry."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Labels) -> bool:
        """Whether `labels` satisfy this requirement."""
        match self.operator:
            case Operator.IN:
                return labels.get(self.key) in self.values
            case Operator.NOT_IN:
                return labels.get(self.key) not in self.values
            case Operator.EXISTS:
                return self.key in labels
            case Operator.DOES_NOT_EXIST:
                return self.key not in labels

    def __str__(self) -> str:
        if self.operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
            return self.key if self.operator is Operator.EXISTS else f"!{self.key}"
        return f"{self.key} {self.operator.value.lower()} ({','.join(self.values)})"


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelSelector:
    """A whole selector; all of its parts must match."""

    match_labels: tuple[tuple[str, str], ...] = ()
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Labels) -> bool:
        """Whether an object with `labels` is selected."""
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            r.matches(labels) for r in self.requirements
        )

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in self.match_labels] + [str(r) for r in self.requirements]
        return ",".join(parts)


def parse_selector(raw: object, where: Where) -> LabelSelector:
    """Parse a LabelSelector object; values are sorted and duplicates rejected, as MetalLB does."""
    if raw is None:
        return LabelSelector()
    if not isinstance(raw, Mapping):
        raise where.error("is not a label selector (an object with matchLabels/matchExpressions)")
    match_labels = _parse_match_labels(raw.get("matchLabels"), where.child("matchLabels"))
    exprs = raw.get("matchExpressions") or []
    if not isinstance(exprs, list):
        raise where.child("matchExpressions").error("is not a list")
    requirements = tuple(
        _parse_requirement(e, where.child("matchExpressions").item(i)) for i, e in enumerate(exprs)
    )
    if len(set(requirements)) != len(requirements):
        raise where.child("matchExpressions").error("has the same expression twice")
    return LabelSelector(
        match_labels=match_labels,
        requirements=tuple(sorted(requirements, key=str)),
    )


def _parse_match_labels(raw: object, where: Where) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise where.error("is not a map of label keys to values")
    for key, value in raw.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise where.key(str(key)).error(f"{value!r} is not a label (key and value are strings)")
    return tuple(sorted(raw.items()))


def _parse_requirement(raw: object, where: Where) -> Requirement:
    if not isinstance(raw, Mapping):
        raise where.error("is not an object with key, operator and values")
    key = raw.get("key")
    if not isinstance(key, str) or not key:
        raise where.child("key").error("is missing")
    try:
        operator = Operator(str(raw.get("operator")))
    except ValueError:
        choices = ", ".join(o.value for o in Operator)
        raise where.child("operator").error(
            f"{raw.get('operator')!r} is not one of {choices}"
        ) from None
    values = _parse_values(raw.get("values"), where.child("values"))
    needs_values = operator in (Operator.IN, Operator.NOT_IN)
    if needs_values and not values:
        raise where.child("values").error(f"must not be empty for operator {operator.value}")
    if not needs_values and values:
        raise where.child("values").error(f"must be empty for operator {operator.value}")
    return Requirement(key=key, operator=operator, values=tuple(sorted(values)))


def _parse_values(raw: object, where: Where) -> Sequence[str]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise where.error("is not a list of strings")
    if len(set(raw)) != len(raw):
        raise where.error("has the same value twice")
    return raw


def parse_selectors(raw: object, where: Where) -> tuple[LabelSelector, ...]:
    """Parse a list of selectors (any one may match); the same selector twice is an error."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise where.error("is not a list of label selectors")
    selectors = tuple(parse_selector(s, where.item(i)) for i, s in enumerate(raw))
    seen: set[str] = set()
    for i, selector in enumerate(selectors):
        if str(selector) in seen:
            raise where.item(i).error(f'repeats the selector "{selector}"')
        seen.add(str(selector))
    return selectors


def matches_any(selectors: Sequence[LabelSelector], labels: Labels) -> bool:
    """Whether any of `selectors` selects `labels` (False for no selectors)."""
    return any(s.matches(labels) for s in selectors)


def parse_labels(raw: object, where: Where) -> dict[str, str]:
    """An object's `metadata.labels` (or annotations): a map of strings to strings."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise where.error("is not a map of strings to strings")
    return dict(raw)
