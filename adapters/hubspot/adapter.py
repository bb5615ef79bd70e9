"""HubSpotAdapter: integration's CRMAdapter over hubspot-api-client 12 (CRM v3 objects, owners).

API reference: https://developers.hubspot.com/docs/api/crm/understanding-the-crm (objects, batch, search,
merge), https://developers.hubspot.com/docs/api/crm/owners, https://developers.hubspot.com/docs/api/crm/tasks.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from adapters.hubspot import batch as b
from adapters.hubspot import fields as f
from adapters.hubspot import outreach as o
from adapters.hubspot import queries as q
from adapters.hubspot.client import HubSpotClient
from adapters.hubspot.errors import batch_errors, missing_result
from adapters.nulls import NoBudget, NoWrites
from integration.config import get_settings
from integration.crm.batch_writes import failures_by_id, in_chunks, send_built
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

# the object type a record created on each HubSpot object is reported to the write log as
CREATED_AS: dict[str, str] = {**f.NEUTRAL, "notes": "note"}
SEQUENCE_USERS = 10  # owners whose sequence lists are read (one call or more each) when the console shows the choice


def _every_page(fetch: Callable[[str | None], Any]) -> list[Any]:
    """The results of every page of a paged HubSpot answer; `fetch(after)` gets one page."""
    results: list[Any] = []
    after = None
    while True:
        page = fetch(after)
        results += page.results or []
        after = page.paging.next.after if page.paging and page.paging.next else None
        if not after:
            return results


def _owner_input(hs: str, write: OwnerWrite) -> tuple[str, dict[str, str], list[str]]:
    """One record of a batch owner write: its id, properties and the neutral fields they carry."""
    return (str(write.record_id), *b.owner_write(hs, write.owner_id, write.fields))


def _first_by_domain(companies: Iterable[Company]) -> dict[str, Company]:
    """The first company (in search order: oldest first) of each lowercase domain."""
    first: dict[str, Company] = {}
    for company in companies:
        if company.domain:
            first.setdefault(company.domain.lower(), company)
    return first


class HubSpotAdapter:
    PLATFORM: ClassVar[str] = "hubspot"
    LEAD_OBJECT: ClassVar[str] = ObjectType.CONTACT
    LIFECYCLE_FIELD: ClassVar[str] = "lifecycle_stage"  # native lifecyclestage
    EPOCH_CURSOR: ClassVar[str] = "0"  # changed_since from the very first record (cursor = modified ms)
    # Public (OAuth) apps: a per-app, per-portal 10-second burst limit (100 / 10 s documented, 110
    # quoted later) and a separate per-token search limit of 4/s (later 5/s); no daily cap.
    # https://developers.hubspot.com/apisbytier, https://developers.hubspot.com/changelog/crm-search-api-rate-limit-increase
    # The confirmed, lower figures are used; X-HubSpot-RateLimit-* headers correct the budget at run time.
    RATE_LIMITS: ClassVar[Mapping[str, tuple[int, float]]] = {"default": (100, 10.0), "search": (4, 1.0)}
    TIMEOUT: ClassVar[tuple[float, float]] = (5.0, 20.0)  # (connect, read) seconds, on every call
    BATCH_SIZE: ClassVar[int] = 100  # inputs per batch read/update/create call (the documented cap is UNCONFIRMED)
    SWEEP_LOOKBACK: ClassVar[dt.timedelta] = dt.timedelta(days=1)  # changed_since(None) starts this far back
    # CRM search (duplicates, companies, activities, changed_since) is an eventually consistent index: "It may take a
    # few moments for newly created or updated CRM objects to appear in search results"
    # (https://developers.hubspot.com/docs/api/crm/search#limitations); "several seconds" measured by others
    # (https://docs.locoia.com/connectors/connectors/hubspot). 10 s is a conservative bound; GET and batch read
    # are immediate.
    SEARCH_LAG: ClassVar[dt.timedelta] = dt.timedelta(seconds=10)
    INBOX_LEADS: ClassVar[bool] = False
    # the lead's acknowledgment by email: enrolling the contact in a sequence the tenant chose (crm_sequence_id)
    EMAIL_SENDER: ClassVar[str | None] = "sequence"
    ADDRESS_FIELDS: ClassVar[frozenset[str]] = frozenset({"street", "city", "state", "postcode", "country"})
    # Domains per find_companies search: a whole drain batch (≤ 50 leads) in one call, and half of what one IN
    # filter takes (q.MAX_IN_VALUES). A page holds q.MAX_PAGE = 200 companies (4 per domain); more pages are read.
    DOMAINS_PER_SEARCH: ClassVar[int] = 50
    # Record pages live on the app host, not the API host: app.hubspot.com/contacts/<portal>/record/<type id>/<id>
    # (app.hubspot.com sends a portal on another data centre, app-eu1 …, on to its own host).
    APP_URL: ClassVar[str] = "https://app.hubspot.com"
    API_DOMAIN: ClassVar[str] = "hubapi.com"

    def __init__(self, tenant: TenantRef, tokens: TokenProvider, budget: RateBudget | None = None,
                 writes: WriteLog | None = None) -> None:
        self.tenant = tenant
        self.writes: WriteLog = writes or NoWrites()
        self.client = HubSpotClient(tenant.api_base, tokens, budget or NoBudget(), self.TIMEOUT)

    def record_url(self, object_type: str, record_id: str) -> str:
        return self.record_url_for(self.tenant, object_type, record_id)

    @classmethod
    def record_url_for(cls, tenant: TenantRef, object_type: str, record_id: str) -> str:
        """The record page from the installation alone (the console links rows without an adapter or a token)."""
        type_id = next((k for k, v in f.OBJECT_TYPE_IDS.items() if v == object_type), None)
        if type_id is None:
            raise CRMValidationError(f"HubSpot has no record page for {object_type!r}")
        api = urlsplit(tenant.api_base)
        own_api = (api.hostname or "").endswith(cls.API_DOMAIN)
        app = cls.APP_URL if own_api else f"{api.scheme}://{api.netloc}"  # the sandbox serves both
        return f"{app}/contacts/{quote(str(tenant.external_id))}/record/{type_id}/{quote(str(record_id))}"

    # reads ---------------------------------------------------------------------------------
    def get_record(self, object_type: str, record_id: str) -> Record | None:
        hs = f.hubspot_object(object_type)
        links = {"contacts": ["companies"], "deals": ["companies", "contacts"]}.get(hs)
        try:
            obj = self.client.call("default", hs, "basic_api", "get_by_id", str(record_id),
                                   properties=f.read_properties(hs), associations=links, archived=False)
        except CRMNotFound:
            return None
        # an id merged away answers the merged record under its own (new) id: returned as it is, so the caller sees
        # where the record lives now (changelog "Updated merge functionality for contacts and companies")
        contacts = f.associated_ids(obj, "contacts") if hs == "deals" else ()
        return f.to_record(hs, obj, f.associated_company(obj), contacts)

    def get_records(self, object_type: str, record_ids: list[str]) -> list[Record]:
        hs = f.hubspot_object(object_type)
        wanted = list(dict.fromkeys(str(i) for i in record_ids))
        if hs == "deals":  # batch read carries no associations; a deal's contacts come with a single read
            found = ((i, self.get_record(object_type, i)) for i in wanted)
            return [r for i, r in found if r is not None and r.id == i]  # an old id: its merge event brings the new
        out: list[Record] = []
        for start in range(0, len(wanted), self.BATCH_SIZE):
            chunk = wanted[start:start + self.BATCH_SIZE]
            pkg = q.package(hs)
            body = pkg.BatchReadInputSimplePublicObjectId(
                properties=f.read_properties(hs), properties_with_history=[],
                inputs=[pkg.SimplePublicObjectId(id=i) for i in chunk])
            # a 207 lists the missing ids under `errors`; they are simply left out, and so is a merged-away id, which
            # answers the merged record under its new id (that one comes with its own merge event)
            result = self.client.call("default", hs, "batch_api", "read", body, archived=False)
            out += [f.to_record(hs, obj) for obj in result.results if str(obj.id) in chunk]
        out = list({r.id: r for r in out}.values())  # two inputs, one record: asked for by its old and new id
        order = {rid: n for n, rid in enumerate(wanted)}
        return sorted(out, key=lambda r: order[r.id])

    def find_duplicate_candidates(self, object_type: str, *, emails: Iterable[str] = (),
                                  phones: Iterable[str] = (), name: str | None = None,
                                  company: str | None = None, limit: int = 20) -> list[Record]:
        hs = f.hubspot_object(object_type)
        groups = q.duplicate_groups(hs, list(emails), list(phones), name, company)
        if not groups:
            return []
        result = self.client.call("search", hs, "search_api", "do_search",
                                  q.search_request(hs, groups, f.read_properties(hs), limit))
        return [f.to_record(hs, obj) for obj in result.results]

    def list_users(self) -> list[CRMUser]:
        # HubSpot has no per-user time zone: every owner gets the portal's (account-info API).
        # https://developers.hubspot.com/docs/api/settings/account-information-api
        details = self.client.get_path("default", "/account-info/v3/details") or {}
        zone = details.get("timeZone") if isinstance(details, dict) else None
        users = []
        for archived in (False, True):  # deactivated users are archived owners
            users += [CRMUser(id=str(o.id), email=o.email or "",
                              name=" ".join(p for p in (o.first_name, o.last_name) if p) or (o.email or ""),
                              active=not archived, timezone=zone) for o in self._owners(archived)]
        return users

    def _owners(self, archived: bool) -> list[Any]:
        return _every_page(partial(self._owners_page, archived))

    def _owners_page(self, archived: bool, after: str | None) -> Any:
        return self.client.call("default", "owners", "owners_api", "get_page", limit=100, after=after,
                                archived=archived)

    def find_company(self, *, domain: str | None = None, name: str | None = None) -> Company | None:
        domain, name = q.clean_domain(domain), (name or "").strip() or None
        if not domain and not name:
            return None
        result = self.client.call("search", "companies", "search_api", "do_search", q.company_request(domain, name))
        found = [f.to_company(obj) for obj in result.results]
        by_domain = _first_by_domain(found).get(domain) if domain else None
        return by_domain or next((c for c in found if name and c.name.lower() == name.lower()), None)

    def find_companies(self, domains: Sequence[str]) -> dict[str, Company | None]:
        """One companies search (domain IN [...]) per DOMAINS_PER_SEARCH domains, every page of it read."""
        bare = {domain: q.clean_domain(domain) for domain in domains}
        wanted = list(dict.fromkeys(d for d in bare.values() if d))
        found: dict[str, Company] = {}
        for start in range(0, len(wanted), self.DOMAINS_PER_SEARCH):
            chunk = wanted[start:start + self.DOMAINS_PER_SEARCH]
            objs = _every_page(partial(self._companies_page, chunk))
            found.update(_first_by_domain(f.to_company(obj) for obj in objs))
        return {domain: found.get(d) if d else None for domain, d in bare.items()}

    def _companies_page(self, domains: list[str], after: str | None) -> Any:
        """One page of the companies whose domain is one of `domains`."""
        return self.client.call("search", "companies", "search_api", "do_search", q.companies_request(domains, after))

    # writes --------------------------------------------------------------------------------
    def _update(self, hs: str, record_id: str, properties: dict[str, str], neutral: list[str]) -> Any:
        pkg = q.package(hs)
        # remembered before the write: the change webhook can arrive before the PATCH's answer
        self._remember(hs, record_id, neutral)
        return self.client.call("default", hs, "basic_api", "update", str(record_id),
                                pkg.SimplePublicObjectInput(properties=properties))

    def _remember(self, hs: str, record_id: str, neutral: list[str]) -> None:
        self.writes.remember(f.NEUTRAL[hs], str(record_id), f.written_fields(hs, neutral))

    def set_owner(self, object_type: str, record_id: str, owner_id: str,
                  fields: Mapping[str, Any] | None = None) -> None:
        # PATCHing the same owner changes nothing on HubSpot's side (no history entry, no webhook)
        hs = f.hubspot_object(object_type)
        self._update(hs, record_id, *b.owner_write(hs, owner_id, fields))

    def set_owners(self, object_type: str, writes: Sequence[OwnerWrite]) -> dict[str, Exception]:
        hs = f.hubspot_object(object_type)
        write_chunk = partial(send_built, build=partial(_owner_input, hs), send=partial(self._update_many, hs))
        return failures_by_id([w.record_id for w in writes], in_chunks(writes, self.BATCH_SIZE, write_chunk))

    def _update_many(self, hs: str, built: list[tuple[str, dict[str, str], list[str]]]) -> list[None | Exception]:
        """One POST /crm/v3/objects/{object}/batch/update; None per record written, else its error."""
        pkg = q.package(hs)
        body = pkg.BatchInputSimplePublicObjectBatchInput(inputs=[
            pkg.SimplePublicObjectBatchInput(id=record_id, properties=props) for record_id, props, _ in built])
        # 200 when every record was written, 207 with `errors` when some were not
        # (https://developers.hubspot.com/changelog/simplifying-batch-update-response-codes-for-crm-v3-apis);
        # that those errors name their records in `context.ids` is UNCONFIRMED, as is whether a missing id
        # fails the whole call instead (the sandbox answers 404 for the whole batch: in_chunks maps it)
        for record_id, _, neutral in built:  # before the write, as in _update
            self._remember(hs, record_id, neutral)
        answer = self.client.call("default", hs, "batch_api", "update", body)
        written = {str(obj.id) for obj in answer.results or []}
        errors = batch_errors(answer)
        results: list[None | Exception] = []
        for record_id, _, _ in built:
            if record_id in written:
                results.append(None)
            else:
                results.append(errors.get(record_id) or missing_result(errors, f"record {record_id}"))
        return results

    def set_fields(self, object_type: str, record_id: str, fields: Mapping[str, Any]) -> None:
        hs = f.hubspot_object(object_type)
        if fields:
            self._update(hs, record_id, f.to_properties(hs, fields), list(fields))

    def create_record(self, object_type: str, fields: Mapping[str, Any], owner_id: str | None,
                      company_id: str | None = None) -> str:
        # POST /crm/v3/objects/{object}: a contact email already in use (also as an additional email)
        # answers 409 CONFLICT (https://developers.hubspot.com/docs/api/crm/contacts), mapped to CRMConflict
        hs = f.hubspot_object(object_type)
        created = self.client.call("default", hs, "basic_api", "create", q.package(hs).SimplePublicObjectInputForCreate(
            **b.record_input(hs, fields, owner_id, company_id)))
        return self._new(hs, created.id)

    def create_records(self, object_type: str, items: Sequence[NewRecord]) -> list[str | Exception]:
        hs = f.hubspot_object(object_type)
        return self._create_in_chunks(
            hs, items, lambda item: b.record_input(hs, item.fields, item.owner_id, item.company_id),
            lambda item: self.create_record(object_type, item.fields, item.owner_id, item.company_id))

    def _create_in_chunks(self, hs: str, items: Sequence[Any], build: Callable[[Any], dict[str, Any]],
                          one: Callable[[Any], str]) -> list[str | Exception]:
        """POST /crm/v3/objects/{object}/batch/create per BATCH_SIZE items (`build` makes each input); a batch HubSpot
        refuses as a whole goes item by item (`one`), see batch.create_chunk."""
        write = partial(b.create_chunk, build=build, send=partial(self._create_many, hs), one=one)
        return in_chunks(items, self.BATCH_SIZE, b.stopping(write))

    def create_inbox_lead(self, record_id: str, title: str, owner_id: str | None) -> str:
        raise CRMValidationError("HubSpot has no leads inbox apart from its lead object")

    def writable_fields(self, object_type: str) -> frozenset[str]:
        return f.writable_fields(f.hubspot_object(object_type))

    def add_note(self, object_type: str, record_id: str, body: str) -> str:
        # POST /crm/v3/objects/notes, associated to the record in the same call. A note bumps "Last activity date"
        # but is not a logged call/email/meeting, so it never stops an SLA clock (activity_logged_since)
        note_input = b.note_input(f.hubspot_object(object_type), record_id, body)
        note = self.client.call("default", "notes", "basic_api", "create",
                                q.package("notes").SimplePublicObjectInputForCreate(**note_input))
        return self._new("notes", note.id)

    def add_notes(self, object_type: str, notes: Sequence[tuple[str, str]]) -> list[str | Exception]:
        target = f.hubspot_object(object_type)
        return self._create_in_chunks("notes", notes, lambda note: b.note_input(target, *note),
                                      lambda note: self.add_note(object_type, *note))

    def set_additional(self, object_type: str, record_id: str, *, emails: Sequence[str] | None = None,
                       phones: Sequence[str] | None = None) -> None:
        hs = f.hubspot_object(object_type)
        if phones:
            raise CRMValidationError(f"HubSpot {hs} keep no additional phones ({', '.join(phones)})")
        if emails is None or (hs != "contacts" and not emails):
            return
        if hs != "contacts":
            raise CRMValidationError(f"HubSpot {hs} keep no additional emails ({', '.join(emails)})")
        current = self.client.call("default", hs, "basic_api", "get_by_id", str(record_id),
                                   properties=[f.ADDITIONAL_EMAILS], archived=False)
        have = [e for e in ((current.properties or {}).get(f.ADDITIONAL_EMAILS) or "").split(";") if e]
        gone = [e for e in have if e.casefold() not in {w.casefold() for w in emails}]
        new = [e for e in dict.fromkeys(emails) if e.casefold() not in {h.casefold() for h in have}]
        if not gone and not new:
            return
        self._remember(hs, record_id, ["extra_emails"])
        # hs_additional_emails is read-only in the v3 API; secondary emails are added and removed one by one with
        # the legacy v1 API (PUT / DELETE /contacts/v1/secondary-email/{vid}/email/{email}):
        # https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/v1/get-contacts-v1-secondary-email-vid-email-email
        for method, email in [*(("DELETE", e) for e in gone), *(("PUT", e) for e in new)]:
            self.client.call_path("default", method, f"/contacts/v1/secondary-email/{quote(str(record_id), safe='')}"
                                                     f"/email/{quote(email, safe='@')}")

    def merge(self, object_type: str, survivor_id: str, other_id: str,
              fields: Mapping[str, Any] | None = None) -> MergeResult:
        hs = f.hubspot_object(object_type)
        if hs not in f.MERGEABLE:
            raise CRMValidationError(f"HubSpot cannot merge {hs}")
        body = q.package(hs).PublicMergeInput(primary_object_id=str(survivor_id), object_id_to_merge=str(other_id))
        merged = self.client.call("default", hs, "basic_api", "merge", body)
        # the merged record is a new one with a new id (changelog "Updated merge functionality for contacts and
        # companies"; deals: "Announcement: Deals now support merging"): both old ids are merged away
        survivor = str(merged.id)
        for rid in {survivor, str(survivor_id), str(other_id)}:
            self.writes.remember(f.NEUTRAL[hs], rid, ["*"])
        if fields:
            self.set_fields(object_type, survivor, fields)
        return MergeResult(survivor_id=survivor,
                           merged_ids=tuple(i for i in (str(survivor_id), str(other_id)) if i != survivor))

    # tasks ---------------------------------------------------------------------------------
    def create_task(self, spec: TaskSpec) -> str:
        task = self.client.call("default", "tasks", "basic_api", "create",
                                q.package("tasks").SimplePublicObjectInputForCreate(**b.task_input(spec)))
        return self._new("tasks", task.id)

    def _new(self, hs: str, record_id: str) -> str:
        """A created record's id, reported to the write log (echo suppression)."""
        self.writes.remember(CREATED_AS[hs], str(record_id), ["*"])
        return str(record_id)

    def create_tasks(self, specs: Sequence[TaskSpec]) -> list[str | Exception]:
        return in_chunks(specs, self.BATCH_SIZE, partial(send_built, build=b.task_input,
                                                         send=partial(self._create_many, "tasks")))

    def _create_many(self, hs: str, inputs: list[dict[str, Any]]) -> list[str | Exception]:
        """One POST /crm/v3/objects/{object}/batch/create; per input, in order, the new record's id or an error."""
        pkg = q.package(hs)
        # each input carries its index as objectWriteTraceId, which HubSpot returns on its result and error
        body = pkg.BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            pkg.SimplePublicObjectBatchInputForCreate(**i, object_write_trace_id=str(n)) for n, i in enumerate(inputs)])
        answer = self.client.call("default", hs, "batch_api", "create", body)
        ids = b.match_created([i["properties"] for i in inputs], answer.results or [], hs)
        errors = batch_errors(answer)
        return [self._new(hs, new_id) if new_id else (errors.get(str(n)) or missing_result(errors, f"input {n}"))
                for n, new_id in enumerate(ids)]

    def update_task(self, task_id: str, *, owner_id: str | None = None, due_at: dt.datetime | None = None,
                    body: str | None = None) -> None:
        neutral = {k: v for k, v in (("due_at", f.ms(due_at) if due_at else None), ("body", body)) if v is not None}
        props = f.to_properties("tasks", neutral)
        names = list(neutral)
        if owner_id is not None:
            props[f.OWNER_PROPERTY], names = str(owner_id), [*names, f.OWNER_FIELD]
        if props:
            self._update("tasks", task_id, props, names)

    def complete_task(self, task_id: str, note: str | None = None) -> None:
        fields: dict[str, Any] = {"status": f.TASK_DONE}
        properties = f.to_properties("tasks", fields)
        if note:
            current = self._task(task_id, ["hs_task_body"])
            # the body as HubSpot has it (HTML a rep may have edited) is kept; only the note is escaped
            properties["hs_task_body"] = f.append_task_note((current.properties or {}).get("hs_task_body") or "", note)
            fields["body"] = note
        self._update("tasks", task_id, properties, list(fields))

    def _task(self, task_id: str, properties: list[str]) -> Any:
        return self.client.call("default", "tasks", "basic_api", "get_by_id", str(task_id),
                                properties=properties, archived=False)

    def get_task(self, task_id: str) -> TaskState | None:
        props = [f.PROPERTIES["tasks"][k] for k in ("status", "due_at", "completed_at")] + [f.OWNER_PROPERTY]
        try:
            task = self._task(task_id, props)
        except CRMNotFound:
            return None
        p = task.properties or {}
        return TaskState(id=str(task.id), done=p.get("hs_task_status") == f.TASK_DONE,
                         owner_id=p.get(f.OWNER_PROPERTY) or None, due_at=parse_iso(p.get("hs_timestamp")),
                         completed_at=parse_iso(p.get("hs_task_completion_date")))

    def activity_logged_since(self, object_type: str, record_id: str, since: dt.datetime) -> bool:
        hs = f.hubspot_object(object_type)
        # One cheap read first: "Last activity date" moves whenever a call/email/meeting/note is logged on
        # the record, so an older value answers "no" without spending the (4/s) search budget.
        obj = self.client.call("default", hs, "basic_api", "get_by_id", str(record_id),
                               properties=[f.LAST_ACTIVITY], archived=False)
        last = parse_iso((obj.properties or {}).get(f.LAST_ACTIVITY))
        if last is None or last < since.astimezone(dt.UTC):
            return False
        singular = f.NEUTRAL[hs]
        # what LeadRelay logged itself (log_message) carries our app as its record source: not the rep's touch
        app_id = get_settings().crm(self.PLATFORM).app_id
        for activity in f.ACTIVITY_OBJECTS:  # a note alone bumps the date but is not "acting"
            found = self.client.call("search", activity, "search_api", "do_search",
                                     q.activity_request(activity, singular, str(record_id), f.ms(since), app_id))
            if found.total:
                return True
        return False

    def changed_since(self, object_type: str, cursor: str | None, limit: int = 100,
                      overlap: dt.timedelta = dt.timedelta(0)) -> ChangePage:
        """Records modified after the cursor, in the search index's order, with a cursor only as far as is safe.

        The search filters and sorts by the modification time its index holds but answers with the record's
        current one (sandbox/hubspot/search.py): a record changed within SEARCH_LAG may sit early in the order with
        a late time, and a cursor taken from it would skip every record between. A time older than SEARCH_LAG is
        the one the index sorted by, so the cursor moves to the newest of those on the page; a page with none
        pages on by position (`after`) from the same time. A pass ends at no earlier time than it started from,
        and records changed within the lag are read again by the next pass (callers are idempotent).
        """
        hs = f.hubspot_object(object_type)
        asked = dt.datetime.now(dt.UTC)
        floor, after = q.changes_cursor(cursor) if cursor else (f.ms(asked - self.SWEEP_LOOKBACK), 0)
        since = floor if after else floor - int(overlap.total_seconds() * 1000)
        result = self.client.call("search", hs, "search_api", "do_search",
                                  q.changed_since_request(hs, since, f.read_properties(hs), limit, after))
        objs = result.results or []
        settled = [m for m in (f.modified_ms(hs, o) for o in objs) if m <= f.ms(asked - self.SEARCH_LAG)]
        since, after = (max(settled), 0) if settled else (since, after + len(objs))
        more = bool(result.paging and result.paging.next) and after < q.MAX_RESULTS
        if not more:
            since, after = max(since, floor), 0
        return ChangePage(records=[f.to_record(hs, o) for o in objs], cursor=q.changes_cursor_text(since, after),
                          has_more=more)

    # outreach ------------------------------------------------------------------------------
    def _contact(self, object_type: str) -> str:
        hs = f.hubspot_object(object_type)
        if hs != "contacts":
            raise CRMValidationError(f"HubSpot logs messages to leads on contacts, not {hs}")
        return hs

    def log_message(self, object_type: str, record_id: str, message: Message) -> str:
        self._contact(object_type)
        target, body = o.message_input(str(record_id), message)
        # POST /crm/v3/objects/{emails|communications} with its contact association in the same call
        created = self.client.call_path("default", "POST", f"/crm/v3/objects/{target}", body=body)
        return str(created["id"])

    def set_do_not_contact(self, object_type: str, record_id: str) -> None:
        hs = self._contact(object_type)
        contact = self.client.call("default", hs, "basic_api", "get_by_id", str(record_id), properties=["email"],
                                   archived=False)
        email = (contact.properties or {}).get("email")
        if not email:
            raise CRMValidationError(f"HubSpot contact {record_id} has no email to unsubscribe")
        self._remember(hs, str(record_id), ["email_opt_out"])
        # hs_email_optout is read-only: "unsubscribe from all email" is the communication preferences API's (v4,
        # scope subscriptions-status-write); unsubscribing an unsubscribed address again is no error
        self.client.call_path("default", "POST", f"/communication-preferences/v4/statuses/{quote(email, safe='@')}"
                                                 "/unsubscribe-all", query=[("channel", "EMAIL")])

    def _since(self, target: str, cursor: str | None, limit: int, inbound: bool) -> tuple[list[dict], dict, str, bool]:
        """One search page of `target` created after the cursor, its contacts, the next cursor and whether more.

        The cursor is changed_since's ("<ms>" or "<ms>+<after>"): the search index lags (SEARCH_LAG), so it moves to
        the newest create time older than that; a page with none pages on by position from the same time. What is
        newer is read again by the next pass (callers keep messages and meetings by id)."""
        asked = dt.datetime.now(dt.UTC)
        since, after = q.changes_cursor(cursor) if cursor else (f.ms(asked - self.SWEEP_LOOKBACK), 0)
        page = self.client.call_path("search", "POST", f"/crm/v3/objects/{target}/search",
                                     body=o.since_request(since, limit, inbound, after))
        objs = page.get("results") or []
        contacts = {}
        if objs:
            links = self.client.call_path("default", "POST", f"/crm/v4/associations/{target}/contacts/batch/read",
                                          body={"inputs": [{"id": str(obj["id"])} for obj in objs]})
            contacts = o.contacts_by_id(links)
        settled = [m for m in map(o.created_ms, objs) if m <= f.ms(asked - self.SEARCH_LAG)]
        since, after = (max(settled), 0) if settled else (since, after + len(objs))
        more = bool((page.get("paging") or {}).get("next")) and after < q.MAX_RESULTS
        return objs, contacts, q.changes_cursor_text(since, after if more else 0), more

    def inbound_since(self, cursor: str | None, limit: int = 100) -> InboundPage:
        objs, contacts, nxt, more = self._since("emails", cursor, limit, inbound=True)
        return InboundPage(messages=[o.to_inbound(obj, contacts.get(str(obj["id"]))) for obj in objs], cursor=nxt,
                           has_more=more)

    def meetings_since(self, cursor: str | None, limit: int = 100) -> MeetingPage:
        objs, contacts, nxt, more = self._since("meetings", cursor, limit, inbound=False)
        return MeetingPage(meetings=[o.to_meeting(obj, contacts[str(obj["id"])]) for obj in objs
                                     if str(obj["id"]) in contacts], cursor=nxt, has_more=more)

    def send_email(self, object_type: str, record_id: str, message: Message) -> str:
        self._contact(object_type)
        sequence = str(self.tenant.settings.get("crm_sequence_id") or "")
        if not sequence:
            raise CRMValidationError("No HubSpot sequence chosen: choose one in LeadRelay's settings (first response)")
        if not message.owner_id:
            raise CRMValidationError("A HubSpot sequence is sent from the contact's owner, and it has none")
        owner = self.client.call("default", "owners", "owners_api", "get_by_id", str(message.owner_id))
        body = {"contactId": str(record_id), "sequenceId": sequence, "senderEmail": owner.email}
        # POST /automation/v4/sequences/enrollments?userId= (the owner's user: a Sales/Service Hub seat and a
        # connected inbox are needed; the sequence sends its own first email and logs it on the contact)
        try:
            enrolled = self.client.call_path("default", "POST", "/automation/v4/sequences/enrollments", body=body,
                                             query=[("userId", str(owner.user_id))])
        except CRMNotFound as exc:
            raise CRMValidationError(f"{exc} (choose another sequence in LeadRelay's settings)") from exc
        return str(enrolled["id"])

    def list_sequences(self) -> list[tuple[str, str]]:
        """The portal's sequences as (id, name), by name, for the console to choose `crm_sequence_id` from.

        GET /automation/v4/sequences/?userId= (scope automation.sequences.read; the legacy "Retrieve sequences"
        reference) lists what one user can use: their own sequences and the team's shared ones. The enrollment is
        sent as the contact's owner, so the list is the union over the active owners (at most SEQUENCE_USERS).
        MissingScopes when the portal did not grant the optional scope."""
        found: dict[str, str] = {}
        users = list(dict.fromkeys(str(o.user_id) for o in self._owners(False) if o.user_id))
        for user in users[:SEQUENCE_USERS]:
            after = ""
            while True:
                query = [("userId", user), ("limit", "100")] + ([("after", after)] if after else [])
                page = self.client.call_path("default", "GET", "/automation/v4/sequences/", query=query) or {}
                found.update((str(r["id"]), str(r.get("name") or r["id"])) for r in page.get("results") or [])
                after = str(((page.get("paging") or {}).get("next") or {}).get("after") or "")
                if not after:
                    break
        return sorted(found.items(), key=lambda kv: (kv[1].lower(), kv[0]))

    # webhooks ------------------------------------------------------------------------------
    def subscribe_webhooks(self, callback_url: str, username: str, secret: str) -> list[str]:
        # HubSpot subscriptions belong to the app (project webhooks/*-hsmeta.json), not to a portal:
        # https://developers.hubspot.com/docs/apps/developer-platform/add-features/configure-webhooks
        return []

    def unsubscribe_webhooks(self) -> None:
        return None

    # LeadRelay's own properties -----------------------------------------------------------
    def ensure_custom_fields(self) -> list[str]:
        """The "leadrelay" group and contact properties via the Properties API (existing ones are kept)."""
        from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate

        group, label = f.PROPERTY_GROUP
        groups = self.client.call("default", "properties", "groups_api", "get_all", "contacts")
        if group not in {g.name for g in groups.results or []}:
            self.client.call("default", "properties", "groups_api", "create", "contacts",
                             PropertyGroupCreate(name=group, label=label))
        existing = self.client.call("default", "properties", "core_api", "get_all", "contacts", archived=False)
        have = {p.name for p in existing.results or []}
        created = []
        for name, title, kind, field_type in f.CUSTOM_PROPERTIES:
            if name not in have:
                self.client.call("default", "properties", "core_api", "create", "contacts", PropertyCreate(
                    name=name, label=title, type=kind, field_type=field_type, group_name=group,
                    description="Written by LeadRelay when it routes a lead"))
                created.append(name)
        return created
