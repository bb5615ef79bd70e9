"""The adapter's outreach reads: replies from the Mailbox API and meetings from activities.

Mailbox (v1 only, scope mail:read): GET /v1/mailbox/mailThreads?folder=inbox lists threads "ordered by the most
recent message within", newest first, offset-paged; GET /v1/mailbox/mailThreads/{id}/mailMessages gives a thread's
messages, each with its `from` parties (linked_person_id: the person Pipedrive matched the address to) and only a
`snippet` of the text (the body sits behind body_url, outside the API). openapi-v1.json, tag Mailbox.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from adapters.pipedrive.client import PipedriveClient
from integration.errors import CRMValidationError
from integration.protocols import parse_iso
from integration.records import InboundMessage, Meeting

THREADS_PER_PAGE = 50
MAX_THREAD_PAGES = 4  # threads read back per call: a backlog is caught up over several calls
MAX_ACTIVITY_PAGES = 5
LOOKBACK = dt.timedelta(days=1)


def decode(cursor: str | None) -> tuple[dt.datetime, int]:
    """(time, last id at that time) from "<iso>|<id>"; None: a day ago."""
    if not cursor:
        return dt.datetime.now(dt.UTC) - LOOKBACK, 0
    stamp, _, last = cursor.partition("|")
    try:
        moment = parse_iso(stamp)
        return moment or dt.datetime.now(dt.UTC) - LOOKBACK, int(last or 0)
    except ValueError:
        raise CRMValidationError(f"not a Pipedrive cursor: {cursor!r}") from None


def encode(moment: dt.datetime, last_id: int) -> str:
    return f"{moment.astimezone(dt.UTC).isoformat()}|{last_id}"


def _after(moment: dt.datetime | None, row_id: int, since: dt.datetime, last_id: int) -> bool:
    return moment is not None and (moment > since or (moment == since and row_id > last_id))


def _get(http: PipedriveClient, template: str, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return http.call(("GET", "/api/v1/" + template),
                     lambda sdk, **kw: sdk._get(f"{sdk.BASE_URL}{path}", params=params, **kw))


def new_threads(http: PipedriveClient, since: dt.datetime) -> list[dict[str, Any]]:
    """Inbox threads with a message after `since`, paging back until an older thread."""
    found: list[dict[str, Any]] = []
    for page in range(MAX_THREAD_PAGES):
        params = {"folder": "inbox", "start": page * THREADS_PER_PAGE, "limit": THREADS_PER_PAGE}
        answer = _get(http, "mailbox/mailThreads", "mailbox/mailThreads", params)
        rows = answer.get("data") or []
        for row in rows:
            latest = parse_iso(row.get("last_message_received_timestamp") or row.get("last_message_timestamp"))
            if latest is None or latest < since:
                return found
            found.append(row)
        paging = (answer.get("additional_data") or {}).get("pagination") or {}
        if not paging.get("more_items_in_collection"):
            break
    return found


def inbound(http: PipedriveClient, cursor: str | None) -> tuple[list[tuple[InboundMessage, int]], dt.datetime]:
    """Received messages after the cursor, oldest first, each with its numeric id (for the cursor)."""
    since, last_id = decode(cursor)
    messages: list[tuple[InboundMessage, int]] = []
    for thread in new_threads(http, since):
        answer = _get(http, "mailbox/mailThreads/{id}/mailMessages",
                      f"mailbox/mailThreads/{int(thread['id'])}/mailMessages")
        for row in answer.get("data") or []:
            when = parse_iso(row.get("message_time"))
            if row.get("sent_flag") or row.get("draft") or not _after(when, int(row["id"]), since, last_id):
                continue
            sender = next(iter(row.get("from") or []), {})
            person = sender.get("linked_person_id")
            messages.append((InboundMessage(
                id=str(row["id"]), channel="email", object_type="contact" if person else "",
                record_id=str(person) if person else "", sender=str(sender.get("email_address") or "").lower(),
                subject=row.get("subject") or "", text=row.get("snippet") or "", received_at=when or since),
                int(row["id"])))
    messages.sort(key=lambda pair: (pair[0].received_at, pair[1]))
    return messages, since


def meetings(http: PipedriveClient, cursor: str | None, limit: int) -> tuple[list[tuple[Meeting, int]], bool,
                                                                             dt.datetime]:
    """Meeting activities on a person added after the cursor, oldest first (v2 activities has no type filter:
    the rows updated since are read and the meetings kept)."""
    since, last_id = decode(cursor)
    params: dict[str, Any] = {"updated_since": since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                              "sort_by": "add_time", "sort_direction": "asc", "limit": 500}
    found: list[tuple[Meeting, int]] = []
    more = False
    for _ in range(MAX_ACTIVITY_PAGES):
        answer = http.v2("GET", "activities", params=params)
        for row in answer.get("data") or []:
            added = parse_iso(row.get("add_time"))
            if row.get("type") == "meeting" and row.get("person_id") and _after(added, int(row["id"]), since,
                                                                                 last_id):
                found.append((Meeting(id=str(row["id"]), object_type="contact", record_id=str(row["person_id"]),
                                      at=added or since), int(row["id"])))
        params["cursor"] = (answer.get("additional_data") or {}).get("next_cursor")
        more = bool(params["cursor"])
        if not more or len(found) > limit:
            break
    found.sort(key=lambda pair: (pair[0].at, pair[1]))
    return found, more or len(found) > limit, since
