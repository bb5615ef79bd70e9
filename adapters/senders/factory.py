"""Build a tenant's sender for a channel from its settings (or the operator's default SMTP server)."""
from __future__ import annotations

import urllib.parse
from email.utils import parseaddr

from adapters.senders.settings import senders_of, sms_auth_token, smtp_password
from adapters.senders.sms import TwilioSmsSender
from adapters.senders.smtp import SmtpSender
from integration.config import get_settings
from integration.db import session_scope
from integration.models import Tenant
from integration.outreach.senders import Sender, SenderNotConfigured, set_sender_factory


def default_smtp(url: str | None) -> SmtpSender | None:
    """The operator's SMTP server from LEADRELAY_SMTP_URL (its shape is checked by integration.config)."""
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
    security = query.get("security") or ("tls" if parts.scheme == "smtps" else "starttls")
    name, address = parseaddr(query.get("from", ""))
    sender = SmtpSender(parts.hostname or "", parts.port or (465 if security == "tls" else 587), security=security,
                        username=urllib.parse.unquote(parts.username) if parts.username else None,
                        password=urllib.parse.unquote(parts.password) if parts.password else None,
                        from_address=address, from_name=name or None)
    if query.get("daily_limit", "").isdigit():
        sender.DAILY_LIMIT = int(query["daily_limit"])  # type: ignore[misc]  # the operator's plan, when they say it
    return sender


def build_sender(tenant_id: int, channel: str) -> Sender:
    with session_scope(get_settings().database_url) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise SenderNotConfigured(f"no tenant {tenant_id}")
        senders = senders_of(tenant)
        if channel == "email":
            smtp = senders.get("smtp")
            if smtp:
                return SmtpSender(smtp["host"], smtp["port"], security=smtp["security"], username=smtp.get("username"),
                                  password=smtp_password(tenant), from_address=smtp["from_address"],
                                  from_name=smtp.get("from_name"))
            fallback = default_smtp(get_settings().smtp_url)
            if fallback is None:
                raise SenderNotConfigured("no SMTP server: enter one under Settings → Senders (or the operator sets "
                                          "LEADRELAY_SMTP_URL)")
            return fallback
        if channel == "sms":
            sms = senders.get("sms")
            if not sms:
                raise SenderNotConfigured("no SMS provider: enter the Twilio account SID, auth token and From number "
                                          "under Settings → Senders")
            return TwilioSmsSender(sms["account_sid"], sms_auth_token(tenant) or "", sms["from_number"],
                                   api_base=sms.get("api_base") or "https://api.twilio.com")
        raise SenderNotConfigured(f"no sender for the channel {channel!r} (email or sms)")


def wire() -> None:
    """Make build_sender the domain's sender factory (worker.py and app.py call this at start)."""
    set_sender_factory(build_sender)
