"""The project's own error classes; adapters map every SDK/transport failure to one of these."""
from __future__ import annotations

import datetime as dt


class LeadRelayError(Exception):
    """Base of the project's errors."""


class UnknownPlatform(LeadRelayError, LookupError):
    def __init__(self, platform: str) -> None:
        super().__init__(f"unknown platform {platform!r}")
        self.platform = platform


class CRMError(LeadRelayError):
    """A CRM call failed; subclasses say how a job must react."""


class CRMAuthError(CRMError):
    """401: refresh the token once, then mark the installation as needing re-auth."""


class ReauthRequired(CRMAuthError):
    """The refresh token no longer works: the admin must reconnect. Processing pauses; nothing is lost."""

    def __init__(self, tenant_id: int, reason: str) -> None:
        super().__init__(f"tenant {tenant_id} must reconnect: {reason}")
        self.tenant_id = tenant_id
        self.reason = reason


class CRMRateLimited(CRMError):
    """429 / limit exceeded: wait `retry_after` seconds, then retry."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CRMBudgetExhausted(CRMRateLimited):
    """An allowance that resets at a fixed time (a daily API budget) is used up: the CRM refuses every call until
    `until`. Work is put off until then, with this message as the reason, and never retried sooner."""

    def __init__(self, message: str, until: dt.datetime, bucket: str = "daily") -> None:
        wait = (until - dt.datetime.now(dt.UTC)).total_seconds()
        super().__init__(f"{message} until {until:%Y-%m-%d %H:%M} UTC", retry_after=max(1.0, wait))
        self.until, self.bucket = until, bucket


class CRMTransient(CRMError):
    """5xx, timeouts, connection resets: retry with backoff."""


class CRMConflict(CRMError):
    """409: the record changed under us."""


class CRMValidationError(CRMError):
    """Other 4xx: the CRM refused the data; goes to the review queue with the CRM's message."""


class CRMNotFound(CRMError):
    """The record is gone (deleted or merged away): expected absence, log and return."""


class PayloadError(LeadRelayError, ValueError):
    """A webhook payload is malformed: `path` names the field (answered 400)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class UnsupportedEvent(LeadRelayError):
    """A webhook event LeadRelay does not know (logged at warning and acknowledged)."""

    def __init__(self, platform: str, name: str) -> None:
        super().__init__(f"{platform} event {name!r} is not supported")
        self.platform = platform
        self.name = name
