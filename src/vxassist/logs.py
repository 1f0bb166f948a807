"""Logging to a rotating file, with secrets removed from every record."""

from __future__ import annotations

import logging
import logging.handlers
from typing import Any

from vxassist.paths import Paths
from vxassist.redact import scrub

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFilter(logging.Filter):
    """Masks secrets in the formatted message (arguments included) of each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        record.msg, record.args = cleaned, None
        return True


def setup_logging(paths: Paths, level: str = "INFO", **handler_args: Any) -> logging.Handler:
    """Send the ``vxassist`` loggers to ``paths.log_file``, rotating at 2 MB."""
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        paths.log_file,
        maxBytes=handler_args.get("max_bytes", 2_000_000),
        backupCount=handler_args.get("backups", 5),
        encoding="utf-8",
    )
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger("vxassist")
    root.setLevel(level.upper())
    for old in [h for h in root.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    return handler


def setup_stderr_logging(level: str = "WARNING") -> logging.Handler:
    """Warnings and worse to stderr, for when no log folder can be written."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(RedactingFilter())
    handler.setLevel(logging.WARNING)
    root = logging.getLogger("vxassist")
    root.setLevel(level.upper())
    root.addHandler(handler)
    return handler
