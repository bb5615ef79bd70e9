"""HubSpot's webhook sender: app-level subscriptions, batched JSON arrays, v3 + v1 signatures.

Payload fields: https://developers.hubspot.com/docs/faq/v1-request-validation (vendor example) and
https://developers.hubspot.com/changelog/new-subscription-types-for-webhooks (merge fields).
Signatures: https://developers.hubspot.com/docs/api/webhooks/validating-requests (v3: base64 HMAC-SHA256 of
method + uri + body + timestamp keyed with the client secret; v1: hex sha256 of secret + body).
Retries: up to 10 over 24 h (https://developers.hubspot.com/changelog/2018-12-10-updated-webhook-retry-logic);
no retry on 400/401/403/404/405 (HubSpot staff, https://community.hubspot.com/t5/APIs-Integrations/
Webhooks-response/td-p/277558). The real delays are randomized; ours are a fixed spread summing to ~24 h.
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

from sandbox.hubspot.hubstate import App, hub, installed_apps
from sandbox.hubspot.schema import TYPES
from sandbox.hubspot.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_v3
from sandbox.outbox import Delivery

if TYPE_CHECKING:
    from sandbox.context import Sandbox
    from sandbox.state import Account

RETRY_SCHEDULE = (60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 28800.0)
NO_RETRY = frozenset({400, 401, 403, 404, 405})
MAX_BATCH = 100  # events per POST (UNCONFIRMED upper bound; fact sheet §1.2)
DEFAULT_KINDS = ("creation", "deletion", "merge", "propertyChange")


class _Schedule(tuple):
    """Retry delays that end early after a status HubSpot does not retry.

    The core Outbox retries every non-2xx; it asks len(retry_schedule) right after recording an
    attempt, so answering 0 there stops the retries (a core `should_retry` hook would be cleaner).
    """

    def __new__(cls, delays: tuple[float, ...], outbox: Any, marker: str):
        obj = super().__new__(cls, delays)
        obj.outbox, obj.marker = outbox, marker
        return obj

    def __len__(self) -> int:
        for entry in reversed(self.outbox.history[-200:]):
            if self.marker in entry.get("body", ""):
                if entry.get("status") in NO_RETRY:
                    return 0
                break
        return tuple.__len__(self)


def normalize_subscriptions(sandbox: Sandbox, raw: list[Any] | None) -> list[dict[str, Any]]:
    """App subscriptions as dicts with ids; strings like "contact.propertyChange" are accepted.

    No list means "everything" for contacts/companies/deals (legacy types) and object.* for the rest.
    A propertyChange subscription without propertyName matches every property (sandbox convenience;
    HubSpot requires one subscription per property).
    """
    if raw is None:
        raw = [f"{t.singular}.{k}" if t.legacy_webhooks else {"subscriptionType": f"object.{k}",
                                                                "objectType": t.singular}
               for t in TYPES.values() for k in DEFAULT_KINDS]
    subs = []
    for item in raw:
        sub = {"subscriptionType": item} if isinstance(item, str) else dict(item)
        sub.setdefault("id", next(hub(sandbox).subscription_ids))
        subs.append(sub)
    return subs


def _matches(sub: dict[str, Any], event: dict[str, Any]) -> str | None:
    otype = TYPES[event["objectType"]]
    kind = event["kind"]
    stype = sub.get("subscriptionType", "")
    wanted = f"{otype.singular}.{kind}" if otype.legacy_webhooks else None
    if stype == wanted:
        pass
    elif stype == f"object.{kind}" and sub.get("objectType", sub.get("objectName")) in (otype.singular,
                                                                                         otype.type_id):
        pass
    else:
        return None
    if kind == "propertyChange" and sub.get("propertyName") not in (None, "*", event.get("propertyName")):
        return None
    return stype


def _payload(sandbox: Sandbox, account: Account, app: App, sub: dict, stype: str, event: dict) -> dict:
    actor = event["actor"]
    body: dict[str, Any] = {
        "eventId": next(hub(sandbox).event_ids), "subscriptionId": sub["id"], "portalId": int(account.id),
        "appId": app.app_id, "occurredAt": event["occurredAt"], "subscriptionType": stype,
        "attemptNumber": 0, "objectId": event["objectId"], "changeSource": actor.change_source}
    if actor.source_id:
        body["sourceId"] = actor.source_id
    if stype.startswith("object."):
        body["objectTypeId"] = TYPES[event["objectType"]].type_id
    if event["kind"] == "creation":
        body["changeFlag"] = "CREATED"
    elif event["kind"] == "deletion":
        body["changeFlag"] = "DELETED"
    elif event["kind"] == "propertyChange":
        body["propertyName"], body["propertyValue"] = event["propertyName"], event["propertyValue"] or ""
    elif event["kind"] == "merge":
        for key in ("primaryObjectId", "mergedObjectIds", "newObjectId", "numberOfPropertiesMoved"):
            body[key] = event[key]
    return body


def signer(app: App):
    """A Delivery.sign callable: refreshes attemptNumber and signs v3 (+ v1) just before each attempt."""
    def sign(delivery: Delivery) -> dict[str, str]:
        events = json.loads(delivery.body)
        for ev in events:
            ev["attemptNumber"] = delivery.attempt
        # the outbox posts delivery.body after calling sign, so the refreshed body is what gets signed
        delivery.body = json.dumps(events, separators=(",", ":")).encode()
        stamp = str(int(time.time() * 1000))
        return {SIGNATURE_HEADER: signature_v3(app.client_secret, "POST", delivery.url, delivery.body, stamp),
                TIMESTAMP_HEADER: stamp,
                "X-HubSpot-Signature": hashlib.sha256(app.client_secret.encode() + delivery.body).hexdigest(),
                "X-HubSpot-Signature-Version": "v1"}
    return sign


def dispatch(sandbox: Sandbox, account: Account, events: list[dict[str, Any]]) -> int:
    """Send the events to every installed app's target URL; returns the number of POSTs queued."""
    posts = 0
    for app in installed_apps(sandbox, account):
        if not app.target_url:
            continue
        bodies = [_payload(sandbox, account, app, sub, stype, ev)
                  for ev in events for sub in app.subscriptions if (stype := _matches(sub, ev))]
        for start in range(0, len(bodies), MAX_BATCH):
            chunk = bodies[start:start + MAX_BATCH]
            marker = f'"eventId":{chunk[0]["eventId"]},'
            sandbox.outbox.send(Delivery(
                platform="hubspot", account_id=account.id, url=app.target_url,
                body=json.dumps(chunk, separators=(",", ":")).encode(),
                headers={"Content-Type": "application/json",
                         "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) (sandbox)"},
                retry_schedule=_Schedule(RETRY_SCHEDULE, sandbox.outbox, marker), sign=signer(app)))
            posts += 1
    return posts
