"""How the console names a record and an owner: a person ("Ada Lovelace · Acme"), never "contact 363".

A record is named from what LeadRelay already holds (a decision's normalized lead, a merge snapshot, the records a
page read from the CRM anyway), else by its email, else "Unnamed lead"; always with a link to its page in the CRM,
built from the installation alone (no CRM call, no token). Owners are named from the shared CRM users cache.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from adapters.registry import get_adapter_class
from integration.config import get_settings
from integration.crm.users import cached_users
from integration.crm.wiring import NotWired, adapter_for
from integration.errors import CRMError, LeadRelayError
from integration.models import Decision, MergeSnapshot, Tenant
from integration.protocols import TenantRef
from integration.queues import redis_connection
from integration.records import CRMUser, ObjectType, Record
from integration.rules.model import RuleSet
from integration.work import route_key
from oauth.registry import crm_title

log = logging.getLogger("leadrelay.console.names")
UNNAMED = "Unnamed lead"
CRM_OBJECTS = frozenset(t.value for t in ObjectType)
# what an object type is called on each CRM (a Pipedrive contact is a person)
KINDS = {("pipedrive", "contact"): "Person", ("salesforce", "lead"): "Lead", ("salesforce", "contact"): "Contact"}


@dataclass(frozen=True)
class RecordView:
    """A record as the console names it. `name` is never blank: "Unnamed lead" when nothing names it."""

    name: str
    company: str
    email: str
    crm_url: str
    crm_label: str
    kind_label: str
    object_type: str = ""
    object_id: str = ""

    @property
    def short(self) -> str:
        """"Ada Lovelace · Acme": how a heading or a sentence names the record."""
        return " · ".join(x for x in (self.name, self.company) if x)


@dataclass(frozen=True)
class OwnerView:
    """A CRM user as the console names one: the name, the email as a secondary detail."""

    name: str
    email: str = ""
    known: bool = True


Links = Callable[[str, str], str]


def crm_links(tenant: Tenant) -> Links:
    """(object_type, object_id) -> the record's page in the tenant's CRM ("" when the CRM has no page for it)."""
    try:
        cls = get_adapter_class(tenant.platform)
    except LeadRelayError:
        return lambda object_type, object_id: ""
    ref = TenantRef(id=tenant.id, platform=tenant.platform, external_id=tenant.external_id,
                    api_base=tenant.api_base or "", settings=dict(tenant.settings or {}))

    def link(object_type: str, object_id: str) -> str:
        if not ref.api_base or not object_id:
            return ""  # no installation address yet: a link would point nowhere
        try:
            url = cls.record_url_for(ref, object_type, str(object_id))
        except (CRMError, AttributeError):
            return ""
        return url if url.startswith(("https://", "http://")) else ""

    return link


def crm_label(tenant: Tenant) -> str:
    return f"Open in {crm_title(tenant.platform)}"


def kind_label(tenant: Tenant, object_type: str) -> str:
    return KINDS.get((tenant.platform, object_type)) or object_type.replace("_", " ").capitalize()


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value not in (None, "") else ""


def view(tenant: Tenant, links: Links, object_type: str, object_id: str,
         fields: Mapping[str, Any] | None = None) -> RecordView:
    """The record named from neutral fields (a Record's, a normalized lead's, a snapshot's); any may be missing."""
    if object_type not in CRM_OBJECTS:
        # the console's own audit (access, members): a person of the console or the installation, not a CRM record
        return RecordView(name=str(object_id) or "This installation", company="", email="", crm_url="",
                          crm_label="", kind_label=object_type.replace("_", " ").capitalize(),
                          object_type=object_type, object_id=str(object_id))
    fields = fields or {}
    name = " ".join(x for x in (_text(fields.get("first_name")), _text(fields.get("last_name"))) if x)
    email = _text(fields.get("email")).lower()
    name = name or _text(fields.get("name")) or email or UNNAMED
    return RecordView(name=name, company=_text(fields.get("company")), email=email,
                      crm_url=links(object_type, object_id), crm_label=crm_label(tenant),
                      kind_label=kind_label(tenant, object_type), object_type=object_type, object_id=str(object_id))


def with_names(text: str, names: Mapping[str, str]) -> str:
    """A sentence the pipeline wrote with record ids ("Merged 501 into 500 (score 0.97)") naming the people instead;
    an id only where it stands alone (not inside a score, an email or a longer id)."""
    known = {str(k): v for k, v in names.items() if k and v and v != UNNAMED}
    if not known or not text:
        return text
    ids = "|".join(re.escape(k) for k in sorted(known, key=len, reverse=True))
    return re.sub(rf"(?<![\w.@/-])({ids})(?![\w@/-]|\.\w)", lambda m: known[m.group(1)], text)


def record_fields(record: Record) -> dict[str, Any]:
    return {**record.fields, "id": record.id}


def from_records(tenant: Tenant, records: Iterable[Record], links: Links | None = None
                 ) -> dict[tuple[str, str], RecordView]:
    """Views of records a page read from the CRM anyway (one batch per object type), by (object_type, id)."""
    links = links or crm_links(tenant)
    return {(r.object_type, r.id): view(tenant, links, r.object_type, r.id, record_fields(r)) for r in records}


def lead_of(decision: Decision) -> Mapping[str, Any] | None:
    """The person a decision is about, as the pipeline stored it (normalized lead, or the raw fields of an
    unusable one); None when the decision holds no name."""
    inputs = decision.inputs or {}
    for key in ("lead", "fields"):
        value = inputs.get(key)
        if isinstance(value, Mapping) and any(value.get(k) for k in ("first_name", "last_name", "name", "email")):
            return value
    return None


def for_decisions(session: Session, tenant: Tenant, decisions: list[Decision]) -> dict[int, RecordView]:
    """Each decision's record, by decision id. A decision without the lead (an SLA step, a merge) takes it from the
    lead's route decision, else from the merge snapshot it names: two batched reads at most, none per row."""
    links = crm_links(tenant)
    named: dict[tuple[str, str], Mapping[str, Any]] = {}
    for d in decisions:
        if (lead := lead_of(d)) is not None:
            named.setdefault((d.object_type, d.object_id), lead)
    missing = {(d.object_type, d.object_id) for d in decisions} - set(named)
    for key, lead in _route_leads(session, tenant, missing).items():
        named.setdefault(key, lead)
    snapshots = {d.inputs.get("snapshot_id") for d in decisions
                 if (d.object_type, d.object_id) not in named and isinstance(d.inputs.get("snapshot_id"), int)}
    if snapshots:
        for snap in session.scalars(MergeSnapshot.for_tenant(tenant.id).where(MergeSnapshot.id.in_(snapshots))):
            for before in (snap.loser_before, snap.survivor_before):
                if before and before.get("id") is not None:
                    named.setdefault((snap.object_type, str(before["id"])), before)
            if snap.survivor_id and snap.survivor_before:
                named.setdefault((snap.object_type, snap.survivor_id), snap.survivor_before)
    return {d.id: view(tenant, links, d.object_type, d.object_id, named.get((d.object_type, d.object_id)))
            for d in decisions}


def _route_leads(session: Session, tenant: Tenant, keys: Iterable[tuple[str, str]]
                 ) -> dict[tuple[str, str], Mapping[str, Any]]:
    """The leads of these records' route decisions (one query on the unique key), where they hold a name."""
    wanted = [route_key(t, i) for t, i in set(keys)]
    if not wanted:
        return {}
    found = {}
    for row in session.scalars(Decision.for_tenant(tenant.id).where(Decision.idempotency_key.in_(wanted))):
        if (lead := lead_of(row)) is not None:
            found[(row.object_type, row.object_id)] = lead
    return found


def for_objects(session: Session, tenant: Tenant, keys: Iterable[tuple[str, str]],
                records: Mapping[tuple[str, str], Record]) -> dict[tuple[str, str], RecordView]:
    """Views of (object_type, id)s: from the records the page read from the CRM (batched), else from the lead's
    route decision (one query), else by CRM link alone."""
    keys = list(dict.fromkeys(keys))
    links = crm_links(tenant)
    named: dict[tuple[str, str], Mapping[str, Any]] = {k: record_fields(r) for k, r in records.items()}
    named.update({k: v for k, v in _route_leads(session, tenant, [k for k in keys if k not in named]).items()})
    return {k: view(tenant, links, k[0], k[1], named.get(k)) for k in keys}


class Owners:
    """CRM users by id and by email, from the shared users cache (one CRM call per tenant per few minutes at
    most); the rule set's owners name anyone the CRM could not be asked about."""

    def __init__(self, users: Iterable[CRMUser] = (), rules: RuleSet | None = None) -> None:
        self.by_key: dict[str, OwnerView] = {}
        for owner in (rules.owners if rules else []):
            self.by_key[owner.email.lower()] = OwnerView(owner.name or owner.email, owner.email)
        for user in users:
            shown = OwnerView(user.name or user.email, user.email)
            self.by_key[str(user.id)] = shown
            if user.email:
                self.by_key[user.email.lower()] = shown

    def get(self, key: Any) -> OwnerView | None:
        if key in (None, ""):
            return None
        text = str(key).strip()
        found = self.by_key.get(text) or self.by_key.get(text.lower())
        if found is not None:
            return found
        if "@" in text:
            return OwnerView(text, "", known=True)
        return OwnerView("A user the CRM no longer lists", "", known=False)

    def label(self, key: Any) -> str | None:
        """"Alice Adams <alice@acme.test>" as one string (where a page has room for one text only)."""
        found = self.get(key)
        if found is None:
            return None
        return f"{found.name} <{found.email}>" if found.email and found.email != found.name else found.name


def crm_users(tenant_id: int) -> list[CRMUser]:
    """The tenant's CRM users from the cache every worker shares (crm.users: one CRM call per five minutes, none
    per page view); [] when the CRM or Redis cannot say now (down, reconnect needed): pages then name owners by
    the rule set's names or by email."""
    try:
        return cached_users(redis_connection(get_settings()), tenant_id, adapter_for(tenant_id))
    except (LeadRelayError, NotWired, RedisError, OSError) as exc:
        log.info("console.users-unavailable", extra={"tenant_id": tenant_id, "error": type(exc).__name__})
        return []


def owner_names(tenant_id: int) -> dict[str, str]:
    """CRM users' names by email (lower case), for charts and sentences that name owners."""
    return {u.email.lower(): u.name for u in crm_users(tenant_id) if u.email and u.name}


def owners_for(tenant: Tenant, rules: RuleSet | None = None) -> Owners:
    """The tenant's owners from the shared cache; without the CRM (down, reconnect needed) the rule set's names."""
    return Owners(crm_users(tenant.id), rules)
