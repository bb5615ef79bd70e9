"""The outbox: every acknowledgment LeadRelay sent to a lead, or decided not to send (with the reason in words), how
many seconds it took from the record's creation to the sender accepting it, and the replies leads sent back with
what the handoff rules made of them. Read-only: a viewer may see it, nothing here writes.

Bounded: the rows are keyset-paginated on the primary key (newest first); the counts at the top group in the
database, and the p50/p95 read at most TIMING_SCAN sent rows of the range (the page says so when it is more).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from flask import Blueprint, g, render_template, request
from sqlalchemy import func, select

from integration.models import Tenant
from integration.models.outreach import FAILED, SENDING, SENT, SKIPPED, InboundMessageRow, OutboundMessage
from integration.rules.published import published_rules
from integration.rules.values import zone
from marketplace.access import tenant_view
from marketplace.console_audit import midnight
from marketplace.labels import zone_name
from marketplace.params import ParamError, choice_arg, date_arg, int_arg
from marketplace.record_display import RecordView, for_objects, owners_for

outbox_bp = Blueprint("console_outbox", __name__, url_prefix="/console")
PAGE = 50
REPLIES = 50  # replies shown beside the page (newest in the range)
TIMING_SCAN = 50_000
STATUSES = {"": "Any", SENT: "Sent", SKIPPED: "Skipped", FAILED: "Failed", SENDING: "Sending"}
# a skip's or failure's word (OutboundMessage.reason) as an admin reads it; an unknown word is shown as it is
REASONS = {
    "opted_out": "the lead opted out in the CRM", "opt_out": "the lead opted out in the CRM",
    "no_consent": "no consent recorded (the tier needs consent given)", "consent": "no consent recorded",
    "quiet_hours": "quiet hours in the lead's time zone", "daily_cap": "the daily cap was reached",
    "cap": "the daily cap was reached", "no_email": "the lead has no email address",
    "no_phone": "the lead has no mobile number", "hold": "automation is held for this lead",
    "skip_automation": "a handoff rule skips automation (referral or customer)",
    "do_not_contact": "the lead is marked do-not-contact", "stopped": "the cadence was stopped",
    "no_template": "the tier's template is missing", "no_sender": "no sender is set up",
    "sender_error": "the sender refused the message", "provider_error": "the SMS provider refused the message",
    "auth": "the sender's credentials were refused", "off": "first response is off for this tier",
}
CHANNELS = {"email": "Email", "sms": "SMS"}
SENDERS = {"smtp": "SMTP server", "crm": "The CRM's own sending", "sms": "SMS provider"}
ACTIONS = {"notify_owner": "owner notified", "pause_cadence": "cadence paused", "stop_cadence": "cadence stopped",
           "do_not_contact": "marked do-not-contact", "skip_automation": "automation skipped",
           "review": "sent to review"}


def reason_words(reason: str | None) -> str:
    if not reason:
        return ""
    return REASONS.get(reason, reason.replace("_", " "))


def seconds_taken(message: OutboundMessage) -> float | None:
    """Seconds from the record's creation to the sender accepting the message (None: not accepted, or no time)."""
    if message.accepted_at is None or message.record_created_at is None:
        return None
    return (message.accepted_at - message.record_created_at).total_seconds()


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least `share` of the values at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def seconds_text(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} s" if value < 100 else f"{value:,.0f} s"


@dataclass(frozen=True)
class Query:
    status: str = ""
    start: dt.date | None = None
    end: dt.date | None = None
    before: int | None = None

    def params(self) -> dict[str, str]:
        values = {"status": self.status, "start": self.start, "end": self.end}
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in values.items() if v}


@dataclass
class Counts:
    sent: int = 0
    failed: int = 0
    sending: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason words → count
    p50: float | None = None
    p95: float | None = None
    timed: int = 0
    capped: bool = False

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


@dataclass(frozen=True)
class Row:
    message: OutboundMessage
    record: RecordView
    when: dt.datetime
    seconds: float | None
    owner: object


@dataclass(frozen=True)
class Reply:
    message: InboundMessageRow
    record: RecordView
    when: dt.datetime
    rules: list[tuple[str, list[str], str]]  # each rule that matched: its name, its actions in words, why
    unmatched: str | None  # why no lead was found for the message (the sender is no single known lead)


def query_from(args) -> Query:
    query = Query(status=choice_arg(args, "status", STATUSES, ""), start=date_arg(args, "start"),
                  end=date_arg(args, "end"), before=int_arg(args, "before"))
    if query.start and query.end and query.start > query.end:
        raise ParamError("end", "the end date is before the start date")
    return query


def _in_range(stmt, column, query: Query, tz: str):
    if query.start:
        stmt = stmt.where(column >= midnight(query.start, tz))
    if query.end:
        stmt = stmt.where(column < midnight(query.end + dt.timedelta(days=1), tz))
    return stmt


def counts(tenant_id: int, query: Query, tz: str) -> Counts:
    """The range's totals (the status filter narrows the list, not the counts: the top says what happened)."""
    found = Counts()
    grouped = _in_range(select(OutboundMessage.status, OutboundMessage.reason, func.count())
                        .where(OutboundMessage.tenant_id == tenant_id)
                        .group_by(OutboundMessage.status, OutboundMessage.reason),
                        OutboundMessage.created_at, query, tz)
    for status, reason, n in g.db.execute(grouped):
        if status == SKIPPED:
            words = reason_words(reason) or "no reason given"
            found.skipped[words] = found.skipped.get(words, 0) + n
        elif status == SENT:
            found.sent += n
        elif status == FAILED:
            found.failed += n
        else:
            found.sending += n
    timing = _in_range(select(OutboundMessage.record_created_at, OutboundMessage.accepted_at)
                       .where(OutboundMessage.tenant_id == tenant_id, OutboundMessage.status == SENT,
                              OutboundMessage.accepted_at.is_not(None),
                              OutboundMessage.record_created_at.is_not(None))
                       .order_by(OutboundMessage.id.desc()).limit(TIMING_SCAN + 1),
                       OutboundMessage.created_at, query, tz)
    seconds = [(accepted - created).total_seconds() for created, accepted in g.db.execute(timing)]
    found.capped = len(seconds) > TIMING_SCAN
    seconds = seconds[:TIMING_SCAN]
    found.timed, found.p50, found.p95 = len(seconds), percentile(seconds, 0.5), percentile(seconds, 0.95)
    found.skipped = dict(sorted(found.skipped.items(), key=lambda kv: (-kv[1], kv[0])))
    return found


def _replies(tenant: Tenant, query: Query, tz: str) -> list[Reply]:
    rows = g.db.scalars(_in_range(InboundMessageRow.for_tenant(tenant.id), InboundMessageRow.received_at, query, tz)
                        .order_by(InboundMessageRow.received_at.desc(), InboundMessageRow.id.desc())
                        .limit(REPLIES)).all()
    keys = {(r.object_type, r.object_id) for r in rows if r.object_type and r.object_id}
    records = for_objects(g.db, tenant, [k for k in keys], {})
    local = zone(tz)
    out = []
    for r in rows:
        key = (r.object_type, r.object_id)
        outcome = r.outcome or {}
        # replies.handle's outcome: {"matched": True, "rules": [{"rule", "why", "words", "actions": {action: what
        # it did}}]}, or {"matched": False, "why": …} when no single lead has the sender
        rules = [(str(m.get("rule") or ""), [ACTIONS.get(str(a), str(a).replace("_", " ")) for a in m.get("actions")
                                             or {}], str(m.get("why") or ""))
                 for m in outcome.get("rules") or [] if isinstance(m, dict)]
        unmatched = str(outcome.get("why")) if outcome.get("matched") is False else None
        record = records.get(key) or RecordView(name=r.sender or "Unknown sender", company="", email=r.sender,
                                                crm_url="", crm_label="", kind_label="", object_type=r.object_type,
                                                object_id=r.object_id)
        out.append(Reply(r, record, r.received_at.astimezone(local), rules, unmatched))
    return out


@outbox_bp.get("/tenants/<int:tenant_id>/outbox")
@tenant_view()
def outbox(tenant: Tenant):
    """The outbox, newest first, with the range's counts and the replies."""
    query = query_from(request.args)
    rules = published_rules(g.db, tenant.id)
    tz = rules.timezone if rules else "UTC"
    stmt = _in_range(OutboundMessage.for_tenant(tenant.id), OutboundMessage.created_at, query, tz)
    if query.status:
        stmt = stmt.where(OutboundMessage.status == query.status)
    if query.before:
        stmt = stmt.where(OutboundMessage.id < query.before)
    messages = g.db.scalars(stmt.order_by(OutboundMessage.id.desc()).limit(PAGE + 1)).all()
    older = messages[PAGE].id + 1 if len(messages) > PAGE else None
    messages = messages[:PAGE]
    records = for_objects(g.db, tenant, [(m.object_type, m.object_id) for m in messages], {})
    owners = owners_for(tenant, rules)
    local = zone(tz)
    rows = [Row(m, records[(m.object_type, m.object_id)], m.created_at.astimezone(local), seconds_taken(m),
                owners.get(m.owner_id)) for m in messages]
    return render_template("console/outbox.html", tenant=tenant, role=g.role, q=query, rows=rows, older=older,
                           counts=counts(tenant.id, query, tz), replies=_replies(tenant, query, tz),
                           statuses=STATUSES, zone=zone_name(tz), tz=tz, reason_words=reason_words,
                           seconds_text=seconds_text, channels=CHANNELS, senders=SENDERS,
                           timing_scan=TIMING_SCAN)
