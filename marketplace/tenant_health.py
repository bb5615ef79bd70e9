"""The health model (integration/admin/health.py) wired to this app and worded for the console.

`health_of` is what the tenant health page, the agency portfolio's pill and /healthz call; the labels, tones and
"what to do" lines below are the only presentation on top of it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from adapters import factory
from adapters.registry import get_adapter_class
from integration.admin.health import Health, Reason, State, tenant_health
from integration.errors import UnknownPlatform
from integration.intake.sweep import chosen_interval
from integration.models import Tenant, utcnow
from integration.queues import redis_connection

LABELS = {State.OK: "OK", State.BUDGET_LOW: "API budget low", State.WEBHOOK_SILENT: "Webhooks silent",
          State.SWEEP_BEHIND: "Sweep behind", State.DEGRADED: "Degraded", State.PAUSED: "Paused",
          State.REAUTH_REQUIRED: "Re-connect needed", State.UNINSTALLED: "Uninstalled"}
# the design system's badge for each tone (marketplace/static/console.css)
BADGES = {"good": "ok", "warn": "warn", "bad": "bad", "idle": "muted"}
TONES = {State.OK: "good", State.BUDGET_LOW: "warn", State.WEBHOOK_SILENT: "warn", State.SWEEP_BEHIND: "warn",
         State.DEGRADED: "bad", State.PAUSED: "idle", State.REAUTH_REQUIRED: "bad", State.UNINSTALLED: "idle"}
RECONNECT = frozenset({"reauth-required", "token-missing", "token-expired", "token-expiring"})
OPERATOR = "If it lasts, tell whoever runs LeadRelay: "
ACTIONS = {
    "redis-unreachable": OPERATOR + "Redis (REDIS_URL) is not answering.",
    "events-failed": "Open the review queue to see what the CRM refused and decide each lead.",
    "events-waiting": OPERATOR + "the `leadrelay worker` processes are behind or stopped.",
    "queue-late": OPERATOR + "the `leadrelay worker` processes are behind or stopped.",
    "sweep-behind": OPERATOR + "no worker runs the sweep queue, or none runs the scheduler.",
    "budget-low": "Nothing to do unless it stays low: other apps in the same CRM account share the limit.",
    "budget-exhausted": "Wait for the reset, or raise the allowance in the CRM (a higher plan, more seats or an API "
                        "top-up); other apps in the same CRM account use it too.",
    "events-held": "Wait for the CRM's API allowance to reset, or raise it in the CRM.",
}
# Where each CRM keeps what sends LeadRelay its webhooks.
WEBHOOK_ACTIONS = {
    "hubspot": "In HubSpot, check that the LeadRelay app is still connected (Settings → Integrations → Connected "
               "apps); its webhook subscriptions come with the app.",
    "salesforce": "In Salesforce Setup, check that LeadRelay's Outbound Message and the flow that sends it are "
                  "active and point at the URL on the onboarding page.",
    "pipedrive": "In Pipedrive, check the LeadRelay webhooks under Tools and apps → Webhooks; re-connecting "
                 "creates them again.",
}


def health_of(db: Session, tenants: Iterable[Tenant]) -> dict[int, Health]:
    """Each tenant's Health, from the database and Redis this app is configured with."""
    tenants = list(tenants)
    if not tenants:
        return {}
    by_interval: dict[int, list[Tenant]] = {}  # a sweep is late against the tenant's own interval
    for tenant in tenants:
        by_interval.setdefault(chosen_interval(tenant.settings), []).append(tenant)
    return {tid: health for interval, group in by_interval.items()
            for tid, health in tenant_health(db, _redis(), group, rate_limits, utcnow(), interval,
                                             dict(current_app.config["LEADRELAY_SETTINGS"].budget_thresholds),
                                             budget_reserves).items()}


def _redis() -> Redis | None:
    try:
        return redis_connection(current_app.config["LEADRELAY_SETTINGS"])
    except (RedisError, ValueError):
        return None


def rate_limits(platform: str) -> Mapping[str, tuple[int, float]]:
    try:
        return get_adapter_class(platform).RATE_LIMITS
    except UnknownPlatform:
        return {}


def budget_reserves(platform: str) -> Mapping[str, float]:
    """The adapter's buckets kept partly for the customer's other integrations, as the workers' budget keeps them."""
    try:
        return factory.budget_reserves(get_adapter_class(platform))
    except UnknownPlatform:
        return {}


# The work classes as an admin reads them (README "API budget and priorities").
WORK_CLASS_LABELS = {"new_lead": "New leads", "sla": "SLA checks", "followup": "Follow-ups",
                     "sweep": "Sweep", "bulk": "Backfill, simulation, set-up"}


def work_class_label(work_class: str) -> str:
    return WORK_CLASS_LABELS.get(work_class, work_class)


def action(reason: Reason, platform: str) -> str:
    """What an admin can do about a reason ("" when the Re-connect button is the answer)."""
    if reason.code in RECONNECT:
        return ""
    if reason.code == "webhooks-silent":
        return WEBHOOK_ACTIONS.get(platform, "Check the CRM's webhook settings for LeadRelay.")
    return ACTIONS.get(reason.code.split(":", 1)[0], "")


def needs_reconnect(health: Health) -> bool:
    return any(r.code in RECONNECT for r in health.reasons)


SUMMARIES = {
    State.OK: "Working: webhooks arrive, leads are routed, and the sweep catches what no webhook announced.",
    State.BUDGET_LOW: "Working, slowed by the CRM's API limit.",
    State.WEBHOOK_SILENT: "Working through the sweep only: the CRM is not sending webhooks, so leads arrive late.",
    State.SWEEP_BEHIND: "Working on webhooks, but a lead whose webhook got lost is not caught up.",
    State.DEGRADED: "Not fully working: some leads are not routed, or not yet.",
    State.PAUSED: "Paused: nothing is routed.",
    State.REAUTH_REQUIRED: "Stopped: re-connect to the CRM so leads are routed again.",
    State.UNINSTALLED: "Uninstalled: nothing is received or routed.",
}


BUCKETS = {"default": "API calls", "search": "Searches", "daily": "Daily allowance"}


def bucket_label(bucket: str) -> str:
    return BUCKETS.get(bucket, bucket)


def summary(state: State) -> str:
    return SUMMARIES[state]


@dataclass(frozen=True)
class View:
    """What a page shows of a Health: the pill (state, label, tone), the summary and the reasons with actions."""

    state: State
    label: str
    tone: str
    summary: str
    reasons: tuple[tuple[Reason, str, str], ...]  # (reason, its tone, what to do)
    reconnect: bool

    @property
    def badge(self) -> str:
        return BADGES[self.tone]

    @property
    def headline(self) -> str:
        """The most severe reason's text, else the summary (the portfolio's tooltip)."""
        return self.reasons[0][0].text if self.reasons else self.summary


def view(health: Health, platform: str) -> View:
    return View(state=health.state, label=LABELS[health.state], tone=TONES[health.state],
                summary=SUMMARIES[health.state],
                reasons=tuple((r, TONES[r.state], action(r, platform)) for r in health.reasons),
                reconnect=needs_reconnect(health))
