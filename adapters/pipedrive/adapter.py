"""PipedriveAdapter: integration's CRMAdapter over pipedrive-python-lib 1.2 (API v2 objects, v1 where v2 has none).

v2 for persons/organizations/deals/activities (v1 is out of support since 1 Aug 2026:
https://developers.pipedrive.com/changelog/post/deprecated-apiv1-endpoints-become-out-of-support),
v1 for users, leads, person/organization merge, organizationFields and webhooks.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from adapters.nulls import NoBudget, NoWrites
from adapters.pipedrive import fields as f
from adapters.pipedrive import outreach, queries
from adapters.pipedrive.client import PipedriveClient
from adapters.pipedrive.webhooks import PipedriveWebhooks
from integration.crm.batch_writes import failures_by_id, one_by_one
from integration.errors import CRMNotFound, CRMValidationError
from integration.protocols import RateBudget, TenantRef, TokenProvider, WriteLog, parse_iso
from integration.records import (
    ChangePage,
    Company,
    CRMUser,
    InboundPage,
    MeetingPage,
    MergeResult,
    Message,
    NewRecord,
    ObjectType,
    OwnerWrite,
    Record,
    TaskSpec,
    TaskState,
)


class PipedriveAdapter:
    PLATFORM: ClassVar[str] = "pipedrive"
    LEAD_OBJECT: ClassVar[str] = ObjectType.CONTACT  # persons; Pipedrive leads are deals-to-be on a person
    LIFECYCLE_FIELD: ClassVar[str] = "leadrelay_lifecycle"  # no native stage: LeadRelay's person field
    EPOCH_CURSOR: ClassVar[str] = "1970-01-01T00:00:00Z"  # changed_since from the very first record
    # https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting : a burst window per token of 2 s
    # (160 requests for OAuth apps on Growth; search endpoints 10), and a daily company budget of 30,000
    # tokens x plan multiplier x seats, each call charged its endpoint's x-token-cost (client.COSTS); 60,000 is
    # one Growth seat: the floor for a Growth company (the budget is per tenant class-wide; x-ratelimit-* correct
    # the burst, and a 429 of the used-up daily budget holds every call until its midnight reset).
    RATE_LIMITS: ClassVar[Mapping[str, tuple[int, float]]] = {
        "default": (160, 2.0), "search": (10, 2.0), "daily": (60_000, 86_400.0)}
    # The sweep's change pages and the activity check read v2 list endpoints (updated_since), not search. Whether
    # persons/organizations search (itemSearch underneath) lags behind writes is not documented and no report of it
    # was found: 0 until evidence says otherwise.
    SEARCH_LAG: ClassVar[dt.timedelta] = dt.timedelta(0)
    EMAIL_SENDER: ClassVar[str | None] = None  # Pipedrive's API sends no mail
    INBOX_LEADS: ClassVar[bool] = True  # the Leads Inbox: deals-to-be, each on a person or organization
    ADDRESS_FIELDS: ClassVar[frozenset[str]] = frozenset()  # a person's address is not a v2 person field
    TIMEOUT: ClassVar[tuple[float, float]] = (5.0, 30.0)  # (connect, read) seconds on every call
    BATCH_IDS: ClassVar[int] = 100  # v2 list `ids`: "up to 100 entity ids"
    MERGEABLE: ClassVar[frozenset[str]] = frozenset({"persons", "organizations"})
    WEBSITE_FIELD: ClassVar[str] = "Website"  # organizations have no standard domain field
    WEBHOOK_VERSION: ClassVar[str] = "2.0"
    # Record pages in the web app, on the company's own host (the OAuth api_domain, https://<company>.pipedrive.com)
    RECORD_PAGES: ClassVar[Mapping[str, str]] = {"persons": "person", "organizations": "organization",
                                                 "deals": "deal", "leads": "leads/inbox"}
    # one subscription per (event_action, event_object) the parser handles
    SUBSCRIPTIONS: ClassVar[tuple[tuple[str, str], ...]] = tuple(
        (action, entity) for action, _, entity in (n.partition(".") for n in PipedriveWebhooks.SUPPORTED_EVENTS))

    def __init__(self, tenant: TenantRef, tokens: TokenProvider, budget: RateBudget | None = None,
                 writes: WriteLog | None = None) -> None:
        self.tenant = tenant
        self.settings: Mapping[str, Any] = tenant.settings or {}
        self.budget: RateBudget = budget or NoBudget()
        self.writes: WriteLog = writes or NoWrites()
        self.http = PipedriveClient(tenant.api_base, tokens, self.budget, self.TIMEOUT)
        keys = (self.settings.get("leadrelay_fields") or {}).get("keys") or {}
        if keys:  # LeadRelay's person fields, found by the install job: mapped like tenant custom fields
            self.settings = {**self.settings, "custom_fields": {**f.custom_keys(self.settings), **keys}}
        self._website_key: str | None = self.settings.get("website_field_key")
        # TaskSpec.priority -> the account's option id: found by the install job (ensure_tenant_fields), else read
        # once by this instance
        self._priorities: dict[str, int] | None = (self.settings.get("leadrelay_fields") or {}).get("priorities")
        self._subscribed: list[str] = []

    def record_url(self, object_type: str, record_id: str) -> str:
        return self.record_url_for(self.tenant, object_type, record_id)

    @classmethod
    def record_url_for(cls, tenant: TenantRef, object_type: str, record_id: str) -> str:
        page = cls.RECORD_PAGES.get(f.api_object(object_type))
        if page is None:
            raise CRMValidationError(f"Pipedrive has no record page for {object_type!r}")
        return f"{tenant.api_base.rstrip('/')}/{page}/{quote(str(record_id), safe='')}"

    # reads ------------------------------------------------------------------------------------
    def get_record(self, object_type: str, record_id: str) -> Record | None:
        obj = f.api_object(object_type)
        try:
            return self._record(obj, self._row(obj, record_id))
        except CRMNotFound:
            return None

    def get_records(self, object_type: str, record_ids: list[str]) -> list[Record]:
        obj = f.api_object(object_type)
        if obj in f.V1_ONLY:  # v1 leads have no batch read
            return [r for r in (self.get_record(object_type, rid) for rid in record_ids) if r is not None]
        ids = [str(i) for i in dict.fromkeys(record_ids) if str(i).isdigit()]
        rows: list[dict[str, Any]] = []
        for start in range(0, len(ids), self.BATCH_IDS):
            chunk = ids[start:start + self.BATCH_IDS]
            params = {"ids": ",".join(chunk), "limit": len(chunk)}
            if obj == "persons":
                params["include_fields"] = "marketing_status"
            rows += self.http.v2("GET", "{obj}", obj=obj, params=params)["data"] or []
        return [self._record(obj, row) for row in rows]

    def find_duplicate_candidates(self, object_type: str, *, emails: Iterable[str] = (),
                                  phones: Iterable[str] = (), name: str | None = None,
                                  company: str | None = None, limit: int = 20) -> list[Record]:
        obj = f.api_object(object_type)
        if obj == "persons":
            found = queries.person_candidates(self.http, list(emails), list(phones), name, company, limit)
        elif obj == "organizations":
            found = queries.organization_candidates(self.http, name, limit) if name and name.strip() else {}
        else:
            raise CRMValidationError(f"Pipedrive cannot search {obj} for duplicates")
        by_id = {r.id: r for r in self.get_records(object_type, list(found))}
        return [_with_company(by_id[i], found[i]) for i in found if i in by_id]

    def list_users(self) -> list[CRMUser]:
        data = self.http.call(("GET", "/api/v1/users"), lambda sdk, **kw: sdk.users.get_all_users(**kw))["data"] or []
        # Pipedrive has no manager on users; timezone_name is the user's own setting
        return [CRMUser(id=str(u["id"]), email=u.get("email") or "", name=u.get("name") or "",
                        active=bool(u.get("active_flag")) and not u.get("is_deleted"),
                        timezone=u.get("timezone_name") or None) for u in data]

    def find_company(self, *, domain: str | None = None, name: str | None = None) -> Company | None:
        wanted = f.domain_of(domain)
        found = queries.company_by_domain(self.http, wanted) if wanted else None
        if found is None and name and name.strip():
            found = queries.company_by_name(self.http, name.strip())
        return found

    def find_companies(self, domains: Sequence[str]) -> dict[str, Company | None]:
        """One organization search per domain, one after another: Pipedrive's search takes a single term."""
        return {domain: self.find_company(domain=domain) for domain in dict.fromkeys(domains)}

    # writes -----------------------------------------------------------------------------------
    def set_owner(self, object_type: str, record_id: str, owner_id: str,
                  fields: Mapping[str, Any] | None = None) -> None:
        # An unchanged owner_id changes nothing in Pipedrive: no update_time bump, no change webhook.
        obj = f.api_object(object_type)
        payload = {"owner_id": _int(owner_id, "owner_id")}
        if fields:
            if set(fields) & set(f.LEADRELAY_FIELDS) - set(f.custom_keys(self.settings)):
                self.leadrelay_keys()  # not known from the install job: looked up by name once
            current = self._row(obj, record_id) if f.needs_current(obj, fields) else None
            payload = {**f.to_platform(obj, fields, current, self.settings), **payload}
        self._patch(obj, record_id, payload, [f.OWNER_FIELD, *(fields or {})])

    def set_owners(self, object_type: str, writes: Sequence[OwnerWrite]) -> dict[str, Exception]:
        # Pipedrive has no batch update for persons, deals or activities (none in v1 or v2; fact sheet §3.5),
        # so each record is its own PATCH, stopping at the first 429/5xx as the protocol asks
        results = one_by_one(writes, lambda w: self.set_owner(object_type, w.record_id, w.owner_id, w.fields))
        return failures_by_id([w.record_id for w in writes], results)

    def set_fields(self, object_type: str, record_id: str, fields: Mapping[str, Any]) -> None:
        if not fields:
            return
        obj = f.api_object(object_type)
        if set(fields) & set(f.LEADRELAY_FIELDS) - set(f.custom_keys(self.settings)):
            self.leadrelay_keys()  # not known from the install job: looked up by name once
        current = self._row(obj, record_id) if f.needs_current(obj, fields) else None
        self._patch(obj, record_id, f.to_platform(obj, fields, current, self.settings), list(fields))

    def set_additional(self, object_type: str, record_id: str, *, emails: Sequence[str] | None = None,
                       phones: Sequence[str] | None = None) -> None:
        # a person's emails and phones are lists of {value, primary, label}; the primary entry is kept as it is
        obj = f.api_object(object_type)
        wanted = {key: values for key, values in (("emails", emails), ("phones", phones)) if values is not None}
        if obj != "persons":
            if any(wanted.values()):
                raise CRMValidationError(f"Pipedrive {obj} keep no additional emails or phones")
            return
        if not wanted:
            return
        row = self._row(obj, record_id)
        body = {key: f.with_additional(row.get(key), values) for key, values in wanted.items()
                if f.additional(row.get(key)) != list(dict.fromkeys(values))}
        if body:
            self._patch(obj, record_id, body, [{"emails": "extra_emails", "phones": "extra_phones"}[k] for k in body])

    def create_record(self, object_type: str, fields: Mapping[str, Any], owner_id: str | None,
                      company_id: str | None = None) -> str:
        obj = f.api_object(object_type)
        if obj in f.V1_ONLY:
            raise CRMValidationError("Pipedrive leads hang on a person or organization: create_record makes none")
        body = f.create_body(obj, fields, self.settings)
        if owner_id:
            body["owner_id"] = _int(owner_id, "owner_id")
        link = f.COMPANY_LINK.get(obj)  # a person's or deal's organization; an organization has none
        if company_id and link:
            body[link] = _int(company_id, link)
        record_id = str(self.http.v2("POST", "{obj}", obj=obj, json=body)["data"]["id"])
        self.writes.remember(f.neutral_type(obj), record_id, ["*"])
        return record_id

    def create_records(self, object_type: str, items: Sequence[NewRecord]) -> list[str | Exception]:
        # Pipedrive has no batch create for persons (nor deals, organizations): one POST each
        return one_by_one(items, lambda item: self.create_record(object_type, item.fields, item.owner_id,
                                                                 item.company_id))

    def create_inbox_lead(self, record_id: str, title: str, owner_id: str | None) -> str:
        # POST /v1/leads (no v2 equivalent): a title and a person or organization are required; the owner
        # defaults to the API user, so the routed owner is given (https://developers.pipedrive.com/docs/api/v1/Leads)
        body: dict[str, Any] = {"title": title, "person_id": _int(record_id, "record_id")}
        if owner_id:
            body["owner_id"] = _int(owner_id, "owner_id")
        data = self.http.call(("POST", "/api/v1/leads"), lambda sdk, **kw: sdk.leads.create_lead(body, **kw))["data"]
        lead_id = str(data["id"])
        self.writes.remember(ObjectType.LEAD, lead_id, ["*"])
        return lead_id

    def writable_fields(self, object_type: str) -> frozenset[str]:
        obj = f.api_object(object_type)
        parts = {"email", "phone", "first_name", "last_name"} if obj == "persons" else set()
        return frozenset({*f.SIMPLE.get(obj, {}), *parts, *f.custom_keys(self.settings)})

    def add_note(self, object_type: str, record_id: str, body: str) -> str:
        # POST /v1/notes (no v2 equivalent): content is HTML; one of person_id/org_id/deal_id/lead_id ties it
        # to the record (https://developers.pipedrive.com/docs/api/v1/Notes#addNote)
        obj = f.api_object(object_type)
        link = {"persons": "person_id", "organizations": "org_id", "deals": "deal_id", "leads": "lead_id"}[obj]
        target: Any = record_id if obj in f.V1_ONLY else _int(record_id, "record_id")
        note = {"content": f.task_note_html(body), link: target}
        data = self.http.call(("POST", "/api/v1/notes"), lambda sdk, **kw: sdk._post(
            f"{sdk.BASE_URL}notes", json=note, **kw))["data"] or {}
        note_id = str(data.get("id"))
        self.writes.remember("note", note_id, ["*"])
        return note_id

    def add_notes(self, object_type: str, notes: Sequence[tuple[str, str]]) -> list[str | Exception]:
        return one_by_one(notes, lambda note: self.add_note(object_type, *note))  # no batch create for notes

    def create_task(self, spec: TaskSpec) -> str:
        body: dict[str, Any] = {"subject": spec.subject, "type": f.TASK_TYPES.get(spec.kind, "task"),
                                "owner_id": _int(spec.owner_id, "owner_id"), "note": f.task_note_html(spec.body),
                                "done": False,
                                **f.due_parts(spec.due_at), **_link(spec.record_type, spec.record_id)}
        priority = self.activity_priorities().get(spec.priority)
        if priority is not None:
            body["priority"] = priority
        data = self.http.v2("POST", "activities", json=body)["data"]
        task_id = str(data["id"])
        self.writes.remember(ObjectType.TASK, task_id, ["*"])
        return task_id

    def create_tasks(self, specs: Sequence[TaskSpec]) -> list[str | Exception]:
        return one_by_one(specs, self.create_task)  # no batch create for activities either

    def update_task(self, task_id: str, *, owner_id: str | None = None, due_at: dt.datetime | None = None,
                    body: str | None = None) -> None:
        patch: dict[str, Any] = {}
        if owner_id is not None:
            patch["owner_id"] = _int(owner_id, "owner_id")
        if due_at is not None:
            patch.update(f.due_parts(due_at))
        if body is not None:
            patch["note"] = f.task_note_html(body)
        if patch:
            self._patch("activities", task_id, patch, ["*"])

    def complete_task(self, task_id: str, note: str | None = None) -> None:
        patch: dict[str, Any] = {"done": True}
        if note:
            patch["note"] = f.append_task_note(self._row("activities", task_id).get("note") or "", note)
        self._patch("activities", task_id, patch, ["*"])

    def get_task(self, task_id: str) -> TaskState | None:
        try:
            row = self._row("activities", task_id)
        except CRMNotFound:
            return None
        return TaskState(id=str(row["id"]), done=bool(row.get("done")), owner_id=_str(row.get("owner_id")),
                         due_at=f.due_at(row), completed_at=parse_iso(row.get("marked_as_done_time")))

    def activity_logged_since(self, object_type: str, record_id: str, since: dt.datetime) -> bool:
        link = f.ACTIVITY_LINK.get(object_type)
        if link is None:
            raise CRMValidationError(f"Pipedrive activities do not link to {object_type!r}")
        return queries.done_activity_since(self.http, link, record_id, since)

    def merge(self, object_type: str, survivor_id: str, other_id: str,
              fields: Mapping[str, Any] | None = None) -> MergeResult:
        obj = f.api_object(object_type)
        if obj not in self.MERGEABLE:
            raise CRMValidationError(f"Pipedrive cannot merge {obj}")
        for rid in (survivor_id, other_id):
            self.writes.remember(object_type, str(rid), ["*"])
        # PUT /v1/{obj}/{id}/merge: the merge_with_id record survives and wins conflicts, {id} is removed
        # (https://pipedrive.readme.io/docs/merging-two-persons), so the loser goes in the path.
        body = {"merge_with_id": _int(survivor_id, "survivor_id")}
        data = self.http.call(("PUT", f"/api/v1/{obj}/{{id}}/merge"), lambda sdk, **kw: sdk._put(
            f"{sdk.BASE_URL}{obj}/{_int(other_id, 'other_id')}/merge", json=body, **kw))["data"] or {}
        survivor = str(data.get("id") or survivor_id)
        if fields:
            self.set_fields(object_type, survivor, fields)
        return MergeResult(survivor_id=survivor, merged_ids=(str(other_id),))

    def changed_since(self, object_type: str, cursor: str | None, limit: int = 100,
                      overlap: dt.timedelta = dt.timedelta(0)) -> ChangePage:
        obj = f.api_object(object_type)
        page = queries.changes(self.http, obj, cursor, limit, overlap)
        return ChangePage(records=[self._record(obj, row) for row in page.rows], cursor=page.cursor,
                          has_more=page.has_more)

    # messages -----------------------------------------------------------------------------------
    def log_message(self, object_type: str, record_id: str, message: Message) -> str:
        """A done activity on the person: type email, an SMS type task (no default activity type is for texts),
        its subject starting with f.LOGGED_PREFIX so that activity_logged_since does not count it."""
        if f.api_object(object_type) != "persons":
            raise CRMValidationError(f"Pipedrive logs messages on persons, not {object_type!r}")
        sms = message.channel == "sms"
        inbound = " from lead" if message.direction == "inbound" else ""
        body: dict[str, Any] = {
            "subject": f"{f.LOGGED_PREFIX} {'SMS' if sms else 'Email'}{inbound}: {message.subject}"[:255],
            "type": "task" if sms else "email", "done": True, "note": f.task_note_html(message.body),
            **f.due_parts(message.sent_at), **_link(ObjectType.CONTACT, record_id)}
        if message.owner_id:
            body["owner_id"] = _int(message.owner_id, "owner_id")
        data = self.http.v2("POST", "activities", json=body)["data"]
        activity_id = str(data["id"])
        self.writes.remember(ObjectType.TASK, activity_id, ["*"])
        return activity_id

    def set_do_not_contact(self, object_type: str, record_id: str) -> None:
        """PATCH /v2/persons/{id} marketing_status "unsubscribed". Pipedrive keeps consent only where the company
        uses Campaigns (elsewhere the field is ignored and not returned), and lets it change once: either way
        the answer shows whether it took."""
        if f.api_object(object_type) != "persons":
            raise CRMValidationError(f"Pipedrive keeps marketing consent on persons, not {object_type!r}")
        self.writes.remember(ObjectType.CONTACT, str(record_id), ["email_opt_out"])
        data = self.http.v2("PATCH", "persons/{id}", id=_int(record_id, "id"),
                            json={"marketing_status": f.UNSUBSCRIBED})["data"] or {}
        if "marketing_status" not in data:
            raise CRMValidationError("Pipedrive keeps no marketing consent without the Campaigns add-on: "
                                     "the person can't be marked unsubscribed")
        if data["marketing_status"] != f.UNSUBSCRIBED:
            raise CRMValidationError(f"Pipedrive kept the person's marketing status {data['marketing_status']!r} "
                                     "(it changes once only)")

    def inbound_since(self, cursor: str | None, limit: int = 100) -> InboundPage:
        """Mailbox messages received after the cursor from the owners' synced inboxes (mail:read)."""
        found, since = outreach.inbound(self.http, cursor)
        kept = found[:limit]
        last = kept[-1] if kept else None
        next_cursor = outreach.encode(last[0].received_at, last[1]) if last else (cursor or outreach.encode(since, 0))
        return InboundPage(messages=[m for m, _ in kept], cursor=next_cursor, has_more=len(found) > limit)

    def meetings_since(self, cursor: str | None, limit: int = 100) -> MeetingPage:
        found, more, since = outreach.meetings(self.http, cursor, limit)
        kept = found[:limit]
        last = kept[-1] if kept else None
        next_cursor = outreach.encode(last[0].at, last[1]) if last else (cursor or outreach.encode(since, 0))
        return MeetingPage(meetings=[m for m, _ in kept], cursor=next_cursor, has_more=more)

    def send_email(self, object_type: str, record_id: str, message: Message) -> str:
        raise CRMValidationError("Pipedrive's API sends no email: LeadRelay sends through the tenant's SMTP server")

    # webhooks -----------------------------------------------------------------------------------
    def subscribe_webhooks(self, callback_url: str, username: str, secret: str) -> list[str]:
        self._subscribed = queries.ensure_webhooks(self.http, callback_url, username, secret,
                                                   self.SUBSCRIPTIONS, self.WEBHOOK_VERSION)
        return list(self._subscribed)

    def unsubscribe_webhooks(self) -> None:
        known = self._subscribed or [str(i) for i in self.settings.get("webhook_subscriptions") or []]
        if not known:  # an app sees only its own webhooks (https://pipedrive.readme.io/docs/webhooks-for-apps)
            known = [str(h["id"]) for h in queries.list_webhooks(self.http) if h.get("type") == "application"]
        queries.remove_webhooks(self.http, known)
        self._subscribed = []

    def ensure_custom_fields(self) -> list[str]:
        """LeadRelay's person fields via POST /v1/personFields (existing ones, by name, are kept)."""
        existing, created = queries.person_field_keys(self.http), []
        for name, field_type in f.LEADRELAY_FIELDS.values():
            if name not in existing:
                existing[name] = queries.create_person_field(self.http, name, field_type)
                created.append(existing[name])
        self._use_keys(existing)
        return created

    def leadrelay_keys(self) -> dict[str, str]:
        """Neutral leadrelay_* name -> person field key (looked up by field name when not known yet)."""
        known = {n: k for n, k in f.custom_keys(self.settings).items() if n in f.LEADRELAY_FIELDS}
        if len(known) < len(f.LEADRELAY_FIELDS):
            self._use_keys(queries.person_field_keys(self.http))
            known = {n: k for n, k in f.custom_keys(self.settings).items() if n in f.LEADRELAY_FIELDS}
        return known

    def _use_keys(self, by_name: Mapping[str, str]) -> None:
        keys = {neutral: by_name[name] for neutral, (name, _) in f.LEADRELAY_FIELDS.items() if name in by_name}
        self.settings = {**self.settings, "custom_fields": {**f.custom_keys(self.settings), **keys}}

    # helpers ------------------------------------------------------------------------------------
    def _row(self, obj: str, record_id: str) -> dict[str, Any]:
        if obj in f.V1_ONLY:
            return self.http.call(("GET", "/api/v1/leads/{id}"),
                                  lambda sdk, **kw: sdk.leads.get_lead(record_id, **kw))["data"]
        if not str(record_id).isdigit():
            raise CRMNotFound(f"Pipedrive {obj} ids are numeric, got {record_id!r}")
        params = {"include_fields": "marketing_status"} if obj == "persons" else None  # Campaigns' consent
        return self.http.v2("GET", "{obj}/{id}", obj=obj, id=record_id, params=params)["data"]

    def _patch(self, obj: str, record_id: str, body: dict[str, Any], neutral_fields: list[str]) -> None:
        # remembered before the write: Pipedrive may deliver the change webhook before the PATCH returns
        self.writes.remember(f.neutral_type(obj), str(record_id), neutral_fields)
        if obj in f.V1_ONLY:
            self.http.call(("PATCH", "/api/v1/leads/{id}"),
                           lambda sdk, **kw: sdk.leads.update_lead(record_id, body, **kw))
        else:
            self.http.v2("PATCH", "{obj}/{id}", obj=obj, id=_int(record_id, "id"), json=body)

    def _record(self, obj: str, row: Mapping[str, Any]) -> Record:
        return f.to_record(obj, row, self.settings, self._org_website_key() if obj == "organizations" else None)

    def activity_priorities(self) -> dict[str, int]:
        """"high"/"medium"/"low" -> the id of the activity priority option with that label (GET /v1/activityFields,
        once; v2's activityFields needs the admin scope, v1's the activities scope LeadRelay has); {} when the
        account has no priority field, so its tasks carry none."""
        if self._priorities is None:
            data = self.http.call(("GET", "/api/v1/activityFields"),
                                  lambda sdk, **kw: sdk.activities.get_activity_fields(params={"limit": 500}, **kw)
                                  )["data"] or []
            field = next((fd for fd in data if fd.get("key") == "priority"), None) or {}
            self._priorities = {str(o.get("label") or "").strip().lower(): int(o["id"])
                                for o in field.get("options") or [] if o.get("id") is not None}
        return self._priorities

    def _org_website_key(self) -> str | None:
        """The key of the organizations' "Website" custom field (GET /v1/organizationFields, once)."""
        if self._website_key is None:
            data = self.http.call(("GET", "/api/v1/organizationFields"),
                                  lambda sdk, **kw: sdk.organizations.get_organization_fields(
                                      params={"limit": 500}, **kw))["data"] or []
            self._website_key = next((str(fd["key"]) for fd in data if fd.get("name") == self.WEBSITE_FIELD), "")
        return self._website_key or None


def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CRMValidationError(f"Pipedrive {what} must be numeric, got {value!r}") from None


def _str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _link(record_type: str, record_id: str) -> dict[str, Any]:
    """How a v2 activity points at its record; person_id is read-only, persons go in participants."""
    if record_type == ObjectType.CONTACT:
        return {"participants": [{"person_id": _int(record_id, "record_id"), "primary": True}]}
    if record_type == ObjectType.LEAD:
        return {"lead_id": str(record_id)}
    key = f.ACTIVITY_LINK.get(record_type)
    if key is None:
        raise CRMValidationError(f"Pipedrive activities cannot link to {record_type!r}")
    return {key: _int(record_id, "record_id")}


def _with_company(record: Record, company: str | None) -> Record:
    if not company or record.fields.get("company"):
        return record
    return dataclasses.replace(record, fields={**record.fields, "company": company})
