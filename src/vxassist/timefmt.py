"""Moments as people read them: the reader's local time with its zone, one format for
the customer's side and the engineer's (``Tue 2026-11-24 10:00 PST``)."""

from __future__ import annotations

from datetime import datetime, tzinfo

FORMAT = "%a %Y-%m-%d %H:%M %Z"


def parse_moment(value: object) -> datetime | None:
    """An aware datetime from an ISO text (``Z`` accepted) or a datetime; None otherwise."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else None


def local_time(value: object, tz: tzinfo | None = None) -> str:
    """``value`` in ``tz`` (default: this machine's zone) with the zone's name; text that
    is no moment is shown as it is, and nothing as "unknown"."""
    moment = parse_moment(value)
    if moment is None:
        return str(value) if value not in (None, "") else "unknown"
    shown = moment.astimezone(tz) if tz is not None else moment.astimezone()
    return shown.strftime(FORMAT)
