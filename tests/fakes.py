"""One in-memory CRMAdapter for integration/ unit tests: canned records, every call counted."""
from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from typing import Any

from integration.errors import CRMConflict, CRMError, CRMNotFound, CRMRateLimited, CRMValidationError
from integration.protocols import TenantRef
from integration.records import (
    FIELDS,
    ChangePage,
    Company,
    CRMUser,
    InboundPage,
    MergeResult,
    Message,
    NewRecord,
    OwnerWrite,
    Record,
    TaskSpec,
    TaskState,
)


class FakeCRMAdapter:
    PLATFORM = "fake"
    LEAD_OBJECT = "contact"
    EPOCH_CURSOR = "1970-01-01T00:00:00+00:00"
    LIFECYCLE_FIELD = "lifecycle_stage"
    RATE_LIMITS = {"default": (100, 10.0)}
    SEARCH_LAG = dt.timedelta(0)  # searches see every write at once (a test may set its own)
    INBOX_LEADS = False
    EMAIL_SENDER: str | None = None  # a test sets "email_action" to have send_email work
    DERIVED = frozenset({"domain", "deal_status"})  # what the CRM derives: create_record leaves it out, as adapters do

    def __init__(self, tenant: TenantRef | None = None, *_args: Any, **_kwargs: Any) -> None:
        self.tenant = tenant
        self.records: dict[tuple[str, str], Record] = {}
        self.users: list[CRMUser] = []
        self.tasks: dict[str, TaskState] = {}
        self.companies: dict[str, Company] = {}  # by web domain, served by find_company and find_companies
        self.calls: Counter[str] = Counter()
        self.rate_limited_calls = 0  # how many upcoming calls answer CRMRateLimited
        self.unique_emails = False  # True: create_record refuses an email another record holds (like HubSpot)
        self.refused_owners: set[str] = set()  # owners create_record refuses (users deactivated in the CRM)
        # the neutral fields create_record takes (a test may narrow them); any other is refused, as adapters do
        self.writable: frozenset[str] = frozenset(FIELDS) - self.DERIVED
        self.record_notes: dict[str, tuple[str, str, str]] = {}  # note id -> (object type, record id, body)
        self._ids = itertools.count(1)
        self.logged: dict[str, tuple[str, str, Message]] = {}  # log id -> (object type, record id, message)
        self.do_not_contact: set[tuple[str, str]] = set()
        self.inbound: list = []  # InboundMessage, oldest first: what inbound_since serves
        self.sent_by_crm: dict[str, tuple[str, str, Message]] = {}

    # test helpers ---------------------------------------------------------------------------
    def put(self, object_type: str, record_id: str, updated_at: dt.datetime | None = None, **fields: Any) -> Record:
        now = updated_at or dt.datetime.now(dt.UTC)
        record = Record(object_type=object_type, id=record_id, fields=fields, owner_id=fields.pop("owner_id", None),
                        created_at=now, updated_at=now)
        self.records[(object_type, record_id)] = record
        return record

    def put_deal(self, deal_id: str, status: str, *contact_ids: str, **fields: Any) -> Record:
        """A deal (deal_status open/won/lost) with its contacts, as adapters read deals."""
        record = self.put("deal", deal_id, deal_status=status, **fields)
        self.records[("deal", deal_id)] = Record(**{**record.__dict__, "contact_ids": tuple(contact_ids)})
        return self.records[("deal", deal_id)]

    def _call(self, name: str) -> None:
        self.calls[name] += 1
        if self.rate_limited_calls:
            self.rate_limited_calls -= 1
            raise CRMRateLimited("fake 429", retry_after=1)

    # the protocol -----------------------------------------------------------------------------
    def get_record(self, object_type: str, record_id: str) -> Record | None:
        self._call("get_record")
        return self.records.get((object_type, record_id))

    def get_records(self, object_type: str, record_ids: list[str]) -> list[Record]:
        self._call("get_records")
        return [self.records[(object_type, i)] for i in record_ids if (object_type, i) in self.records]

    def find_duplicate_candidates(self, object_type: str, **_criteria: Any) -> list[Record]:
        self._call("find_duplicate_candidates")
        return []

    def list_users(self) -> list[CRMUser]:
        self._call("list_users")
        return list(self.users)

    def find_company(self, *, domain: str | None = None, name: str | None = None) -> Company | None:
        self._call("find_company")
        named = [c for c in self.companies.values() if name and c.name.lower() == name.lower()]
        return self.companies.get(domain or "") or (named or [None])[0]

    def find_companies(self, domains: list[str]) -> dict[str, Company | None]:
        self._call("find_companies")
        return {d: self.companies.get(d) for d in domains}

    def set_owner(self, object_type: str, record_id: str, owner_id: str, fields=None) -> None:
        self._call("set_owner")
        self._write_owner(object_type, record_id, owner_id, fields)

    def _write_owner(self, object_type: str, record_id: str, owner_id: str, fields=None) -> None:
        record = self.records.get((object_type, record_id))
        if record is None:
            raise CRMNotFound(f"fake 404: {object_type} {record_id}")
        merged = {**record.fields, **(fields or {})}
        self.records[(object_type, record_id)] = Record(**{**record.__dict__, "owner_id": owner_id, "fields": merged})

    def set_owners(self, object_type: str, writes: list[OwnerWrite]) -> dict[str, Exception]:
        """Like a batch update: one call for all; a 429 fails every record, a missing record only itself."""
        try:
            self._call("set_owners")
        except CRMRateLimited as exc:
            return {w.record_id: exc for w in writes}
        failures: dict[str, Exception] = {}
        for w in writes:
            try:
                self._write_owner(object_type, w.record_id, w.owner_id, w.fields)
            except CRMNotFound as exc:
                failures[w.record_id] = exc
        return failures

    def set_fields(self, object_type: str, record_id: str, fields: dict) -> None:
        self._call("set_fields")
        record = self.records[(object_type, record_id)]
        merged = {k: v for k, v in {**record.fields, **fields}.items() if v not in (None, "")}  # empty clears
        self.records[(object_type, record_id)] = Record(**{**record.__dict__, "fields": merged})

    def set_additional(self, object_type: str, record_id: str, *, emails=None, phones=None) -> None:
        self._call("set_additional")
        record = self.records[(object_type, record_id)]
        changes = {k: tuple(v) for k, v in (("extra_emails", emails), ("extra_phones", phones)) if v is not None}
        if changes and self.unique_emails and emails:
            held = self._emails_held(object_type, record_id)
            if taken := [e for e in emails if e.lower() in held]:
                raise CRMConflict(f"fake 409: {taken[0]} already exists")
        self.records[(object_type, record_id)] = Record(**{**record.__dict__, **changes})

    def _emails_held(self, object_type: str, but: str | None = None) -> set[str]:
        return {str(e).lower() for (t, i), r in self.records.items() if t == object_type and i != but
                for e in (r.fields.get("email"), *r.extra_emails) if e}

    def create_record(self, object_type: str, fields: dict, owner_id: str | None,
                      company_id: str | None = None) -> str:
        self._call("create_record")
        return self._create(object_type, NewRecord(dict(fields), owner_id, company_id))

    def _create(self, object_type: str, item: NewRecord) -> str:
        kept = {k: v for k, v in item.fields.items() if v not in (None, "") and k not in self.DERIVED}
        if unknown := sorted(set(kept) - self.writable_fields(object_type)):
            raise CRMValidationError(f"fake 400: no field for {', '.join(unknown)}")
        email = str(kept.get("email") or "").lower()
        if self.unique_emails and email and email in self._emails_held(object_type):
            raise CRMConflict(f"fake 409: {email} already exists")
        if item.owner_id in self.refused_owners:
            raise CRMValidationError(f"fake 400: owner {item.owner_id} is inactive")
        record_id = f"c{next(self._ids)}"
        now = dt.datetime.now(dt.UTC)
        self.records[(object_type, record_id)] = Record(object_type=object_type, id=record_id, fields=kept,
                                                        owner_id=item.owner_id, created_at=now, updated_at=now,
                                                        company_id=item.company_id)
        return record_id

    def create_inbox_lead(self, record_id: str, title: str, owner_id: str | None) -> str:
        raise CRMValidationError("the fake CRM has no leads inbox")

    def create_records(self, object_type: str, items: list[NewRecord]) -> list[str | Exception]:
        """Like a batch create: one call for all; a 429 fails every item, a refused item only itself."""
        return self._batch("create_records", items, lambda item: self._create(object_type, item))

    def _batch(self, name: str, items: list, write: Any) -> list[Any]:
        try:
            self._call(name)
        except CRMRateLimited as exc:
            return [exc] * len(items)
        results: list[Any] = []
        for item in items:
            try:
                results.append(write(item))
            except CRMError as exc:
                results.append(exc)
        return results

    def writable_fields(self, object_type: str) -> frozenset[str]:
        return self.writable

    def add_note(self, object_type: str, record_id: str, body: str) -> str:
        self._call("add_note")
        return self._note(object_type, record_id, body)

    def _note(self, object_type: str, record_id: str, body: str) -> str:
        if (object_type, record_id) not in self.records:
            raise CRMNotFound(f"fake 404: {object_type} {record_id}")
        note_id = f"n{next(self._ids)}"
        self.record_notes[note_id] = (object_type, record_id, body)
        return note_id

    def add_notes(self, object_type: str, notes: list[tuple[str, str]]) -> list[str | Exception]:
        return self._batch("add_notes", notes, lambda note: self._note(object_type, *note))

    def create_task(self, spec: TaskSpec) -> str:
        self._call("create_task")
        return self._new_task(spec)

    def _new_task(self, spec: TaskSpec) -> str:
        task_id = f"t{next(self._ids)}"
        self.tasks[task_id] = TaskState(id=task_id, done=False, owner_id=spec.owner_id, due_at=spec.due_at)
        return task_id

    def create_tasks(self, specs: list[TaskSpec]) -> list[str | Exception]:
        try:
            self._call("create_tasks")
        except CRMRateLimited as exc:
            return [exc] * len(specs)
        return [self._new_task(spec) for spec in specs]

    def update_task(self, task_id: str, **changes: Any) -> None:
        self._call("update_task")

    def complete_task(self, task_id: str, note: str | None = None) -> None:
        self._call("complete_task")
        self.tasks[task_id] = TaskState(**{**self.tasks[task_id].__dict__, "done": True})

    def get_task(self, task_id: str) -> TaskState | None:
        self._call("get_task")
        return self.tasks.get(task_id)

    def activity_logged_since(self, object_type: str, record_id: str, since: dt.datetime) -> bool:
        self._call("activity_logged_since")
        return False

    def merge(self, object_type: str, survivor_id: str, other_id: str, fields=None) -> MergeResult:
        self._call("merge")
        self.records.pop((object_type, other_id), None)
        return MergeResult(survivor_id=survivor_id, merged_ids=(other_id,))

    def record_url(self, object_type: str, record_id: str) -> str:
        return f"https://crm.example/{object_type}/{record_id}"

    def changed_since(self, object_type: str, cursor: str | None, limit: int = 100,
                      overlap: dt.timedelta = dt.timedelta(0)) -> ChangePage:
        self._call("changed_since")
        since = dt.datetime.fromisoformat(cursor) - overlap if cursor else dt.datetime.min.replace(tzinfo=dt.UTC)
        rows = sorted((r for (t, _), r in self.records.items() if t == object_type and r.updated_at > since),
                      key=lambda r: (r.updated_at, r.id))[:limit]
        new_cursor = rows[-1].updated_at.isoformat() if rows else (cursor or since.isoformat())
        return ChangePage(records=rows, cursor=new_cursor, has_more=len(rows) == limit)

    def subscribe_webhooks(self, callback_url: str, username: str, secret: str) -> list[str]:
        self._call("subscribe_webhooks")
        return []

    def unsubscribe_webhooks(self) -> None:
        self._call("unsubscribe_webhooks")

    def log_message(self, object_type: str, record_id: str, message: Message) -> str:
        self._call("log_message")
        log_id = f"msg{next(self._ids)}"
        self.logged[log_id] = (object_type, record_id, message)
        return log_id

    def set_do_not_contact(self, object_type: str, record_id: str) -> None:
        self._call("set_do_not_contact")
        self.do_not_contact.add((object_type, record_id))
        if (object_type, record_id) in self.records:
            record = self.records[(object_type, record_id)]
            self.records[(object_type, record_id)] = Record(**{
                **record.__dict__, "fields": {**record.fields, "email_opt_out": True, "do_not_call": True}})

    def inbound_since(self, cursor: str | None, limit: int = 100) -> InboundPage:
        """Served from `self.inbound` by position: the cursor is how many were read."""
        self._call("inbound_since")
        start = int(cursor or 0)
        page = self.inbound[start:start + limit]
        return InboundPage(messages=page, cursor=str(start + len(page)), has_more=start + len(page) < len(self.inbound))

    def meetings_since(self, cursor: str | None, limit: int = 100):
        """Meetings are logged through `self.meetings` (Meeting, oldest first), served by position like inbound."""
        from integration.records import MeetingPage
        self._call("meetings_since")
        meetings = getattr(self, "meetings", [])
        start = int(cursor or 0)
        page = meetings[start:start + limit]
        return MeetingPage(meetings=page, cursor=str(start + len(page)), has_more=start + len(page) < len(meetings))

    def send_email(self, object_type: str, record_id: str, message: Message) -> str:
        self._call("send_email")
        if self.EMAIL_SENDER is None:
            raise CRMValidationError("the fake CRM sends no email")
        sent_id = f"sent{next(self._ids)}"
        self.sent_by_crm[sent_id] = (object_type, record_id, message)
        return sent_id

    def ensure_custom_fields(self) -> list[str]:
        """Like HubSpot: creates the leadrelay_* fields the first time, nothing after."""
        self._call("ensure_custom_fields")
        created, self.custom_fields_created = ([] if getattr(self, "custom_fields_created", False) else
                                               [n for n in FIELDS if n.startswith("leadrelay_")]), True
        return created


class FakeFollowUpCRM(FakeCRMAdapter):
    """The fake with what SLA checks and cadences read: task specs and notes, logged activities, moved due times."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.specs: dict[str, TaskSpec] = {}
        self.notes: dict[str, str] = {}
        self.activities: list[tuple[str, str, dt.datetime]] = []  # (object_type, record_id, logged at)

    def log_activity(self, object_type: str, record_id: str, at: dt.datetime | None = None) -> None:
        self.activities.append((object_type, record_id, at or dt.datetime.now(dt.UTC)))

    def _new_task(self, spec: TaskSpec) -> str:
        task_id = super()._new_task(spec)
        self.specs[task_id] = spec
        return task_id

    def update_task(self, task_id: str, **changes: Any) -> None:
        super().update_task(task_id, **changes)
        if changes.get("due_at"):
            self.tasks[task_id] = TaskState(**{**self.tasks[task_id].__dict__, "due_at": changes["due_at"]})

    def complete_task(self, task_id: str, note: str | None = None) -> None:
        super().complete_task(task_id, note)
        self.tasks[task_id] = TaskState(**{**self.tasks[task_id].__dict__, "completed_at": dt.datetime.now(dt.UTC)})
        if note:
            self.notes[task_id] = note

    def activity_logged_since(self, object_type: str, record_id: str, since: dt.datetime) -> bool:
        super().activity_logged_since(object_type, record_id, since)
        return any(t == object_type and r == record_id and at >= since for t, r, at in self.activities)

    def open_tasks(self, owner_id: str | None = None) -> list[str]:
        return [i for i, t in self.tasks.items() if not t.done and (owner_id is None or t.owner_id == owner_id)]


def tenant_with_rules(database_url: str, fake: Any, rules: dict) -> int:
    """A tenant of the fake CRM with `rules` published (fake.tenant_id names it), as the pipeline tests start."""
    from integration.db import session_scope
    from integration.models import RuleSetVersion, Tenant

    with session_scope(database_url) as s:
        tenant = Tenant(platform="fake", external_id="A", name="A")
        s.add(tenant)
        s.flush()
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=rules))
        fake.tenant_id = tenant.id
    return fake.tenant_id
