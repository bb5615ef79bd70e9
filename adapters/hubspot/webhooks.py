"""HubSpot webhooks: v3 signature check and the batched JSON-array payload -> neutral Events.

Signature v3: https://developers.hubspot.com/docs/api/webhooks/validating-requests (base64 HMAC-SHA256 of
method + URI + body + timestamp keyed with the app's client secret; reject timestamps older than 5 min).
Payload fields: https://developers.hubspot.com/docs/api/webhooks (eventId, subscriptionId, portalId, appId,
occurredAt, subscriptionType, attemptNumber, objectId, changeSource, sourceId, propertyName/Value,
objectTypeId for generic object.* subscriptions; primaryObjectId/mergedObjectIds/newObjectId for merges:
https://developers.hubspot.com/changelog/new-subscription-types-for-webhooks). Older payloads, as the legacy webhooks
docs show them (https://legacydocs.hubspot.com/docs/methods/webhooks/webhooks-overview), name the type `eventType`:
both are read.

Since HubSpot's merge update (developer changelog "Updated merge functionality for contacts and companies", and
"Announcement: Deals now support merging") a merge makes a NEW record: the event's newObjectId is the record that
lives on, and primaryObjectId and every mergedObjectIds entry are gone (both point at the new one).

One item LeadRelay cannot read (a missing or malformed field) or does not know (an unknown type) is set aside with
its reason and the rest of the batch is kept: refusing the whole POST would make HubSpot retry every event of it
for a day. Only a body that is not a JSON array of objects is a PayloadError (400).
"""
from __future__ import annotations

import datetime as dt
import hmac
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import unquote

from hubspot.utils.signature import Signature

from adapters.hubspot.fields import OBJECT_TYPE_IDS, OBJECTS, neutral_field
from adapters.payloads import load_json
from integration.config import get_settings
from integration.errors import PayloadError
from integration.protocols import ParsedDelivery, WebhookRequest
from integration.records import Event, EventKind, ObjectType

C, CO, D, T = ObjectType.CONTACT, ObjectType.COMPANY, ObjectType.DEAL, ObjectType.TASK
_ACTIONS = {"creation": EventKind.CREATED, "propertyChange": EventKind.UPDATED, "deletion": EventKind.DELETED,
            "merge": EventKind.MERGED}
# What a field may hold before it reaches storage (ids are BIGINT or short text; times within this century): a
# value past these is a PayloadError, not an overflow in datetime or the database.
MAX_ID, MAX_TEXT = 2**63 - 1, 256
EARLIEST_MS, LATEST_MS = 946_684_800_000, 4_102_444_800_000  # 2000-01-01 .. 2100-01-01 UTC
_PRINTABLE_ID = re.compile(r"[!-~]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class HubSpotWebhooks:
    PLATFORM: ClassVar[str] = "hubspot"
    SECRET_SCOPE: ClassVar[str] = "app"  # signed with the app's client secret, one for every portal
    BODY_FORMAT: ClassVar[str] = "json"
    SIGNATURE_HEADER: ClassVar[str] = "X-HubSpot-Signature-v3"
    TIMESTAMP_HEADER: ClassVar[str] = "X-HubSpot-Request-Timestamp"
    MAX_AGE: ClassVar[dt.timedelta] = dt.timedelta(minutes=5)
    # Legacy subscription types by name; generic ones as "object.<action>:<objectType>" (subscriptionType
    # + the objectTypeId's name), as a project's webhooks-hsmeta.json declares them (crmObjects).
    # Restore events are left out: the sandbox does not send them and no vendor sample exists to pin them.
    EVENT_KINDS: ClassVar[Mapping[str, tuple[str, str]]] = {
        **{f"{prefix}.{action}": (otype, kind) for prefix, otype in (("contact", C), ("company", CO), ("deal", D))
           for action, kind in _ACTIONS.items()},
        **{f"object.{action}:task": (T, kind) for action, kind in _ACTIONS.items() if action != "merge"},
    }
    # association changes and logged activities: nothing to route (SLA checks read activities on time)
    IGNORED_EVENTS: ClassVar[frozenset[str]] = frozenset(
        [f"{p}.associationChange" for p in ("contact", "company", "deal")]
        + [f"object.{action}:{obj}" for action in ("creation", "propertyChange", "deletion", "associationChange")
           for obj in ("call", "email", "meeting", "note")])
    SUPPORTED_EVENTS: ClassVar[tuple[str, ...]] = tuple(EVENT_KINDS)

    # checks --------------------------------------------------------------------------------
    def missing_signature(self, request: WebhookRequest) -> str | None:
        for name in (self.SIGNATURE_HEADER, self.TIMESTAMP_HEADER):
            if not _header(request.headers, name):
                return name
        return None

    def verify(self, request: WebhookRequest, secret: str, now: dt.datetime) -> bool:
        signature = _header(request.headers, self.SIGNATURE_HEADER) or ""
        stamp = _header(request.headers, self.TIMESTAMP_HEADER) or ""
        # ASCII digits within this century: "²".isdigit() is true, and 10**20 ms overflows datetime
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 13) or not secret \
                or not EARLIEST_MS <= int(stamp) < LATEST_MS:
            return False
        sent = dt.datetime.fromtimestamp(int(stamp) / 1000, dt.UTC)
        if abs(now - sent) > self.MAX_AGE:
            return False
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        # HubSpot signs the URI with some characters URL-decoded (the docs' list); accept either form. Compared as
        # bytes: compare_digest refuses str with non-ASCII characters, and the header is whatever was sent.
        return any(hmac.compare_digest(Signature.get_signature(secret, body, "v3", url, request.method.upper(),
                                                               stamp).encode(), signature.encode())
                   for url in dict.fromkeys((request.url, _decoded(request.url))))

    def credentials(self, request: WebhookRequest) -> tuple[str, str] | None:
        return None  # app-scoped: no per-tenant credentials

    def acknowledge(self, delivery: ParsedDelivery) -> tuple[int, str, str]:
        return 200, "", "text/plain"

    # parsing -------------------------------------------------------------------------------
    def parse(self, request: WebhookRequest) -> ParsedDelivery:
        items = _json_array(request.body)
        delivery = ParsedDelivery()
        app_id = get_settings().crm(self.PLATFORM).app_id
        for index, item in enumerate(items):
            try:
                self._add(delivery, _Item(item, index), app_id)
            except PayloadError as exc:
                delivery.unreadable.append((exc.path, exc.problem))
        return delivery

    def _add(self, delivery: ParsedDelivery, item: _Item, app_id: str) -> None:
        name = self.event_name(item.data, item.index)
        if name in self.IGNORED_EVENTS:
            delivery.ignored.append(name)
        elif name not in self.EVENT_KINDS:
            delivery.unsupported.append(name)
        else:
            delivery.events.append(self._event(name, item, app_id))

    @staticmethod
    def event_name(item: Mapping[str, Any], index: int) -> str:
        checked = _Item(item, index)
        # older payloads (and the docs' field table) say eventType where current ones say subscriptionType
        stype = checked.text("eventType" if "subscriptionType" not in item and "eventType" in item
                             else "subscriptionType")
        if not stype.startswith("object."):
            return stype
        type_id = checked.text("objectTypeId")
        return f"{stype}:{OBJECT_TYPE_IDS.get(type_id, type_id)}"

    def _event(self, name: str, item: _Item, app_id: str) -> Event:
        object_type, kind = self.EVENT_KINDS[name]
        source, source_id = item.opt_text("changeSource"), item.opt_text("sourceId")
        object_id, merged = item.id("objectId"), ()
        if kind == EventKind.MERGED:
            object_id, merged = _merge_ids(item)
        changed: tuple[str, ...] = ()
        if kind == EventKind.UPDATED:
            field = neutral_field(OBJECTS[object_type], item.text("propertyName"))
            changed = (field,) if field else ()
        return Event(platform=self.PLATFORM, account_id=item.id("portalId"), object_type=object_type,
                     object_id=object_id, kind=kind, occurred_at=item.millis("occurredAt"),
                     event_id=item.id("eventId"), source=f"{source}:{source_id}" if source_id else source,
                     source_is_app=bool(app_id) and source == "INTEGRATION" and source_id == app_id,
                     changed_fields=changed, merged_ids=merged)


def _json_array(body: bytes) -> list[Mapping[str, Any]]:
    """The body as a JSON array of objects, else a PayloadError (the only refusal of a whole delivery)."""
    items = load_json(body)
    if not isinstance(items, list):
        raise PayloadError("$", "expected a JSON array of events")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise PayloadError(f"[{index}]", "expected an object")
    return items


def _merge_ids(item: _Item) -> tuple[str, tuple[str, ...]]:
    """(the record that lives on, the ids merged away): newObjectId when HubSpot made a new record (the primary's id
    when the event has none, as before the merge update), and the primary and every merged id except that one."""
    primary = item.id("primaryObjectId")
    survivor = item.id("newObjectId") if item.data.get("newObjectId") is not None else primary
    gone = [i for i in (primary, *item.id_list("mergedObjectIds")) if i != survivor]
    return survivor, tuple(dict.fromkeys(gone))


class _Item:
    """Checked accessors over one event object: a missing or wrong-typed field is a PayloadError with its path."""

    def __init__(self, data: Mapping[str, Any], index: int) -> None:
        self.data, self.index = data, index

    def _get(self, key: str, types: tuple[type, ...], what: str) -> Any:
        if key not in self.data:
            raise PayloadError(f"[{self.index}].{key}", "missing")
        value = self.data[key]
        if not isinstance(value, types) or isinstance(value, bool):
            raise PayloadError(f"[{self.index}].{key}", f"expected {what}, got {type(value).__name__}")
        return value

    def text(self, key: str) -> str:
        value = self._get(key, (str,), "a string")
        if len(value) > MAX_TEXT or _CONTROL.search(value):
            raise PayloadError(f"[{self.index}].{key}", f"expected at most {MAX_TEXT} printable characters")
        return value

    def opt_text(self, key: str) -> str:
        return self.text(key) if self.data.get(key) is not None else ""

    def id(self, key: str) -> str:
        value = self._get(key, (int, str), "an id")
        if not _is_id(value):
            raise PayloadError(f"[{self.index}].{key}", f"expected an id (0 to {MAX_ID}, or up to 64 characters)")
        return str(value)

    def id_list(self, key: str) -> list[str]:
        values = self._get(key, (list,), "a list of ids")
        if not all(_is_id(v) for v in values):
            raise PayloadError(f"[{self.index}].{key}", "expected a list of ids")
        return [str(v) for v in values]

    def millis(self, key: str) -> dt.datetime:
        value = self._get(key, (int,), "epoch milliseconds")
        if not EARLIEST_MS <= value < LATEST_MS:
            raise PayloadError(f"[{self.index}].{key}", "epoch milliseconds out of range (2000 to 2100)")
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC)


def _is_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0 <= value <= MAX_ID
    return isinstance(value, str) and bool(_PRINTABLE_ID.fullmatch(value))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _decoded(url: str) -> str:
    return unquote(url)
