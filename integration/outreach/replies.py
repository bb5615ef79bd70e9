"""Replies from leads: read from the CRM (`inbound_since`, every LEADRELAY_INBOUND_INTERVAL seconds for tenants
with reply rules) or posted by the SMS provider (`receive_inbound`), stored once (`InboundMessageRow`, key
`<channel>:<id>`), matched to a lead, and put through the `trigger: reply` handoff rules; the row's `outcome`
keeps what they did."""
from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from integration.config import get_settings
from integration.db import session_scope
from integration.dedup.index import candidates_query, email_key, phone_key
from integration.errors import CRMRateLimited
from integration.followup.common import claim, lead_name, route_decision
from integration.followup.common import lead_facts as routed_lead
from integration.jobs import job
from integration.models import DedupKey, InboundMessageRow, SweepCursor, Tenant, TenantStatus, utcnow
from integration.outreach import handoff
from integration.queues import SWEEP
from integration.records import InboundMessage
from integration.rules.published import published_rules
from integration.work import Work, work_for_job

log = logging.getLogger("leadrelay.replies")
CURSOR = "inbound"  # SweepCursor.object_type of the replies' cursor
MAX_PAGES = 20  # per run; the next run goes on from the saved cursor


def _has_reply_rules(session: Session, tenant_id: int) -> bool:
    rules = published_rules(session, tenant_id)
    return rules is not None and any(r.trigger == "reply" for r in rules.handoff)


def _key(message: InboundMessage) -> str:
    return f"{message.channel}:{message.id}"[:200]


def store(session: Session, tenant_id: int, message: InboundMessage) -> InboundMessageRow | None:
    """Keep the message once; None when it was stored before. Commits."""
    row = InboundMessageRow(tenant_id=tenant_id, key=_key(message),
                            channel=message.channel, object_type=message.object_type or "",
                            object_id=message.record_id or "", sender=message.sender[:320],
                            subject=message.subject[:300], text=message.text, received_at=message.received_at)
    return row if claim(session, row) else None


def _find_lead(work: Work, row: InboundMessageRow) -> tuple[str, str] | None:
    """The lead the CRM linked, else the one the dedup index knows by the sender's address or number."""
    if row.object_id:
        return row.object_type or work.adapter.LEAD_OBJECT, row.object_id
    key = ("email", email_key(row.sender)) if "@" in row.sender else ("phone", phone_key(row.sender))
    if not key[1]:
        return None
    found = work.session.execute(candidates_query(work.tenant_id, {key}).where(
        DedupKey.object_type == work.adapter.LEAD_OBJECT).order_by(DedupKey.id).limit(2)).all()
    return (found[0][0], found[0][1]) if len(found) == 1 else None  # two leads share it: nobody can tell which


def handle(work: Work, row: InboundMessageRow) -> dict:
    """Run the reply rules on a stored message once; its outcome (also kept on the row)."""
    if row.handled_at is not None:
        return row.outcome
    lead_ref = _find_lead(work, row)
    if lead_ref is None:
        outcome = {"matched": False, "why": f"no single lead has the sender {row.sender!r}"}
    else:
        row.object_type, row.object_id = lead_ref
        outcome = _run_rules(work, row)
    row.outcome, row.handled_at = outcome, utcnow()
    work.session.commit()
    return outcome


def _run_rules(work: Work, row: InboundMessageRow) -> dict:
    decision = route_decision(work, row.object_type, row.object_id)
    inputs = decision.inputs if decision else {}
    record = work.adapter.get_record(row.object_type, row.object_id)
    fields = record.fields if record else {}
    facts = handoff.lead_facts(work.rules, fields, routed_lead(inputs), inputs.get("score"), inputs.get("tier"))
    owner = (record.owner_id if record else None) or inputs.get("owner_id")
    lead = handoff.Lead(row.object_type, row.object_id, owner, lead_name(routed_lead(inputs) or dict(fields)))
    rules = []
    for match in handoff.evaluate(work.rules, "reply", facts, row.text):
        applied = handoff.apply(work, match, lead, row.text, row.key)
        rules.append({"rule": match.rule.name, "why": match.why, "words": list(match.words),
                      "actions": applied.actions})
    return {"matched": True, "lead": f"{row.object_type}:{row.object_id}", "rules": rules}


def read(work: Work) -> int:
    """Read the CRM's new inbound messages after the saved cursor, store and handle each; returns how many new."""
    cursor, added = SweepCursor.current(work.session, work.tenant_id, CURSOR), 0
    for _ in range(MAX_PAGES):
        page = work.adapter.inbound_since(cursor, limit=100)
        for message in page.messages:
            row = store(work.session, work.tenant_id, message)
            added += row is not None
            # stored before but not handled (the CRM refused an action mid-page): handled now, once
            row = row or work.session.scalar(InboundMessageRow.for_tenant(work.tenant_id).where(
                InboundMessageRow.key == _key(message)))
            if row is not None and row.handled_at is None:
                handle(work, row)
        cursor = page.cursor
        SweepCursor.save(work.session, work.tenant_id, CURSOR, cursor, added)
        work.session.commit()
        if not page.has_more:
            break
    # left unhandled: a text that came while the tenant was paused, a handling job that gave up (actions are keyed:
    # a row a job is handling at this moment gets no action twice)
    for row in work.session.scalars(InboundMessageRow.for_tenant(work.tenant_id).where(
            InboundMessageRow.handled_at.is_(None)).order_by(InboundMessageRow.id).limit(100)).all():
        handle(work, row)
    return added


@job(SWEEP, name="read_inbound", timeout=600)
def read_inbound(tenant_id: int) -> int:
    """One pass over the CRM's inbound messages; plans the next while the tenant has reply rules."""
    added, delay = 0, get_settings().inbound_interval_seconds
    try:
        with session_scope(get_settings().database_url) as session:
            work = work_for_job(session, tenant_id)
            if work is not None and _has_reply_rules(session, tenant_id):
                added = read(work)
    except CRMRateLimited as exc:
        # what was read is kept (cursor and rows are committed per page): the next pass goes on after the wait
        log.warning("replies.put-off", extra={"tenant_id": tenant_id, "retry_after": exc.retry_after})
        delay = max(delay, exc.retry_after)
    finally:
        schedule_inbound(tenant_id, delay)
    return added


def schedule_inbound(tenant_id: int, delay: float | None = None) -> bool:
    """Plan the tenant's next read (one pending job per tenant) when its published rules have reply rules."""
    with session_scope(get_settings().database_url) as session:
        tenant = session.get(Tenant, tenant_id)
        wanted = tenant is not None and tenant.status == TenantStatus.ACTIVE and _has_reply_rules(session, tenant_id)
    if wanted:
        read_inbound.enqueue(tenant_id, job_id=f"inbound-{tenant_id}-next",
                             delay=get_settings().inbound_interval_seconds if delay is None else delay)
    return wanted


@job(SWEEP, name="handle_inbound", timeout=120)
def handle_inbound(tenant_id: int, row_id: int) -> dict | None:
    """Run the reply rules on one message the SMS webhook stored."""
    with session_scope(get_settings().database_url) as session:
        work = work_for_job(session, tenant_id)
        row = InboundMessageRow.get_for_tenant(session, row_id, tenant_id)
        if work is None or row is None:
            return None
        return handle(work, row)


def receive_inbound(session: Session, tenant_id: int, message: InboundMessage) -> bool:
    """Store a message posted to LeadRelay (an SMS) once and enqueue its handling; False when it came before."""
    row = store(session, tenant_id, message)
    if row is None:
        return False
    handle_inbound.enqueue(tenant_id, row.id, job_id=f"inbound-{tenant_id}-{row.id}")
    return True
