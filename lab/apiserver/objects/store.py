"""Object storage with resourceVersions, a bounded event log per resource, and subscribers.

The store is the etcd of the emulator and knows nothing of Kubernetes rules (those live in
`cluster.py`). Its rule: every change takes the next value of one global counter as its
resourceVersion, and stored objects are never mutated — a write stores a new dict — so events,
lists and watch streams can share them without copying. Each resource keeps its latest `history`
events; resuming a watch from an older version raises `ExpiredError`, which the server reports as
410 Gone, like etcd compaction. All operations are O(1) or O(answer size), never O(history).
"""

import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

Object = dict[str, Any]
DEFAULT_HISTORY = 20_000


class ExpiredError(Exception):
    """A watch asked to resume from a resourceVersion older than the retained history."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")


@dataclass(frozen=True, slots=True)
class Change:
    """One stored event: what happened, the object after it, and the object before it."""

    resource_version: int
    type: str  # ADDED, MODIFIED or DELETED
    object: Object
    previous: Object | None = None


Subscriber = Callable[[Change], None]


@dataclass(slots=True)
class Collection:
    """The objects of one resource (all versions), by namespace then name."""

    history: int
    objects: dict[str, dict[str, Object]] = field(default_factory=dict)
    log: deque[Change] = field(default_factory=deque)
    compacted: int = 0  # the newest resourceVersion dropped from the log
    subscribers: set[Subscriber] = field(default_factory=set)
    count: int = 0


class Store:
    """All collections plus the global resourceVersion counter."""

    def __init__(self, *, history: int = DEFAULT_HISTORY) -> None:
        self.history = history
        self.resource_version = 0
        self._collections: dict[str, Collection] = {}

    def _collection(self, storage: str) -> Collection:
        collection = self._collections.get(storage)
        if collection is None:
            collection = self._collections[storage] = Collection(history=self.history)
        return collection

    def next_version(self) -> int:
        """Take the next resourceVersion."""
        self.resource_version += 1
        return self.resource_version

    def get(self, storage: str, namespace: str, name: str) -> Object | None:
        """The stored object, or None."""
        return self._collection(storage).objects.get(namespace, {}).get(name)

    def iterate(self, storage: str, namespace: str | None) -> Iterator[Object]:
        """Objects of one namespace (or all, with None), in namespace then insertion order."""
        objects = self._collection(storage).objects
        if namespace is not None:
            yield from objects.get(namespace, {}).values()
            return
        for by_name in objects.values():
            yield from by_name.values()

    def latest(self, storage: str) -> int:
        """The resourceVersion of a resource's newest change (0 before any): a cache key."""
        collection = self._collection(storage)
        return collection.log[-1].resource_version if collection.log else collection.compacted

    def count(self, storage: str) -> int:
        """How many objects a resource holds."""
        return self._collection(storage).count

    def count_in(self, namespace: str) -> int:
        """How many objects (of any resource) live in a namespace."""
        return sum(len(c.objects.get(namespace, ())) for c in self._collections.values())

    def put(self, storage: str, obj: Object, previous: Object | None) -> Object:
        """Store a new or changed object; it must already carry its new resourceVersion."""
        collection = self._collection(storage)
        metadata = obj["metadata"]
        by_name = collection.objects.setdefault(metadata.get("namespace", ""), {})
        if metadata["name"] not in by_name:
            collection.count += 1
        by_name[metadata["name"]] = obj
        kind = "ADDED" if previous is None else "MODIFIED"
        self._record(collection, Change(int(metadata["resourceVersion"]), kind, obj, previous))
        return obj

    def remove(self, storage: str, obj: Object) -> None:
        """Forget an object; `obj` is its final state, carrying the deletion's resourceVersion."""
        collection = self._collection(storage)
        metadata = obj["metadata"]
        namespace = metadata.get("namespace", "")
        by_name = collection.objects.get(namespace, {})
        previous = by_name.pop(metadata["name"], None)
        if previous is None:
            return
        collection.count -= 1
        if not by_name:
            del collection.objects[namespace]
        self._record(collection, Change(int(metadata["resourceVersion"]), "DELETED", obj, previous))

    def drop(self, storage: str) -> None:
        """Forget a whole resource and its history (its CRD is gone)."""
        self._collections.pop(storage, None)

    def since(self, storage: str, resource_version: int) -> list[Change]:
        """Changes after `resource_version`, oldest first; ExpiredError if some were dropped."""
        collection = self._collection(storage)
        if resource_version < collection.compacted:
            raise ExpiredError(resource_version, collection.compacted + 1)
        newer: list[Change] = []
        for change in reversed(collection.log):  # newest first: stop at the first old one
            if change.resource_version <= resource_version:
                break
            newer.append(change)
        newer.reverse()
        return newer

    def compact(self) -> None:
        """Forget all history, as etcd compaction does: resuming any older watch gets 410."""
        for collection in self._collections.values():
            collection.log.clear()
            collection.compacted = self.resource_version

    def subscribe(self, storage: str, subscriber: Subscriber) -> None:
        """Call `subscriber` with every future change of a resource."""
        self._collection(storage).subscribers.add(subscriber)

    def unsubscribe(self, storage: str, subscriber: Subscriber) -> None:
        """Stop calling `subscriber`."""
        self._collection(storage).subscribers.discard(subscriber)

    def _record(self, collection: Collection, change: Change) -> None:
        collection.log.append(change)
        while len(collection.log) > collection.history:
            collection.compacted = collection.log.popleft().resource_version
        for subscriber in list(collection.subscribers):
            try:
                subscriber(change)
            except Exception:
                # A broken watch stream must not fail the write that woke it.
                logger.exception("a watch subscriber failed")
