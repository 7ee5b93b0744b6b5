"""One JSON object per log line (LOG_FORMAT=json), for a log shipper.

Fields: ts (UTC, ISO 8601), level, logger, message, webhook_id and event_pk when the line
was written about an event (see webhooks.logcontext), exc for a traceback, and any
`extra={...}` values a caller passed. Values that JSON cannot encode are written as str().
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else was passed with extra=... and is kept.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "webhook_suffix", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry and value not in (None, ""):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)
