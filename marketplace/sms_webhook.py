"""Inbound SMS: the tenant's Twilio-compatible provider posts a lead's text to
`/webhooks/sms/<tenant_id>/<inbound_key>` (the URL the Settings page shows, to paste into the number's messaging
webhook). The checks run in a fixed order, each with one status and one log event (STYLE.md rule 4); no body, number
or secret is logged. The lead is found by the From number in the replies job (dedup index), not in the request.

Twilio signs the full URL it requested plus the POST parameters sorted by name, HMAC-SHA1 with the account's auth
token, base64, in X-Twilio-Signature (https://www.twilio.com/docs/usage/security#validating-requests); its
RequestValidator checks it, with and without the default port. It expects TwiML back: an empty <Response/> sends
no reply text.
"""
from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from twilio.request_validator import RequestValidator

from integration.models import Tenant, TenantStatus, utcnow
from integration.outreach.replies import receive_inbound
from integration.records import InboundMessage
from oauth.crypto import EncryptionKeyError, TokenCipher

log = logging.getLogger("leadrelay.sms")
sms_bp = Blueprint("sms_webhook", __name__)
SIGNATURE_HEADER = "X-Twilio-Signature"
MAX_BODY_BYTES = 64 * 1024  # a text is at most 1,600 characters; Twilio adds a few dozen parameters
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _answer(status: int, event: str, tenant_id: int, level: int = logging.INFO, **extra: Any) -> Response:
    log.log(level, f"sms.webhook.{event}", extra={"tenant_id": tenant_id, "platform": "sms", **extra})
    if status == 200:
        return Response(EMPTY_TWIML, status=200, mimetype="text/xml")
    return Response(event, status=status, mimetype="text/plain")


def _sms_settings(tenant: Tenant | None, key: str) -> dict | None:
    """The tenant's SMS sender settings when `key` is its inbound key (compared in constant time), else None."""
    sms = ((tenant.settings or {}).get("senders") or {}).get("sms") if tenant is not None else None
    stored = str((sms or {}).get("inbound_key") or "")
    if not stored or not hmac.compare_digest(stored.encode(), key.encode()):
        return None
    return sms


def _auth_token(sms: dict) -> str | None:
    encrypted = sms.get("auth_token_enc")
    if not encrypted:
        return None
    try:
        return TokenCipher.from_settings().decrypt(encrypted.encode() if isinstance(encrypted, str) else encrypted)
    except EncryptionKeyError:
        return None


def _url() -> str:
    # the URL Twilio requested: behind a proxy the public one (LEADRELAY_PUBLIC_URL), as the CRM webhooks do
    public = current_app.config.get("PUBLIC_URL")
    return f"{public}{request.full_path.rstrip('?')}" if public else request.url


@sms_bp.post("/webhooks/sms/<int:tenant_id>/<inbound_key>")
def receive_sms(tenant_id: int, inbound_key: str) -> Response:
    """Verify, store once, hand to the replies job; 200 with empty TwiML."""
    tenant = g.db.get(Tenant, tenant_id)
    sms = _sms_settings(tenant, inbound_key)
    if tenant is None or sms is None or tenant.status == TenantStatus.UNINSTALLED:
        return _answer(404, "unknown-tenant", tenant_id)
    token = _auth_token(sms)
    if token is None:
        return _answer(401, "secret-not-configured", tenant_id, logging.ERROR)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        return _answer(400, "missing-signature", tenant_id)
    if (request.content_length or 0) > MAX_BODY_BYTES or request.mimetype != "application/x-www-form-urlencoded":
        return _answer(400, "unparseable", tenant_id)
    if not RequestValidator(token).validate(_url(), request.form, signature):
        return _answer(401, "invalid-signature", tenant_id)
    sid, sender = request.form.get("MessageSid", ""), request.form.get("From", "")
    if not sid or not sender or len(sid) > 64 or len(sender) > 32:
        return _answer(400, "unparseable", tenant_id)
    message = InboundMessage(id=sid, channel="sms", object_type="", record_id="", sender=sender, subject="",
                             text=request.form.get("Body", "")[:5000], received_at=utcnow())
    if not receive_inbound(g.db, tenant_id, message):
        return _answer(200, "duplicate", tenant_id)
    return _answer(200, "received", tenant_id)
