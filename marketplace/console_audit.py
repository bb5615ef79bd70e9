"""The audit log: every Decision, searchable by lead (name, email or CRM id), owner, rule, kind and date;
keyset-paginated. Each row names the person and the owner, and shows the rules the lead went through.

Fast with 100k decisions: the tenant's rows are read newest first by primary key with a LIMIT (keyset on id),
a lead id goes through ix_decisions_tenant_object, and nothing counts or loads the whole log. A name has no index:
its search reads at most the tenant's newest NAME_SCAN decisions (one bounded range on the primary key), and the
page says so.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, g, render_template, request
from sqlalchemy import Select, Text, cast, func, select, tuple_

from integration.models import Decision, Tenant
from integration.records import ObjectType
from integration.rules.published import published_rules
from integration.rules.values import zone
from marketplace.access import tenant_view
from marketplace.labels import KINDS, decision_label, outcome_label, zone_name
from marketplace.params import date_arg, int_arg, text_arg
from marketplace.record_display import (
    CRM_OBJECTS,
    UNNAMED,
    Owners,
    OwnerView,
    RecordView,
    crm_links,
    for_decisions,
    owners_for,
    with_names,
)

audit_bp = Blueprint("console_audit", __name__, url_prefix="/console")
PAGE = 50
NAME_SCAN = 20_000  # a name search reads at most this many of the newest decisions (see the module docstring)
NAME_LEADS = 200  # and shows the decisions of at most this many leads so named
FILTERS = ("lead", "email", "owner", "rule", "kind", "start", "end")
# a CRM id: HubSpot/Pipedrive digits, Salesforce's 15/18 characters (letters and digits, always some digits)
_RECORD_ID = re.compile(r"(?=[A-Za-z0-9]*[0-9])[A-Za-z0-9]{1,64}")
# fields the record column already shows: the details table leaves them out
_SHOWN = frozenset({"id", "first_name", "last_name", "name", "email", "company", "created_at"})


@dataclass(frozen=True)
class AuditQuery:
    """The search form's values (blank = no filter) and the keyset position."""

    lead: str = ""
    email: str = ""
    owner: str = ""
    rule: str = ""
    kind: str = ""
    start: dt.date | None = None
    end: dt.date | None = None
    before: int | None = None

    def params(self) -> dict[str, str]:
        """The filters as URL parameters (for the next page's link and the form)."""
        values = {name: getattr(self, name) for name in FILTERS}
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in values.items() if v}

    @property
    def by_id(self) -> bool:
        """The lead filter is a CRM id."""
        return bool(_RECORD_ID.fullmatch(self.lead))

    @property
    def by_name(self) -> bool:
        """The lead filter is a name (or company), not a CRM id or an email."""
        return bool(self.lead) and "@" not in self.lead and not _RECORD_ID.fullmatch(self.lead)


def from_args(args) -> AuditQuery:
    """The search from the query string; a value out of range is a ParamError (400 naming the parameter)."""
    return AuditQuery(lead=text_arg(args, "lead", 120), email=text_arg(args, "email", 320),
                      owner=text_arg(args, "owner"), rule=text_arg(args, "rule"), kind=text_arg(args, "kind", 32),
                      start=date_arg(args, "start"), end=date_arg(args, "end"), before=int_arg(args, "before"))


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def midnight(day: dt.date, tz: str = "UTC") -> dt.datetime:
    """The start of `day` in the tenant's time zone, as the database compares it (UTC)."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone(tz)).astimezone(dt.UTC)


def _lead_text():
    """The lead's name, company and email as one lower-cased text (what a name search matches)."""
    parts = [func.coalesce(Decision.inputs[("lead", k)].as_string(), "")
             for k in ("first_name", "last_name", "company", "email")]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + " " + part
    return func.lower(joined)


def _by_lead(stmt: Select, tenant_id: int, q: AuditQuery) -> Select:
    if q.by_id:
        # every object type listed, so the (tenant_id, object_type, object_id) index serves a bare lead id
        return stmt.where(Decision.object_type.in_([t.value for t in ObjectType]), Decision.object_id == q.lead)
    if "@" in q.lead:
        return stmt.where(func.lower(cast(Decision.inputs, Text)).like(_like(q.lead), escape="\\"))
    if q.by_name:
        # bounded: the leads are found among the newest NAME_SCAN decisions (the primary key's range), never the
        # whole log; then every decision about them (an SLA step holds no name) through the object index
        floor = select(Decision.id).where(Decision.tenant_id == tenant_id).order_by(Decision.id.desc()) \
            .offset(NAME_SCAN - 1).limit(1).scalar_subquery()
        leads = select(Decision.object_type, Decision.object_id).where(
            Decision.tenant_id == tenant_id, Decision.id >= func.coalesce(floor, 0))
        text = _lead_text()
        for word in q.lead.lower().split():  # "ada acme" finds Ada Lovelace at Acme
            leads = leads.where(text.like(_like(word), escape="\\"))
        stmt = stmt.where(tuple_(Decision.object_type, Decision.object_id).in_(leads.distinct().limit(NAME_LEADS)))
    return stmt


def search(tenant_id: int, q: AuditQuery, limit: int = PAGE, owner_emails: tuple[str, ...] = (),
           tz: str = "UTC") -> Select:
    """The SELECT for one page: the tenant's decisions matching every filter, newest first, `limit` rows.
    `owner_emails`: the emails an owner filter given as a name stands for."""
    stmt = _by_lead(select(Decision).where(Decision.tenant_id == tenant_id), tenant_id, q)
    if q.email:
        stmt = stmt.where(func.lower(cast(Decision.inputs, Text)).like(_like(q.email), escape="\\"))
    if q.owner:
        emails = owner_emails or (q.owner.lower(),)
        stmt = stmt.where(func.lower(Decision.outcome).in_(emails))
    if q.rule:
        stmt = stmt.where(Decision.inputs["rule"].as_string() == q.rule)
    if q.kind:
        stmt = stmt.where(Decision.kind == q.kind)
    if q.start:
        stmt = stmt.where(Decision.created_at >= midnight(q.start, tz))
    if q.end:
        stmt = stmt.where(Decision.created_at < midnight(q.end + dt.timedelta(days=1), tz))
    if q.before:
        stmt = stmt.where(Decision.id < q.before)
    # a lead has a handful of decisions: sort those few (id + 0 is not the primary key to the planner), rather
    # than walk the tenant's whole log newest first looking for them
    order = (Decision.id + 0) if q.by_id or q.by_name else Decision.id
    return stmt.order_by(order.desc()).limit(limit)


@dataclass(frozen=True)
class Step:
    """One rule the lead was checked against: its name, whether it matched, and why."""

    rule: str
    matched: bool
    why: str


@dataclass(frozen=True)
class Skip:
    """An owner the router passed over, and why."""

    owner: OwnerView
    why: str


@dataclass(frozen=True)
class Entry:
    """One audit row as the page shows it."""

    decision: Decision
    when: dt.datetime
    kind: str
    record: RecordView
    owner: OwnerView | None
    outcome: str
    outcome_link: str
    reason: str
    details: dict[str, Any]
    path: list[Step] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    tone: str = "muted"


def _path(inputs: Mapping[str, Any]) -> list[Step]:
    steps = inputs.get("path")
    if not isinstance(steps, list):
        return []
    found = [s for s in steps if isinstance(s, Mapping)]
    found.sort(key=lambda s: s.get("index") if isinstance(s.get("index"), int) else 0)
    return [Step(str(s.get("rule") or f"Rule {int(s.get('index') or 0) + 1}"), bool(s.get("matched")),
                 str(s.get("why") or "")) for s in found]


def _skipped(inputs: Mapping[str, Any], owners: Owners) -> list[Skip]:
    skipped = inputs.get("skipped")
    if not isinstance(skipped, list):
        return []
    return [Skip(owners.get(s.get("owner")) or OwnerView("An owner"), str(s.get("why") or ""))
            for s in skipped if isinstance(s, Mapping)]


def _details(inputs: Mapping[str, Any], owners: Owners, local: dt.tzinfo) -> dict[str, Any]:
    """The inputs the details table shows: owners by name, times in the tenant's zone, the path and the lead's name
    left to their own places."""
    shown: dict[str, Any] = {}
    for key, value in inputs.items():
        if key in ("path", "skipped"):
            continue
        if key in ("lead", "fields") and isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if k not in _SHOWN}
        elif key in ("owner_id", "new_owner_id") and value:
            value = owners.label(value)
        elif isinstance(value, str) and (when := _time(value)) is not None:
            value = when.astimezone(local).strftime("%d %b %Y, %H:%M")
        shown[key] = value
    return shown


def _time(text: str) -> dt.datetime | None:
    """An ISO time with its offset (as the pipeline stores `written_at`), else None."""
    if len(text) < 20 or text[4:5] != "-" or "T" not in text:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else None



def _outcome(d: Decision, owners: Owners, record: RecordView, links) -> tuple[OwnerView | None, str, str]:
    """(owner, text, link): an owner's email is the owner by name; "merged into 123" links the kept record."""
    outcome = d.outcome or ""
    if "@" in outcome and " " not in outcome:
        return owners.get(outcome), "", ""
    if outcome.startswith("assigned to ") and "@" in outcome:
        return owners.get(outcome.removeprefix("assigned to ")), "", ""
    if outcome.startswith("merged into "):
        kept = outcome.removeprefix("merged into ").strip()
        return None, "Merged into the kept record", links(d.object_type, kept)
    return None, outcome_label(outcome), ""


def entries(tenant: Tenant, decisions: list[Decision], owners: Owners, tz: str) -> list[Entry]:
    records = for_decisions(g.db, tenant, decisions)
    links = crm_links(tenant)
    local = zone(tz)
    found = []
    for d in decisions:
        inputs = d.inputs or {}
        owner, text, link = _outcome(d, owners, records[d.id], links)
        found.append(Entry(d, d.created_at.astimezone(local), decision_label(d.kind, d.outcome), records[d.id],
                           owner, text, link, _reason(d, records[d.id]), _details(inputs, owners, local), _path(inputs),
                           _skipped(inputs, owners), _tone(d)))
    return found


def _reason(d: Decision, record: RecordView) -> str:
    """The reason, naming the row's own record by the person's name where it wrote the CRM id (an email-only name
    stays an id: the record column shows the email already)."""
    real = record.name not in (record.email, UNNAMED) and d.object_type in CRM_OBJECTS
    return with_names(d.reason, {d.object_id: record.name}) if real else d.reason


ESCALATED = frozenset({"notify_manager", "no_manager", "reassigned", "review"})


def _tone(d: Decision) -> str:
    """The kind badge's colour: given to an owner (ok), waiting for a human (warn), an SLA missed (bad)."""
    if d.kind == "sla":
        return "bad" if d.outcome in ESCALATED else "muted"
    if d.outcome == "review":
        return "warn"
    return "ok" if d.kind in ("route", "review") and "@" in (d.outcome or "") else "muted"


def _owner_emails(q: AuditQuery, owners: Owners) -> tuple[str, ...]:
    """An owner typed as a name ("alice", "Alice Adams") stands for the emails of the users so named."""
    if not q.owner or "@" in q.owner:
        return ()
    wanted = q.owner.lower()
    return tuple(sorted({o.email.lower() for o in owners.by_key.values() if o.email and wanted in o.name.lower()}))


@audit_bp.get("/tenants/<int:tenant_id>/audit")
@tenant_view()
def audit(tenant: Tenant):
    q = from_args(request.args)
    rules = published_rules(g.db, tenant.id)
    tz = rules.timezone if rules else "UTC"
    owners = owners_for(tenant, rules)
    rows = g.db.scalars(search(tenant.id, q, PAGE + 1, _owner_emails(q, owners), tz)).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    older = {**q.params(), "before": rows[-1].id} if more else None
    kinds = {**KINDS, **({q.kind: q.kind} if q.kind and q.kind not in KINDS else {})}
    rule_names = [r.name for r in rules.routing if getattr(r, "name", None)] if rules else []
    return render_template("console/audit.html", tenant=tenant, role=g.role, q=q, entries=entries(
        tenant, rows, owners, tz), older=older, kinds=kinds, tz=tz, zone=zone_name(tz), rule_names=rule_names,
        name_scan=NAME_SCAN)
