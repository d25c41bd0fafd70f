"""The speaker worker's process-wide settings (speaker.worker)."""

import gc
from collections.abc import Iterator

import pytest

from speaker import worker


@pytest.fixture
def short_collections() -> Iterator[None]:
    """`keep_collections_short` for one test; the collector as it was afterwards."""
    worker.keep_collections_short()
    try:
        yield
    finally:
        gc.callbacks.remove(worker._freeze_survivors)  # undone for the tests after
        gc.unfreeze()


@pytest.mark.usefixtures("short_collections")
def test_a_full_collection_walks_only_objects_newer_than_the_last_full_collection():
    """With 1,000 Services each full collection walked ~230,000 objects for 0.15-0.6 s: more
    than a heartbeat hold, so the responder stalled (docs/footprint.md)."""
    survivors = [[i] for i in range(50_000)]  # long-lived state: one tracked list each
    gc.collect()
    assert len(gc.get_objects()) < len(survivors)  # frozen: no collection walks them again
    assert gc.get_freeze_count() >= len(survivors)


@pytest.mark.usefixtures("short_collections")
def test_a_cycle_that_is_garbage_at_a_full_collection_is_collected_not_frozen():
    class Node:
        pass

    first, second = Node(), Node()
    first.other, second.other = second, first  # type: ignore[attr-defined]
    del first, second
    assert gc.collect() >= 2  # both ends of the cycle
    assert not any(isinstance(o, Node) for o in gc.get_objects())
