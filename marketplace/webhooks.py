"""Webhook endpoints: one fixed sequence of checks (STYLE.md rule 4), each with one status and one log event."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import select

from adapters.registry import get_webhook_parser
from integration.config import get_settings
from integration.crm.echo import RedisWriteLog
from integration.errors import PayloadError, UnknownPlatform
from integration.intake.events import enqueue_drain, record_events
from integration.models import Tenant, TenantStatus, WebhookKey
from integration.protocols import ParsedDelivery
from integration.queues import redis_connection
from integration.records import Event
from marketplace.params import json_too_deep

log = logging.getLogger("leadrelay.webhooks")
webhooks_bp = Blueprint("webhooks", __name__)
MAX_BODY_BYTES = 1024 * 1024  # HubSpot batches at most 100 events; nothing legitimate comes near this


@dataclass
class RawRequest:
    """The WebhookRequest the parsers see: the exact bytes and URL the platform signed."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def _raw_request() -> RawRequest:
    public = current_app.config.get("PUBLIC_URL")
    url = f"{public}{request.full_path.rstrip('?')}" if public else request.url
    return RawRequest(method=request.method, url=url, headers=dict(request.headers),
                      body=request.get_data(cache=True, as_text=False))


def _event_log(name: str, platform: str, level: int = logging.INFO, **extra: Any) -> None:
    log.log(level, f"{platform}.webhook.{name}", extra={"platform": platform, **extra})


def _reject(platform: str, name: str, status: int, level: int = logging.INFO):
    _event_log(name, platform, level)
    return jsonify({"error": name}), status


@webhooks_bp.post("/webhooks/<platform>")
@webhooks_bp.post("/webhooks/<platform>/<path:_rest>")
def receive(platform: str, _rest: str = ""):
    try:
        parser = get_webhook_parser(platform)
    except UnknownPlatform:
        return _reject(platform, "unknown-platform", 404)
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return _reject(platform, "too-large", 413, logging.WARNING)
    raw = _raw_request()
    key_tenant, failure = _authenticate(platform, parser, raw)
    if failure is not None:
        return failure
    try:
        delivery = _parse(parser, raw)
    except PayloadError as exc:
        _event_log("unparseable", platform, logging.WARNING, path=exc.path)
        return jsonify({"error": "unparseable", "path": exc.path, "problem": exc.problem}), 400
    for name in delivery.unsupported:
        _event_log("unsupported-event", platform, logging.WARNING, event=name, reason=delivery.notes.get(name, ""))
    for path, problem in delivery.unreadable:
        _event_log("unreadable-event", platform, logging.WARNING, path=path, problem=problem)
    stored = _store(platform, delivery, key_tenant)
    status, body, content_type = parser.acknowledge(delivery)
    _event_log("accepted", platform, events=len(delivery.events), stored=stored, ignored=len(delivery.ignored))
    return Response(body, status=status, content_type=content_type)


def _authenticate(platform: str, parser, raw: RawRequest) -> tuple[TenantView | None, Any]:
    """(tenant found by its webhook key, or None for app-scoped secrets; a failure response or None)."""
    if parser.SECRET_SCOPE == "app":  # noqa: S105 - a scope name, not a secret
        secret = get_settings().crm(platform).client_secret
        if not secret:
            return None, _reject(platform, "secret-not-configured", 401, logging.ERROR)
        if missing := parser.missing_signature(raw):
            return None, _reject(platform, f"missing-{missing.lower()}", 400)
        if not parser.verify(raw, secret, dt.datetime.now(dt.UTC)):
            return None, _reject(platform, "invalid-signature", 401)
        return None, None
    challenge = getattr(parser, "AUTH_CHALLENGE", None)
    if missing := parser.missing_signature(raw):
        if challenge:
            # an HTTP Basic sender learns it must send credentials only from a 401 with a challenge (RFC 7617)
            return None, _challenge(platform, f"missing-{missing.lower()}", challenge)
        return None, _reject(platform, f"missing-{missing.lower()}", 400)
    tenant = _tenant_by_key(platform, parser.credentials(raw))
    if tenant is None:
        # every 401 names its scheme (RFC 9110 §15.5.2): wrong Basic credentials are challenged like missing ones
        return None, (_challenge(platform, "invalid-signature", challenge) if challenge
                      else _reject(platform, "invalid-signature", 401))
    return tenant, None


def _challenge(platform: str, name: str, challenge: str):
    body, status = _reject(platform, name, 401)
    return body, status, {"WWW-Authenticate": challenge}


# What a webhook key can look like (ours are secrets.token_urlsafe(12)); anything else is refused unread, so a
# NUL or a megabyte never reaches the database.
_KEY_SHAPE = re.compile(r"[!-~]{1,64}")
_NO_KEY = hashlib.sha256(b"no such key").hexdigest()


def _tenant_by_key(platform: str, presented: tuple[str, str] | None) -> TenantView | None:
    """The tenant these webhook credentials belong to, on this platform only.

    Credentials are bound to their platform: a Salesforce tenant's key and secret presented to the Pipedrive
    endpoint find nothing, exactly like a wrong password. The secret's hash is compared in constant time whether
    or not the key exists.
    """
    key, secret = presented or ("", "")
    row = None
    if _KEY_SHAPE.fullmatch(key):
        row = g.db.execute(select(WebhookKey.secret_hash, Tenant).join(Tenant, Tenant.id == WebhookKey.tenant_id)
                           .where(WebhookKey.key == key, Tenant.platform == platform)).first()
    digest = hashlib.sha256(secret.encode(errors="replace")).hexdigest()
    matches = hmac.compare_digest(row.secret_hash if row is not None else _NO_KEY, digest)
    return TenantView.of(row.Tenant) if row is not None and matches else None


# Our payloads nest 3-4 levels (Pipedrive's custom fields the deepest); Python's json raises RecursionError
# somewhere near 1,000.
MAX_JSON_DEPTH = 32


def _parse(parser, raw: RawRequest) -> ParsedDelivery:
    """parser.parse, after refusing JSON nested deeper than MAX_JSON_DEPTH (counted on the raw bytes)."""
    if parser.BODY_FORMAT == "json" and json_too_deep(raw.body, MAX_JSON_DEPTH):
        raise PayloadError("$", f"nested deeper than {MAX_JSON_DEPTH} levels")
    return parser.parse(raw)


def _store(platform: str, delivery: ParsedDelivery, key_tenant: TenantView | None) -> int:
    """Store each event for its tenant (dropping unknown/uninstalled tenants and our own echoes); enqueue."""
    by_tenant: dict[int, list[Event]] = {}
    tenants: dict[int, TenantView] = {}
    for event in delivery.events:
        tenant = _event_tenant(platform, event, key_tenant)
        if tenant is None:
            continue
        if _is_echo(tenant, event):
            _event_log("own-write-echo", platform, tenant_id=tenant.id)
            continue
        tenants[tenant.id] = tenant
        by_tenant.setdefault(tenant.id, []).append(event)
    stored = 0
    for tenant_id, events in by_tenant.items():
        new = record_events(g.db, tenant_id, events, RedisWriteLog(_redis(), tenant_id))
        g.db.commit()
        stored += new
        if new and tenants[tenant_id].status == TenantStatus.ACTIVE:
            enqueue_drain(tenant_id, redis=_redis())  # a paused tenant's events wait in the log until it reconnects
    return stored


def _event_tenant(platform: str, event: Event, key_tenant: TenantView | None) -> TenantView | None:
    """The installed tenant the event belongs to, or None (logged): the key's tenant must be the event's account."""
    if key_tenant is not None and event.account_id != key_tenant.external_id:
        # right key, another CRM account (an org id or company id that is not the key's): someone holding one
        # tenant's webhook credentials is posting another account's events
        _event_log("account-mismatch", platform, logging.WARNING, tenant_id=key_tenant.id, account=event.account_id)
        return None
    tenant = key_tenant or _tenant_for(platform, event.account_id)
    if tenant is None or tenant.status == TenantStatus.UNINSTALLED:
        _event_log("missing-installation", platform, account=event.account_id)
        return None
    return tenant


@dataclass(frozen=True)
class TenantView:
    """What the webhook path needs of a tenant, detached from any session (so it can be cached)."""

    id: int
    status: str
    external_id: str
    integration_user_id: str

    @classmethod
    def of(cls, tenant: Tenant | None) -> TenantView | None:
        if tenant is None:
            return None
        return cls(tenant.id, tenant.status, tenant.external_id,
                   str((tenant.settings or {}).get("integration_user_id") or ""))


# Every delivery names its portal: the lookup is cached per process for a moment (the hot path of a burst). An
# uninstall is seen within TENANT_TTL_S; an event stored meanwhile waits, unprocessed, like a paused tenant's.
TENANT_TTL_S = 2.0


def _tenant_for(platform: str, account_id: str) -> TenantView | None:
    cache = current_app.extensions.setdefault("leadrelay.webhook-tenants", {})
    key, now = (platform, str(account_id)), time.monotonic()
    cached = cache.get(key)
    if cached is None or cached[0] < now:
        tenant = g.db.scalar(select(Tenant).where(Tenant.platform == platform, Tenant.external_id == key[1]))
        cached = cache[key] = (now + TENANT_TTL_S, TenantView.of(tenant))
    return cached[1]


def _redis():
    return redis_connection(current_app.config["LEADRELAY_SETTINGS"])


def _is_echo(tenant: TenantView, event: Event) -> bool:
    integration_user = tenant.integration_user_id
    app_signal = event.source_is_app or bool(integration_user and integration_user in event.source.split(":"))
    if not app_signal:
        return False
    return RedisWriteLog(_redis(), tenant.id).is_echo(event, app_signal=True)
