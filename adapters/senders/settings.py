"""A tenant's senders as kept in `tenant.settings["senders"]`, secrets encrypted as OAuth tokens are (oauth.crypto).

{"smtp": {"host", "port", "security", "username", "password_enc", "from_address", "from_name"},
 "sms": {"account_sid", "auth_token_enc", "from_number", "api_base", "inbound_key"}}
"""
from __future__ import annotations

import ipaddress
import re
import secrets
import urllib.parse
from typing import Any

from sqlalchemy.orm import Session

from adapters.senders.sms import DEFAULT_API_BASE
from adapters.senders.smtp import SECURITIES
from integration.models import Tenant
from oauth.crypto import TokenCipher

SETTING = "senders"
CHANNELS = {"email": "smtp", "sms": "sms", "smtp": "smtp"}
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?)*\.?$")
_EMAIL = re.compile(r"^[^@\s<>\"(),;:]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*"
                    r"[A-Za-z0-9])?)+$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")  # ITU-T E.164: "+", country code, at most 15 digits
_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")  # Twilio's account SIDs: "AC" + 32 hex digits


def senders_of(tenant: Tenant) -> dict[str, Any]:
    return dict((tenant.settings or {}).get(SETTING) or {})


def _clean(value: object, limit: int = 320) -> str:
    text = str(value or "").strip()
    if len(text) > limit or any(ord(c) < 32 for c in text):
        raise ValueError(f"{text[:40]!r}… is too long or holds control characters")
    return text


def check_host(host: str) -> str:
    host = _clean(host, 253)
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if not _HOST.match(host):
        raise ValueError(f"SMTP host: {host!r} is not a host name or IP address (e.g. smtp.example.com)")
    return host


def check_port(port: object) -> int:
    try:
        value = int(str(port).strip())
    except ValueError:
        raise ValueError(f"SMTP port: a whole number from 1 to 65535 (587 STARTTLS, 465 TLS), got {port!r}") from None
    if not 1 <= value <= 65535:
        raise ValueError(f"SMTP port: a whole number from 1 to 65535, got {value}")
    return value


def check_email(address: str, what: str = "From address") -> str:
    address = _clean(address)
    if not _EMAIL.match(address):
        raise ValueError(f"{what}: {address!r} is not an email address (e.g. sales@example.com)")
    return address


def check_e164(number: str, what: str = "From number") -> str:
    number = re.sub(r"[\s().-]", "", _clean(number, 40))
    if not E164.match(number):
        raise ValueError(f"{what}: an E.164 number, + then the country code and number, e.g. +14155550123; got "
                         f"{number!r}")
    return number


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api_base(api_base: str | None) -> str:
    """https only: the auth token goes in every request's Basic header. Plain http only for loopback (the sandbox)."""
    raw = _clean(api_base or DEFAULT_API_BASE, 200).rstrip("/")
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme == "https" and parts.hostname and not parts.query and not parts.fragment:
        return raw
    if parts.scheme == "http" and is_loopback(parts.hostname) and not parts.query:
        return raw
    raise ValueError(f"API base: an https:// URL such as {DEFAULT_API_BASE} (http:// only for this machine), got "
                     f"{raw!r}")


def save_smtp(session: Session, tenant_id: int, *, host: str, port: int | str, security: str, username: str | None,
              password: str | None, from_address: str, from_name: str | None) -> dict[str, Any]:
    """Validate and keep the tenant's SMTP server; `password` None (or "") keeps the stored one. ValueError naming
    what is wrong; returns the masked summary."""
    tenant = _tenant(session, tenant_id)
    if security not in SECURITIES:
        raise ValueError(f"SMTP security: one of {', '.join(SECURITIES)}")
    username = _clean(username) or None
    stored = senders_of(tenant).get("smtp") or {}
    if password:
        password_enc: str | None = TokenCipher.from_settings().encrypt(password).decode()
    else:
        password_enc = stored.get("password_enc") if username else None
    if username and not password_enc:
        raise ValueError("SMTP password: the server needs one with a username")
    smtp = {"host": check_host(host), "port": check_port(port), "security": security, "username": username,
            "password_enc": password_enc, "from_address": check_email(from_address),
            "from_name": _clean(from_name, 100) or None}
    _store(session, tenant, "smtp", smtp)
    return sender_summary(tenant)


def save_sms(session: Session, tenant_id: int, *, account_sid: str, auth_token: str | None, from_number: str,
             api_base: str | None = None) -> dict[str, Any]:
    """Validate and keep the tenant's Twilio account; `auth_token` None (or "") keeps the stored one. The inbound
    key (the secret part of the inbound webhook URL) is made the first time and kept after."""
    tenant = _tenant(session, tenant_id)
    sid = _clean(account_sid, 64)
    if not _SID.match(sid):
        raise ValueError("Account SID: AC followed by 32 letters and digits, as on the Twilio console's dashboard")
    stored = senders_of(tenant).get("sms") or {}
    if auth_token:
        token = _clean(auth_token, 128)
        token_enc = TokenCipher.from_settings().encrypt(token).decode()
    elif stored.get("auth_token_enc") and stored.get("account_sid") == sid:
        token_enc = stored["auth_token_enc"]
    else:
        raise ValueError("Auth token: required (a new account SID needs its own token)")
    sms = {"account_sid": sid, "auth_token_enc": token_enc, "from_number": check_e164(from_number),
           "api_base": check_api_base(api_base), "inbound_key": stored.get("inbound_key") or secrets.token_urlsafe(24)}
    _store(session, tenant, "sms", sms)
    return sender_summary(tenant)


def clear_sender(session: Session, tenant_id: int, channel: str) -> bool:
    """Forget the tenant's sender for `channel` ("email"/"smtp" or "sms"); whether there was one."""
    key = CHANNELS.get(channel)
    if key is None:
        raise ValueError(f"unknown channel {channel!r}: email or sms")
    tenant = Tenant.merge_settings(session, tenant_id, {})
    if tenant is None:
        raise ValueError(f"no tenant {tenant_id}")
    current = senders_of(tenant)
    had = current.pop(key, None) is not None
    tenant.settings = {**(tenant.settings or {}), SETTING: current}
    session.flush()
    return had


def sender_summary(tenant: Tenant) -> dict[str, Any]:
    """What the settings page shows: every field but the secrets, which are only said to be set."""
    senders = senders_of(tenant)
    out: dict[str, Any] = {"smtp": None, "sms": None}
    if smtp := senders.get("smtp"):
        out["smtp"] = {k: smtp.get(k) for k in ("host", "port", "security", "username", "from_address", "from_name")}
        out["smtp"]["password_set"] = bool(smtp.get("password_enc"))
    if sms := senders.get("sms"):
        sid = str(sms.get("account_sid") or "")
        out["sms"] = {"account_sid": sid, "from_number": sms.get("from_number"), "api_base": sms.get("api_base"),
                      "auth_token_set": bool(sms.get("auth_token_enc"))}
    return out


def sms_inbound_key(tenant: Tenant) -> str | None:
    """The secret part of the tenant's inbound SMS webhook URL (/webhooks/sms/<tenant_id>/<key>); None without SMS.
    Kept out of sender_summary: whoever has it can post texts as if from Twilio, but for the signature check."""
    return (senders_of(tenant).get("sms") or {}).get("inbound_key")


def sms_auth_token(tenant: Tenant) -> str | None:
    """The tenant's Twilio auth token in clear (the inbound webhook checks X-Twilio-Signature with it); None when
    the tenant has no SMS sender."""
    enc = (senders_of(tenant).get("sms") or {}).get("auth_token_enc")
    return TokenCipher.from_settings().decrypt(enc.encode()) if enc else None


def smtp_password(tenant: Tenant) -> str | None:
    enc = (senders_of(tenant).get("smtp") or {}).get("password_enc")
    return TokenCipher.from_settings().decrypt(enc.encode()) if enc else None


def _tenant(session: Session, tenant_id: int) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise ValueError(f"no tenant {tenant_id}")
    return tenant


def _store(session: Session, tenant: Tenant, key: str, value: dict[str, Any]) -> None:
    # re-read under the write lock: another sender saved at once must not be dropped by this one's stale copy
    locked = Tenant.merge_settings(session, tenant.id, {})
    assert locked is not None
    locked.settings = {**(locked.settings or {}), SETTING: {**senders_of(locked), key: value}}
    session.flush()
