"""One log format for the broker and uvicorn: JSON lines or ``key=value`` pairs.

:func:`configure` installs a single handler on the root logger with
:class:`LineFormatter`, and :func:`uvicorn_log_config` gives uvicorn the same
formatter, so access lines and broker lines look alike. Extra fields passed with
``log.info(..., extra={"job": ..., "owner": ...})`` become keys of the line.
Query strings are redacted in access lines when a parameter's name looks like a
credential (``token``, ``key``, ``secret``, ``password``, ``auth``, ``sig``, ``verifier``)
or is one of OpenID Connect's callback values (``code``, ``state``, ``session_state``: an
authorization code is single-use and PKCE-bound, but still no business of a log).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["json", "keyvalue"]

#: attributes every LogRecord has; anything else was passed in ``extra``
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_CREDENTIAL = re.compile(
    r"(?i)([?&](?:[^=&\s]*(?:token|key|secret|password|passwd|auth|sig|credential|verifier)"
    r"[^=&\s]*|code|state|session_state)=)"
    r"[^&\s\"]*"
)
_BARE = re.compile(r"^[A-Za-z0-9_.:/@+-]+$")


def redact_query(text: str) -> str:
    """``/x?access_token=abc&a=1`` -> ``/x?access_token=***&a=1``."""
    return _CREDENTIAL.sub(r"\1***", text)


class LineFormatter(logging.Formatter):
    """A record as one line: ``ts``, ``level``, ``logger``, ``msg`` and the extras."""

    def __init__(self, fmt: LogFormat = "keyvalue") -> None:
        super().__init__()
        self.kind = fmt

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        message = record.getMessage()
        if record.name.startswith("uvicorn.access"):
            message = redact_query(message)
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": message,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key != "color_message":
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return data

    def format(self, record: logging.LogRecord) -> str:
        data = self.fields(record)
        if self.kind == "json":
            return json.dumps(data, default=str, ensure_ascii=False)
        return " ".join(f"{key}={_kv(value)}" for key, value in data.items())


def _kv(value: Any) -> str:
    text = str(value)
    if text and _BARE.match(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def configure(level: str = "info", fmt: LogFormat = "keyvalue") -> None:
    """The root logger writes ``fmt`` lines to stderr at ``level``; nothing else does."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # the SQL of the store never reaches the logs, at any level (it carries job values)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)


def uvicorn_log_config(level: str = "info", fmt: LogFormat = "keyvalue") -> dict[str, Any]:
    """A ``logging.config`` dict for uvicorn: its loggers propagate to the root handler."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"()": LineFormatter, "fmt": fmt}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }
