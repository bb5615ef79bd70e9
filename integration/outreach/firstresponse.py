"""The lead's acknowledgment (DESIGN.md step 7b): one job per new lead whose tier has a `first_response` policy,
which sends or skips each channel (outreach.policy says why not), logs what was sent on the record and tells the
owner in their SLA task.

Exactly once per lead and channel as far as LeadRelay can make it: the outbox row (`ack:<type>:<id>:<channel>`)
is committed as `sending` before the sender is called. A send that fails for now (SendFailed, the CRM's 429/5xx)
raises, RQ retries the job and the retry sends the `sending` row again: at least once, and an email keeps its
Message-ID (derived from the key), so a mailbox shows one message. A row already `sent` is never sent again; a
retry only finishes what is left (the log on the record, the task line). A retry checks the skip policy again
before it resends (the lead may have opted out or been put on hold between the attempts), and waits at least as
long as the provider's or the CRM's retry_after asked.
"""
from __future__ import annotations

import datetime as dt
import logging
import math

from redis import Redis
from rq import get_current_job

from integration.config import get_settings
from integration.db import session_scope
from integration.errors import CRMRateLimited, CRMValidationError
from integration.followup.common import claim, route_decision
from integration.followup.sla import refresh_task_body
from integration.jobs import job, job_key
from integration.models import Decision, OutboundMessage, ReviewItem
from integration.models.outreach import FAILED, SENDING, SENT, SKIPPED
from integration.outreach import policy
from integration.outreach.common import NewLead
from integration.outreach.senders import (
    Accepted,
    Outgoing,
    SenderNotConfigured,
    SendFailed,
    SendRefused,
    sender_for,
)
from integration.outreach.templates import merge_values, render
from integration.queues import INTAKE
from integration.records import Message
from integration.rules.outreach import FirstResponse, TierResponse
from integration.work import Work, work_for_job

log = logging.getLogger("leadrelay.outreach.first_response")
CAP_TTL = 2 * 24 * 3600  # a day's counter outlives its UTC day for the KPIs' sake, then goes


def plan_first_responses(work: Work, leads: list[NewLead]) -> int:
    """One `send_first_response` job per lead whose tier has a policy (the job id is the lead's: a replay of the
    same write enqueues once while it is pending); returns how many were planned."""
    section = work.rules.first_response if work.rules is not None else None
    planned = 0
    for lead in leads:
        if section is None or section.for_tier(lead.tier) is None:
            continue
        send_first_response.enqueue(work.tenant_id, lead.object_type, lead.object_id,
                                    job_id=job_key("ack", work.tenant_id, lead.object_type, lead.object_id))
        planned += 1
    return planned


@job(INTAKE, name="send_first_response", timeout=120)
def send_first_response(tenant_id: int, object_type: str, object_id: str) -> str:
    """Send (or skip, with the reason) each channel of the lead's tier policy; idempotent."""
    with session_scope(get_settings().database_url) as session:
        work = work_for_job(session, tenant_id)
        route = route_decision(work, object_type, object_id) if work else None
        if work is None or route is None:
            return "stale"
        section = work.rules.first_response
        tier = section.for_tier(route.inputs.get("tier") or "nurture")
        if tier is None:
            return "off"
        record = work.adapter.get_record(object_type, object_id)
        if record is None:
            return "gone"
        lead = policy.Lead(object_type, object_id, {**record.fields, **_route_fields(route.inputs)},
                           record.created_at)
        # a job enqueued again while this one ran (jobs.enqueue's "-again") may start on another worker: only one
        # run may hold a lead's `sending` rows, or both would send them
        lock = work.redis.lock(f"leadrelay:outreach:ack:{tenant_id}:{object_type}:{object_id}", timeout=150)
        if not lock.acquire(blocking=False):
            return "busy"
        try:
            return ",".join(respond(work, section, tier, route, lead, channel) for channel in tier.channels)
        except (SendFailed, CRMRateLimited) as exc:
            retry_no_sooner(exc.retry_after)
            raise
        finally:
            lock.release()


def respond(work: Work, section: FirstResponse, tier: TierResponse, route: Decision, lead: policy.Lead,
            channel: str) -> str:
    """One channel: the row's status after this run (sent, skipped:<reason>, failed:<reason>)."""
    key = ack_key(lead.object_type, lead.object_id, channel)
    row = _row(work, key)
    if row is None:
        skip = policy.first_skip(work, section, tier, lead, channel)
        row = _claim(work, key, route, lead, channel, tier, skip)
        if row is None:  # another run claimed it a moment ago: it carries on
            return "busy"
        if row.status == SENDING:
            skip = _sender_skip(work, section, channel, row)
            if skip is not None:
                _finish(work, row, SKIPPED, skip.reason, skip.detail)
    elif row.status == SENDING:  # a retry: what held for the first attempt may have changed since (an opt-out)
        skip = policy.first_skip(work, section, tier, lead, channel)
        if skip is not None:
            _finish(work, row, SKIPPED, skip.reason, skip.detail)
    if row.status == SENDING:
        _send(work, section, tier, route, lead, row)
    if row.status == SENT:
        _after_sent(work, row)
    return row.status if row.status == SENT else f"{row.status}:{row.reason}"


def retry_no_sooner(seconds: float | None) -> None:
    """Make RQ's next retry of the running job wait at least `seconds` (a 429's Retry-After). The job's backoff is
    fixed when it is enqueued, but the worker retries the very Job object the job runs as (rq 3: get_current_job
    is the worker's instance; Worker.handle_job_failure → Job.retry reads retry_intervals then and saves them), so
    raising the interval this retry will use is enough; the later ones keep their backoff."""
    current = get_current_job()
    if seconds is None or current is None or not current.retries_left:
        return
    intervals = list(current.retry_intervals or [0])
    index = max(len(intervals) - current.retries_left, 0)  # as Job.get_retry_interval picks it
    intervals[index] = max(intervals[index], math.ceil(seconds))
    current.retry_intervals = intervals


def ack_key(object_type: str, object_id: str, channel: str) -> str:
    return f"ack:{object_type}:{object_id}:{channel}"


def _route_fields(inputs: dict) -> dict:
    """The route's normalized lead and what enrichment filled (its time zone), over the record's raw fields."""
    facts = dict(inputs.get("lead") or {})
    facts.pop("id", None)
    return {**{k: v for k, v in facts.items() if v not in (None, "")}, **(inputs.get("enriched") or {})}


def _row(work: Work, key: str) -> OutboundMessage | None:
    return work.session.scalar(OutboundMessage.for_tenant(work.tenant_id).where(OutboundMessage.key == key))


def _claim(work: Work, key: str, route: Decision, lead: policy.Lead, channel: str, tier: TierResponse,
           skip: policy.Skip | None) -> OutboundMessage | None:
    row = OutboundMessage(tenant_id=work.tenant_id, key=key, object_type=lead.object_type, object_id=lead.object_id,
                          channel=channel, tier=route.inputs.get("tier"), template=tier.template,
                          status=SKIPPED if skip else SENDING, reason=skip.reason if skip else None,
                          detail=skip.detail if skip else None, to_address=policy.address(lead, channel),
                          owner_id=route.inputs.get("owner_id"), source=lead.fields.get("source"),
                          record_created_at=lead.created_at)
    if not claim(work.session, row):
        return None
    if skip is not None:
        _audit(work, row)
    return row


def _sender_skip(work: Work, section: FirstResponse, channel: str, row: OutboundMessage) -> policy.Skip | None:
    """no_sender or daily_cap, checked once the row is claimed (the cap counts claimed sends only, once each)."""
    limit = None
    if not _through_crm(work, section, channel):
        try:
            limit = sender_for(work.tenant_id, channel).DAILY_LIMIT
        except SenderNotConfigured as exc:
            return policy.Skip("no_sender", f"Not sent: no {channel} sender is set up ({exc})")
    cap = min(section.daily_cap, limit) if limit else section.daily_cap
    if take_from_cap(work, cap):
        return None
    return policy.Skip("daily_cap", f"Not sent: the tenant's {cap} messages for today (UTC) are used up")


def take_from_cap(work: Work, cap: int) -> bool:
    """Count one message against the tenant's UTC day, atomically across workers; False (nothing counted) when
    the day's cap is reached."""
    redis: Redis = work.redis
    key = f"leadrelay:outreach:cap:{work.tenant_id}:{work.now().astimezone(dt.UTC):%Y-%m-%d}"
    with redis.pipeline() as pipe:
        count, _ = pipe.incr(key).expire(key, CAP_TTL).execute()
    if count <= cap:
        return True
    redis.decr(key)
    return False


def _through_crm(work: Work, section: FirstResponse, channel: str) -> bool:
    return channel == "email" and section.sender == "crm" and bool(getattr(work.adapter, "EMAIL_SENDER", None))


def _send(work: Work, section: FirstResponse, tier: TierResponse, route: Decision, lead: policy.Lead,
          row: OutboundMessage) -> None:
    owner = work.user(route.inputs.get("owner_id"))
    rules_owner = work.rules.owners_by_email.get(owner.email.lower()) if owner else None
    tenant = work.tenant
    values = merge_values(lead.fields, owner.name if owner else None, owner.email if owner else None,
                          rules_owner.booking_link if rules_owner else None, tenant.name if tenant else None)
    text = render(section, tier.template, values, lead.fields.get("language"))
    email = row.channel == "email"
    reply_to = (owner.email if owner else None) if section.reply_to == "owner" else section.reply_to
    outgoing = Outgoing(channel=row.channel, to=row.to_address or "", subject=text.subject if email else "",
                        body=(text.body if email else text.sms) or "", reply_to=reply_to if email else None,
                        from_name=(owner.name if owner else None) or (tenant.name if tenant else None), key=row.key)
    row.language, row.subject, row.body = text.language, outgoing.subject or None, outgoing.body
    work.session.commit()
    try:
        accepted, sender = _hand_over(work, section, lead, row, outgoing)
    except SendRefused as exc:
        status = SKIPPED if exc.reason == "opted_out" else FAILED  # the provider's STOP is the lead's opt-out
        _finish(work, row, status, exc.reason, f"Not sent: the provider refused it: {exc}")
        return
    except CRMValidationError as exc:  # the CRM can't send it (no seat, allowance used up): for good
        _finish(work, row, FAILED, "rejected", f"Not sent: the CRM refused to send it: {exc}")
        return
    row.accepted_at, row.provider_id, row.from_address = accepted.accepted_at, accepted.provider_id, accepted.sender
    row.sender = sender
    through = {"smtp": "the SMTP server", "crm": "the CRM's own sending", "sms": "the SMS provider"}.get(sender, sender)
    _finish(work, row, SENT, None, f"Sent by {'text' if row.channel == 'sms' else 'email'} through {through}")


def _hand_over(work: Work, section: FirstResponse, lead: policy.Lead, row: OutboundMessage,
               outgoing: Outgoing) -> tuple[Accepted, str]:
    """SendFailed and the CRM's 429/5xx go up: the job is retried and sends the `sending` row again."""
    if _through_crm(work, section, row.channel):
        sent_id = work.adapter.send_email(lead.object_type, lead.object_id, _message(outgoing, work.now(), "",
                                                                                     row.owner_id))
        row.crm_log_id = sent_id  # the CRM logged it itself
        return Accepted(provider_id=sent_id, accepted_at=work.now(), sender=""), "crm"
    accepted = sender_for(work.tenant_id, row.channel).send(outgoing)
    return accepted, "sms" if row.channel == "sms" else "smtp"


def _message(outgoing: Outgoing, at: dt.datetime, sender: str, owner_id: str | None) -> Message:
    subject = outgoing.subject or " ".join(outgoing.body.split()[:8])
    return Message(channel=outgoing.channel, direction="outbound", subject=subject, body=outgoing.body, sent_at=at,
                   to=outgoing.to, sender=sender, owner_id=owner_id)


def _after_sent(work: Work, row: OutboundMessage) -> None:
    """Log the message on the record once (a 429/5xx here retries the job, which finds the row sent and only logs),
    then the owner's task line."""
    if row.crm_log_id is None:
        outgoing = Outgoing(channel=row.channel, to=row.to_address or "", subject=row.subject or "",
                            body=row.body or "")
        message = _message(outgoing, row.accepted_at or work.now(), row.from_address or "", row.owner_id)
        try:
            row.crm_log_id = work.adapter.log_message(row.object_type, row.object_id, message)
        except CRMValidationError as exc:
            row.crm_log_id = ""  # refused for good: not tried again; the admin sees why
            work.session.add(ReviewItem(tenant_id=work.tenant_id, kind="crm_error", object_type=row.object_type,
                                        object_id=row.object_id,
                                        reason=f"The CRM refused to log the acknowledgment: {exc}"[:500]))
        work.session.commit()
    refresh_task_body(work, row.object_type, row.object_id)


def _finish(work: Work, row: OutboundMessage, status: str, reason: str | None, detail: str) -> None:
    row.status, row.reason, row.detail = status, reason, detail[:500]
    work.session.commit()
    _audit(work, row)
    log.info("outreach.first-response", extra={"tenant_id": work.tenant_id, "object_id": row.object_id,
                                              "channel": row.channel, "status": status, "reason": reason})


def _audit(work: Work, row: OutboundMessage) -> None:
    outcome = row.status if row.reason is None else f"{row.status}:{row.reason}"
    claim(work.session, Decision(tenant_id=work.tenant_id, idempotency_key=f"first_response:{row.key}"[:200],
                                 kind="first_response", object_type=row.object_type, object_id=row.object_id,
                                 outcome=outcome, reason=(row.detail or outcome)[:500],
                                 inputs={"channel": row.channel, "tier": row.tier, "template": row.template,
                                         "language": row.language, "reason": row.reason}))
