"""The Mailbox API (v1, scope mail:read): the mail a user's synced inbox holds, linked to persons by address.

GET /v1/mailbox/mailThreads?folder=inbox (threads ordered by their most recent message, newest first, offset
paging) and GET /v1/mailbox/mailThreads/{id}/mailMessages, shaped as openapi-v1.json's MailThread and
MailMessage: each party {id, name, email_address, linked_person_id, …}, times as the documents' examples write
them ("2019-11-20T20:20:46.000Z"); a party no person has the address of is linked to none (null). The
message's text is only its `snippet` (the body is behind `body_url`, a link outside the API).
"""
from __future__ import annotations

import copy
import time
from typing import Any

from flask import Blueprint, request

from sandbox.context import Sandbox
from sandbox.pipedrive.core import PdError, iso_ms, next_id, ok, user
from sandbox.pipedrive.guard import check
from sandbox.pipedrive.limits import RateLimiter
from sandbox.state import Account

FOLDERS = ("inbox", "drafts", "sent", "archive")
# The preview Pipedrive keeps of a message; the length is the sandbox's choice (the spec gives none), so a caller
# can't take a snippet for the whole text.
SNIPPET_CHARS = 150
THREADS, MESSAGES = "mail_threads", "mail_messages"


def _v1(ts: float) -> str:
    return iso_ms(ts)


def _party(account: Account, address: str, name: str, person_id: int | None, ts: float) -> dict[str, Any]:
    return {"id": next_id(account, "mail_parties"), "name": name, "latest_sent": False, "email_address": address,
            "message_time": int(ts * 1000), "linked_person_id": person_id, "linked_person_name": name if person_id
            else None, "mail_message_party_id": next_id(account, "mail_parties"), "linked_organization_id": None}


def receive(account: Account, person: dict[str, Any], subject: str, text: str, sender: str | None) -> dict:
    """A message from the person as the owner's synced inbox shows it: a new inbox thread with one message.
    The party is linked to the person when its address is one of the person's. Caller holds store.lock."""
    now = time.time()
    owner = user(account, person.get("owner_id")) or {}
    address = (sender or next((e["value"] for e in person.get("emails") or [] if e.get("value")), "")).lower()
    linked = person["id"] if address in {str(e.get("value", "")).lower() for e in person.get("emails") or []} \
        else None
    from_ = [_party(account, address, person.get("name") or address, linked, now)]
    to = [_party(account, owner.get("email") or "", owner.get("name") or "", None, now)]
    thread_id = next_id(account, THREADS)
    snippet = text[:SNIPPET_CHARS]
    thread = {"id": thread_id, "account_id": f"acc-{owner.get('id')}", "user_id": owner.get("id"),
              "subject": subject, "snippet": snippet, "read_flag": 0, "mail_tracking_status": None,
              "has_attachments_flag": 0, "deleted_flag": 0, "synced_flag": 1, "smart_bcc_flag": 0,
              "parties": {"from": from_, "to": to}, "folders": ["inbox"], "message_count": 1,
              "has_sent_flag": 0, "archived_flag": 0, "shared_flag": 0, "first_message_to_me_flag": 1,
              "last_message_timestamp": _v1(now), "first_message_timestamp": _v1(now),
              "last_message_sent_timestamp": None, "last_message_received_timestamp": _v1(now),
              "add_time": _v1(now), "update_time": _v1(now), "deal_id": None, "lead_id": None,
              "_sort": now}
    message = {"id": next_id(account, MESSAGES), "account_id": thread["account_id"], "user_id": owner.get("id"),
               "subject": subject, "snippet": snippet, "read_flag": 0, "mail_tracking_status": None,
               "has_attachments_flag": 0, "deleted_flag": 0, "synced_flag": 1, "smart_bcc_flag": 0,
               "from": from_, "to": to, "cc": [], "bcc": [],
               "body_url": f"https://pipedrive-mail-bodies.invalid/{thread_id}", "mail_thread_id": thread_id,
               "draft": None, "has_body_flag": 1, "sent_flag": 0, "sent_from_pipedrive_flag": 0,
               "message_time": _v1(now), "add_time": _v1(now), "update_time": _v1(now)}
    account.table(THREADS)[str(thread_id)] = thread
    account.table(MESSAGES)[str(message["id"])] = message
    return message


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in copy.deepcopy(row).items() if not k.startswith("_")}


def routes(bp: Blueprint, sandbox: Sandbox, limiter: RateLimiter, paginate: Any) -> None:
    @bp.get("/mailbox/mailThreads")
    def mail_threads():
        c = check(sandbox, limiter, "mail", False)
        folder = request.args.get("folder")
        if folder not in FOLDERS:
            raise PdError(400, f"folder is required and must be one of {', '.join(FOLDERS)}")
        with sandbox.store.lock:
            rows = [t for t in c.account.table(THREADS).values() if folder in t["folders"] and not t["deleted_flag"]]
            rows.sort(key=lambda t: (t["_sort"], t["id"]), reverse=True)
            page, extra = paginate([_public(t) for t in rows], request.args)
        return ok(page, extra)

    @bp.get("/mailbox/mailThreads/<int:thread_id>/mailMessages")
    def mail_messages(thread_id: int):
        c = check(sandbox, limiter, "mail", False)
        with sandbox.store.lock:
            if str(thread_id) not in c.account.table(THREADS):
                raise PdError(404, "Mail thread not found")
            rows = [_public(m) for m in c.account.table(MESSAGES).values() if m["mail_thread_id"] == thread_id]
        return ok(sorted(rows, key=lambda m: m["id"]))
