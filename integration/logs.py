"""Structured logging: one JSON object per line, stamped with request/job/tenant ids."""
from __future__ import annotations

import contextvars
import logging
import sys

from pythonjsonlogger.json import JsonFormatter

# Set by the web layer per request and by the job wrapper per job; read by the filter below.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
tenant_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("tenant_id", default=None)

# Never let these leave the process in a log line, whatever a caller passes in `extra`.
REDACTED_KEYS = frozenset({"access_token", "refresh_token", "client_secret", "password", "authorization",
                           "secret", "token", "code", "api_token"})


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (("request_id", request_id_var), ("job_id", job_id_var), ("tenant_id", tenant_id_var)):
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        for key in REDACTED_KEYS:
            if key in record.__dict__:
                record.__dict__[key] = "[redacted]"
        return True


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Install one stderr handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_leadrelay", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._leadrelay = True  # type: ignore[attr-defined]
    if fmt == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"asctime": "ts", "levelname": "level"}))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s request_id=%(request_id)s job_id=%(job_id)s "
            "tenant_id=%(tenant_id)s"))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic announces its context on every revision lookup (each /healthz): keep only its warnings.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
