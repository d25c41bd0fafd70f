"""String formats a CRD schema may name, checked as kube-openapi's strfmt registry checks them.

Pure. Formats kube does not know are dropped from the schema by apiextensions (so they check
nothing), and so are those this module does not list; the ones here are those our CRDs and
tests use (`date-time`) plus a few cheap, unambiguous ones.
"""

import base64
import binascii
import ipaddress
import re
import uuid
from collections.abc import Callable
from datetime import date

# kube-openapi strfmt: DateTimePattern for the part after the "t".
_TIME = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))")
_FULL_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def is_date(text: str) -> bool:
    """Strfmt IsDate: time.Parse("2006-01-02")."""
    match = _FULL_DATE.fullmatch(text)
    if match is None:
        return False
    try:
        date(*(int(part) for part in match.groups()))
    except ValueError:
        return False
    return True


def is_date_time(text: str) -> bool:
    """Strfmt IsDateTime: a full date, a "t", then hh:mm:ss[.frac] and Z or an offset."""
    parts = text.lower().split("t")
    if len(text) < 4 or len(parts) < 2 or not is_date(parts[0]):  # noqa: PLR2004 -- as strfmt
        return False
    match = _TIME.fullmatch(parts[1])
    if match is None:
        return False
    return match[1] <= "23" and match[2] <= "59" and match[3] <= "59"


def _is_ip(version: int) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            return ipaddress.ip_address(text).version == version
        except ValueError:
            return False

    return check


def is_cidr(text: str) -> bool:
    """net.ParseCIDR: an address, a slash and a prefix length (host bits allowed)."""
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


def is_uuid(text: str) -> bool:
    """Strfmt IsUUID: the 8-4-4-4-12 hex form."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", text) is not None


def is_byte(text: str) -> bool:
    """Strfmt "byte": standard base64."""
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


CHECKS: dict[str, Callable[[str], bool]] = {
    "date-time": is_date_time,
    "datetime": is_date_time,
    "date": is_date,
    "ipv4": _is_ip(4),
    "ipv6": _is_ip(6),
    "cidr": is_cidr,
    "uuid": is_uuid,
    "byte": is_byte,
}
