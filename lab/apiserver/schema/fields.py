"""Field errors rendered exactly as apimachinery's field.Error (util/validation/field/errors.go).

Pure. A `FieldError` is one `path: Type: value: detail` line; the value is printed the way Go's
fmt prints the decoded JSON value (`%q` strings, `%v` numbers and booleans, `%#v` maps and
slices), because clients and people match on these messages.
"""

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any


class ErrorType(StrEnum):
    """field.ErrorType: the wire name, which is also a Status cause's `reason`."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"
    TYPE_INVALID = "FieldValueTypeInvalid"

    @property
    def title(self) -> str:  # type: ignore[override]  # ErrorType.String(), not str.title
        """ErrorType.String(): the words a message starts with."""
        return _TITLES[self]


_TITLES = {
    ErrorType.NOT_FOUND: "Not found",
    ErrorType.REQUIRED: "Required value",
    ErrorType.DUPLICATE: "Duplicate value",
    ErrorType.INVALID: "Invalid value",
    ErrorType.NOT_SUPPORTED: "Unsupported value",
    ErrorType.FORBIDDEN: "Forbidden",
    ErrorType.TOO_LONG: "Too long",
    ErrorType.TOO_MANY: "Too many",
    ErrorType.INTERNAL: "Internal error",
    ErrorType.TYPE_INVALID: "Invalid value",
}
# ErrorBody prints no value for these types, whatever the value is.
_VALUELESS = frozenset(
    {ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.INTERNAL}
)


class Omitted:
    """field.omitValue: an error whose body carries no value (TooMany without a count)."""


OMITTED = Omitted()


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldError:
    """One field error; `str()` is field.Error.Error(), `body` is ErrorBody()."""

    type: ErrorType
    field: str
    value: Any = ""
    detail: str = ""

    @property
    def body(self) -> str:
        """The message without the field path (a Status cause's `message`)."""
        if self.type in _VALUELESS or isinstance(self.value, Omitted):
            text = self.type.title
        else:
            text = f"{self.type.title}: {go_value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body}"


def required(path: str, detail: str = "") -> FieldError:
    """field.Required."""
    return FieldError(type=ErrorType.REQUIRED, field=path, detail=detail)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    """field.Invalid."""
    return FieldError(type=ErrorType.INVALID, field=path, value=value, detail=detail)


def type_invalid(path: str, value: Any, detail: str) -> FieldError:
    """field.TypeInvalid."""
    return FieldError(type=ErrorType.TYPE_INVALID, field=path, value=value, detail=detail)


def not_supported(path: str, value: Any, supported: list[str]) -> FieldError:
    """field.NotSupported: the allowed values quoted with strconv.Quote."""
    detail = "supported values: " + ", ".join(go_quote(v) for v in supported) if supported else ""
    return FieldError(type=ErrorType.NOT_SUPPORTED, field=path, value=value, detail=detail)


def duplicate(path: str, value: Any) -> FieldError:
    """field.Duplicate."""
    return FieldError(type=ErrorType.DUPLICATE, field=path, value=value)


def too_many(path: str, actual: int, most: int) -> FieldError:
    """field.TooMany."""
    return FieldError(
        type=ErrorType.TOO_MANY,
        field=path,
        value=actual if actual >= 0 else OMITTED,
        detail=f"must have at most {most} items" if most >= 0 else "has too many items",
    )


def too_long(path: str, most: int) -> FieldError:
    """field.TooLongMaxLength (the value is never printed)."""
    detail = f"may not be longer than {most}" if most >= 0 else "value is too long"
    return FieldError(type=ErrorType.TOO_LONG, field=path, detail=detail)


def go_value(value: Any) -> str:
    """How ErrorBody prints a bad value: %q strings, %v scalars, %#v the rest.

    A nil value becomes the string "null" first, so it prints quoted.
    """
    if value is None:
        return '"null"'
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    return go_syntax(value)


def go_syntax(value: Any) -> str:
    """Go's %#v of a decoded JSON value (map keys sorted, as fmt prints maps)."""
    if isinstance(value, dict):
        items = ", ".join(f"{go_quote(k)}:{go_syntax(v)}" for k, v in sorted(value.items()))
        return "map[string]interface {}{" + items + "}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(go_syntax(v) for v in value) + "}"
    if value is None:
        return "interface {}(nil)"
    return go_value(value)


_SPACE, _DELETE = 0x20, 0x7F  # strconv.Quote escapes the controls below and at these
# strconv 'g' with the shortest precision: exponent form when the exponent is < -4 or >= 6.
_SMALLEST_PLAIN, _EPREC = -4, 6


def go_quote(text: str) -> str:
    """strconv.Quote for the printable text messages carry; controls escaped as Go does."""
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    named |= {"\v": "\\v", '"': '\\"', "\\": "\\\\"}
    out = []
    for char in text:
        if char in named:
            out.append(named[char])
        elif ord(char) < _SPACE or ord(char) == _DELETE:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def go_float(number: float) -> str:  # noqa: PLR0911 -- special values, then 4 forms
    """Go's %v of a float64 (strconv 'g', shortest): exponent form below 1e-4 and from 1e6 on."""
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if math.isnan(number):
        return "NaN"
    if number == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + int(exponent)  # digits before the decimal point
    power = point - 1
    minus = "-" if sign else ""
    if power < _SMALLEST_PLAIN or power >= _EPREC:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return minus + text + "0" * (point - len(text))
    return f"{minus}{text[:point]}.{text[point:]}"


def forbidden(path: str, detail: str) -> FieldError:
    """field.Forbidden."""
    return FieldError(type=ErrorType.FORBIDDEN, field=path, detail=detail)
