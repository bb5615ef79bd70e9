"""Webhooks v2: subscriptions (/api/v1/webhooks) and the sender.

Format and policy from https://pipedrive.readme.io/docs/guide-for-webhooks-v2 :
* POST with JSON {"meta": {...}, "data": current|null, "previous": changed-fields|null}; authentication is only
  the subscription's HTTP Basic credentials (no signature), sent with every request, not after a 401 challenge
  ("Webhooks service will send these Basic Authentication credentials in the header of every HTTP request",
  https://pipedrive.readme.io/docs/guide-for-webhooks); a subscription without them sends no Authorization;
* non-2xx or >10 s is a failure; 3 retries after 3, 30 and 150 s; `meta.attempt` = 1 + retries so far;
* ban system: each failed *first* attempt raises a ban counter; at 10 the webhook is banned for 30 minutes and
  its events are lost; then the counter resets. (Deletion after 3 days without success is not emulated.)
* a merge is a `delete` of the loser (meta.merged_to_id) plus a `change` of the survivor (meta.merged_from_id),
  https://pipedrive.readme.io/docs/webhooks-v2-migration-guide
"""
from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from sandbox.context import Sandbox
from sandbox.outbox import Delivery
from sandbox.pipedrive.core import NAME, company_domain, company_id, iso, iso_ms, users
from sandbox.state import Account

RETRY_SCHEDULE = (3.0, 30.0, 150.0)
BAN_THRESHOLD, BAN_SECONDS = 10, 30 * 60
ACTIONS, OBJECTS = ("create", "change", "delete", "*"), (
    "activity", "deal", "lead", "note", "organization", "person", "pipeline", "product", "stage", "user", "*")
MAX_PER_USER = 40


def subscriptions(account: Account) -> dict[str, dict[str, Any]]:
    return account.extra.setdefault("webhooks", {})


def public_view(hook: dict[str, Any]) -> dict[str, Any]:
    """A subscription as GET/POST /v1/webhooks return it (internal ban state left out)."""
    return {k: v for k, v in hook.items() if not k.startswith("_")}


def new_subscription(account: Account, body: dict[str, Any], owner_id: int, client_id: str,
                     hook_id: int) -> dict[str, Any]:
    """Build a subscription record; caller validated the body and holds store.lock."""
    return {
        "id": hook_id, "company_id": company_id(account), "owner_id": owner_id,
        "user_id": int(body.get("user_id") or owner_id), "event_action": body["event_action"],
        "event_object": body["event_object"], "subscription_url": body["subscription_url"],
        "version": str(body.get("version") or "2.0"), "is_active": 1, "add_time": iso(), "remove_time": None,
        # webhooks made by a Marketplace app are type "application" (https://pipedrive.readme.io/docs/webhooks-for-apps)
        "type": "application" if client_id else "general",
        "http_auth_user": body.get("http_auth_user"), "http_auth_password": body.get("http_auth_password"),
        "name": body.get("name"), "remove_reason": None, "last_delivery_time": None, "last_http_status": None,
        "admin_id": owner_id, "_client_id": client_id, "_ban_count": 0, "_banned_until": 0.0,
    }


def _matches(hook: dict[str, Any], action: str, entity: str) -> bool:
    return (hook["event_action"] in ("*", action) and hook["event_object"] in ("*", entity)
            and hook.get("is_active") and hook.get("version") == "2.0")


def emit(sandbox: Sandbox, account: Account, entity: str, action: str, entity_id: Any,
         data: dict[str, Any] | None, previous: dict[str, Any] | None, user_id: int, change_source: str,
         extra_meta: dict[str, Any] | None = None) -> int:
    """Queue one event to every matching, non-banned subscription; returns how many were queued."""
    now = time.time()
    correlation_id = str(uuid.uuid4())
    with sandbox.store.lock:
        hooks = [h for h in subscriptions(account).values() if _matches(h, action, entity)]
        permitted = [str(u["id"]) for u in users(account) if u.get("active_flag")]
        host = f"{company_domain(account)}.pipedrive.com"
        queued = 0
        for hook in hooks:
            if hook["_banned_until"] > now:
                continue  # banned webhooks lose their events
            meta = {
                "action": action, "entity": entity, "company_id": str(company_id(account)),
                "correlation_id": correlation_id, "entity_id": str(entity_id), "id": str(uuid.uuid4()),
                "is_bulk_edit": False, "timestamp": iso_ms(now), "type": hook["type"], "user_id": str(user_id),
                "version": "2.0", "webhook_id": str(hook["id"]), "webhook_owner_id": str(hook["owner_id"]),
                "change_source": change_source, "attempt": 1, "host": host, "permitted_user_ids": permitted,
                **(extra_meta or {}),
            }
            payload = {"meta": meta, "data": data, "previous": previous}
            sandbox.outbox.send(_delivery(sandbox, account, hook, payload))
            queued += 1
    return queued


def _delivery(sandbox: Sandbox, account: Account, hook: dict[str, Any], payload: dict[str, Any]) -> Delivery:
    headers = {"Content-Type": "application/json", "User-Agent": "Pipedrive Webhooks"}
    if hook.get("http_auth_user") is not None:
        raw = f"{hook['http_auth_user']}:{hook.get('http_auth_password') or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()

    def before_attempt(delivery: Delivery) -> dict[str, str]:
        # The outbox calls this right before each POST and reads delivery.body afterwards, so the body can be
        # re-rendered with the current meta.attempt. attempt 1 here means the first try just failed.
        if delivery.attempt == 1:
            _count_failure(sandbox, account, hook["id"])
        payload["meta"]["attempt"] = delivery.attempt + 1
        delivery.body = json.dumps(payload).encode()
        return {}

    return Delivery(platform=NAME, account_id=account.id, url=hook["subscription_url"],
                    body=json.dumps(payload).encode(), headers=headers, retry_schedule=RETRY_SCHEDULE,
                    sign=before_attempt)


def _count_failure(sandbox: Sandbox, account: Account, hook_id: int) -> None:
    with sandbox.store.lock:
        hook = subscriptions(account).get(str(hook_id))
        if hook is None:
            return
        hook["_ban_count"] += 1
        if hook["_ban_count"] >= BAN_THRESHOLD:
            hook["_banned_until"] = time.time() + BAN_SECONDS * sandbox.config.webhook_retry_scale
            hook["_ban_count"] = 0


def remove_app_hooks(account: Account, client_id: str) -> None:
    """Uninstall removes every webhook the app created (https://pipedrive.readme.io/docs/webhooks-for-apps)."""
    hooks = subscriptions(account)
    for key in [k for k, h in hooks.items() if h.get("_client_id") == client_id]:
        del hooks[key]
