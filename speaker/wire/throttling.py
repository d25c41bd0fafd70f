"""Shell. Rate-limited logging, so that a failing interface cannot flood the speaker's log.

The idea of kopf's `throttlers.py`: the first failure of a kind is logged at once, repeats within
`period` are only counted, and the next line that gets through says how many were suppressed.
"""

import logging
import time
from collections.abc import Callable


class LogThrottle:
    """Logs each key at most once per `period` seconds. Not thread-safe: one owner thread."""

    def __init__(
        self,
        logger: logging.Logger,
        period: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._period = period
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, level: int, key: str, message: str, *args: object) -> bool:
        """Log `message % args` under `key` unless it was logged recently; True if logged."""
        suppressed = self._admit(key)
        if suppressed is None:
            return False
        if suppressed:
            message += " (%d similar messages suppressed)"
            args = (*args, suppressed)
        self._logger.log(level, message, *args)
        return True

    def exception(self, key: str, message: str, *args: object) -> bool:
        """Like `log` at ERROR, with the traceback of the exception being handled."""
        if self._admit(key) is None:
            return False
        self._logger.exception(message, *args)
        return True

    def _admit(self, key: str) -> int | None:
        """None if `key` was logged within the period, else how many repeats were suppressed."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._period:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._suppressed.pop(key, 0)
