"""List order and pagination: items sorted by namespace/name, `limit` + opaque `continue` tokens.

Pure. A continue token carries the first page's list resourceVersion and the last key served, so
later pages report the same list version (the emulator does not keep snapshots: later pages
show current data, which kopf and kubectl accept).
"""

import base64
import binascii
import json

from lab.apiserver.objects.errors import ApiError
from lab.apiserver.objects.store import Object


def page(
    items: list[Object], *, limit: int, token: str, current_version: int
) -> tuple[list[Object], str, str]:
    """One page of sorted items, the list's resourceVersion, and the next token ('' at the end)."""
    ordered = sorted(items, key=_sort_key)
    list_version, start = _decode_token(token) if token else (current_version, "")
    if start:
        ordered = [o for o in ordered if "/".join(_sort_key(o)) > start]
    following = ""
    if limit and len(ordered) > limit:
        ordered = ordered[:limit]
        following = _encode_token(list_version, "/".join(_sort_key(ordered[-1])))
    return ordered, str(list_version), following


def _sort_key(obj: Object) -> tuple[str, str]:
    metadata = obj["metadata"]
    return metadata.get("namespace", ""), metadata["name"]


def _encode_token(list_version: int, start: str) -> str:
    raw = json.dumps({"rv": list_version, "start": start}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str) -> tuple[int, str]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(decoded["rv"]), str(decoded["start"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ApiError(400, f"invalid continue token {token!r}") from None
