"""Address conflicts and the quarantine: docs/lan.md's two JSON annotations, parsed and written.

Pure. A speaker that finds another device holding an address writes the facts on the Service
(`metalpool.io/address-conflict`: a list of `{"ip", "mac", "interface", "node"}`); the
controller keeps the addresses it must never hand out again on their IPAddressPool
(`metalpool.io/quarantine`: address → `{"mac", "interface", "node", "service", "since"}`).
Parsers raise `SpecError` naming the object and the annotation; an absent or blank annotation
reads as empty. A quarantine entry's fields are all optional, so a user may quarantine an
address by hand with `{"192.0.2.7": {}}`.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from metalpool import names
from metalpool.addresses import IPAddress, parse_ip
from metalpool.errors import Where, object_name
from metalpool.leases import format_timestamp


@dataclass(frozen=True, slots=True, kw_only=True)
class Conflict:
    """Another device answers for `ip`: its MAC, where a speaker heard it, and which speaker."""

    ip: IPAddress
    mac: str
    interface: str
    node: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Quarantined:
    """An address of a pool that is never handed out, and what put it there."""

    ip: IPAddress
    mac: str = ""
    interface: str = ""
    node: str = ""
    service: str = ""  # "namespace/name" of the Service that held it when the conflict was found
    since: datetime | None = None

    def describe(self) -> str:
        """Who holds the address, in words: `02:00:00:00:00:99 on eth0, seen by node node-a`."""
        who = self.mac or "MAC unknown"
        where = f" on {self.interface}" if self.interface else ""
        node = f", seen by node {self.node}" if self.node else ""
        return f"{who}{where}{node}"


def annotation_where(kind: str, obj: Mapping[str, Any], key: str) -> Where:
    """The annotation `key` of `obj`, as error messages name it."""
    meta = obj.get("metadata") or {}
    return Where(
        object_name(kind, meta.get("namespace"), str(meta.get("name") or "")),
        "metadata.annotations",
    ).key(key)


def read_conflicts(obj: Mapping[str, Any]) -> tuple[Conflict, ...]:
    """The conflicts a speaker reported on a Service object (none when it reported none)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(names.ADDRESS_CONFLICT_ANNOTATION)
    where = annotation_where("Service", obj, names.ADDRESS_CONFLICT_ANNOTATION)
    return parse_conflicts(raw, where)


def read_quarantine(obj: Mapping[str, Any]) -> dict[IPAddress, Quarantined]:
    """The quarantine an IPAddressPool object carries (empty when it carries none)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(names.QUARANTINE_ANNOTATION)
    where = annotation_where(names.POOL_KIND, obj, names.QUARANTINE_ANNOTATION)
    return parse_quarantine(raw, where)


def parse_conflicts(raw: object, where: Where) -> tuple[Conflict, ...]:
    """Parse the address-conflict annotation's value; raise `SpecError` when it is malformed."""
    decoded = _decode(raw, where)
    if decoded is None:
        return ()
    if not isinstance(decoded, list):
        raise where.error("is not a JSON list of conflicts")
    conflicts = []
    for i, entry in enumerate(decoded):
        item = where.item(i)
        if not isinstance(entry, Mapping):
            raise item.error("is not a JSON object")
        conflicts.append(
            Conflict(
                ip=parse_ip(entry.get("ip"), item.child("ip")),
                mac=_text(entry, "mac", item),
                interface=_text(entry, "interface", item),
                node=_text(entry, "node", item),
            )
        )
    return tuple(conflicts)


def format_conflicts(conflicts: Iterable[Conflict]) -> str:
    """The address-conflict annotation's value for `conflicts`, in their order."""
    return json.dumps(
        [
            {"ip": str(c.ip), "mac": c.mac, "interface": c.interface, "node": c.node}
            for c in conflicts
        ]
    )


def parse_quarantine(raw: object, where: Where) -> dict[IPAddress, Quarantined]:
    """Parse the quarantine annotation's value; raise `SpecError` when it is malformed.

    Keys are addresses (each address once, however it is spelt); every field of an entry is
    optional, and fields MetalPool does not know are ignored.
    """
    decoded = _decode(raw, where)
    if decoded is None:
        return {}
    if not isinstance(decoded, Mapping):
        raise where.error("is not a JSON object of address → entry")
    entries: dict[IPAddress, Quarantined] = {}
    for key, entry in decoded.items():
        item = where.key(key)
        ip = parse_ip(key, item)
        if ip in entries:
            raise item.error(f"names {ip} a second time")
        if not isinstance(entry, Mapping):
            raise item.error("is not a JSON object")
        entries[ip] = Quarantined(
            ip=ip,
            mac=_text(entry, "mac", item),
            interface=_text(entry, "interface", item),
            node=_text(entry, "node", item),
            service=_text(entry, "service", item),
            since=_time(entry, "since", item),
        )
    return entries


def format_quarantine(entries: Iterable[Quarantined]) -> str:
    """The quarantine annotation's value: entries by address, IPv4 first, fields in fixed order."""
    body = {}
    for entry in sorted(entries, key=lambda e: (e.ip.version, int(e.ip))):
        fields = {
            "mac": entry.mac,
            "interface": entry.interface,
            "node": entry.node,
            "service": entry.service,
        }
        if entry.since is not None:
            fields["since"] = format_timestamp(entry.since)
        body[str(entry.ip)] = fields
    return json.dumps(body)


def _decode(raw: object, where: Where) -> Any:
    """The JSON in an annotation's value; None when it is absent or blank."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise where.error("is not a string")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise where.error(f"is not JSON ({error.msg} at character {error.pos})") from None


def _text(entry: Mapping[str, Any], field: str, where: Where) -> str:
    value = entry.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise where.child(field).error(f"{value!r} is not a string")
    return value


def _time(entry: Mapping[str, Any], field: str, where: Where) -> datetime | None:
    value = entry.get(field)
    if value is None or value == "":
        return None
    error = where.child(field).error(f"{value!r} is not an RFC 3339 time")
    if not isinstance(value, str):
        raise error
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise error from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
