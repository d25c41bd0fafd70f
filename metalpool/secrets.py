"""The memberlist Secret: the key the speakers authenticate their LAN heartbeats with.

Pure. The names are MetalLB's (`memberlist`, key `secretkey`), so a Secret MetalLB left behind
serves as it is (its key is base64 text of 128 random bytes; ours is 64 raw random bytes; any
non-empty key works). The caller supplies the random bytes: nothing here does I/O.
"""

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from metalpool import names

KEY_BYTES = 64  # HMAC-SHA-256's block size: the longest key it uses without hashing (RFC 2104 §2)


def memberlist_secret(namespace: str, key: bytes) -> dict[str, Any]:
    """The Secret to create in `namespace` holding `key` (an Opaque Secret, labelled as ours)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": names.MEMBERLIST_SECRET,
            "namespace": namespace,
            "labels": {names.MANAGED_BY_LABEL: names.MANAGED_BY},
        },
        "type": "Opaque",
        "data": {names.MEMBERLIST_KEY: base64.b64encode(key).decode("ascii")},
    }


def memberlist_key(secret: Mapping[str, Any]) -> bytes | None:
    """The key a memberlist Secret holds, decoded; None when it has none or it is not base64."""
    data = secret.get("data") or {}
    encoded = data.get(names.MEMBERLIST_KEY) if isinstance(data, Mapping) else None
    if not isinstance(encoded, str) or not encoded:
        return None
    try:
        return base64.b64decode(encoded, validate=True) or None
    except binascii.Error:
        return None
