"""Structured logging: one JSON object per line, stamped with request/job/tenant ids, with secrets redacted."""
from __future__ import annotations

import contextvars
import logging
import re
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

# Set by the web layer per request and by the job wrapper per job; read by the filter below.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
tenant_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("tenant_id", default=None)
# The running job's work class (integration.jobs.WORK_CLASSES), read by the rate budget to give new leads first
# claim on the CRM's API budget. Outside a job (a web request, a CLI command) the work is someone's new lead.
work_class_var: contextvars.ContextVar[str] = contextvars.ContextVar("work_class", default="new_lead")

REDACTED = "[redacted]"
# Never let these leave the process in a log line, whatever a caller passes in `extra`.
REDACTED_KEYS = frozenset({"access_token", "refresh_token", "client_secret", "password", "authorization",
                           "secret", "token", "code", "api_token", "id_token", "http_auth_password"})
# names whose value is a secret: as URL/form parameters, and (the unambiguous ones) as JSON keys
_HIDDEN_KEYS = r"access_token|refresh_token|client_secret|id_token|code_verifier|api_token|hapikey|password|" \
               r"http_auth_password|secret|authorization"
_HIDDEN_PARAMS = _HIDDEN_KEYS + r"|token|code|state|invite"
_VALUE_CHARS = r"[A-Za-z0-9._~+/=:-]"

# (pattern, replacement): routes that carry a secret in the path, parameters and headers that carry one, and the
# shapes of the tokens themselves (the platforms' and the sandbox's), so a token is caught wherever it is quoted.
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # our webhook URLs: Salesforce's Outbound Message URL is /webhooks/salesforce/<key>/<secret>
    (re.compile(r"(/webhooks/[A-Za-z0-9_-]+)/[^\s?#\"'<>]+"), rf"\1/{REDACTED}"),
    # web-form intake URLs: /intake/v1/<intake key>/… (public in a customer's form, still nothing a log needs)
    (re.compile(r"(/intake/v1/)[^\s/?#\"'<>]+"), rf"\1{REDACTED}"),
    # invitation links: /invitations/<single-use token>
    (re.compile(r"(/invitations/)[^\s/?#\"'<>]+"), rf"\1{REDACTED}"),
    # HubSpot token info and refresh-token deletion name the token in the path
    (re.compile(r"(/oauth/v1/(?:access|refresh)-tokens/)[^\s/?#\"'<>]+"), rf"\1{REDACTED}"),
    # query strings and form bodies: ?code=…&state=…, access_token=…, the Pipedrive panel's ?token=<JWT> …
    (re.compile(rf"(?<![A-Za-z0-9_])((?:{_HIDDEN_PARAMS})=)[^&\s\"'#<>]+", re.IGNORECASE), rf"\1{REDACTED}"),
    # JSON and Python reprs: "access_token": "…", 'client_secret': '…'
    (re.compile(rf"([\"'](?:{_HIDDEN_KEYS})[\"']\s*:\s*)([\"'])[^\"']*\2", re.IGNORECASE),
     rf"\1\2{REDACTED}\2"),
    # Authorization header values (Basic only when it looks like base64, not the word "Basic authentication")
    (re.compile(rf"\b(Bearer)\s+{_VALUE_CHARS}{{6,}}", re.IGNORECASE), rf"\1 {REDACTED}"),
    (re.compile(r"\b(Basic)\s+(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2}"), rf"\1 {REDACTED}"),
    # JWTs (the Pipedrive panel's token, id tokens)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    # HubSpot: sandbox tokens and codes (hs-at-, hs-rt-, hs-code-), private app tokens (pat-na1-…), OAuth access
    # tokens (long, base64url, starting with "C" and a capital: CN…, CJ…)
    (re.compile(r"\b(hs-(?:at|rt|code)-)[A-Za-z0-9_-]+"), rf"\1{REDACTED}"),
    (re.compile(r"\b(pat-[a-z]{2,4}\d?-)[0-9a-fA-F-]{8,}"), rf"\1{REDACTED}"),
    (re.compile(r"\bC[A-Z][A-Za-z0-9_-]{60,}"), REDACTED),
    # Salesforce: session ids <org id>!<secret>, refresh tokens 5Aep861…, authorization codes aPrx…
    (re.compile(r"\b(00D[A-Za-z0-9]{12,15}!)[A-Za-z0-9._-]+"), rf"\1{REDACTED}"),
    (re.compile(r"\b(5Aep861|aPrx)[A-Za-z0-9._%-]{8,}"), rf"\1{REDACTED}"),
    # Pipedrive access tokens v1u:…
    (re.compile(r"\b(v1u:)[A-Za-z0-9+/=_.-]+"), rf"\1{REDACTED}"),
    # Fernet ciphertexts (tokens and webhook secrets at rest): useless without the key, still not for a log
    (re.compile(r"\bgAAAAA[A-Za-z0-9_=-]{20,}"), REDACTED),
)

# LogRecord's own attributes; everything else on a record came from `extra`
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def redact(text: str) -> str:
    """`text` with every secret the patterns know replaced by [redacted]."""
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if isinstance(value, str | bytes) and key.lower() in REDACTED_KEYS:
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value("", v) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact_value("", v) for v in value)
    return value


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except (TypeError, ValueError):  # a malformed call must not raise from a filter; its pieces are still redacted
        return f"{record.msg} {record.args!r}"


class RedactingFilter(logging.Filter):
    """Redacts the message (after %-formatting), `extra` fields, exception and stack text of every record.

    Installed on handlers, so it sees third-party loggers too (urllib3 at DEBUG logs request lines with paths).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):  # python-json-logger merges a dict message into the object
            record.msg = _redact_value("", record.msg)
        else:
            record.msg, record.args = redact(_message(record)), None
        for key in set(record.__dict__) - _RECORD_ATTRS:
            record.__dict__[key] = _redact_value(key, record.__dict__[key])
        if record.exc_info:
            # Formatted here, redacted, and kept as exc_text (what every formatter prints when exc_info is unset).
            record.exc_text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (("request_id", request_id_var), ("job_id", job_id_var), ("tenant_id", tenant_id_var)):
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


def protect(handler: logging.Handler) -> logging.Handler:
    """Give `handler` the redacting filter (once); for handlers other code creates (gunicorn's)."""
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())
    return handler


def build_handler(fmt: str = "json", stream: Any = None) -> logging.Handler:
    """LeadRelay's log handler: `fmt` lines ("json" or "text") on `stream` (stderr), stamped and redacted."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"asctime": "ts", "levelname": "level"}))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s request_id=%(request_id)s job_id=%(job_id)s "
            "tenant_id=%(tenant_id)s"))
    handler.addFilter(ContextFilter())
    return protect(handler)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Install one stderr handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_leadrelay", False):
            root.removeHandler(handler)
    handler = build_handler(fmt)
    handler._leadrelay = True  # type: ignore[attr-defined]
    for other in root.handlers:  # handlers someone else put on the root (a test's capture, a library's) too
        protect(other)
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic announces its context on every revision lookup (each /healthz): keep only its warnings.
    # SQLAlchemy's engine logger, at INFO or below, echoes statements with their parameters (ciphertexts, hashes,
    # lead data): LEADRELAY_LOG_LEVEL=DEBUG is about LeadRelay, so it stays at WARNING.
    for noisy in ("alembic", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
