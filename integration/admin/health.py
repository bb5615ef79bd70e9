"""One health model for an installed CRM account: the facts, and one assessment of them.

`tenant_health` is the only place that decides whether an account is healthy. The console's health page, the agency
portfolio's pill and `/healthz` all show its answer, so they cannot disagree. Facts come from a few grouped queries
(any number of tenants) and from Redis (each budget key read with the command for its type).

States, most severe first (the account's state is that of its most severe reason; every reason is kept):
uninstalled, reauth_required, paused, degraded, sweep_behind, webhook_silent, budget_low, ok.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from integration.intake.events import PENDING
from integration.models import Credential, EventRecord, SweepCursor, Tenant, TenantStatus
from integration.queues import INTAKE, SLA, get_queue
from integration.ratelimit import DEFAULT_THRESHOLDS, WORK_CLASSES, BudgetLeft, read_budgets, read_waits, share_floor

WEBHOOK_SOURCES_NOT = ("sweep", "backfill")  # events LeadRelay found itself, not webhooks the CRM sent
WEBHOOK_SILENCE = dt.timedelta(hours=1)  # no webhook this long while the CRM changed records: it stopped sending
SWEEP_GRACE = dt.timedelta(seconds=60)  # the sweep is behind after 3 intervals plus this
EVENTS_LATE = dt.timedelta(minutes=10)  # an event still waiting after this: the workers are behind or stopped
QUEUE_LATE = dt.timedelta(minutes=5)
FAILED_WINDOW = dt.timedelta(hours=24)
TOKEN_WARNING = dt.timedelta(hours=1)  # a token that cannot renew itself, expiring within this
BUDGET_LOW_SHARE = 0.10
# Only budgets over a window this long (a CRM's daily allowance) can be "low": a burst window of a few seconds is
# meant to be used up in a burst and is full again moments later (the page still shows it).
BUDGET_LOW_WINDOW = 60.0
URGENT_QUEUES = (INTAKE, SLA)  # work a lead waits for


class State(StrEnum):
    OK = "ok"
    BUDGET_LOW = "budget_low"
    WEBHOOK_SILENT = "webhook_silent"
    SWEEP_BEHIND = "sweep_behind"
    DEGRADED = "degraded"
    PAUSED = "paused"
    REAUTH_REQUIRED = "reauth_required"
    UNINSTALLED = "uninstalled"


SEVERITY = {state: rank for rank, state in enumerate(State)}  # higher is worse


@dataclass(frozen=True)
class Reason:
    state: State
    code: str  # stable, for machines (/healthz) and tests: "events-failed", "budget-low:search", ...
    text: str  # one or two sentences for the admin: what is wrong and what it means for their leads


@dataclass(frozen=True)
class Token:
    state: str  # renews | no-expiry | ok | expiring | expired | missing
    expires_at: dt.datetime | None = None


@dataclass
class Facts:
    tenant_id: int
    platform: str
    status: str
    installed_at: dt.datetime
    reauth_reason: str = ""
    token: Token = field(default_factory=lambda: Token("missing"))
    last_webhook: dt.datetime | None = None
    sweeps: list[SweepCursor] = field(default_factory=list)
    unannounced: int = 0  # changes the sweep found that were made after the last webhook (or the install)
    pending: int = 0
    oldest_pending: dt.datetime | None = None
    failed_recent: int = 0
    budgets: list[BudgetLeft] | None = None  # None: Redis did not answer
    # bucket -> work class -> the share of the bucket that class leaves to those above it (thresholds, reserve)
    shares: dict[str, dict[str, float]] = field(default_factory=dict)
    waits: dict[tuple[str, str], int] = field(default_factory=dict)  # (bucket, class) -> calls that waited lately
    queue_lag: dict[str, float] = field(default_factory=dict)  # urgent queue -> seconds its oldest job waited
    redis_error: str | None = None

    def headroom(self) -> list[tuple[BudgetLeft, list[Headroom]]]:
        """Each bucket with what each work class may spend of it now and how many of its calls waited lately."""
        return [(b, [Headroom(c, self.shares.get(b.bucket, {}).get(c, 0.0),
                              b.left_for(self.shares.get(b.bucket, {}).get(c, 0.0)), self.waits.get((b.bucket, c), 0))
                     for c in WORK_CLASSES]) for b in self.budgets or []]

    @property
    def headroom_percent(self) -> float | None:
        """The fullest-used bucket's share left: the portfolio's one figure for a portal's headroom."""
        return min((b.percent for b in self.budgets), default=None) if self.budgets is not None else None

    @property
    def waiting(self) -> dict[str, int]:
        """Work class -> its calls that waited for the budget lately (any bucket), classes that waited only."""
        found: dict[str, int] = {}
        for (_bucket, work_class), n in self.waits.items():
            found[work_class] = found.get(work_class, 0) + n
        return {c: found[c] for c in WORK_CLASSES if found.get(c)}

    @property
    def last_sweep(self) -> dt.datetime | None:
        return max((aware(s.swept_at) for s in self.sweeps), default=None)


@dataclass(frozen=True)
class Headroom:
    """One work class on one bucket."""

    work_class: str
    kept_back: float  # the share of the bucket it leaves to the classes above it
    may_spend: float  # calls it may make now
    waited: int  # its calls that had to wait for this bucket lately (ratelimit.WAITS_WINDOW)


@dataclass(frozen=True)
class Health:
    state: State
    reasons: tuple[Reason, ...]
    facts: Facts


def tenant_health(session: Session, redis: Redis | None, tenants: Iterable[Tenant],
                  limits_for: Callable[[str], Mapping[str, tuple[int, float]]], now: dt.datetime,
                  sweep_interval: float, thresholds: Mapping[str, float] | None = None,
                  reserves_for: Callable[[str], Mapping[str, float]] | None = None) -> dict[int, Health]:
    """Each tenant's state and the reasons for it: the one answer the console, the portfolio and /healthz show.
    `thresholds` and `reserves_for(platform)` are the budget's (LEADRELAY_BUDGET_THRESHOLDS, the adapter's reserved
    buckets): what each work class may spend of what is left."""
    facts = gather(session, list(tenants), now)
    read_redis(redis, facts, limits_for, now)
    for f in facts.values():
        reserves = reserves_for(f.platform) if reserves_for else {}
        f.shares = {b.bucket: {c: share_floor(c, b.bucket, thresholds or DEFAULT_THRESHOLDS, reserves)
                               for c in WORK_CLASSES} for b in f.budgets or []}
    return {tid: assess(f, now, sweep_interval) for tid, f in facts.items()}


# Facts --------------------------------------------------------------------------------------------------------

def gather(session: Session, tenants: list[Tenant], now: dt.datetime) -> dict[int, Facts]:
    """The database's facts for every tenant, in six grouped queries whatever the number of tenants."""
    facts = {t.id: Facts(tenant_id=t.id, platform=t.platform, status=t.status, installed_at=aware(t.installed_at),
                         reauth_reason=str((t.settings or {}).get("reauth_reason") or "")) for t in tenants}
    ids = list(facts)
    events = select(EventRecord.tenant_id).where(EventRecord.tenant_id.in_(ids)).group_by(EventRecord.tenant_id)
    webhooks = session.execute(events.add_columns(func.max(EventRecord.received_at)).where(
        EventRecord.source.not_in(WEBHOOK_SOURCES_NOT)))
    for tid, last in webhooks:
        facts[tid].last_webhook = aware(last)
    for tid, count, oldest in session.execute(events.add_columns(func.count(), func.min(EventRecord.received_at))
                                              .where(EventRecord.status.in_(PENDING))):
        facts[tid].pending, facts[tid].oldest_pending = count, aware(oldest)
    for tid, count in session.execute(events.add_columns(func.count()).where(
            EventRecord.status == "failed", EventRecord.received_at >= now - FAILED_WINDOW)):
        facts[tid].failed_recent = count
    for cred in session.scalars(select(Credential).where(Credential.tenant_id.in_(ids))):
        facts[cred.tenant_id].token = token_of(cred, now)
    for cursor in session.scalars(select(SweepCursor).where(SweepCursor.tenant_id.in_(ids))
                                  .order_by(SweepCursor.object_type)):
        facts[cursor.tenant_id].sweeps.append(cursor)
    _unannounced(session, facts)
    return facts


def _unannounced(session: Session, facts: dict[int, Facts]) -> None:
    """Per tenant: changes the sweep took in that were made after the last webhook arrived (and after the install).

    Changes made before the install, which the first sweep takes in, are not counted: they say nothing about
    whether the CRM sends webhooks now."""
    last = select(EventRecord.tenant_id.label("tid"), func.max(EventRecord.received_at).label("at")).where(
        EventRecord.tenant_id.in_(list(facts)), EventRecord.source.not_in(WEBHOOK_SOURCES_NOT)
    ).group_by(EventRecord.tenant_id).subquery()
    found = session.execute(
        select(EventRecord.tenant_id, func.count()).join(Tenant, Tenant.id == EventRecord.tenant_id)
        .outerjoin(last, last.c.tid == EventRecord.tenant_id)
        .where(EventRecord.tenant_id.in_(list(facts)), EventRecord.source == "sweep",
               EventRecord.occurred_at > Tenant.installed_at,
               or_(last.c.at.is_(None), EventRecord.occurred_at > last.c.at))
        .group_by(EventRecord.tenant_id))
    for tid, count in found:
        facts[tid].unannounced = count


def token_of(cred: Credential, now: dt.datetime) -> Token:
    """The stored token's state. One with a refresh token renews itself before it expires: not a problem."""
    expires = aware(cred.expires_at)
    if cred.refresh_token_enc:
        return Token("renews", expires)
    if expires is None:
        return Token("no-expiry")
    if expires <= now:
        return Token("expired", expires)
    return Token("expiring" if expires - now < TOKEN_WARNING else "ok", expires)


def read_redis(redis: Redis | None, facts: dict[int, Facts], limits_for, now: dt.datetime) -> None:
    """Budgets per tenant and the urgent queues' lag; when Redis does not answer, they stay unknown (None)."""
    try:
        if redis is None:
            raise RedisError("no Redis configured")
        lag = queue_lag(redis, now)
        for f in facts.values():
            f.queue_lag = lag
        for f in facts.values():
            f.budgets = read_budgets(redis, f.tenant_id, limits_for(f.platform), now.timestamp())
            f.waits = read_waits(redis, f.tenant_id, now.timestamp())
    except RedisError as exc:
        for f in facts.values():
            f.budgets, f.redis_error = None, type(exc).__name__


def queue_lag(redis: Redis, now: dt.datetime, names: Iterable[str] = URGENT_QUEUES) -> dict[str, float]:
    """Seconds the oldest waiting job of each queue has waited (0 when empty)."""
    lag = {}
    for name in names:
        queue = get_queue(name, redis)
        ids = queue.get_job_ids(0, 1)
        job = queue.fetch_job(ids[0]) if ids else None
        enqueued = aware(job.enqueued_at) if job is not None else None
        lag[name] = max(0.0, (now - enqueued).total_seconds()) if enqueued else 0.0
    return lag


def aware(value: dt.datetime | str | None) -> dt.datetime | None:
    """max()/min() over a UTCDateTime column come back without the type's conversion on SQLite."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


# Assessment ---------------------------------------------------------------------------------------------------

def assess(f: Facts, now: dt.datetime, sweep_interval: float) -> Health:
    """The state (that of the most severe reason) and every reason, most severe first."""
    reasons = [*_status_reasons(f), *_token_reasons(f, now)]
    if f.status == TenantStatus.ACTIVE:  # the rest only matters while LeadRelay is meant to be working
        reasons += [*_work_reasons(f, now), *_sweep_reasons(f, now, sweep_interval),
                    *_webhook_reasons(f, now, sweep_interval), *_budget_reasons(f)]
    reasons.sort(key=lambda r: -SEVERITY[r.state])
    return Health(reasons[0].state if reasons else State.OK, tuple(reasons), f)


def _status_reasons(f: Facts) -> list[Reason]:
    waiting = f"; {_n(f.pending, 'event')} wait and are processed then" if f.pending else ""
    if f.status == TenantStatus.UNINSTALLED:
        return [Reason(State.UNINSTALLED, "uninstalled", "LeadRelay was uninstalled from this account: nothing is "
                                                         "received or routed, and its data is deleted.")]
    if f.status == TenantStatus.REAUTH_REQUIRED:
        why = f" ({f.reauth_reason})" if f.reauth_reason else ""
        return [Reason(State.REAUTH_REQUIRED, "reauth-required", f"The CRM no longer accepts LeadRelay's token{why}. "
                       f"Nothing is routed until an admin re-connects{waiting}.")]
    if f.status == TenantStatus.PAUSED:
        return [Reason(State.PAUSED, "paused", f"An admin paused LeadRelay here: nothing is routed{waiting}.")]
    return []


def _token_reasons(f: Facts, now: dt.datetime) -> list[Reason]:
    if f.status != TenantStatus.ACTIVE:
        return []
    token = f.token
    if token.state == "missing":
        return [Reason(State.REAUTH_REQUIRED, "token-missing", "No token is stored for this account: re-connect.")]
    if token.state == "expired":
        return [Reason(State.REAUTH_REQUIRED, "token-expired", f"The access token expired at {stamp(token.expires_at)} "
                       "and the CRM gave no refresh token to renew it: re-connect, or nothing is routed.")]
    if token.state == "expiring":
        return [Reason(State.DEGRADED, "token-expiring", f"The access token expires at {stamp(token.expires_at)} (in "
                       f"{span(token.expires_at - now)}) and cannot renew itself (the CRM gave no refresh token): "
                       "re-connect before then, or routing stops.")]
    return []


def _work_reasons(f: Facts, now: dt.datetime) -> list[Reason]:
    reasons = []
    if f.redis_error:
        reasons.append(Reason(State.DEGRADED, "redis-unreachable", f"Redis did not answer ({f.redis_error}): no "
                              "lead is routed until it does, and the API budget and the queues are unknown."))
    if f.failed_recent:
        reasons.append(Reason(State.DEGRADED, "events-failed", f"{_n(f.failed_recent, 'change')} from the CRM "
                              "failed in the last 24 hours after every retry; each is in the review queue with "
                              "the CRM's answer."))
    held = [b.held_until for b in f.budgets or [] if b.held_until is not None]
    if f.oldest_pending is not None and now - f.oldest_pending > EVENTS_LATE:
        waited = (f"{_n(f.pending, 'change')} from the CRM {'has' if f.pending == 1 else 'have'} waited since "
                  f"{stamp(f.oldest_pending)} ({span(now - f.oldest_pending)})")
        if held:  # not the workers: the CRM refuses calls until its allowance resets
            until = stamp(dt.datetime.fromtimestamp(max(held), dt.UTC))
            reasons.append(Reason(State.DEGRADED, "events-held", f"{waited}: the CRM's API allowance is used up "
                                  f"until {until}, so these leads are routed after it resets."))
        else:
            reasons.append(Reason(State.DEGRADED, "events-waiting", f"{waited}: the workers are behind or stopped, "
                                  "so these leads are not routed yet."))
    for name, seconds in f.queue_lag.items():
        if seconds > QUEUE_LATE.total_seconds():
            reasons.append(Reason(State.DEGRADED, f"queue-late:{name}", f"Jobs have waited "
                                  f"{span(dt.timedelta(seconds=seconds))} in the {name} queue (shared by all "
                                  "accounts): the workers are behind or stopped."))
    return reasons


def _sweep_reasons(f: Facts, now: dt.datetime, interval: float) -> list[Reason]:
    late, every = 3 * dt.timedelta(seconds=interval) + SWEEP_GRACE, span(dt.timedelta(seconds=interval))
    last = f.last_sweep
    if last is None and now - f.installed_at > late:
        return [Reason(State.SWEEP_BEHIND, "sweep-behind", f"No sweep has run since the install at "
                       f"{stamp(f.installed_at)} (it should run every {every}): a lead whose webhook got lost is "
                       "not caught up.")]
    if last is not None and now - last > late:
        return [Reason(State.SWEEP_BEHIND, "sweep-behind", f"The last sweep ran at {stamp(last)}, {span(now - last)} "
                       f"ago (it should run every {every}): a lead whose webhook got lost waits until it runs.")]
    return []


def _webhook_reasons(f: Facts, now: dt.datetime, interval: float) -> list[Reason]:
    since = f.last_webhook or f.installed_at
    if not f.unannounced or now - since <= WEBHOOK_SILENCE:
        return []
    head = (f"No webhook since {stamp(f.last_webhook)} ({span(now - f.last_webhook)})" if f.last_webhook
            else f"No webhook has arrived since the install at {stamp(f.installed_at)}")
    return [Reason(State.WEBHOOK_SILENT, "webhooks-silent", f"{head}, yet {_n(f.unannounced, 'record')} changed in "
                   "the CRM after that (the sweep found them): the CRM is not sending LeadRelay its webhooks. "
                   f"Leads still arrive through the sweep, up to {span(dt.timedelta(seconds=interval))} late.")]


def _budget_reasons(f: Facts) -> list[Reason]:
    reasons = []
    for b in f.budgets or []:
        if b.held_until is not None:
            until = dt.datetime.fromtimestamp(b.held_until, dt.UTC)
            reasons.append(Reason(State.BUDGET_LOW, f"budget-exhausted:{b.bucket}", (
                f"The CRM's API allowance '{b.bucket}' is used up: it refuses every call until {stamp(until)}, when "
                "it resets. LeadRelay has put its work off until then; nothing is lost, leads are routed after "
                "the reset.")))
            continue
        if b.per < BUDGET_LOW_WINDOW or b.left >= BUDGET_LOW_SHARE * b.capacity:
            continue
        text = (f"API budget '{b.bucket}' nearly used: {max(0.0, b.left):,.0f} of {b.capacity:,.0f} left per "
                f"{per(b.per)}, full again in {span(dt.timedelta(seconds=b.full_in))}. CRM calls wait for it, so "
                "leads are routed more slowly.")
        if b.learned is not None and b.learned < b.limit:
            text += (f" The CRM said its limit is lower, so LeadRelay assumes {b.learned:,} per {per(b.per)} "
                     f"instead of {b.limit:,}" +
                     (f" for the next {span(dt.timedelta(seconds=b.learned_for))}." if b.learned_for else "."))
        reasons.append(Reason(State.BUDGET_LOW, f"budget-low:{b.bucket}", text))
    return reasons


# Words --------------------------------------------------------------------------------------------------------

def stamp(value: dt.datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "never"


def span(delta: dt.timedelta) -> str:
    """A duration as an admin reads it: 40 s, 12 min, 3 h, 2 days."""
    seconds = max(0.0, delta.total_seconds())
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 or seconds.is_integer() else f"{seconds:.1f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def per(seconds: float) -> str:
    if seconds == 86400:
        return "day"
    return "second" if seconds == 1 else f"{seconds:g} s"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
