"""Failed attempts per source, in a sliding window: the enrollment route's brake.

A pure policy over times handed in. It lives in one desk process: with several
workers a source gets the limit once per worker, still a few dozen guesses an
hour against codes of about 59 bits.
"""

from __future__ import annotations

from collections import deque


class FailureThrottle:
    """At most ``limit`` failures per source within ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float, max_sources: int = 10_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_sources = max_sources
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, source: str, now: float) -> deque[float]:
        seen = self._failures.get(source)
        if seen is None:
            return deque()
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if not seen:
            del self._failures[source]
        return seen

    def retry_after(self, source: str, now: float) -> float | None:
        """Seconds until ``source`` may try again, or None if it may now."""
        seen = self._recent(source, now)
        if len(seen) < self.limit:
            return None
        return max(1.0, seen[0] + self.window_s - now)

    def failed(self, source: str, now: float) -> int:
        """Count a failure; how many ``source`` has made within the window."""
        if source not in self._failures and len(self._failures) >= self.max_sources:
            for known in list(self._failures):
                self._recent(known, now)  # drops a source whose failures all aged out
            if len(self._failures) >= self.max_sources:
                self._failures.clear()  # a flood of sources: start over rather than grow
        seen = self._failures.setdefault(source, deque())
        seen.append(now)
        return len(seen)
