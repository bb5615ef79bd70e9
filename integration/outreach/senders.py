"""The senders port: how the domain hands a message to the tenant's SMTP server or SMS provider.

The outer layer (adapters/senders) builds a tenant's senders from its settings, decrypting their secrets, and
plugs the factory in at process start (`set_sender_factory`), as adapters are plugged in (integration.crm.wiring).
A sender answers once the server or provider *accepted* the message (SMTP 250, the provider's 201): that moment is
what "time to first response (automated)" measures.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol


@dataclass(frozen=True)
class Outgoing:
    """One message to one lead."""

    channel: str  # "email" | "sms"
    to: str  # email address, or E.164 number
    subject: str  # email only ("" for SMS)
    body: str  # plain text
    reply_to: str | None = None  # email: where the lead's reply goes (the owner)
    from_name: str | None = None  # email: the display name (the owner's, or the tenant's)
    key: str = ""  # LeadRelay's idempotency key: an email's Message-ID is derived from it, so a resend is one mail


@dataclass(frozen=True)
class Accepted:
    provider_id: str  # the SMTP Message-ID, the provider's message SID
    accepted_at: dt.datetime
    sender: str  # the From address or number it went out as


class SendRefused(Exception):
    """The server or provider refused this message for good (a mailbox that does not exist, a number that opted out
    with the provider, a number that can't receive texts): never retried; `reason` is a short machine word
    (`opted_out`, `invalid_recipient`, `rejected`) and the message says what the provider said."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class SendFailed(Exception):
    """The server or provider could not take the message now (connection refused, 4xx SMTP, 429/5xx): retried."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SenderNotConfigured(Exception):
    """The tenant has no sender for the channel: the settings page says what to enter."""


class Sender(Protocol):
    CHANNEL: ClassVar[str]  # "email" | "sms"
    DAILY_LIMIT: ClassVar[int | None]  # the provider's own daily allowance, where one is known (else None)

    def send(self, message: Outgoing) -> Accepted:
        """Hand the message over; Accepted once taken, SendRefused / SendFailed otherwise."""


SenderFactory = Callable[[int, str], Sender]  # (tenant id, channel) → the tenant's sender for it
_factory: SenderFactory | None = None


def set_sender_factory(factory: SenderFactory | None) -> SenderFactory | None:
    """Plug in the factory `sender_for` uses; returns the one it replaces (a test puts it back)."""
    global _factory
    replaced, _factory = _factory, factory
    return replaced


def sender_for(tenant_id: int, channel: str) -> Sender:
    """The tenant's sender for `channel`; SenderNotConfigured when it has none."""
    if _factory is None:
        raise SenderNotConfigured("no sender factory: adapters.senders.wire() plugs it in at process start")
    return _factory(tenant_id, channel)
