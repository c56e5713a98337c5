"""Logging: one JSON object per line on stderr, for pkgindex and uvicorn alike (uvicorn's own access
log is off: ``pkgindex.access`` writes one line per request, with its route and request id)."""

from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS

# uvicorn adds an ANSI-coloured copy of its messages for terminals; in JSON it is only noise.
NOT_LOGGED = [*RESERVED_ATTRS, "color_message"]


def logging_config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document, also handed to uvicorn (applied in every worker)."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
                "reserved_attrs": NOT_LOGGED,
            }
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            "pkgindex": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
