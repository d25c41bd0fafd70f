"""metav1.Time and metav1.MicroTime as kube decodes them, with Go's time.Parse error text.

Pure. Time.UnmarshalJSON parses with time.RFC3339 (apimachinery pkg/apis/meta/v1/time.go),
which on parsing also accepts any fractional seconds; MicroTime.UnmarshalJSON parses with
RFC3339Micro, "2006-01-02T15:04:05.000000Z07:00" (micro_time.go), which needs exactly six
fractional digits. `null` is the zero time. A value that does not parse makes the whole body
undecodable, so the caller answers 400 with Go's ParseError message, which this module
reproduces by walking the layout's elements as time.Parse does.
"""

import calendar
import re
from enum import Enum
from typing import Any

RFC3339 = "2006-01-02T15:04:05Z07:00"
RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"


class TimeKind(Enum):
    """Which apimachinery time type a field has."""

    TIME = RFC3339
    MICRO_TIME = RFC3339_MICRO


# (literal prefix, std element) pairs, as time.nextStdChunk splits the two layouts.
_CHUNKS = {
    TimeKind.TIME: (
        ("", "2006"),
        ("-", "01"),
        ("-", "02"),
        ("T", "15"),
        (":", "04"),
        (":", "05"),
        ("", "Z07:00"),
    ),
    TimeKind.MICRO_TIME: (
        ("", "2006"),
        ("-", "01"),
        ("-", "02"),
        ("T", "15"),
        (":", "04"),
        (":", "05"),
        ("", ".000000"),
        ("", "Z07:00"),
    ),
}
_RANGES = {
    "01": ("month", 1, 12),
    "02": ("day", 1, 31),
    "15": ("hour", 0, 23),
    "04": ("minute", 0, 59),
    "05": ("second", 0, 59),
}
_OFFSET = re.compile(r"[+-]\d{2}:\d{2}")
_FRACTION = re.compile(r"[.,]\d+")


class TimeParseError(ValueError):
    """A value Go's time.Parse refuses; the message is Go's ParseError.Error()."""


def check_time(value: Any, kind: TimeKind) -> None:
    """Raise TimeParseError when `value` would not decode as this time type."""
    if value is None:
        return
    if not isinstance(value, str):
        raise TimeParseError(
            f"json: cannot unmarshal {_json_kind(value)} into Go value of type string"
        )
    _parse(value, kind)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "object" if isinstance(value, dict) else "array"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse(value: str, kind: TimeKind) -> None:
    layout = kind.value
    rest = value
    fields: dict[str, int] = {}

    def fail(element: str, at: str) -> TimeParseError:
        return TimeParseError(
            f"parsing time {_quote(value)} as {_quote(layout)}: cannot parse {_quote(at)} as "
            f"{_quote(element)}"
        )

    for prefix, element in _CHUNKS[kind]:
        if not rest.startswith(prefix):
            raise fail(prefix, rest)
        rest = rest[len(prefix) :]
        held = rest
        consumed = _element(element, rest, fields, kind)
        if consumed is None:
            raise fail(element, held)
        if isinstance(consumed, str):
            raise TimeParseError(f"parsing time {_quote(value)}: {consumed} out of range")
        rest = rest[consumed:]
    if rest:
        raise TimeParseError(f"parsing time {_quote(value)}: extra text: {_quote(rest)}")
    year, month, day = fields["2006"], fields["01"], fields["02"]
    if day > calendar.monthrange(year, month)[1]:
        raise TimeParseError(f"parsing time {_quote(value)}: day out of range")


def _element(  # noqa: PLR0911 -- one answer per layout element, as time.parse's switch
    element: str, rest: str, fields: dict[str, int], kind: TimeKind
) -> int | str | None:
    """How many characters an element takes; a range name when out of range; None if bad."""
    if element == "2006":
        if len(rest) < 4 or not rest[:4].isdigit():  # noqa: PLR2004 -- four-digit year
            return None
        fields[element] = int(rest[:4])
        return 4
    if element in _RANGES:
        width = 2
        if element == "15" and len(rest) >= 1 and rest[:1].isdigit() and not rest[1:2].isdigit():
            width = 1  # stdHour: getnum(value, false) takes one digit too
        if len(rest) < width or not rest[:width].isdigit():
            return None
        number = int(rest[:width])
        name, low, high = _RANGES[element]
        if not low <= number <= high:
            return name
        fields[element] = number
        taken = width
        if element == "05" and kind is TimeKind.TIME:
            fraction = _FRACTION.match(rest, taken)  # fractional seconds the layout lacks
            if fraction is not None:
                taken = fraction.end()
        return taken
    if element == ".000000":
        if len(rest) < 7 or rest[0] not in ".," or not rest[1:7].isdigit():  # noqa: PLR2004
            return None
        return 7
    if rest.startswith("Z"):  # Z07:00
        return 1
    return 6 if _OFFSET.match(rest) else None
