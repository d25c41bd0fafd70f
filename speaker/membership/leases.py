"""Speaker Leases by name: `metalpool-speaker-<node>`, one per node.

Pure. Each speaker renews a Lease of its own; peers never heard on the LAN are judged by it
(`speaker.membership.table`). Only the names live here.
"""

LEASE_PREFIX = "metalpool-speaker-"


def lease_name(node: str) -> str:
    """The name of `node`'s speaker Lease."""
    return f"{LEASE_PREFIX}{node}"


def node_of(lease_name_: str) -> str | None:
    """The node a speaker Lease belongs to, or None for any other Lease."""
    if not lease_name_.startswith(LEASE_PREFIX):
        return None
    return lease_name_[len(LEASE_PREFIX) :] or None
