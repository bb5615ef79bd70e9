"""Request bodies and answers of HubSpotAdapter's outreach calls: logged emails and SMS, inbound replies, meetings,
unsubscribe-all and sequence enrollment (kept apart from adapter.py).

Emails: https://developers.hubspot.com/docs/api/crm/email (hs_email_headers a JSON string with from/to; email →
contact association type id 198). Communications (SMS): https://developers.hubspot.com/docs/api/crm/communications
(hs_communication_channel_type SMS, hs_communication_logged_from CRM; communication → contact type id 81).
"""
from __future__ import annotations

import json
from typing import Any

from adapters.hubspot import fields as f
from integration.errors import CRMValidationError
from integration.protocols import parse_iso
from integration.records import InboundMessage, Meeting, Message, ObjectType

EMAIL_TO_CONTACT = 198
COMMUNICATION_TO_CONTACT = 81
INBOUND_PROPERTIES = ["hs_email_subject", "hs_email_text", "hs_email_headers", "hs_createdate", "hs_timestamp"]
MAX_PAGE = 100  # the v4 association batch read takes as many ids as one search page gives (≤ 100 asked)


def _link(record_id: str, type_id: int) -> list[dict[str, Any]]:
    return [{"to": {"id": str(record_id)}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                     "associationTypeId": type_id}]}]


def message_input(record_id: str, message: Message) -> tuple[str, dict[str, Any]]:
    """The object (emails / communications) and create body that log `message` on the contact."""
    when = str(f.ms(message.sent_at))
    owner = {f.OWNER_PROPERTY: str(message.owner_id)} if message.owner_id else {}
    if message.channel == "sms":
        props = {"hs_timestamp": when, "hs_communication_channel_type": "SMS",
                 "hs_communication_logged_from": "CRM", "hs_communication_body": message.body, **owner}
        return "communications", {"properties": props, "associations": _link(record_id, COMMUNICATION_TO_CONTACT)}
    if message.channel != "email":
        raise CRMValidationError(f"HubSpot logs no {message.channel!r} messages")
    headers = {"from": {"email": message.sender}, "to": [{"email": message.to}], "cc": [], "bcc": []}
    direction = "INCOMING_EMAIL" if message.direction == "inbound" else "EMAIL"
    props = {"hs_timestamp": when, "hs_email_direction": direction,
             "hs_email_status": "SENT", "hs_email_subject": message.subject, "hs_email_text": message.body,
             "hs_email_headers": json.dumps(headers), **owner}
    return "emails", {"properties": props, "associations": _link(record_id, EMAIL_TO_CONTACT)}


def since_request(since_ms: int, limit: int, inbound: bool, after: int = 0) -> dict[str, Any]:
    """A search body: objects created after `since_ms`, oldest first, from the `after`th on (incoming emails only
    when `inbound`)."""
    filters = [{"propertyName": "hs_createdate", "operator": "GT", "value": str(since_ms)}]
    if inbound:
        filters.append({"propertyName": "hs_email_direction", "operator": "EQ", "value": "INCOMING_EMAIL"})
    props = INBOUND_PROPERTIES if inbound else ["hs_createdate", "hs_timestamp"]
    body = {"filterGroups": [{"filters": filters}], "properties": props, "limit": max(1, min(limit, MAX_PAGE)),
            "sorts": [{"propertyName": "hs_createdate", "direction": "ASCENDING"}]}
    return {**body, "after": str(after)} if after else body


def contacts_by_id(answer: Any) -> dict[str, str]:
    """A v4 association batch read's answer → {object id: its first (lowest) contact id}."""
    out: dict[str, str] = {}
    for row in (answer or {}).get("results") or []:
        ids = sorted((str(t.get("toObjectId")) for t in row.get("to") or []),
                     key=lambda i: int(i) if i.isdigit() else 0)
        if ids:
            out[str((row.get("from") or {}).get("id"))] = ids[0]
    return out


def sender_of(headers: str | None) -> str:
    """The From address of hs_email_headers (a JSON string), lower case; "" when it has none."""
    try:
        data = json.loads(headers or "{}")
    except ValueError:
        return ""
    sender = data.get("from") if isinstance(data, dict) else None
    return str((sender or {}).get("email") or "").strip().lower() if isinstance(sender, dict) else ""


def created_ms(obj: dict[str, Any]) -> int:
    stamp = parse_iso((obj.get("properties") or {}).get("hs_createdate")) or parse_iso(obj.get("createdAt"))
    return f.ms(stamp) if stamp else 0


def to_inbound(obj: dict[str, Any], contact_id: str | None) -> InboundMessage:
    props = obj.get("properties") or {}
    stamp = parse_iso(props.get("hs_createdate")) or parse_iso(obj.get("createdAt"))
    assert stamp is not None  # every object has a create date
    return InboundMessage(id=str(obj["id"]), channel="email", object_type=ObjectType.CONTACT if contact_id else "",
                          record_id=contact_id or "", sender=sender_of(props.get("hs_email_headers")),
                          subject=props.get("hs_email_subject") or "", text=props.get("hs_email_text") or "",
                          received_at=stamp)


def to_meeting(obj: dict[str, Any], contact_id: str) -> Meeting:
    stamp = parse_iso((obj.get("properties") or {}).get("hs_createdate")) or parse_iso(obj.get("createdAt"))
    assert stamp is not None
    return Meeting(id=str(obj["id"]), object_type=ObjectType.CONTACT, record_id=contact_id, at=stamp)
