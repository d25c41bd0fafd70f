"""Errors a user can act on, and where they point.

Every parser raises `SpecError` with the object and the field it is about, so the message
alone tells a user what to fix: `IPAddressPool metallb-system/public: spec.addresses[1]
"10.0.0.300/32" is not an IP network or range`.
"""

from dataclasses import dataclass


class MetalPoolError(Exception):
    """Base of every error MetalPool raises on purpose."""


class SpecError(MetalPoolError):
    """An object's content is wrong; nothing changes until the user edits it."""

    def __init__(self, obj: str, field: str, problem: str) -> None:
        self.obj = obj
        self.field = field
        self.problem = problem
        super().__init__(f"{obj}: {field} {problem}" if field else f"{obj}: {problem}")


@dataclass(frozen=True, slots=True)
class Where:
    """A field of an object, as a user names it: `Where("Service demo/web", "spec.ports[0]")`."""

    obj: str
    field: str = ""

    def child(self, name: str) -> "Where":
        """The field `name` below this one."""
        return Where(self.obj, f"{self.field}.{name}" if self.field else name)

    def item(self, index: int) -> "Where":
        """Item `index` of this list field."""
        return Where(self.obj, f"{self.field}[{index}]")

    def key(self, key: str) -> "Where":
        """Entry `key` of this map field (annotations, labels)."""
        return Where(self.obj, f'{self.field}["{key}"]')

    def error(self, problem: str) -> SpecError:
        """An error about this field (raise it)."""
        return SpecError(self.obj, self.field, problem)


def object_name(kind: str, namespace: str | None, name: str) -> str:
    """How messages name an object: `IPAddressPool metallb-system/public`, `Node n1`."""
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
