"""Timestamps as the apiserver writes them: RFC 3339, whole seconds, UTC."""

from datetime import UTC, datetime


def now() -> str:
    """The current time in the apiserver's format."""
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    """A datetime in the apiserver's format."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime | None:
    """An apiserver timestamp (seconds or micro-seconds) as a datetime; None if unparsable."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
