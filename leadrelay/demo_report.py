"""The demo's report: what happened to this run's leads, in sections that say what each figure means, and which
story beats happened on which CRM (`story.complete` is false when one is missing, so a caller can fail on it).

Every figure is read from LeadRelay's own audit (decisions, SLA timers, review items) for this run's tenants and
leads only, and from the sandbox for what the CRMs hold (tasks as stored, API calls received).
"""
from __future__ import annotations

import datetime as dt
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from integration.config import get_settings
from integration.db import session_scope
from integration.followup.task import clock_note
from integration.models import Decision, ReviewItem, SlaTimer
from integration.rules import load_rules
from integration.rules.model import RoutingRule, RuleSet
from leadrelay.demo_flow import DEMO_RULES
from leadrelay.processes import local_http

if TYPE_CHECKING:
    from leadrelay.demo_story import SentLead, StoryRun

BEATS = {
    "territory": "a lead routed by a territory rule (country, state or postcode)",
    "round_robin_pool": "a lead routed by a round-robin pool",
    "account_owner": "a lead routed to the owner of its company in the CRM",
    "hot_lead_task": "a hot lead got its call task, due in 5 minutes",
    "merged": "a sure duplicate merged with the CRM's native merge",
    "waiting_in_review": "an unsure duplicate waiting in review",
    "sla_met": "an SLA met: the owner logged a call before the task was due",
    "sla_breached": "an SLA breached: nobody acted in time",
    "manager_notified": "the breach escalated: the manager got a task",
    "reassigned": "the breach escalated: the lead reassigned to the next person in its pool",
    "lifecycle": "a won deal made its contact a customer",
}
SLA_BEATS = ("sla_met", "sla_breached", "manager_notified", "reassigned")
NEEDS = {  # beat -> the scripted people who show it (demo_script); a run cut short may not have sent them
    "territory": ("hot_met", "territory"), "round_robin_pool": ("hot_breached",), "account_owner": ("account_owner",),
    "hot_lead_task": ("hot_met", "hot_breached"), "merged": ("merge_twin",), "waiting_in_review": ("review_twin",),
    "sla_met": ("hot_met",), "sla_breached": ("hot_breached",), "manager_notified": ("hot_breached",),
    "reassigned": ("hot_breached",), "lifecycle": ("account_owner",)}
STORY_ROLES = ("hot_met", "hot_breached")  # whose clocks must settle before the story ends


@dataclass
class Facts:
    """This run's rows, read once."""

    routes: dict[tuple[str, str], Decision] = field(default_factory=dict)  # (platform, lead id) -> route decision
    moved: dict[tuple[str, str], str] = field(default_factory=dict)  # (platform, merged record id) -> id sent
    sla: list[tuple[str, Decision]] = field(default_factory=list)
    lifecycle: list[tuple[str, Decision]] = field(default_factory=list)
    reviews: list[tuple[str, ReviewItem]] = field(default_factory=list)  # open dedup reviews of this run's leads
    timers: list[tuple[str, SlaTimer]] = field(default_factory=list)


def load(run: StoryRun) -> Facts:
    by_tenant = {tenant: platform for platform, tenant in run.tenants.items()}
    sent = {(s.platform, s.object_id) for s in run.sent}
    contacts = sent | {(a["crm"], a["contact_id"]) for a in run.actions if a.get("contact_id")}
    facts = Facts()
    with session_scope(get_settings().database_url) as s:
        for d in s.scalars(select(Decision).where(Decision.tenant_id.in_(by_tenant)).order_by(Decision.id)):
            platform = by_tenant[d.tenant_id]
            # a merged lead's decisions moved to the record it was merged into (HubSpot: a new id); the id it was
            # decided under, the one the demo sent, is kept in inputs["merged_from"]
            sent_as = (platform, (d.inputs or {}).get("merged_from") or d.object_id)
            if d.kind == "route" and sent_as in sent:
                facts.routes[sent_as] = d
                if sent_as[1] != d.object_id:
                    facts.moved.setdefault((platform, d.object_id), sent_as[1])
            elif d.kind == "sla" and sent_as in sent:  # not a seeded lead the backfill routed
                facts.sla.append((platform, d))
            elif d.kind == "lifecycle" and sent_as in contacts:  # the demo's deal, not a seeded one
                facts.lifecycle.append((platform, d))
        facts.reviews = [(by_tenant[r.tenant_id], r) for r in s.scalars(select(ReviewItem).where(
            ReviewItem.tenant_id.in_(by_tenant), ReviewItem.kind == "dedup", ReviewItem.status == "open"))
            if (by_tenant[r.tenant_id], r.object_id) in sent]
        facts.timers = [(by_tenant[t.tenant_id], t) for t in s.scalars(select(SlaTimer).where(
            SlaTimer.tenant_id.in_(by_tenant), SlaTimer.key.startswith("sla:")).order_by(SlaTimer.id))
            if (by_tenant[t.tenant_id], t.object_id) in sent | set(facts.moved)]
        s.expunge_all()
    return facts


# beats ---------------------------------------------------------------------------------------------------
@dataclass
class BeatState:
    decided: int
    seen: dict[str, set[str]]  # beat -> platforms
    settled: bool  # the story's hot leads have no clock still running
    expected: dict[str, set[str]]

    @property
    def missing(self) -> dict[str, list[str]]:
        return {beat: sorted(want - self.seen[beat]) for beat, want in self.expected.items() if want - self.seen[beat]}

    @property
    def finished(self) -> bool:
        return self.settled and not self.missing


def rules() -> RuleSet:
    return load_rules(DEMO_RULES)


def rule_kinds(rule: RoutingRule, rule_set: RuleSet) -> set[str]:
    """What a routing rule demonstrates: a territory, a round-robin pool, the account owner."""
    kinds = set()
    if rule.assign.account_owner:
        kinds.add("account_owner")
    if any(getattr(rule.when, key) for key in ("country", "state", "postcode")):
        kinds.add("territory")
    if rule.assign.pool and rule_set.pools[rule.assign.pool].strategy == "round_robin":
        kinds.add("round_robin_pool")
    return kinds


def route_kinds(decision: Decision, rule_set: RuleSet) -> set[str]:
    rule = next((r for r in rule_set.routing if r.name == decision.inputs.get("rule")), None)
    if rule is None or " → fallback" in decision.reason:
        return set()
    return rule_kinds(rule, rule_set)


def beats(run: StoryRun, facts: Facts | None = None, rule_set: RuleSet | None = None) -> BeatState:
    facts, rule_set = facts or load(run), rule_set or rules()
    seen: dict[str, set[str]] = {beat: set() for beat in BEATS}
    for (platform, _), decision in facts.routes.items():
        for kind in route_kinds(decision, rule_set):
            seen[kind].add(platform)
        if decision.outcome == "merged":
            seen["merged"].add(platform)
    for platform, _ in facts.reviews:
        seen["waiting_in_review"].add(platform)
    outcome_beats = {"met": "sla_met", "breached": "sla_breached", "notify_manager": "manager_notified",
                     "reassigned": "reassigned"}
    for platform, d in facts.sla:
        if d.outcome in outcome_beats:
            seen[outcome_beats[d.outcome]].add(platform)
        if d.outcome == "task_created" and d.inputs.get("tier") == "hot":
            seen["hot_lead_task"].add(platform)
    for platform, d in facts.lifecycle:
        if d.outcome == "set" and d.inputs.get("to") == "customer":
            seen["lifecycle"].add(platform)
    story_leads = {(s.platform, s.object_id) for s in run.sent if s.person.role in STORY_ROLES}
    expected = {beat: set(run.crms) - set(run.not_shown.get(beat, {})) for beat in BEATS}
    # a breached clock still escalates (its status becomes "reassigned" only once the new owner's clock runs)
    settled = not any(expected[b] for b in SLA_BEATS) or not any(
        t.status in ("pending", "breached") for p, t in facts.timers if (p, t.object_id) in story_leads)
    return BeatState(sum(1 for s in run.sent if (s.platform, s.object_id) in facts.routes), seen, settled, expected)


def lifecycle_seen(run: StoryRun, platform: str) -> bool:
    return platform in beats(run).seen["lifecycle"]


def crm_calls(run: StoryRun) -> int:
    """API calls the sandbox received from LeadRelay for this run's accounts (the demo's own are control calls)."""
    http = local_http()
    return sum(len(http.get(f"{crm.base}/calls", timeout=10).json()["calls"]) for crm in run.crms.values())


# the report ----------------------------------------------------------------------------------------------
def report(run: StoryRun) -> dict[str, Any]:
    facts, rule_set = load(run), rules()
    state = beats(run, facts, rule_set)
    names = {(s.platform, s.object_id): s.person.name for s in run.sent}
    names.update({moved: names[(moved[0], sent_id)] for moved, sent_id in facts.moved.items()
                  if (moved[0], sent_id) in names and moved not in names})
    names.update({(a["crm"], a["contact_id"]): run.lead(a["crm"], a["role"]).person.name for a in run.actions
                  if a.get("contact_id") and run.lead(a["crm"], a["role"])})  # Salesforce: her contact
    speed_ms, speed_notes = speed(run, facts)
    return {**outcomes(run, facts), "story_seconds": round(time.time() - run.started, 1),
            "speed_to_owner_ms": speed_ms, "speed_to_owner": speed_notes,
            "crm_calls_per_lead": round((crm_calls(run) - run.calls_before) / max(len(run.sent), 1), 2),
            "demo_clock": demo_clock(facts, rule_set), "routing": routing(run, facts, rule_set),
            "hot_lead": hot_lead(run, facts), "duplicates": duplicates(run, facts, names),
            "sla": sla(run, facts, names), "lifecycle": lifecycle(facts, names),
            "people": {"actions": [{k: v for k, v in a.items() if k != "at"} for a in run.actions],
                       "explain": "what the demo did in the CRMs as their users (at_s: seconds since the story "
                                  "began; after_s: since the lead's SLA clock started; due_in_s: left on it)"},
            "story": {"complete": state.finished and all(state.seen[b] for b in BEATS),
                      "beats": {b: sorted(state.seen[b]) for b in BEATS}, "missing": state.missing,
                      "not_shown": run.not_shown, "meaning": BEATS}}


def outcomes(run: StoryRun, facts: Facts) -> dict[str, int]:
    counts = {"leads": len(run.sent), "duplicates_sent": sum(s.person.role in ("merge_twin", "review_twin",
                                                                                "duplicate") for s in run.sent),
              "owned": 0, "merged": 0, "review": 0, "undecided": 0}
    for lead in run.sent:
        decision = facts.routes.get((lead.platform, lead.object_id))
        key = "undecided" if decision is None else decision.outcome if decision.outcome in ("merged", "review") \
            else "owned"
        counts[key] += 1
    return counts


def _percentile(ordered: list[float], q: float) -> int | None:
    return round(ordered[int(q * (len(ordered) - 1))] * 1000) if ordered else None


def speed(run: StoryRun, facts: Facts) -> tuple[dict[str, int | None], dict[str, Any]]:
    """From the create call in the CRM to LeadRelay's owner write confirmed (webhook, queue, worker, CRM)."""
    seconds = []
    for lead in run.sent:
        decision = facts.routes.get((lead.platform, lead.object_id))
        written = decision.inputs.get("written_at") if decision is not None else None
        if written:
            seconds.append(dt.datetime.fromisoformat(written).timestamp() - lead.sent_at)
    valid = sorted(s for s in seconds if s >= 0)  # sent_at is taken before the create call: never negative
    return {"p50": round(statistics.median(valid) * 1000) if valid else None, "p95": _percentile(valid, 0.95)}, {
        "leads": len(valid), "discarded_negative": len(seconds) - len(valid),
        "explain": "speed_to_owner_ms: from the lead's creation in the CRM to its owner written back by LeadRelay "
                   "(the CRM's webhook, the queue, a worker, the CRM write), over the leads routed to an owner"}


def demo_clock(facts: Facts, rule_set: RuleSet) -> str:
    """The clock the workers really ran, read from a hot lead's first SLA clock (due minus start)."""
    policy = rule_set.sla.hot
    spans = [(t.due_at - t.created_at).total_seconds() for _, t in facts.timers if t.policy == "hot"]
    if policy is None or not spans or min(spans) <= 0:
        return "no hot SLA clock started: the demo clock could not be read"
    scale = round(policy.first_touch.total_seconds() / min(spans), 1)
    if scale <= 1:
        return ("real time (LEADRELAY_TIME_SCALE was not set for the workers): no SLA falls due within the demo, "
                "so nothing is met, breached or escalated")
    return (f"{clock_note(scale, policy.first_touch)} (LEADRELAY_TIME_SCALE={scale:g} for the workers): SLA, "
            f"escalation and cadence durations are accelerated, every timestamp is real")


def routing(run: StoryRun, facts: Facts, rule_set: RuleSet) -> dict[str, Any]:
    routed = [(lead, facts.routes[(lead.platform, lead.object_id)]) for lead in run.sent
              if (lead.platform, lead.object_id) in facts.routes]
    routed = [(lead, d) for lead, d in routed if d.outcome not in ("merged", "review")]
    by_rule: dict[str, int] = {}
    for _, decision in routed:
        rule = decision.inputs.get("rule") if " → fallback" not in decision.reason else None
        by_rule[rule or "fallback"] = by_rule.get(rule or "fallback", 0) + 1
    examples: dict[str, dict] = {}
    for lead, decision in sorted(routed, key=lambda pair: pair[0].person.role in ("filler", "duplicate")):
        for kind in sorted(route_kinds(decision, rule_set)):  # the story's own leads first
            examples.setdefault(kind, _example(lead, decision))
    return {"by_rule": dict(sorted(by_rule.items(), key=lambda kv: -kv[1])), "examples": examples,
            "explain": "leads routed to an owner per routing rule (first match wins; 'fallback': no rule matched "
                       "or its target had nobody); examples show the one-line reason LeadRelay keeps for each"}


def _example(lead: SentLead, decision: Decision) -> dict[str, Any]:
    return {"crm": lead.platform, "lead": lead.person.name, "owner": decision.outcome, "reason": decision.reason}


def hot_lead(run: StoryRun, facts: Facts) -> dict[str, Any]:
    """The hot lead whose owner called in time, and its call task as the rep reads it in the CRM."""
    hot = [(p, d) for p, d in facts.sla if d.outcome == "task_created" and d.inputs.get("tier") == "hot"]
    sent = {(s.platform, s.object_id): s for s in run.sent}
    pick = next(((p, d) for p, d in hot if sent.get((p, d.object_id)) and
                 sent[(p, d.object_id)].person.role == "hot_met"), hot[0] if hot else None)
    if pick is None:
        return {"explain": "no hot lead got a task"}
    platform, task = pick
    route = facts.routes.get((platform, task.object_id))
    lead = sent.get((platform, task.object_id))
    stored = run.crms[platform].task(task.inputs.get("task_id"))
    return {"crm": platform, "lead": lead.person.name if lead else task.object_id,
            "owner": route.outcome if route else None, "score": route.inputs.get("score") if route else None,
            "why_hot": route.inputs.get("qualification") if route else None, "task": stored,
            "hot_leads": [{"crm": p, "lead": sent[(p, d.object_id)].person.name if (p, d.object_id) in sent
                           else d.object_id, "task": d.reason} for p, d in hot],
            "explain": "a lead scoring at least the hot tier (60) gets a call task due in 5 minutes; the task is "
                       "shown as the CRM stores it, subject and body, where the rep reads it"}


def duplicates(run: StoryRun, facts: Facts, names: dict) -> dict[str, Any]:
    merged = [(lead, facts.routes[(lead.platform, lead.object_id)]) for lead in run.sent
              if (lead.platform, lead.object_id) in facts.routes
              and facts.routes[(lead.platform, lead.object_id)].outcome == "merged"]
    return {"merged": len(merged), "waiting_in_review": len(facts.reviews),
            "merged_examples": [{"crm": lead.platform, "lead": lead.person.name, "why": d.reason}
                                for lead, d in merged[:3]],
            "review": [{"crm": p, "lead": names.get((p, r.object_id), r.object_id), "other_id": r.other_object_id,
                        "score": round(float((r.payload or {}).get("score") or 0), 2),
                        "reasons": (r.payload or {}).get("reasons")} for p, r in facts.reviews],
            "explain": "a new lead scoring at least dedup.auto_merge (0.92) against an existing record is merged "
                       "with the CRM's native merge and stays with that record's owner; between dedup.review (0.70) "
                       "and auto_merge it is routed, and a review item (with a task for the manager) waits for a "
                       "human"}


def sla(run: StoryRun, facts: Facts, names: dict) -> dict[str, Any]:
    count = {}
    for _, d in facts.sla:
        count[d.outcome] = count.get(d.outcome, 0) + 1
    breaches = {(p, d.object_id): d for p, d in facts.sla if d.outcome == "breached"}
    escalations = [_escalation(run, p, d, breaches.get((p, d.object_id)), names) for p, d in facts.sla
                   if d.outcome in ("notify_manager", "no_manager", "reassigned", "review")]
    met = [{"crm": p, "lead": names.get((p, d.object_id), d.object_id), "reason": d.reason,
            "first_touch_s": d.inputs.get("first_touch_seconds")} for p, d in facts.sla if d.outcome == "met"]
    return {"tasks_created": count.get("task_created", 0), "met": count.get("met", 0),
            "met_late": count.get("met_late", 0), "breached": count.get("breached", 0),
            "pending": sum(1 for _, t in facts.timers if t.status == "pending"), "met_leads": met,
            "escalations": escalations,
            "explain": "each routed lead gets a first-touch task; at its due time LeadRelay checks the CRM: a "
                       "completed task or a logged call/email/meeting is 'met', else 'breached', and the tier's "
                       "escalation steps follow (sla.hot.escalate: notify_manager after 5m, reassign after 15m); "
                       "where the CRM's search lags (HubSpot), a check that finds no touch looks once more after the "
                       "lag before it decides, so those steps come later; 'pending': clocks not due yet (warm and "
                       "nurture leads count business hours)"}


def _escalation(run: StoryRun, platform: str, step: Decision, breach: Decision | None, names: dict
                ) -> dict[str, Any]:
    after = (step.created_at - breach.created_at).total_seconds() if breach is not None else None
    action = {"notify_manager": "notify_manager", "reassigned": "reassign"}.get(step.outcome, step.outcome)
    crm = run.crms[platform]
    return {"crm": platform, "lead": names.get((platform, step.object_id), step.object_id), "action": action,
            "from": crm.email_of(step.inputs.get("owner_id") or step.inputs.get("from_id")),
            "to": step.inputs.get("to") or crm.email_of(step.inputs.get("manager_id")), "reason": step.reason,
            "after_breach_s": round(after, 1) if after is not None and after >= 0 else None}


def lifecycle(facts: Facts, names: dict) -> dict[str, Any]:
    changes = [{"crm": p, "contact": names.get((p, d.object_id), d.object_id), "from": d.inputs.get("from"),
                "to": d.inputs.get("to"), "deal": d.inputs.get("deal_id"), "reason": d.reason}
               for p, d in facts.lifecycle if d.outcome == "set"]
    return {"changes": changes,
            "explain": "a deal's status moves its contacts' lifecycle stage (lifecycle.rules: open → opportunity, "
                       "won → customer), forward only; HubSpot's own lifecycle stage, LeadRelay's lifecycle field on "
                       "Salesforce contacts and Pipedrive persons"}
