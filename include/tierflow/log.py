"""Log events through standard ``logging``: the library is a guest, the host owns handlers and levels.

Modules take ``log = get_logger(__name__)`` and call ``log.info("archive.batch.verified", table=t)``.
Nothing here configures logging when imported: inside Airflow, Airflow's handlers format the records
at their own levels; the ``tierflow`` command calls :func:`configure` from its entry point only.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

# LogRecord attributes that carry the event and its fields, for formatters that want them apart
EVENT_ATTR = "tierflow_event"
FIELDS_ATTR = "tierflow_fields"


def _value(value: Any) -> str:
    if isinstance(value, str):
        plain = value and not any(c in value for c in ' ="\n')
        return value if plain else json.dumps(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return str(value)


def render(event: str, fields: dict[str, Any]) -> str:
    """``event key=value ...``: one line that any handler (Airflow's task log included) shows whole."""
    return " ".join([event, *(f"{key}={_value(value)}" for key, value in fields.items())])


class EventLogger:
    """A standard ``logging.Logger`` that takes an event name and fields instead of a message."""

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)

    def _log(self, level: int, event: str, fields: dict[str, Any], exc_info: bool = False) -> None:
        if self.logger.isEnabledFor(level):
            self.logger.log(
                level,
                "%s",
                render(event, fields),
                exc_info=exc_info,
                extra={EVENT_ATTR: event, FIELDS_ATTR: fields},
                stacklevel=3,  # the caller of info()/warning(), not this module
            )

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields, exc_info=True)


def get_logger(name: str) -> EventLogger:
    return EventLogger(name)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: timestamp, level, logger, event and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, EVENT_ATTR, None) or record.getMessage(),
            **getattr(record, FIELDS_ATTR, {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


_handler: logging.Handler | None = None


def configure(level: str | None = None, json_lines: bool | None = None) -> None:
    """The CLI's own logging: tierflow's events on stderr at ``level`` (env TIERFLOW_LOG_LEVEL,
    default INFO), JSON lines when stderr is not a terminal; other libraries' from WARNING up."""
    global _handler
    if _handler is not None:
        return
    level_name = (level or os.environ.get("TIERFLOW_LOG_LEVEL") or "INFO").upper()
    as_json = (not sys.stderr.isatty()) if json_lines is None else json_lines
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(
        JsonFormatter()
        if as_json
        else logging.Formatter("%(asctime)s [%(levelname)-7s] %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.addHandler(_handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("tierflow").setLevel(level_name)
