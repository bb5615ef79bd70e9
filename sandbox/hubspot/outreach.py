"""Communication preferences (unsubscribe from all email), sequence enrollment, and the UI actions a lead's reply
and a rep's meeting are logged by (simulate "reply" / "log_meeting").

- POST /communication-preferences/v4/statuses/{subscriberIdString}/unsubscribe-all?channel=EMAIL (scope
  subscriptions-status-write; https://developers.hubspot.com/docs/api-reference/2026-03/communication-preferences/guide):
  every contact with that address reads hs_email_optout true after it; a second call changes nothing and is no error.
- POST /automation/v4/sequences/enrollments?userId=<user> {contactId, sequenceId, senderEmail} (scopes
  automation.sequences.read + automation.sequences.enrollments.write; the user needs a Sales/Service Hub Professional
  or Enterprise seat: https://developers.hubspot.com/docs/api-reference/2026-03/automation/sequences/guide). Sequences
  live in account.extra["sequences"] ({id: {"name": ..., "subject": ..., "body": ...}}; default one, id "1001"),
  seats in account.extra["sequence_seats"] (user ids; default every user). The error bodies for a user without a
  seat, a contact already enrolled (HubSpot enrols a contact in one sequence at a time) and the daily cap (1,000
  enrollments per user per day: https://knowledge.hubspot.com/sequences/create-and-edit-sequences, limits) are
  UNCONFIRMED in wording; their statuses follow the error-handling page (400 for a refused input). The first step
  sends at once: an outbound email engagement (hs_object_source SEQUENCES, UNCONFIRMED) is logged on the contact.
- GET /automation/v4/sequences/?userId=<user>&limit=&after=&name= (scope automation.sequences.read; the legacy
  "Retrieve sequences" reference, https://developers.hubspot.com/docs/api-reference/legacy/automation/sequences/
  get-sequences): userId is required; {results: [{id, name, createdAt, updatedAt, userId, folderId}], total,
  paging.next.after}. The sandbox's sequences are all shared with the team, so every user reads the same list.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from flask import Blueprint, g, jsonify, request

from sandbox.hubspot import associations as assoc
from sandbox.hubspot import records, webhooks
from sandbox.hubspot.errors import HubSpotError, validation
from sandbox.hubspot.hubstate import iso, now_ms
from sandbox.hubspot.owners import all_owners
from sandbox.hubspot.schema import ASSOCIATION_TYPES, TYPES, object_type
from sandbox.hubspot.users import missing_scopes

if TYPE_CHECKING:
    from sandbox.context import Sandbox
    from sandbox.state import Account

PREFERENCE_SCOPES = ("subscriptions-status-write",)
SEQUENCE_SCOPES = ("automation.sequences.enrollments.write",)
SEQUENCE_READ_SCOPES = ("automation.sequences.read",)
SEQUENCE_PAGE = 100  # limit's ceiling (UNCONFIRMED: the reference names no maximum; 100 as HubSpot's CRM lists)
DAILY_ENROLLMENTS = 1000
DEFAULT_SEQUENCES = {"1001": {"name": "Inbound lead follow-up", "subject": "Thanks for reaching out",
                              "body": "Hi, thanks for getting in touch. I'll be in touch shortly."}}


def _needs(scopes: tuple[str, ...]) -> None:
    token = g.hs_token
    if token.client_id and not set(scopes) & set(token.scopes):
        raise missing_scopes(scopes)


def unsubscribe_all(sandbox: Sandbox, account: Account, email: str) -> list[dict]:
    """hs_email_optout true on every contact with this address; the change events."""
    events: list[dict] = []
    actor = records.Actor("API", None)
    for rec in list(records.table(account, TYPES["contacts"]).values()):
        if not rec["archived"] and (rec["properties"].get("email") or "").lower() == email.lower():
            events += records.update(sandbox, account, TYPES["contacts"], rec["id"], {"hs_email_optout": "true"},
                                     actor, system=True)[1]
    return events


def log_email(sandbox: Sandbox, account: Account, contact_id: str, props: dict[str, Any],
              actor: records.Actor) -> tuple[dict, list[dict]]:
    """An email engagement associated with the contact (as the connected inbox or a sequence logs it)."""
    rec, events = records.create(sandbox, account, TYPES["emails"], props, actor, system=True)
    assoc.add(account, "emails", rec["id"], "contacts", contact_id, ASSOCIATION_TYPES[("emails", "contacts")])
    records.note_activity(sandbox, account, "emails", "contacts", contact_id)
    return rec, events


def _headers(sender: str, to: str) -> str:
    return json.dumps({"from": {"email": sender}, "to": [{"email": to}], "cc": [], "bcc": []})


def simulate_reply(sandbox: Sandbox, account: Account, contact: dict, props: dict[str, Any],
                   actor: records.Actor) -> tuple[dict, list[dict]]:
    """The lead's reply as the owner's connected inbox logs it: an INCOMING_EMAIL engagement on the contact."""
    sender = props.get("from") or contact["properties"].get("email") or ""
    owner = account.extra.get("owners", {}).get(contact["properties"].get("hubspot_owner_id") or "", {})
    values = {"hs_timestamp": str(now_ms(sandbox, account)), "hs_email_direction": "INCOMING_EMAIL",
              "hs_email_status": "SENT", "hs_email_subject": props.get("subject") or "",
              "hs_email_text": props.get("text") or "", "hs_email_headers": _headers(sender, owner.get("email", ""))}
    return log_email(sandbox, account, contact["id"], values, actor)


def simulate_meeting(sandbox: Sandbox, account: Account, contact: dict, props: dict[str, Any],
                     actor: records.Actor) -> tuple[dict, list[dict]]:
    """A rep logs a meeting on the contact."""
    at = now_ms(sandbox, account)
    values = {"hs_timestamp": str(at), "hs_meeting_title": props.get("title") or "Intro call",
              "hs_meeting_start_time": str(at), "hs_meeting_end_time": str(at + 1_800_000),
              "hubspot_owner_id": contact["properties"].get("hubspot_owner_id")}
    rec, events = records.create(sandbox, account, TYPES["meetings"], values, actor, system=True)
    assoc.add(account, "meetings", rec["id"], "contacts", contact["id"], ASSOCIATION_TYPES[("meetings", "contacts")])
    records.note_activity(sandbox, account, "meetings", "contacts", contact["id"])
    return rec, events


def _owner_of_user(account: Account, user_id: str) -> dict[str, Any]:
    owner = next((o for o in all_owners(account) if str(o["userId"]) == user_id), None)
    if owner is None:
        raise HubSpotError(404, f"User {user_id} not found", "OBJECT_NOT_FOUND", context={"userId": [user_id]})
    return owner


def enroll(sandbox: Sandbox, account: Account, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """One enrollment with HubSpot's refusals; the first step's email logged on the contact."""
    owner = _owner_of_user(account, user_id)
    seats = account.extra.get("sequence_seats")
    if seats is not None and int(user_id) not in {int(s) for s in seats}:
        raise HubSpotError(403, f"User {user_id} does not have a Sales Hub or Service Hub Professional or "
                           "Enterprise seat required to use sequences.", "MISSING_SEAT")  # wording UNCONFIRMED
    sequence = account.extra.get("sequences", DEFAULT_SEQUENCES).get(str(body.get("sequenceId") or ""))
    if sequence is None:
        raise HubSpotError(404, f"Sequence {body.get('sequenceId')} not found", "OBJECT_NOT_FOUND")
    if (body.get("senderEmail") or "").lower() != owner["email"].lower():
        raise validation(f"senderEmail {body.get('senderEmail')} is not a connected inbox of user {user_id}")
    contact = records.get_live(account, TYPES["contacts"], str(body.get("contactId") or ""))
    to = contact["properties"].get("email")
    if not to:
        raise validation("The contact has no email address and cannot be enrolled")
    if contact["properties"].get("hs_email_optout") == "true":
        raise validation("The contact has unsubscribed from all email and cannot be enrolled")
    enrolled = account.extra.setdefault("enrollments", {})
    if any(e["contactId"] == contact["id"] and e["active"] for e in enrolled.values()):
        raise validation(f"Contact {contact['id']} is already enrolled in a sequence")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    counts = account.extra.setdefault("enrollment_counts", {})
    if counts.get(f"{user_id}:{today}", 0) >= int(account.extra.get("daily_enrollments", DAILY_ENROLLMENTS)):
        raise validation(f"User {user_id} has reached the daily limit of sequence enrollments")
    counts[f"{user_id}:{today}"] = counts.get(f"{user_id}:{today}", 0) + 1
    at = now_ms(sandbox, account)
    values = {"hs_timestamp": str(at), "hs_email_direction": "EMAIL", "hs_email_status": "SENT",
              "hs_email_subject": sequence["subject"], "hs_email_text": sequence["body"],
              "hs_email_headers": _headers(owner["email"], to), "hubspot_owner_id": owner["id"]}
    log_email(sandbox, account, contact["id"], values, records.Actor("SEQUENCES", None))
    enrollment_id = str(records._next_id(sandbox, account))
    enrolled[enrollment_id] = {"contactId": contact["id"], "sequenceId": str(body["sequenceId"]), "active": True}
    return {"id": enrollment_id, "toEmail": to, "enrolledAt": iso(at), "updatedAt": iso(at)}


def list_sequences(sandbox: Sandbox, account: Account, user_id: str, limit: int, after: int,
                   name: str) -> dict[str, Any]:
    """One page of the portal's sequences, oldest id first, optionally those whose name contains `name`."""
    _owner_of_user(account, user_id)
    stamp = iso(account.extra.get("created_ms") or now_ms(sandbox, account))
    rows = [{"id": sid, "name": seq["name"], "createdAt": stamp, "updatedAt": stamp, "userId": user_id,
             "folderId": None}
            for sid, seq in sorted(account.extra.get("sequences", DEFAULT_SEQUENCES).items(),
                                   key=lambda kv: (len(kv[0]), kv[0]))
            if name.lower() in seq["name"].lower()]
    page = rows[after:after + limit]
    answer: dict[str, Any] = {"results": page, "total": len(rows)}
    if after + limit < len(rows):
        answer["paging"] = {"next": {"after": str(after + limit)}}
    return answer


def routes(bp: Blueprint, sandbox: Sandbox) -> None:
    @bp.get("/automation/v4/sequences/")
    @bp.get("/automation/v4/sequences")
    def sequences():
        _needs(SEQUENCE_READ_SCOPES)
        user_id, limit, after = (request.args.get(k) or "" for k in ("userId", "limit", "after"))
        if not user_id.isdigit():
            raise validation("userId is required")
        if (limit and not limit.isdigit()) or (after and not after.isdigit()):
            raise validation("limit and after must be whole numbers")
        with sandbox.store.lock:
            return jsonify(list_sequences(sandbox, g.hs_account, user_id, max(1, min(int(limit or 10), SEQUENCE_PAGE)),
                                          int(after or 0), request.args.get("name") or ""))

    @bp.post("/communication-preferences/v4/statuses/<path:subscriber>/unsubscribe-all")
    def unsubscribe(subscriber: str):
        _needs(PREFERENCE_SCOPES)
        if request.args.get("channel", "").upper() != "EMAIL":
            raise validation("channel is required and must be EMAIL")
        with sandbox.store.lock:
            started, events = iso(now_ms(sandbox, g.hs_account)), unsubscribe_all(sandbox, g.hs_account, subscriber)
        if events:
            webhooks.dispatch(sandbox, g.hs_account, events)
        result = {"channel": "EMAIL", "status": "NOT_SUBSCRIBED", "subscriberIdString": subscriber,
                  "source": "API", "timestamp": started, "wideStatusType": "PORTAL_WIDE"}
        return jsonify({"status": "COMPLETE", "results": [result], "startedAt": started, "completedAt": started,
                        "requestedAt": started})

    @bp.post("/automation/v4/sequences/enrollments")
    def enroll_contact():
        _needs(SEQUENCE_SCOPES)
        user_id = request.args.get("userId") or ""
        if not user_id.isdigit():
            raise validation("userId is required")
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("contactId") or not body.get("sequenceId"):
            raise validation("contactId, sequenceId and senderEmail are required")
        with sandbox.store.lock:
            return jsonify(enroll(sandbox, g.hs_account, user_id, body))


def batch_associations(bp: Blueprint, sandbox: Sandbox) -> None:
    # POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read
    # (https://developers.hubspot.com/docs/api-reference/latest/crm/associations/associate-records/batch/read):
    # ids with no association are left out of `results`
    @bp.post("/crm/v4/associations/<from_name>/<to_name>/batch/read")
    def read_associations(from_name: str, to_name: str):
        source, target = object_type(from_name), object_type(to_name)
        if source is None or target is None:
            raise HubSpotError(400, f"Unable to infer object type from: {to_name if source else from_name}",
                               "VALIDATION_ERROR")
        body = request.get_json(silent=True)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or len(inputs) > 1000:  # the batch read takes up to 1,000 ids (UNCONFIRMED)
            raise validation("inputs must be a list of at most 1000 ids")
        with sandbox.store.lock:
            results = []
            for item in inputs:
                rows = [_as_documented(r) for r in
                        assoc.v4_results(g.hs_account, source.name, str(item.get("id")), target.name)]
                if rows:
                    results.append({"from": {"id": str(item.get("id"))}, "to": rows})
            stamp = iso(now_ms(sandbox, g.hs_account))
        return jsonify({"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp})


def _as_documented(row: dict[str, Any]) -> dict[str, Any]:
    """A batch read row as crm-associations-v4's MultiAssociatedObjectWithLabel has it: toObjectId a string, an
    unlabeled association type without `label` (the document's label is a non-nullable string)."""
    kinds = [{k: v for k, v in kind.items() if v is not None} for kind in row["associationTypes"]]
    return {"toObjectId": str(row["toObjectId"]), "associationTypes": kinds}
