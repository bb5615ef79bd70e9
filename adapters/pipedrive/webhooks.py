"""Pipedrive webhooks v2: HTTP Basic credentials per tenant and the {meta, data, previous} body -> neutral Events.

https://pipedrive.readme.io/docs/guide-for-webhooks-v2 : no signature; the only proof is the Basic
user/password we chose when subscribing (per tenant: the web layer checks them against the tenant's webhook
key and secret hash), which Pipedrive "will send ... in the header of every HTTP request"
(https://pipedrive.readme.io/docs/guide-for-webhooks): no challenge round trip, so a 401 is a failed delivery
(retried, and counted towards a ban). One event per request; meta carries action (create|change|delete), entity,
entity_id, id, company_id, user_id (ids as strings, or numbers in some deliveries), timestamp (ISO-8601, or the
"10 character" Unix time the meta table documents), change_source ("app" = web UI, "api" = any API client:
https://developers.pipedrive.com/changelog/post/new-field-for-webhooks). v2 has no "merged" action: a merge
is a delete of the merged-away record with meta.merged_to_id plus a change of the survivor
(https://pipedrive.readme.io/docs/webhooks-v2-migration-guide). Nothing in a delivery it does not understand
fails the delivery: an event it does not subscribe to, or a v1 body, is acknowledged and named as unsupported
with the reason (tests/adapters/test_pipedrive_webhook_examples.py runs the documented examples through it).
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from adapters.payloads import load_json
from adapters.pipedrive.fields import ENTITIES, OBJECTS, changed_fields
from integration.errors import PayloadError
from integration.protocols import ParsedDelivery, WebhookRequest, parse_iso
from integration.records import Event, EventKind

_ACTIONS = {"create": EventKind.CREATED, "change": EventKind.UPDATED, "delete": EventKind.DELETED}
_ROUTED = ("person", "organization", "deal", "lead")
# What a meta field may hold before it reaches storage: ids are BIGINT or short text (lead ids are UUIDs), times
# fall within this century. Past these, a PayloadError rather than an overflow in datetime or the database.
MAX_ID, MAX_TEXT = 2**63 - 1, 256
EARLIEST, LATEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
_PRINTABLE_ID = re.compile(r"[!-~]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PipedriveWebhooks:
    PLATFORM: ClassVar[str] = "pipedrive"
    SECRET_SCOPE: ClassVar[str] = "tenant"  # Basic credentials chosen per tenant at subscription time
    BODY_FORMAT: ClassVar[str] = "json"
    AUTH_HEADER: ClassVar[str] = "Authorization"
    AUTH_CHALLENGE: ClassVar[str] = 'Basic realm="LeadRelay webhooks", charset="UTF-8"'
    # "<meta.action>.<meta.entity>" -> (ObjectType, EventKind); a delete with meta.merged_to_id becomes MERGED
    EVENT_KINDS: ClassVar[Mapping[str, tuple[str, str]]] = {
        **{f"{action}.{entity}": (ENTITIES[entity], kind) for entity in _ROUTED for action, kind in _ACTIONS.items()},
        "change.activity": (ENTITIES["activity"], EventKind.UPDATED),  # a task marked done or reassigned
        "delete.activity": (ENTITIES["activity"], EventKind.DELETED),
    }
    # activities logged by reps are read when an SLA check is due; the rest carry nothing LeadRelay routes
    IGNORED_EVENTS: ClassVar[frozenset[str]] = frozenset(
        ["create.activity"] + [f"{action}.{entity}" for action in _ACTIONS
                               for entity in ("note", "product", "pipeline", "stage", "user")])
    SUPPORTED_EVENTS: ClassVar[tuple[str, ...]] = tuple(EVENT_KINDS)

    # checks ---------------------------------------------------------------------------------------
    def missing_signature(self, request: WebhookRequest) -> str | None:
        return None if _header(request.headers, self.AUTH_HEADER) else self.AUTH_HEADER

    def verify(self, request: WebhookRequest, secret: str, now: dt.datetime) -> bool:
        return False  # tenant-scoped: nothing is signed, the web layer checks credentials()

    def credentials(self, request: WebhookRequest) -> tuple[str, str] | None:
        """(user, password) from `Authorization: Basic ...`; None when absent or not Basic."""
        scheme, _, value = (_header(request.headers, self.AUTH_HEADER) or "").partition(" ")
        if scheme.lower() != "basic" or not value.strip():
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):  # ValueError: a non-ASCII header value
            return None
        user, sep, password = decoded.partition(":")
        return (user, password) if sep else None

    def acknowledge(self, delivery: ParsedDelivery) -> tuple[int, str, str]:
        return 200, "", "text/plain"  # any 2xx within 10 s; the body is not read

    # parsing ----------------------------------------------------------------------------------------
    def parse(self, request: WebhookRequest) -> ParsedDelivery:
        body = load_json(request.body)
        if not isinstance(body, dict):
            raise PayloadError("$", "expected a JSON object")
        if not isinstance(body.get("meta"), dict):
            raise PayloadError("meta", "missing" if "meta" not in body else "expected an object")
        delivery = ParsedDelivery()
        if _is_v1(body):
            # a webhooks v1 body (https://pipedrive.readme.io/docs/guide-for-webhooks: meta.object, current, event):
            # LeadRelay subscribes to v2 only, so one reaching us is someone else's subscription; acknowledged
            # (an error would only make Pipedrive retry and count towards a ban) and left to the sweep
            name = f"v1:{_label(body['meta'].get('action'))}.{_label(body['meta'].get('object'))}"
            delivery.unsupported.append(name)
            delivery.notes[name] = ("a webhooks v1 body; LeadRelay reads webhooks v2 only (its own subscriptions), "
                                    "so the change reaches it through the sweep")
            return delivery
        meta = _Meta(body["meta"])
        name = f"{meta.text('action')}.{meta.text('entity')}"
        if name in self.IGNORED_EVENTS:
            delivery.ignored.append(name)
        elif name not in self.EVENT_KINDS:
            delivery.unsupported.append(name)
            delivery.notes[name] = "not an event LeadRelay subscribes to"
        else:
            delivery.events.append(self._event(name, meta, _previous(body)))
        return delivery

    def _event(self, name: str, meta: _Meta, previous: Mapping[str, Any]) -> Event:
        object_type, kind = self.EVENT_KINDS[name]
        object_id, merged = meta.id("entity_id"), ()
        if kind == EventKind.DELETED and meta.has("merged_to_id"):
            # the record merged away: report it as a merge into the survivor, like the other platforms
            kind, object_id, merged = EventKind.MERGED, meta.id("merged_to_id"), (object_id,)
        elif meta.has("merged_from_id"):
            merged = (meta.id("merged_from_id"),)
        changed = changed_fields(OBJECTS[object_type], previous) if kind == EventKind.UPDATED else ()
        return Event(platform=self.PLATFORM, account_id=meta.id("company_id"), object_type=object_type,
                     object_id=object_id, kind=kind, occurred_at=meta.time("timestamp"), event_id=meta.id("id"),
                     # "api:<user id>": the web layer compares the user with the tenant's integration user
                     source=f"{meta.opt_text('change_source')}:{meta.id('user_id')}",
                     changed_fields=changed, merged_ids=merged)


class _Meta:
    """Checked accessors over `meta`: a missing or wrong-typed field is a PayloadError naming meta.<key>."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def has(self, key: str) -> bool:
        return self.data.get(key) not in (None, "")

    def _get(self, key: str, types: tuple[type, ...], what: str) -> Any:
        if key not in self.data:
            raise PayloadError(f"meta.{key}", "missing")
        value = self.data[key]
        if not isinstance(value, types) or isinstance(value, bool) or value == "":
            raise PayloadError(f"meta.{key}", f"expected {what}, got {type(value).__name__}")
        return value

    def text(self, key: str) -> str:
        value = self._get(key, (str,), "a string")
        if len(value) > MAX_TEXT or _CONTROL.search(value):
            raise PayloadError(f"meta.{key}", f"expected at most {MAX_TEXT} printable characters")
        return value

    def opt_text(self, key: str) -> str:
        return self.text(key) if self.has(key) else ""  # change_source came later (changelog: new-field-for-webhooks)

    def id(self, key: str) -> str:
        value = self._get(key, (str, int), "an id")
        if not (0 <= value <= MAX_ID if isinstance(value, int) else _PRINTABLE_ID.fullmatch(value)):
            raise PayloadError(f"meta.{key}", f"expected an id (0 to {MAX_ID}, or up to 64 characters)")
        return str(value)

    def time(self, key: str) -> dt.datetime:
        raw = self.data.get(key)
        if isinstance(raw, int) and not isinstance(raw, bool) or isinstance(raw, str) and raw.isdigit():
            # the v2 meta table documents "10 character timestamp" (Unix seconds), as deliveries carry it
            # (https://pipedrive.readme.io/docs/guide-for-webhooks-v2); its format example an ISO time
            parsed = _epoch(int(raw))
            if parsed is None:
                raise PayloadError(f"meta.{key}", f"expected a Unix time, got {str(raw)[:40]!r}")
            return self._in_range(key, parsed)
        value = self.text(key)
        try:
            parsed = parse_iso(value)
            # an offset can push a moment near year 1 or 9999 out of range once taken to UTC
            parsed = parsed.astimezone(dt.UTC) if parsed is not None else None
        except (ValueError, OverflowError, OSError):
            parsed = None
        if parsed is None:
            raise PayloadError(f"meta.{key}", f"expected an ISO-8601 time, got {value[:40]!r}")
        return self._in_range(key, parsed)

    @staticmethod
    def _in_range(key: str, parsed: dt.datetime) -> dt.datetime:
        if not EARLIEST <= parsed < LATEST:
            raise PayloadError(f"meta.{key}", "out of range (2000 to 2100)")
        return parsed


def _epoch(seconds: int) -> dt.datetime | None:
    """A Unix time in seconds (or milliseconds, 13 digits) as a UTC datetime; None when out of any range."""
    if seconds > 10**11:
        seconds //= 1000
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _is_v1(body: Mapping[str, Any]) -> bool:
    """A webhooks v1 body: meta names the `object` (v2: `entity`) and the record comes as `current` (v2: `data`)."""
    meta = body["meta"]
    return "entity" not in meta and ("object" in meta or "current" in body or "event" in body)


def _label(value: Any) -> str:
    """A v1 action or object for a log line: short printable text, else "?"."""
    return value if isinstance(value, str) and _PRINTABLE_ID.fullmatch(value) else "?"


def _previous(body: Mapping[str, Any]) -> Mapping[str, Any]:
    previous = body.get("previous")
    if previous is None:
        return {}
    if not isinstance(previous, dict):
        raise PayloadError("previous", f"expected an object or null, got {type(previous).__name__}")
    return previous


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)
