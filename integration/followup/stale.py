"""Stale-lead reactivation (RULES.md `stale`): routed leads whose stage has not moved get their owner's attention.

Daily per tenant on the `sweep` queue. Candidates come from our own data, the route decisions older than the
shortest `stale[].after`; one batch read per 100 of them tells whether the record moved since (its updated_at).
A lead idle for `after` in a rule's stage gets a reactivation task for its owner (re-routed first when the owner
LeadRelay gave it is no longer active; one a person chose since goes to review); `reactivation_cadence` queues a
dormant lead for a reactivation cadence (a Decision and its first task, until a cadence engine takes over).
Exactly one per lead and window: the key holds the moment the lead last moved and how many windows it has been
idle since.
"""
from __future__ import annotations

import datetime as dt
import logging
import re

from sqlalchemy import select

from integration.config import get_settings
from integration.crm.account_owners import account_owner
from integration.crm.wiring import adapter_for
from integration.db import session_scope
from integration.errors import CRMRateLimited
from integration.jobs import job
from integration.models import Decision, ReviewItem
from integration.protocols import parse_iso
from integration.queues import SWEEP
from integration.records import CRMUser, Record, TaskSpec
from integration.routing.normalize import normalize_lead, with_fields
from integration.routing.router import Router
from integration.routing.score import Scorer
from integration.rules.policies import StaleRule
from integration.work import Work, work_for

log = logging.getLogger("leadrelay.stale")
KIND = "reactivation"
BATCH = 100
RUN_HOUR_UTC = 5  # each tenant runs daily at 05:00 UTC plus (tenant id mod 60) minutes
# lead statuses that count as stage `lost` (HubSpot hs_lead_status, Salesforce Lead Status), compared as
# lower-case letters and digits only
LOST = frozenset({"lost", "unqualified", "badtiming", "closednotconverted", "closedlost"})


@job(SWEEP, name="reactivate_stale", timeout=600)
def reactivate_stale(tenant_id: int, as_of: str | None = None) -> int:
    """Reactivation tasks for the tenant's idle leads as of now (or `as_of`, ISO); returns how many were acted on."""
    try:
        return _reactivate(tenant_id, parse_iso(as_of) or dt.datetime.now(dt.UTC))
    except CRMRateLimited as exc:  # the keys make the next attempt skip what this one did
        reactivate_stale.enqueue(tenant_id, as_of, job_id=f"stale-{tenant_id}-later", delay=exc.retry_after)
        return 0
    finally:
        if as_of is None:
            schedule_reactivation(tenant_id)


def schedule_reactivation(tenant_id: int):
    """Plan the tenant's next daily run (one job id per day: planning it twice changes nothing)."""
    now = dt.datetime.now(dt.UTC)
    at = now.replace(hour=RUN_HOUR_UTC, minute=tenant_id % 60, second=0, microsecond=0)
    at += dt.timedelta(days=1) if at <= now else dt.timedelta()
    return reactivate_stale.enqueue(tenant_id, job_id=f"stale-{tenant_id}-{at:%Y%m%d}", at=at)


def _reactivate(tenant_id: int, now: dt.datetime) -> int:
    settings = get_settings()
    done, after_id = 0, 0
    adapter = adapter_for(tenant_id)
    while True:
        with session_scope(settings.database_url) as session:
            ctx = work_for(session, tenant_id, adapter)
            if ctx.rules is None or not ctx.rules.stale:
                return done
            routed = _routed(ctx, now - min(r.after for r in ctx.rules.stale), after_id)
            if not routed:
                return done
            after_id = routed[-1].id
            records = adapter.get_records(adapter.LEAD_OBJECT, [d.object_id for d in routed])
            by_id = {r.id: r for r in records}
            for decision in routed:
                if decision.object_id in by_id and check_lead(ctx, by_id[decision.object_id], decision, now):
                    session.commit()  # each lead's task is kept as soon as it exists
                    done += 1
        if len(routed) < BATCH:
            return done


def _routed(ctx: Work, before: dt.datetime, after_id: int) -> list[Decision]:
    """The next batch of leads routed to an owner before `before` (one per record: its route decision)."""
    return list(ctx.session.scalars(select(Decision).where(
        Decision.tenant_id == ctx.tenant_id, Decision.kind == "route", Decision.outcome.notin_(("review", "merged")),
        Decision.object_type == ctx.adapter.LEAD_OBJECT, Decision.created_at <= before, Decision.id > after_id)
        .order_by(Decision.id).limit(BATCH)))


def stage_matches(stage: str, record: Record) -> bool:
    """Whether the record is in the rule's stage (lifecycle stage or lead status, spelled loosely).

    A record without a lifecycle stage (Salesforce leads, Pipedrive persons) is at `lead` unless its status is
    a lost one; `lost` matches the lost/unqualified lead statuses.
    """
    want = _plain(stage)
    values = {_plain(record.fields.get(k)) for k in ("lifecycle_stage", "lead_status") if record.fields.get(k)}
    lost = bool(values & LOST)
    if want == "lost":
        return lost
    return want in values or (want == "lead" and not record.fields.get("lifecycle_stage") and not lost)


def _plain(value: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(value).lower())


def check_lead(ctx: Work, record: Record, routed: Decision, now: dt.datetime) -> bool:
    """Act on one routed lead if it is idle past its stage's limit; True when something was done."""
    rule = next((r for r in ctx.rules.stale if stage_matches(r.stage, record)), None)
    if rule is None:
        return False
    moved = max(t for t in (record.updated_at, _utc(routed.created_at)) if t is not None)
    windows = int((now - moved) / rule.after)
    key = f"{KIND}:{record.object_type}:{record.id}:{moved.isoformat()}:{windows}"
    if windows < 1 or ctx.session.scalar(select(Decision.id).where(
            Decision.tenant_id == ctx.tenant_id, Decision.idempotency_key == key[:200])) is not None:
        return False
    owner, why = _active_owner(ctx, record, now)
    inputs = {"stage": rule.stage, "after": str(rule.after), "idle_since": moved.isoformat(), "window": windows}
    if owner is None:
        ctx.session.add(ReviewItem(tenant_id=ctx.tenant_id, kind="routing", object_type=record.object_type,
                                   object_id=record.id, reason=f"Stale lead: {why}"[:500]))
        _decide(ctx, record, key, "review", f"Idle since {moved:%Y-%m-%d} in stage {rule.stage}; {why}", inputs)
        return True
    days = (now - moved).days
    decision = _decide(ctx, record, key, "cadence" if rule.action == "reactivation_cadence" else "task",
                       f"Idle {days} days in stage {rule.stage} (limit {_days(rule)}); {why}",
                       {**inputs, "owner_id": owner.id, "owner": owner.email,
                        "rerouted": owner.id != record.owner_id})  # LeadRelay wrote this owner
    ctx.session.flush()  # the key is claimed before the CRM call
    task_id = ctx.adapter.create_task(_task(record, rule, owner, moved, now))
    decision.inputs = {**decision.inputs, "task_id": task_id}
    return True


def _active_owner(ctx: Work, record: Record, now: dt.datetime) -> tuple[CRMUser | None, str]:
    """The lead's owner when still active; else the owner the rules give it now (the CRM updated), or None.

    Only an owner LeadRelay set is replaced: one a person chose since (who has left too) is for a human to change.
    """
    email = ctx.email_of(record.owner_id)
    rule_owner = ctx.rules.owners_by_email.get(email) if email else None
    if email and (rule_owner is None or rule_owner.active):
        return ctx.user_by_email(email), f"task for {email}"
    if record.owner_id is not None and not _owner_set_by_leadrelay(ctx, record):
        return None, "owner no longer active, and a person chose that owner: LeadRelay leaves the choice to them"
    normalized = normalize_lead({**record.fields, "id": record.id, "created_at": record.created_at},
                                ctx.rules.source_labels)
    if normalized.unusable:
        return None, f"owner no longer active and the lead cannot be re-routed: {normalized.unusable}"
    lead = with_fields(normalized.lead, account_owner=account_owner(ctx, normalized.lead))
    routed = _crm_aware_router(ctx).route_lead(lead, Scorer(ctx.rules.scoring).score_lead(lead), at=now)
    user = None if routed.review else ctx.user_by_email(routed.owner)
    if user is None or not user.active:
        return None, f"owner no longer active; re-routing found nobody ({routed.reason})"
    if record.owner_id != user.id:
        ctx.adapter.set_owner(record.object_type, record.id, user.id)
    return user, f"owner no longer active, re-routed: {routed.reason}"


def _owner_set_by_leadrelay(ctx: Work, record: Record) -> bool:
    """Whether the record's owner is one LeadRelay wrote: routed to them, reassigned to them by an escalation, or
    re-routed to them here (by user id or email, as the decisions recorded them)."""
    rows = [d for d in ctx.session.scalars(select(Decision).where(
        Decision.tenant_id == ctx.tenant_id, Decision.object_type == record.object_type,
        Decision.object_id == record.id, Decision.kind.in_(("route", "sla", KIND))))
        if d.kind != KIND or d.inputs.get("rerouted")]
    marks = {str(value).lower() for d in rows
             for value in (d.inputs.get("owner_id"), d.inputs.get("to_id"), d.inputs.get("owner"),
                           d.inputs.get("to"), d.outcome if d.kind == "route" else None) if value}
    user = next((u for u in ctx.users() if u.id == str(record.owner_id)), None)
    return str(record.owner_id).lower() in marks or (user is not None and user.email.lower() in marks)


def _crm_aware_router(ctx: Work) -> Router:
    """The tenant's routing with owners who are not active users in the CRM marked inactive (they left)."""
    active = {u.email.lower() for u in ctx.users() if u.active}
    owners = [o if o.email in active else o.model_copy(update={"active": False}) for o in ctx.rules.owners]
    rules = ctx.rules.model_copy(update={"owners": owners})
    rules.__dict__.pop("owners_by_email", None)  # a cached_property copied along with the old owners
    return Router(rules, ctx.pool_state)


def _task(record: Record, rule: StaleRule, owner: CRMUser, moved: dt.datetime, now: dt.datetime) -> TaskSpec:
    name = " ".join(str(record.fields[k]) for k in ("first_name", "last_name") if record.fields.get(k)) \
        or record.fields.get("name") or record.fields.get("email") or record.id
    cadence = rule.action == "reactivation_cadence"
    subject = f"{'Reactivation cadence' if cadence else 'Reactivate'}: {name}"
    body = (f"No change on this lead since {moved:%Y-%m-%d} (stage {rule.stage}, limit {_days(rule)}). "
            f"{'Dormant lead queued for a reactivation cadence: first touch.' if cadence else 'Reach out again.'}"
            f"\nContact: {record.fields.get('email') or record.fields.get('phone') or '-'}")
    return TaskSpec(subject=subject, body=body, due_at=now + dt.timedelta(days=1), owner_id=owner.id,
                    record_type=record.object_type, record_id=record.id, kind="email" if cadence else "call",
                    priority="medium")


def _days(rule: StaleRule) -> str:
    return f"{rule.after.days}d" if rule.after.days else str(rule.after)


def _decide(ctx: Work, record: Record, key: str, outcome: str, reason: str, inputs: dict) -> Decision:
    decision = Decision(tenant_id=ctx.tenant_id, idempotency_key=key[:200], kind=KIND,
                        object_type=record.object_type, object_id=record.id, outcome=outcome,
                        reason=reason[:500], inputs=inputs)
    ctx.session.add(decision)
    return decision


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    return moment.replace(tzinfo=moment.tzinfo or dt.UTC) if moment else None
