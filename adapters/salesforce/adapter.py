"""SalesforceAdapter: the CRMAdapter protocol over simple-salesforce (REST + SOQL) and SOAP merge()."""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from adapters.nulls import NoBudget, NoWrites
from adapters.salesforce import queries, soap
from adapters.salesforce.client import TIMEOUT, SalesforceClient
from adapters.salesforce.errors import from_save_result
from adapters.salesforce.fields import (
    PACKAGE,
    PACKAGE_LATER,
    PACKAGE_OBJECTS,
    TASK_FIELDS,
    TASK_PRIORITY,
    TASK_TYPE,
    WHO_TYPES,
    id18,
    object_map,
    parse_date,
    to_record,
)
from integration.crm.batch_writes import failures_by_id, in_chunks, send_built
from integration.errors import CRMError, CRMNotFound, CRMValidationError
from integration.protocols import RateBudget, TenantRef, TokenProvider, WriteLog, parse_iso
from integration.records import (
    ChangePage,
    Company,
    CRMUser,
    InboundMessage,
    InboundPage,
    Meeting,
    MeetingPage,
    MergeResult,
    Message,
    NewRecord,
    OwnerWrite,
    Record,
    TaskSpec,
    TaskState,
)

log = logging.getLogger("leadrelay.adapters.salesforce")
OWNER = "owner"  # the neutral name reported to the write log for OwnerId
# sObject Collections: ≤200 records a request, SaveResults in request order; allOrNone false saves each record that
# can be saved. https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-update.html
COLLECTIONS = "composite/sobjects"
Saving = tuple[dict[str, Any], list[str]]  # an sObject Collections record, and the neutral fields it writes


def _company(row: dict[str, Any] | None) -> Company | None:
    """An Account row as a Company (None stays None)."""
    if row is None:
        return None
    record = to_record("company", row)
    return Company(id=record.id, name=record.fields.get("name", ""), domain=record.fields.get("domain"),
                   owner_id=record.owner_id)


# Lead and Contact ids by key prefix (EmailMessageRelation.RelationId and Event.WhoId point at either)
WHO_PREFIXES = {"00Q": "lead", "003": "contact"}


def _who_type(record_id: str | None) -> str:
    return WHO_PREFIXES.get((record_id or "")[:3], "")


def _page_cursor(rows: list[dict[str, Any]], cursor: str | None, since: dt.datetime) -> str:
    if not rows:
        return cursor or queries.encode_cursor(since.isoformat(), None)
    return queries.encode_cursor(rows[-1]["CreatedDate"], rows[-1]["Id"])


def _note(record_id: str, body: str) -> dict[str, Any]:
    """A Note on the record: its first line is the Title (≤ 80 characters), Body ≤ 32,000:
    https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_note.htm
    """
    title, _, _ = body.partition("\n")
    return {"ParentId": id18(record_id), "Title": title[:80] or "LeadRelay", "Body": body[:32000]}


class SalesforceAdapter:
    """One Salesforce org. Reads by SOQL, writes by sObject REST, merges by SOAP (REST has no merge)."""

    PLATFORM: ClassVar[str] = "salesforce"
    LEAD_OBJECT: ClassVar[str] = "lead"
    LIFECYCLE_FIELD: ClassVar[str] = "leadrelay_lifecycle"  # the package field LeadRelay_Lifecycle__c
    EPOCH_CURSOR: ClassVar[str] = "1970-01-01T00:00:00Z"  # changed_since from the very first record
    # An org-wide rolling 24 h allocation (100,000 + per-licence extra on Enterprise) and no per-second
    # limit; every REST/SOAP request counts 1 whatever it carries, so batches are what save budget.
    # https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-api.html
    RATE_LIMITS: ClassVar[Mapping[str, tuple[int, float]]] = {"daily": (100_000, 86_400.0)}
    # Used up, that allocation locks out every integration of the org until enough of the 24 h rolls off: the
    # budget leaves LEADRELAY_SALESFORCE_RESERVE of it to them, which only a new lead may spend (factory.py).
    RESERVED_BUCKETS: ClassVar[tuple[str, ...]] = ("daily",)
    # Every read is SOQL, which queries the database: a committed write is seen at once. (SOSL, whose search index
    # takes "about 15 minutes or more" after a write, is not used:
    # https://developer.salesforce.com/docs/platform/salesforce-large-data-volumes-bp/guide/ldv-deployments-concepts-search-architecture.html)
    SEARCH_LAG: ClassVar[dt.timedelta] = dt.timedelta(0)
    INBOX_LEADS: ClassVar[bool] = False
    ADDRESS_FIELDS: ClassVar[frozenset[str]] = frozenset({"street", "city", "state", "postcode", "country"})
    BATCH_IDS: ClassVar[int] = 200  # ids per WHERE Id IN (...) read, and records per sObject Collections write
    # Domains per find_companies SOQL: a whole drain batch (≤ 50 leads) in one request; fewer when long domains
    # would make the query longer than the URL it travels in may be (queries.MAX_QUERY_CHARS)
    DOMAINS_PER_QUERY: ClassVar[int] = 50
    # An org's duplicate rule that alerts refuses an API save unless the request allows it ("allowSave=true: allow
    # the user to acknowledge the alert and save the duplicate record", API 52.0+,
    # https://developer.salesforce.com/docs/platform/api-rest/guide/headers-duplicaterules.html). LeadRelay's saves
    # set owners and its own fields on records that exist, or re-create what an undo restores: they acknowledge the
    # alert as a person in the UI does. A blocking rule still refuses them (CRMRecordRefused: the review queue).
    SAVE_HEADERS: ClassVar[Mapping[str, str]] = {"Sforce-Duplicate-Rule-Header": "allowSave=true"}
    EMAIL_SENDER: ClassVar[str | None] = "email_action"
    CLOSED_STATUS: ClassVar[str] = "Completed"
    OPEN_STATUS: ClassVar[str] = "Not Started"

    def __init__(self, tenant: TenantRef, tokens: TokenProvider, budget: RateBudget | None = None,
                 writes: WriteLog | None = None) -> None:
        self.tenant = tenant
        self.writes: WriteLog = writes or NoWrites()
        self.client = SalesforceClient(tenant, tokens, budget or NoBudget())

    # plumbing ------------------------------------------------------------------------------------
    def _query(self, soql: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every row of a SOQL query, following nextRecordsUrl (each page is one API request)."""
        page = self.client.call(lambda sf: sf.query(soql, include_deleted=include_deleted, timeout=TIMEOUT))
        rows = list(page["records"])
        while not page.get("done", True):
            url = page["nextRecordsUrl"]
            page = self.client.call(lambda sf, u=url: sf.query_more(u, identifier_is_url=True, timeout=TIMEOUT))
            rows += page["records"]
        return rows

    def _rest(self, path: str, method: str = "GET", **kwargs: Any) -> Any:
        if method in ("POST", "PATCH"):  # creates and updates: the saves duplicate rules check
            kwargs["headers"] = {**self.SAVE_HEADERS, **kwargs.get("headers", {})}
        return self.client.call(lambda sf: sf.restful(path, method=method, timeout=TIMEOUT, **kwargs))

    def _patch(self, object_type: str, record_id: str, data: dict[str, Any], neutral: Iterable[str]) -> None:
        sobject = object_map(object_type).sobject
        # remembered before the write: the change notification can arrive before the PATCH's answer
        self._remember(object_type, record_id, neutral)
        self._rest(f"sobjects/{sobject}/{quote(record_id, safe='')}", method="PATCH", json=data)

    def _mapping(self, object_type: str) -> Any:
        """The object's map; reads select the managed package's fields once the install job found them."""
        mapping = object_map(object_type)
        if mapping.package and (self.tenant.settings or {}).get("leadrelay_fields", {}).get("ready"):
            have = [name for neutral, name in mapping.package.items() if neutral not in self._unavailable()]
            return dataclasses.replace(mapping, extra=(*mapping.extra, *have))
        return mapping

    def _unavailable(self) -> frozenset[str]:
        """LeadRelay's fields this org's package version lacks (found by the install job): never sent."""
        state = (self.tenant.settings or {}).get("leadrelay_fields") or {}
        return frozenset(state.get("unavailable") or ())

    def _own(self, fields: Mapping[str, Any] | None) -> dict[str, Any]:
        unavailable = self._unavailable()
        return {k: v for k, v in (fields or {}).items() if k not in unavailable}

    def _remember(self, object_type: str, record_id: str, neutral: Iterable[str]) -> None:
        self.writes.remember(object_type, str(record_id), list(neutral))

    def _save(self, method: str, object_type: str, built: list[Saving]) -> list[str | Exception]:
        """One sObject Collections request for (record, neutral fields) pairs: in order, each saved id or its error.
        Updates are reported to the write log before the request (as in _patch), creates from the answer."""
        for record, fields in built:
            if record.get("id"):
                self._remember(object_type, record["id"], fields)
        answers = self._rest(COLLECTIONS, method=method, json={"allOrNone": False, "records": [r for r, _ in built]})
        created = method == "POST"  # a new record's id is only known from the answer
        return [self._saved(object_type, answer, fields, created)
                for answer, (_, fields) in zip(answers, built, strict=True)]

    def _saved(self, object_type: str, answer: Mapping[str, Any], neutral: Iterable[str],
               created: bool) -> str | Exception:
        """A SaveResult's record id (a created one reported to the write log), or its error."""
        error = from_save_result(answer)
        if error is not None:
            return error
        if created:
            self._remember(object_type, answer["id"], neutral)
        return str(answer["id"])

    def record_url(self, object_type: str, record_id: str) -> str:
        return self.record_url_for(self.tenant, object_type, record_id)

    @classmethod
    def record_url_for(cls, tenant: TenantRef, object_type: str, record_id: str) -> str:
        # Lightning record pages, <instance>/lightning/r/<sObject>/<id>/view: a My Domain instance forwards
        # /lightning/ to its lightning.force.com host
        sobject = object_map(object_type).sobject
        return f"{tenant.api_base.rstrip('/')}/lightning/r/{sobject}/{quote(str(record_id), safe='')}/view"

    # reads ---------------------------------------------------------------------------------------
    def get_record(self, object_type: str, record_id: str) -> Record | None:
        """One record; None when it does not exist, was deleted or merged away."""
        found = self.get_records(object_type, [record_id])
        return found[0] if found else None

    def get_records(self, object_type: str, record_ids: list[str]) -> list[Record]:
        """One SOQL `WHERE Id IN (...)` per 200 ids (relationship fields such as Account.Name included)."""
        mapping = self._mapping(object_type)
        ids = queries.valid_ids(record_ids)
        rows: list[dict[str, Any]] = []
        for start in range(0, len(ids), self.BATCH_IDS):
            rows += self._query(queries.by_ids(mapping, ids[start:start + self.BATCH_IDS]))
        return [to_record(object_type, row) for row in rows]

    def find_duplicate_candidates(self, object_type: str, *, emails: Iterable[str] = (),
                                  phones: Iterable[str] = (), name: str | None = None,
                                  company: str | None = None, limit: int = 20) -> list[Record]:
        """One SOQL with OR of email, phone (any format) and name + company."""
        mapping = self._mapping(object_type)
        emails = sorted({e.strip().lower() for e in emails if e and e.strip()})
        phones = [p for p in phones if p]
        clauses = queries.duplicate_clauses(mapping, emails, phones, name, company)
        if not clauses:
            return []
        rows = self._query(queries.duplicates(mapping, clauses, limit))
        records = [to_record(object_type, row) for row in rows]
        return [r for r in records if queries.plausible(r, emails, phones, name, company)]

    def list_users(self) -> list[CRMUser]:
        """Standard (licensed) users; integration, portal and automated users can't own leads."""
        rows = self._query("SELECT Id, Name, Email, IsActive, TimeZoneSidKey, ManagerId FROM User "
                           "WHERE UserType = 'Standard' ORDER BY Name")
        return [CRMUser(id=r["Id"], email=r.get("Email") or "", name=r.get("Name") or "",
                        active=bool(r.get("IsActive")), timezone=r.get("TimeZoneSidKey"),
                        manager_id=r.get("ManagerId")) for r in rows]

    def find_company(self, *, domain: str | None = None, name: str | None = None) -> Company | None:
        soql = queries.company(domain, name)
        return _company(queries.best_company(self._query(soql), domain, name)) if soql else None

    def find_companies(self, domains: Sequence[str]) -> dict[str, Company | None]:
        """One SOQL (Website LIKE … OR …) per DOMAINS_PER_QUERY domains; best_company picks each domain's account."""
        found: dict[str, Company | None] = {}
        for chunk, soql in queries.company_chunks(list(dict.fromkeys(d for d in domains if d)),
                                                  self.DOMAINS_PER_QUERY):
            rows = self._query(soql)
            found.update({domain: _company(queries.best_company(rows, domain, None)) for domain in chunk})
        return {domain: found.get(domain) for domain in domains}

    # writes --------------------------------------------------------------------------------------
    def set_owner(self, object_type: str, record_id: str, owner_id: str,
                  fields: Mapping[str, Any] | None = None) -> None:
        """PATCH OwnerId, with `fields` in the same request (the same owner again only bumps the stamp)."""
        self._patch(object_type, record_id, self._owner_data(object_type, owner_id, fields), [OWNER, *(fields or {})])

    def set_owners(self, object_type: str, writes: Sequence[OwnerWrite]) -> dict[str, Exception]:
        """PATCH composite/sobjects, 200 records a request, each with its owner and fields like `set_owner`."""
        sobject = object_map(object_type).sobject

        def build(write: OwnerWrite) -> Saving:
            return ({"attributes": {"type": sobject}, "id": write.record_id,
                     **self._owner_data(object_type, write.owner_id, write.fields)}, [OWNER, *write.fields])

        def send(chunk: Sequence[OwnerWrite]) -> list[str | Exception]:
            return send_built(chunk, build, lambda built: self._save("PATCH", object_type, built))

        return failures_by_id([w.record_id for w in writes], in_chunks(writes, self.BATCH_IDS, send))

    def _owner_data(self, object_type: str, owner_id: str, fields: Mapping[str, Any] | None) -> dict[str, Any]:
        return {**(object_map(object_type).to_platform(self._own(fields)) if fields else {}), "OwnerId": owner_id}

    def set_fields(self, object_type: str, record_id: str, fields: Mapping[str, Any]) -> None:
        fields = self._own(fields)
        data = object_map(object_type).to_platform(dict(fields))
        if data:
            self._patch(object_type, record_id, data, fields.keys())

    def set_additional(self, object_type: str, record_id: str, *, emails: Sequence[str] | None = None,
                       phones: Sequence[str] | None = None) -> None:
        """Leads and Contacts have one Email and fixed phone fields (mapped as phone/mobile): no additional list."""
        extra = [*(emails or ()), *(phones or ())]
        if extra:
            raise CRMValidationError(f"Salesforce {object_map(object_type).sobject} records keep no additional "
                                     f"emails or phones ({', '.join(extra)})")

    def create_record(self, object_type: str, fields: Mapping[str, Any], owner_id: str | None,
                      company_id: str | None = None) -> str:
        """POST sobjects/<SObject>; a Lead needs LastName and Company (else CRMValidationError)."""
        data = self._new_data(object_type, fields, owner_id, company_id)
        record_id = str(self._rest(f"sobjects/{object_map(object_type).sobject}", method="POST", json=data)["id"])
        self._remember(object_type, record_id, ["*"])
        return record_id

    def _new_data(self, object_type: str, fields: Mapping[str, Any], owner_id: str | None,
                  company_id: str | None) -> dict[str, Any]:
        """A new record's fields, owner and account (AccountId where the object has that lookup: a Lead has none,
        its Company is text, so the id is left out there)."""
        mapping = object_map(object_type)
        data = mapping.for_create(self._own(fields))
        if owner_id:
            data["OwnerId"] = owner_id
        if company_id and mapping.company_field:
            data[mapping.company_field] = id18(company_id)
        return data

    def create_records(self, object_type: str, items: Sequence[NewRecord]) -> list[str | Exception]:
        """POST composite/sobjects (allOrNone false), 200 records a request: in order, each new id or the error
        `create_record` would raise for it alone (from_code maps a SaveResult's code as it maps a REST error's)."""
        sobject = object_map(object_type).sobject

        def build(item: NewRecord) -> Saving:
            data = self._new_data(object_type, item.fields, item.owner_id, item.company_id)
            return {"attributes": {"type": sobject}, **data}, ["*"]

        def send(chunk: Sequence[NewRecord]) -> list[str | Exception]:
            return send_built(chunk, build, lambda built: self._save("POST", object_type, built))

        return in_chunks(items, self.BATCH_IDS, send)

    def create_inbox_lead(self, record_id: str, title: str, owner_id: str | None) -> str:
        raise CRMValidationError("Salesforce has no leads inbox apart from its lead object")

    def writable_fields(self, object_type: str) -> frozenset[str]:
        mapping = object_map(object_type)
        return frozenset({*mapping.writable, *mapping.package})

    def add_note(self, object_type: str, record_id: str, body: str) -> str:
        """POST sobjects/Note on the record (ParentId). Not a closed Task: a closed Task is a logged activity,
        which would stop the lead's SLA clock (activity_logged_since)."""
        note_id = str(self._rest("sobjects/Note", method="POST", json=_note(record_id, body))["id"])
        self._remember("note", note_id, ["*"])
        return note_id

    def add_notes(self, object_type: str, notes: Sequence[tuple[str, str]]) -> list[str | Exception]:
        """POST composite/sobjects, 200 Notes a request, each as `add_note` makes it."""

        def send(chunk: Sequence[tuple[str, str]]) -> list[str | Exception]:
            return self._save("POST", "note", [({"attributes": {"type": "Note"}, **_note(*note)}, ["*"])
                                              for note in chunk])

        return in_chunks(notes, self.BATCH_IDS, send)

    # tasks ---------------------------------------------------------------------------------------
    def _task_data(self, spec: TaskSpec) -> dict[str, Any]:
        """A Task on the lead/contact (WhoId) or account/opportunity (WhatId).

        TaskSubtype stays 'Task': 'Call'/'Email' mark *logged* activities, which the SLA check counts.
        ActivityDate is a date without time: https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_objects_task.htm
        """
        link = "WhoId" if spec.record_type in WHO_TYPES else "WhatId"
        return {"Subject": spec.subject, "Description": spec.body, "OwnerId": spec.owner_id,
                "ActivityDate": spec.due_at.date().isoformat(), "Status": self.OPEN_STATUS,
                "Priority": TASK_PRIORITY.get(spec.priority, "Normal"), "Type": TASK_TYPE.get(spec.kind, "Other"),
                "TaskSubtype": "Task", link: spec.record_id}

    def create_task(self, spec: TaskSpec) -> str:
        """POST sobjects/Task (see _task_data)."""
        task_id = str(self._rest("sobjects/Task", method="POST", json=self._task_data(spec))["id"])
        self._remember("task", task_id, ["*"])
        return task_id

    def create_tasks(self, specs: Sequence[TaskSpec]) -> list[str | Exception]:
        """POST composite/sobjects, 200 Tasks a request: in order, each new task's id or its error."""

        def send(chunk: Sequence[TaskSpec]) -> list[str | Exception]:
            return self._save("POST", "task", [({"attributes": {"type": "Task"}, **self._task_data(s)}, ["*"])
                                              for s in chunk])

        return in_chunks(specs, self.BATCH_IDS, send)

    def update_task(self, task_id: str, *, owner_id: str | None = None, due_at: dt.datetime | None = None,
                    body: str | None = None) -> None:
        changes = {"OwnerId": owner_id, "ActivityDate": due_at.date().isoformat() if due_at else None,
                   "Description": body}
        data = {k: v for k, v in changes.items() if v is not None}
        if data:
            self._patch("task", task_id, data, ["*"])

    def complete_task(self, task_id: str, note: str | None = None) -> None:
        data: dict[str, Any] = {"Status": self.CLOSED_STATUS}
        if note:
            current = self._task_row(task_id)
            if current is None:
                raise CRMNotFound(f"Task {task_id} is gone")
            data["Description"] = "\n\n".join(filter(None, (current.get("Description"), note)))
        self._patch("task", task_id, data, ["*"])

    def _task_row(self, task_id: str) -> dict[str, Any] | None:
        try:
            return self._rest(f"sobjects/Task/{quote(task_id, safe='')}", params={"fields": ",".join(TASK_FIELDS)})
        except CRMNotFound:
            return None

    def get_task(self, task_id: str) -> TaskState | None:
        row = self._task_row(task_id)
        if row is None:
            return None
        return TaskState(id=row["Id"], done=bool(row.get("IsClosed")), owner_id=row.get("OwnerId"),
                         due_at=parse_date(row.get("ActivityDate")),
                         completed_at=parse_iso(row.get("CompletedDateTime")))

    def activity_logged_since(self, object_type: str, record_id: str, since: dt.datetime) -> bool:
        """A logged call/email or closed task (Task), or a meeting (Event), on the record since `since`."""
        link = "WhoId" if object_type in WHO_TYPES else "WhatId"
        return any(self._query(queries.activity(sobject, link, record_id, since)) for sobject in ("Task", "Event"))

    # messages -----------------------------------------------------------------------------------
    def _who(self, object_type: str, record_id: str) -> str:
        if object_type not in WHO_TYPES:
            raise CRMValidationError(f"Salesforce logs messages on leads and contacts, not {object_type!r}")
        return id18(record_id)

    def log_message(self, object_type: str, record_id: str, message: Message) -> str:
        """A completed Task on the Lead/Contact; the subject starts with queries.LOGGED_PREFIX so that
        activity_logged_since does not take it for the rep's touch."""
        sms = message.channel == "sms"
        kind = "SMS" if sms else "Email"
        inbound = " from lead" if message.direction == "inbound" else ""
        data = {"WhoId": self._who(object_type, record_id), "Status": self.CLOSED_STATUS,
                "Subject": f"{queries.LOGGED_PREFIX} {kind}{inbound}: {message.subject}"[:255],
                "Description": message.body[:32000], "ActivityDate": message.sent_at.date().isoformat(),
                # Type is an unrestricted picklist: "SMS" is kept as written where the org does not list it
                "TaskSubtype": "Task" if sms else "Email", "Type": kind, "Priority": "Normal"}
        if message.owner_id:
            data["OwnerId"] = message.owner_id
        task_id = str(self._rest("sobjects/Task", method="POST", json=data)["id"])
        self._remember("task", task_id, ["*"])
        return task_id

    def set_do_not_contact(self, object_type: str, record_id: str) -> None:
        self._who(object_type, record_id)
        self._patch(object_type, record_id, {"HasOptedOutOfEmail": True, "DoNotCall": True},
                    ["email_opt_out", "do_not_call"])

    def inbound_since(self, cursor: str | None, limit: int = 100) -> InboundPage:
        """Incoming EmailMessages after the cursor, then their FromAddress relations (two SOQL a page)."""
        since, after_id = queries.decode_cursor(cursor)
        rows = self._query(queries.inbound(since, after_id, limit))
        senders: dict[str, str] = {}
        if rows:
            for rel in self._query(queries.senders([r["Id"] for r in rows])):
                if _who_type(rel.get("RelationId")):
                    senders.setdefault(rel["EmailMessageId"], rel["RelationId"])
        messages = []
        for row in rows:
            who = senders.get(row["Id"], "")
            messages.append(InboundMessage(
                id=row["Id"], channel="email", object_type=_who_type(who), record_id=who,
                sender=(row.get("FromAddress") or "").lower(), subject=row.get("Subject") or "",
                text=row.get("TextBody") or "",
                received_at=parse_iso(row.get("MessageDate") or row["CreatedDate"]) or since))
        return InboundPage(messages=messages, cursor=_page_cursor(rows, cursor, since),
                           has_more=len(rows) >= limit)

    def meetings_since(self, cursor: str | None, limit: int = 100) -> MeetingPage:
        since, after_id = queries.decode_cursor(cursor)
        rows = self._query(queries.meetings(since, after_id, limit))
        meetings = [Meeting(id=r["Id"], object_type=_who_type(r["WhoId"]), record_id=r["WhoId"],
                            at=parse_iso(r["CreatedDate"]) or since) for r in rows if _who_type(r.get("WhoId"))]
        return MeetingPage(meetings=meetings, cursor=_page_cursor(rows, cursor, since), has_more=len(rows) >= limit)

    def send_email(self, object_type: str, record_id: str, message: Message) -> str:
        """The emailSimple action, logged on the record (logEmailOnSend: the org's single email limit applies).
        It sends as the connected user (senderType CurrentUser): the action can't send as another user.
        Returns the Task Salesforce logged it as (one more SOQL: the action answers no id), whose Subject then gets
        queries.LOGGED_PREFIX like log_message's Tasks: Salesforce logs it as "Email: <subject>", which
        activity_logged_since would take for the rep's touch and so never escalate a lead nobody called."""
        who = self._who(object_type, record_id)
        inputs = {"emailAddresses": message.to, "emailSubject": message.subject, "emailBody": message.body,
                  "senderType": "CurrentUser", "relatedRecordId": who, "logEmailOnSend": True}
        answer = self._rest("actions/standard/emailSimple", method="POST", json={"inputs": [inputs]})
        result = (answer or [{}])[0]
        if not result.get("isSuccess"):
            errors = result.get("errors") or [{}]
            raise CRMValidationError(f"Salesforce did not send the email: {errors[0].get('statusCode')}: "
                                     f"{errors[0].get('message')}")
        task_id = ""
        try:  # sent: from here a failure must not go up, or the caller's retry would send the email again
            rows = self._query(queries.sent_task(who))
            task_id = str(rows[0]["Id"]) if rows else ""
            if task_id:
                self._mark_sent_task(task_id, message.subject)
        except CRMError as exc:
            log.warning("salesforce.sent-email-not-marked", extra={"task_id": task_id, "error": str(exc)[:300]})
        return task_id

    def _mark_sent_task(self, task_id: str, subject: str) -> None:
        # The Task object lists Subject as updateable (Create, Update; object reference "Task") and Enhanced Email's
        # considerations set only the generated Task's Status, not a read-only Subject; the EmailMessage itself is
        # read-only once sent, so the Task is where the marker can go. Remembered first: our own change is no
        # rep's.
        self._remember("task", task_id, ["*"])
        self._rest(f"sobjects/Task/{quote(task_id, safe='')}", method="PATCH",
                   json={"Subject": f"{queries.LOGGED_PREFIX} Email: {subject}"[:255]})

    # merge, changes, subscriptions --------------------------------------------------------------
    def merge(self, object_type: str, survivor_id: str, other_id: str,
              fields: Mapping[str, Any] | None = None) -> MergeResult:
        """SOAP merge(); the master keeps its values, takes the other's where it has none, then `fields`."""
        mapping = object_map(object_type)
        if not mapping.mergeable:
            raise CRMValidationError(f"Salesforce cannot merge {mapping.sobject} records")
        requested = mapping.to_platform(dict(fields or {}))
        survivor, other = self._merge_pair(mapping, id18(survivor_id), id18(other_id))
        if other.get("IsDeleted"):  # a retried job: this pair was merged already
            if requested:
                self._patch(object_type, survivor["Id"], requested, (fields or {}).keys())
            return MergeResult(survivor_id=survivor["Id"], merged_ids=(other["Id"],))
        overrides = {path: other[path] for path in mapping.writable.values()
                     if survivor.get(path) in (None, "") and other.get(path) not in (None, "")}
        overrides.update(requested)
        merged = self.client.call(lambda sf: soap.merge(sf, mapping.sobject, survivor["Id"], [other["Id"]],
                                                        overrides, TIMEOUT))
        for record_id in (merged.survivor_id, *merged.merged_ids):
            self._remember(object_type, record_id, ["*"])
        return MergeResult(survivor_id=merged.survivor_id, merged_ids=merged.merged_ids)

    def _merge_pair(self, mapping: Any, survivor_id: str, other_id: str) -> tuple[dict, dict]:
        """Both rows in one queryAll (deleted rows included, to recognise a merge already done)."""
        soql = queries.by_ids(mapping, [survivor_id, other_id], extra=("IsDeleted", "MasterRecordId"))
        rows = {row["Id"]: row for row in self._query(soql, include_deleted=True)}
        survivor, other = rows.get(survivor_id), rows.get(other_id)
        if survivor is None or survivor.get("IsDeleted"):
            raise CRMNotFound(f"{mapping.sobject} {survivor_id} is gone")
        if other is None or (other.get("IsDeleted") and other.get("MasterRecordId") != survivor_id):
            raise CRMNotFound(f"{mapping.sobject} {other_id} is gone (deleted or merged elsewhere)")
        return survivor, other

    def changed_since(self, object_type: str, cursor: str | None, limit: int = 100,
                      overlap: dt.timedelta = dt.timedelta(0)) -> ChangePage:
        """Rows with SystemModstamp after the cursor ("<stamp>|<last id>"), oldest first."""
        mapping = self._mapping(object_type)
        since, after_id = queries.decode_cursor(cursor)
        if overlap:
            since, after_id = since - overlap, None
        rows = self._query(queries.changed(mapping, since, after_id, limit))
        if not rows:
            return ChangePage(records=[], cursor=cursor or queries.encode_cursor(since.isoformat(), None),
                              has_more=False)
        last = rows[-1]
        return ChangePage(records=[to_record(object_type, row) for row in rows],
                          cursor=queries.encode_cursor(last["SystemModstamp"], last["Id"]),
                          has_more=len(rows) >= limit)

    def subscribe_webhooks(self, callback_url: str, username: str, secret: str) -> list[str]:
        """Nothing to do by API: an Outbound Message is set up in the org by its admin (or our managed
        package), pointing at the tenant's URL with key and secret in the path."""
        return []

    def unsubscribe_webhooks(self) -> None:
        """The admin removes the Outbound Message (uninstalling the package does it)."""

    def leadrelay_unavailable(self) -> list[str]:
        """After ensure_custom_fields: the later package fields this org lacks (an upgrade brings them)."""
        return list(getattr(self, "_later_missing", []))

    def ensure_custom_fields(self) -> list[str]:
        """LeadRelay's fields come with its managed package: check Lead and Contact describe, create nothing."""
        missing, later = [], set()
        for sobject in PACKAGE_OBJECTS:
            described = self._rest(f"sobjects/{sobject}/describe")  # what sf.<SObject>.describe() GETs
            names = {fd.get("name") for fd in described.get("fields") or []}
            absent = [neutral for neutral, name in PACKAGE.items() if name not in names]
            later.update(n for n in absent if n in PACKAGE_LATER)
            missing += [f"{sobject}.{PACKAGE[n]}" for n in absent if n not in PACKAGE_LATER]
        self._later_missing = sorted(later)
        if missing:
            # what to do first: the message is kept cut to 500 characters, and the list grows with the package
            raise CRMValidationError(
                "LeadRelay's Salesforce package is not installed: ask your Salesforce admin to install the "
                f"LeadRelay package from AppExchange, then reconnect (missing {', '.join(missing)})")
        return []
