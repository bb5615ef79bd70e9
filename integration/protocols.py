"""The ports: what the domain needs from a CRM adapter, a token provider, a rate budget and a write log."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from integration.records import (
    ChangePage,
    Company,
    CRMUser,
    Event,
    InboundPage,
    MeetingPage,
    MergeResult,
    Message,
    NewRecord,
    OwnerWrite,
    Record,
    TaskSpec,
    TaskState,
)


@dataclass(frozen=True)
class TenantRef:
    """What an adapter needs to know about the installation it works for."""

    id: int
    platform: str
    external_id: str
    api_base: str
    settings: Mapping[str, Any] = field(default_factory=dict)


class TokenProvider(Protocol):
    """Access tokens for one tenant (oauth/ implements it; refresh is serialized per tenant)."""

    def access_token(self) -> str:
        """A token valid for at least the next few minutes (refreshed first when needed)."""

    def after_unauthorized(self, rejected: str) -> str:
        """The CRM answered 401 to `rejected`: refresh once (unless already done) and return the new token.

        Raises ReauthRequired when the refresh is refused: the tenant is then paused.
        """


class RateBudget(Protocol):
    """A per-tenant API budget shared by every worker (integration/ratelimit.py implements it)."""

    def acquire(self, bucket: str = "default", cost: int = 1) -> None:
        """Take `cost` from the bucket, waiting briefly; raises CRMRateLimited(retry_after) if it would wait long."""

    def observe(self, bucket: str, remaining: int | None, limit: int | None = None,
                reset_after: float | None = None) -> None:
        """Align the bucket with what the platform reported (rate-limit headers)."""

    def exhausted(self, bucket: str, until: float) -> None:
        """The platform refuses every call on `bucket` until `until` (epoch seconds), when the allowance is whole
        again (a daily budget's reset): `acquire` raises CRMBudgetExhausted until then, without calling the CRM."""

    def penalize(self, bucket: str, retry_after: float) -> int | None:
        """The platform answered 429 to a call that took from `bucket`, although `acquire` let it go: its limit is
        lower than believed (other apps share it, or the plan is smaller). Hold every call on `bucket` off for
        `retry_after` seconds and believe a lower limit for a while; returns that limit (None: a budget keeping none).

        Called by the adapter's client where the platform's 429 is read, with the bucket the 429 is about: of those
        the call took from, the one with the shortest window (Pipedrive's 2-second burst, not its daily tokens).
        Never for a CRMRateLimited `acquire` raised itself, nor for an allowance the platform says is used up until
        a known reset (that is `exhausted`).
        """


class WriteLog(Protocol):
    """Our own recent writes, so their webhook echoes can be recognised and dropped."""

    def remember(self, object_type: str, object_id: str, fields: Iterable[str]) -> None:
        """Record that we just wrote these neutral fields (or "*" for create/merge) on the record."""


@runtime_checkable
class CRMAdapter(Protocol):
    """One CRM platform, seen through neutral types.

    Contract for every implementation:
    - Construction: `Adapter(tenant: TenantRef, tokens: TokenProvider, budget: RateBudget | None = None,
      writes: WriteLog | None = None)`. No network call in the constructor.
    - Every call goes through the adapter's single error choke point, which raises only the classes in
      `integration.errors` (CRMAuthError/ReauthRequired, CRMRateLimited, CRMTransient, CRMConflict,
      CRMValidationError, CRMNotFound). A 401 triggers exactly one `tokens.after_unauthorized` and a retry.
    - Each call acquires from `budget` first (bucket names in RATE_LIMITS) and feeds rate-limit headers back
      with `budget.observe`; a 429 from the platform is told to `budget.penalize` (on the bucket the call took
      from), an allowance it says is used up until a reset to `budget.exhausted`.
    - Every write is reported to `writes.remember(...)` (echo suppression) and is idempotent where the
      platform allows it (setting an owner twice is a no-op; creating a task is keyed by the caller).
    - Object types are `integration.records.ObjectType` values; fields are neutral names (records.FIELDS);
      ids are strings. No SDK type, platform field name or raw payload is returned.
    """

    PLATFORM: ClassVar[str]
    LEAD_OBJECT: ClassVar[str]  # the object LeadRelay routes: "contact" (HubSpot, Pipedrive) or "lead"
    EPOCH_CURSOR: ClassVar[str]  # a changed_since cursor that starts at the very first record (backfill)
    LIFECYCLE_FIELD: ClassVar[str]  # neutral field holding the lifecycle stage: native, or LeadRelay's own
    # the neutral address fields the lead object has, which the owner write may fill when enrichment found them
    # blank (Pipedrive persons have none: an address is an organization's)
    ADDRESS_FIELDS: ClassVar[frozenset[str]]
    RATE_LIMITS: ClassVar[Mapping[str, tuple[int, float]]]  # bucket -> (requests, per seconds)
    # How long the platform's search may go on answering as if a record created or changed a moment ago were not
    # (yet) so: a conservative bound where the search is an eventually consistent index, 0 where every read the
    # adapter makes sees a write at once. Whatever reads through search waits it out before trusting an absence:
    # the sweep re-reads this far behind its cursor, a company "not found" is asked again after it, an SLA check
    # that finds no activity looks once more after it, a duplicate search is combined with the dedup index.
    SEARCH_LAG: ClassVar[dt.timedelta]
    # The platform keeps leads in an inbox of their own beside the lead object (Pipedrive's Leads Inbox: a lead
    # hangs on a person): a web-form person may get one there too when the tenant asks (`create_inbox_lead`)
    INBOX_LEADS: ClassVar[bool]

    def get_record(self, object_type: str, record_id: str) -> Record | None:
        """One record with its neutral fields, owner and company; None when it does not exist.

        A record merged away: None where the platform forgets its id (Salesforce, Pipedrive); where the platform
        answers the old id with the record it was merged into (HubSpot), that record, whose `id` then differs from
        `record_id`: a caller keeping the old id moves what it keeps (integration.crm.merged_records).
        """

    def get_records(self, object_type: str, record_ids: list[str]) -> list[Record]:
        """Many records in as few calls as the platform allows (batch endpoints); missing ids are left out."""

    def find_duplicate_candidates(self, object_type: str, *, emails: Iterable[str] = (),
                                  phones: Iterable[str] = (), name: str | None = None,
                                  company: str | None = None, limit: int = 20) -> list[Record]:
        """Records that may be the same person (exact email, phone, name [+ company]); one or two calls."""

    def list_users(self) -> list[CRMUser]:
        """Every user/owner with active state, time zone when the platform has one, manager when known."""

    def find_company(self, *, domain: str | None = None, name: str | None = None) -> Company | None:
        """The company/account/organization for a web domain (preferred) or an exact name, with its owner."""

    def find_companies(self, domains: Sequence[str]) -> dict[str, Company | None]:
        """`find_company(domain=d)` for many web domains in as few calls as the platform allows: each domain given
        (as given) maps to its company, or None when there is none. One platform call per chunk (HubSpot search
        with IN, a SOQL OR); a platform with no such search looks each domain up alone. CRM errors raise."""

    def set_owner(self, object_type: str, record_id: str, owner_id: str,
                  fields: Mapping[str, Any] | None = None) -> None:
        """Assign the record's owner (a no-op when it already has that owner), with `fields` in the same write."""

    def set_owners(self, object_type: str, writes: Sequence[OwnerWrite]) -> dict[str, Exception]:
        """Many `set_owner` writes (each with its fields) in as few calls as the platform allows (batch update).

        Returns the failures by record id; every record not in the result was written. Never raises for a
        record: a record the CRM refused maps to its CRMValidationError/CRMNotFound; when a call fails as a whole
        (429, 5xx, timeout, auth after the one refresh, or a batch the CRM refused as a whole), every record of
        that call maps to that error, and after a rate limit, an outage or an auth failure so does every record
        not sent yet (`integration.crm.batch_writes` has the helpers). Idempotent like `set_owner`; each written
        record is reported to `writes.remember`.
        """

    def create_tasks(self, specs: Sequence[TaskSpec]) -> list[str | Exception]:
        """Many `create_task`s in as few calls as the platform allows: in order, the new task id or the error for
        that spec (failures as in `set_owners`). Not idempotent: the caller keys each task before calling."""

    def set_fields(self, object_type: str, record_id: str, fields: Mapping[str, Any]) -> None:
        """Write neutral fields (lifecycle stage, lead status, normalized values …)."""

    def create_record(self, object_type: str, fields: Mapping[str, Any], owner_id: str | None,
                      company_id: str | None = None) -> str:
        """Create a record from neutral `fields`, owned by `owner_id` when given; returns the new id.

        `company_id`: the company/account/organization the new record belongs to, linked in the same call where
        the object has that link (HubSpot contact → company association, Pipedrive person's organization,
        Salesforce Contact's account); ignored where it has none (a Salesforce Lead: its Company is text).

        Empty values are left out. Fields the platform derives or only reads on that object (a person's full
        name beside first/last name, an email's domain, a related company's name) are ignored; any other field
        the platform has no place for is a CRMValidationError naming it. A value the platform keeps unique
        (HubSpot: a contact email, also as another contact's additional email) raises CRMConflict.
        Not idempotent (CRMs have no create key for records): the caller stores the returned id before it
        could create again. The new record is reported to `writes.remember(object_type, id, ["*"])`.
        """

    def create_records(self, object_type: str, items: Sequence[NewRecord]) -> list[str | Exception]:
        """Many `create_record`s in as few calls as the platform allows (HubSpot batch create, Salesforce sObject
        Collections with allOrNone false, one by one where there is no batch create: Pipedrive): in order, each
        item's new id or its error, as `create_record` would raise it for that item alone (CRMConflict for a
        unique value another record holds, CRMRecordRefused for a duplicate rule, CRMValidationError).

        A call that fails as a whole gives every item of it that error, and after a rate limit, an outage or an
        auth failure so does every item not sent yet (integration.crm.batch_writes). Where the platform refuses
        a whole batch for one item (HubSpot answers 409 for the batch when one email is taken, and creates
        nothing), the adapter creates that chunk's items one by one, so the others are still created and the one
        gets its own error. Not idempotent; each new record is reported to `writes.remember`.
        """

    def add_notes(self, object_type: str, notes: Sequence[tuple[str, str]]) -> list[str | Exception]:
        """Many `add_note(object_type, record_id, body)` for (record_id, body) pairs, in as few calls as the
        platform allows: in order, each note's id or its error (failures as in `create_records`)."""

    def create_inbox_lead(self, record_id: str, title: str, owner_id: str | None) -> str:
        """A lead in the platform's leads inbox on the lead-object record `record_id`, owned by `owner_id`; returns
        its id. Only where INBOX_LEADS; elsewhere a CRMValidationError. Not idempotent: the caller keeps the id."""

    def writable_fields(self, object_type: str) -> frozenset[str]:
        """The neutral fields `create_record` and `set_fields` take on this object for this installation (no
        network call): what a caller holding more (a web form's fields) writes, the rest it keeps elsewhere."""

    def add_note(self, object_type: str, record_id: str, body: str) -> str:
        """Attach a note (plain text; its first line is its title where the platform has one) to the record;
        returns the note's id. A note is not a logged activity: it never counts for `activity_logged_since`.
        Not idempotent: the caller keeps the id before it could add the note again."""

    def set_additional(self, object_type: str, record_id: str, *, emails: Sequence[str] | None = None,
                       phones: Sequence[str] | None = None) -> None:
        """Make the record's additional (non-primary) emails / phones exactly these; None leaves a list as it is.

        Idempotent: values already there are not written again, and nothing is sent when nothing changes. The
        primary email/phone are `set_fields`' business. Where the platform keeps no such list (Salesforce: none;
        HubSpot: emails only), an empty list is a no-op and a non-empty one a CRMValidationError naming it; an
        email another record holds (HubSpot) raises CRMConflict. Reported to `writes.remember`.
        """

    def create_task(self, spec: TaskSpec) -> str:
        """Create a task/activity for spec.owner_id on the record; returns its id."""

    def update_task(self, task_id: str, *, owner_id: str | None = None, due_at: dt.datetime | None = None,
                    body: str | None = None) -> None:
        """Change a task's owner, due time or body."""

    def complete_task(self, task_id: str, note: str | None = None) -> None:
        """Mark the task done (closing note appended to the body when given)."""

    def get_task(self, task_id: str) -> TaskState | None:
        """Whether the task is done, and by whom; None when it was deleted."""

    def activity_logged_since(self, object_type: str, record_id: str, since: dt.datetime) -> bool:
        """Whether a call, email or meeting was logged on the record at or after `since`."""

    def merge(self, object_type: str, survivor_id: str, other_id: str,
              fields: Mapping[str, Any] | None = None) -> MergeResult:
        """Merge `other_id` into `survivor_id` with the platform's native merge, then set `fields` on the survivor.

        The result says which id the merged record lives under (`survivor_id` on Salesforce and Pipedrive; a new id
        on HubSpot) and every id merged away (`merged_ids`: both old ids when the merged record got a new one).
        """

    def record_url(self, object_type: str, record_id: str) -> str:
        """The record's page in the CRM's web app, for people to click (the rep's task, the console).

        No network call: built from the installation (portal, instance or company domain) and the id. On the
        sandbox (an API base that is not the platform's own) the same path on the sandbox's origin.
        """

    def changed_since(self, object_type: str, cursor: str | None, limit: int = 100,
                      overlap: dt.timedelta = dt.timedelta(0)) -> ChangePage:
        """Records created or modified after the cursor (None: from now minus one day), oldest first.

        `overlap`: start that much before the cursor instead (records seen before come again; the caller is
        idempotent), so a record the platform's search indexed late is not skipped. A cursor in the middle of a
        paged pass that the platform resumes by a page token resumes there, without the overlap.
        """

    def subscribe_webhooks(self, callback_url: str, username: str, secret: str) -> list[str]:
        """Create the platform's webhook subscriptions for this account where it does that by API.

        Returns the subscription ids (empty where subscriptions are app-level or configured by the admin).
        Idempotent: existing subscriptions to the same URL are kept, not duplicated.
        """

    def unsubscribe_webhooks(self) -> None:
        """Remove the subscriptions `subscribe_webhooks` made."""

    # The CRM's own email sending that an app may use for the lead's acknowledgment (`send_email`): "sequence"
    # (HubSpot: enrol the contact in a sequence, which sends its own template from the owner's connected inbox;
    # needs a Sales/Service Hub seat), "email_action" (Salesforce: the emailSimple invocable action), None where the
    # platform's API sends no mail (Pipedrive): then only the tenant's SMTP server can.
    EMAIL_SENDER: ClassVar[str | None]

    def log_message(self, object_type: str, record_id: str, message: Message) -> str:
        """Log a message sent to (or received from) the lead on the record, as the platform shows mail and texts:
        HubSpot an email engagement (an SMS: a communication, channel SMS) associated with the contact, Salesforce
        a completed Task (TaskSubtype Email; an SMS: subtype Task, type SMS) on the Lead/Contact, Pipedrive a done
        activity (type email; an SMS: type sms, else task) on the person. Returns its id. Not idempotent: the caller
        keeps the id. It is not the owner's activity: `activity_logged_since` must not count an outbound message
        LeadRelay logged as the rep's touch (adapters mark it, e.g. HubSpot's hs_email_direction EMAIL sent by the
        app, Salesforce's subtype plus LeadRelay's subject prefix, Pipedrive's activity subject prefix)."""

    def set_do_not_contact(self, object_type: str, record_id: str) -> None:
        """Mark the record as not to be contacted, where the platform keeps it: HubSpot unsubscribes the
        contact's email from all email (communication preferences; `email_opt_out` reads true after), Salesforce
        sets HasOptedOutOfEmail and DoNotCall, Pipedrive sets the person's marketing_status to unsubscribed.
        Idempotent. Reported to `writes.remember`."""

    def inbound_since(self, cursor: str | None, limit: int = 100) -> InboundPage:
        """Messages from leads the CRM logged after the cursor (None: from now minus one day), oldest first, with
        the lead-object record each is linked to: HubSpot email engagements with direction INCOMING_EMAIL,
        Salesforce EmailMessage with Incoming = true (through its EmailMessageRelation to the Lead/Contact),
        Pipedrive mailbox messages from a person (mail:read). One or two calls a page. Records the platform did
        not link are returned with an empty `record_id` and their sender (a caller may look the address up)."""

    def meetings_since(self, cursor: str | None, limit: int = 100) -> MeetingPage:
        """Meetings logged on lead-object records after the cursor (None: from now minus one day), oldest first:
        HubSpot meeting engagements associated with contacts, Salesforce Events whose WhoId is a Lead/Contact,
        Pipedrive activities of type meeting on a person. For the conversion KPIs (lead → meeting)."""

    def send_email(self, object_type: str, record_id: str, message: Message) -> str:
        """Send the lead's acknowledgment through the CRM's own sending (EMAIL_SENDER), from `message.owner_id`;
        returns the platform's id for it. The CRM logs it on the record itself (no `log_message` after).
        CRMValidationError when the platform can't (no EMAIL_SENDER, no seat, the daily allowance used up: the
        message says which); CRMRateLimited/CRMTransient as every call. "sequence": the tenant's settings name the
        sequence (`crm_sequence_id`); the message's subject and body are then the sequence's, not ours."""

    def ensure_custom_fields(self) -> list[str]:
        """Create LeadRelay's own fields (records.FIELDS' leadrelay_*) on the lead object where the platform
        allows it by API; returns the platform field names created by this call (none when they all exist).

        Idempotent: fields that already exist are kept. Where the platform needs an admin/package step
        (Salesforce: the managed package), returns [] when the fields are there and raises
        CRMValidationError telling the admin what to install when they are not.
        """


class WebhookRequest(Protocol):
    """What the web layer hands an adapter's webhook parser (no framework type)."""

    method: str
    url: str            # the full URL the platform called, as the platform signs it
    headers: Mapping[str, str]
    body: bytes


def parse_iso(value: str | None) -> dt.datetime | None:
    """ISO-8601 (with Z) or epoch milliseconds, as CRMs send them, to an aware UTC datetime."""
    if value in (None, ""):
        return None
    text = str(value)
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC)
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


__all__ = ["CRMAdapter", "ChangePage", "Company", "CRMUser", "Event", "MergeResult", "OwnerWrite", "RateBudget",
           "Record", "TaskSpec", "TaskState", "TenantRef", "TokenProvider", "WebhookRequest", "WriteLog", "parse_iso"]


@dataclass
class ParsedDelivery:
    """One webhook delivery, parsed: events to store, and names of events skipped on purpose or unknown."""

    events: list[Event] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)      # in IGNORED_EVENTS: acknowledged, no job
    unsupported: list[str] = field(default_factory=list)  # unknown: logged at warning, acknowledged
    notes: dict[str, str] = field(default_factory=dict)  # why an ignored or unsupported name was skipped, when known
    # (path, problem) of items set aside because a field is missing or malformed: logged at warning, acknowledged,
    # while the delivery's other items are kept
    unreadable: list[tuple[str, str]] = field(default_factory=list)


class WebhookParser(Protocol):
    """The webhook side of one platform (adapters/<platform>/webhooks.py). The web layer runs STYLE.md rule 4:

    1. `missing_signature(request)` names a missing header/credential → 400 (401 with the parser's
       `AUTH_CHALLENGE` as `WWW-Authenticate` when it has one: HTTP Basic senders such as Pipedrive)
    2. app-scoped secrets (SECRET_SCOPE == "app"): `verify(request, secret, now)` False → 401 (bad or stale);
       tenant-scoped (SECRET_SCOPE == "tenant"): `credentials(request)` gives (key, secret) which the web
       layer checks against the tenant's stored webhook key and secret hash → 401 when they don't match
    3. `parse(request)` → ParsedDelivery, or PayloadError → 400
    4. `acknowledge(delivery)` → (status, body, content type) the platform expects on success
    """

    PLATFORM: ClassVar[str]
    SECRET_SCOPE: ClassVar[str]  # "app" (HubSpot: client secret) | "tenant" (Pipedrive, Salesforce)
    BODY_FORMAT: ClassVar[str]  # "json" (nesting depth checked on the raw bytes before parsing) | "xml"
    EVENT_KINDS: ClassVar[Mapping[str, tuple[str, str]]]  # platform event name -> (ObjectType, EventKind)
    IGNORED_EVENTS: ClassVar[frozenset[str]]

    def missing_signature(self, request: WebhookRequest) -> str | None:
        """The name of the missing signature header/credential, or None when present."""

    def verify(self, request: WebhookRequest, secret: str, now: dt.datetime) -> bool:
        """App-scoped: the signature over the raw body is right and its timestamp is fresh."""

    def credentials(self, request: WebhookRequest) -> tuple[str, str] | None:
        """Tenant-scoped: (webhook key, secret) presented by the request (Basic auth or URL path)."""

    def parse(self, request: WebhookRequest) -> ParsedDelivery:
        """Neutral events from the raw body; PayloadError (with the field path) when malformed."""

    def acknowledge(self, delivery: ParsedDelivery) -> tuple[int, str, str]:
        """What to answer on success: (status, body, content type)."""
