"""A local mirror of one kind of object: listed once at start, then kept current by watch events.

Shell-side state, no I/O of its own. kopf's indexes would do the same, but kopf 1.45 gates each
indexed object's handlers on one shared condition that every object's toggle wakes, which makes
a start with 10,000 Services quadratic (minutes). Kinds that can number in the thousands
(Services, EndpointSlices) are mirrored here instead; the list that fills the mirror completes
before any decision, which is the guarantee the indexes gave.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Key = tuple[str, str]  # (namespace, name)


def key_of(obj: Mapping[str, Any]) -> Key:
    """An object's (namespace, name)."""
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class Mirror(Generic[T]):
    """Parsed objects by (namespace, name); `parse` may return None to leave one out.

    `also` is a second mirror of the same objects, parsed another way, fed by this one (a
    list or an event reaches both, so they never disagree on what exists).
    """

    def __init__(
        self, parse: Callable[[Mapping[str, Any]], T | None], *, also: "Mirror[Any] | None" = None
    ) -> None:
        self._parse = parse
        self._items: dict[Key, T] = {}
        self._also = also

    def load(self, objs: Iterable[Mapping[str, Any]]) -> None:
        """Fill from a list response (replacing nothing that events already brought)."""
        if self._also is not None:
            objs = list(objs)
            self._also.load(objs)
        for obj in objs:
            key = key_of(obj)
            if key in self._items:
                continue  # an event already brought a version at least as new
            parsed = self._parse(obj)
            if parsed is not None:
                self._items[key] = parsed

    def event(self, kind: str | None, obj: Mapping[str, Any]) -> Key:
        """Apply one watch event (kind "DELETED" removes); returns the object's key."""
        if self._also is not None:
            self._also.event(kind, obj)
        key = key_of(obj)
        parsed = None if kind == "DELETED" else self._parse(obj)
        if parsed is None:
            self._items.pop(key, None)
        else:
            self._items[key] = parsed
        return key

    def get(self, key: Key) -> T | None:
        """The object at `key`, if any."""
        return self._items.get(key)

    def __iter__(self) -> Iterator[Key]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def values(self) -> list[T]:
        """Every object (a snapshot)."""
        return list(self._items.values())
