"""The handoff rules (rule set `handoff:`): which rules a reply or a new lead meets, and their actions, each audited
once (Decision kind "handoff", keyed by rule, lead, message and action) with the text that triggered it.

With `opt_out: true`, a rule's `phrases` add to the built-in opt-out words instead of being a second condition.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from integration.errors import CRMNotFound, CRMValidationError
from integration.followup.cadences import stop_cadence
from integration.followup.common import claim, released_on_error
from integration.models import Decision, ReviewItem
from integration.outreach import tone
from integration.outreach.common import NewLead, add_hold
from integration.records import TaskSpec
from integration.rules.model import RuleSet
from integration.rules.outreach import HandoffRule
from integration.work import Work

QUOTE_MAX = 600  # characters of the lead's words quoted in a task or review item


@dataclass(frozen=True)
class Match:
    """A rule that applies: what matched (condition → its words or value) and why, in one line."""

    rule: HandoffRule
    matched: dict[str, Any]
    words: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Lead:
    """The lead an action is for."""

    object_type: str
    object_id: str
    owner_id: str | None
    name: str = ""


def _check(rule: HandoffRule, facts: dict[str, Any], text: str) -> dict[str, Any]:
    """Each condition of the rule → what met it (None when it did not)."""
    when, out = rule.when, {}
    if when.opt_out:
        out["opt_out"] = tone.opt_outs(text, when.phrases or ()) or None
    elif when.phrases:
        out["phrases"] = tone.find_phrases(text, when.phrases) or None
    if when.tone_below is not None:
        mood = tone.tone(text)
        out["tone_below"] = ({"score": mood.compound, "words": list(mood.words)}
                             if mood.compound < when.tone_below else None)
    for name in ("source", "lifecycle"):
        wanted = getattr(when, name)
        if wanted is not None:
            value = str(facts.get(name) or "").lower()
            out[name] = facts.get(name) if value and value in {w.lower() for w in wanted} else None
    if when.score_gte is not None:
        score = facts.get("score")
        out["score_gte"] = score if isinstance(score, int | float) and score >= when.score_gte else None
    if when.tier is not None:
        out["tier"] = facts.get("tier") if facts.get("tier") in when.tier else None
    return out


def _why(rule: HandoffRule, met: dict[str, Any]) -> str:
    parts = []
    for name, value in met.items():
        if name in ("phrases", "opt_out"):
            parts.append(f"{'opt-out' if name == 'opt_out' else 'said'} {', '.join(repr(w) for w in value)}")
        elif name == "tone_below":
            parts.append(f"tone {value['score']:+.2f} below {rule.when.tone_below:+.2f}"
                         f"{' (' + ', '.join(value['words']) + ')' if value['words'] else ''}")
        else:
            parts.append(f"{name.removesuffix('_gte')} {value}")
    return f"Handoff rule {rule.name!r}: " + "; ".join(parts)


def evaluate(rules: RuleSet, trigger: str, facts: dict[str, Any], text: str = "") -> list[Match]:
    """The `trigger` ("reply" | "new_lead") rules the lead (facts: source, lifecycle, score, tier) and the reply's
    own words (quoted history removed) meet, in rule order."""
    words_only = tone.lead_words(text)
    found = []
    for rule in rules.handoff:
        if rule.trigger != trigger:
            continue
        checked = _check(rule, facts, words_only)
        met = {k: v for k, v in checked.items() if v is not None}
        if not met or (not rule.when.any and len(met) < len(checked)):
            continue
        words = [w for k in ("phrases", "opt_out") for w in met.get(k, [])] + list(
            (met.get("tone_below") or {}).get("words", []))
        found.append(Match(rule, met, tuple(words), _why(rule, met)))
    return found


def _duration(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    for size, unit in ((1440, "day"), (60, "hour"), (1, "minute")):
        if minutes and minutes % size == 0:
            n = minutes // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{int(delta.total_seconds())} seconds"


def _quote(text: str) -> str:
    words = tone.lead_words(text)
    return words if len(words) <= QUOTE_MAX else words[:QUOTE_MAX - 1] + "…"


def _notify_owner(work: Work, match: Match, lead: Lead, text: str) -> str:
    if not lead.owner_id:
        return _review(work, match, lead, text, "no owner to notify")
    headline = match.rule.say or match.rule.name
    work.adapter.create_task(TaskSpec(
        subject=f"{headline}: reply within {_duration(match.rule.within)}",
        body=(f"{lead.name or 'The lead'} wrote:\n\n\"{_quote(text)}\"\n\n{match.why}." if text.strip() else
              f"{lead.name or 'This lead'} is a new lead for you to take over personally. {match.why}."),
        due_at=work.now() + match.rule.within, owner_id=lead.owner_id, record_type=lead.object_type,
        record_id=lead.object_id, kind="email", priority="high"))
    return "task created"


def _review_reason(why: str, text: str) -> str:
    """The line the review page shows: why, and the lead's own words when there are any."""
    words = _quote(text)
    line = f"{why}. The lead wrote: \"{words}\"" if words else why
    return line if len(line) <= 500 else line[:498] + "…\""


def _review(work: Work, match: Match, lead: Lead, text: str, why: str | None = None) -> str:
    work.session.add(ReviewItem(tenant_id=work.tenant_id, kind="handoff", object_type=lead.object_type,
                                object_id=lead.object_id, reason=_review_reason(why or match.why, text),
                                payload={"rule": match.rule.name, "text": _quote(text), "matched": match.matched}))
    return "sent to review"


def _cadence(session: Session, tenant_id: int, lead: Lead, match: Match, kind: str) -> str:
    cancelled = stop_cadence(session, tenant_id, lead.object_type, lead.object_id, match.why)
    add_hold(session, tenant_id, lead.object_type, lead.object_id, kind, match.why, match.rule.name)
    return f"{cancelled} planned step(s) cancelled, hold {kind}"


def _do_not_contact(work: Work, match: Match, lead: Lead, text: str) -> str:
    # LeadRelay's own holds first: whatever the CRM answers, LeadRelay sends this person nothing more
    done = _cadence(work.session, work.tenant_id, lead, match, "stop")
    add_hold(work.session, work.tenant_id, lead.object_type, lead.object_id, "do_not_contact", match.why,
             match.rule.name)
    try:
        work.adapter.set_do_not_contact(lead.object_type, lead.object_id)
    except (CRMValidationError, CRMNotFound) as exc:
        # the CRM refused the mark (HubSpot without the unsubscribe scope, Pipedrive without Campaigns): a person
        # marks it by hand, or the customer's own tools could still email the lead
        _review(work, match, lead, text, why=f"{match.why}; the CRM refused the do-not-contact mark: "
                                            f"{type(exc).__name__}: {exc}. Mark the record by hand.")
        return f"{done}, do_not_contact; the CRM refused the mark (sent to review)"
    return f"marked do-not-contact in the CRM; {done}, do_not_contact"


def _skip(work: Work, match: Match, lead: Lead) -> str:
    add_hold(work.session, work.tenant_id, lead.object_type, lead.object_id, "skip_automation", match.why,
             match.rule.name)
    return "hold skip_automation: no first response, no cadence"


ACTIONS = {
    "notify_owner": _notify_owner,
    "pause_cadence": lambda w, m, lead, t: _cadence(w.session, w.tenant_id, lead, m, "paused"),
    "stop_cadence": lambda w, m, lead, t: _cadence(w.session, w.tenant_id, lead, m, "stop"),
    "do_not_contact": _do_not_contact,
    "skip_automation": lambda w, m, lead, t: _skip(w, m, lead),
    "review": _review,
}


@dataclass
class Applied:
    """What `apply` did: action → its outcome ("" when it was done before)."""

    actions: dict[str, str] = field(default_factory=dict)


def apply(work: Work, match: Match, lead: Lead, text: str, message_key: str) -> Applied:
    """Run the rule's actions for the lead, each once: its Decision is claimed before the CRM is written, so a
    re-read reply or a retried job does nothing twice (a CRM error gives the claim back and goes on to RQ)."""
    done = Applied()
    for action in match.rule.actions:
        row = Decision(tenant_id=work.tenant_id, kind="handoff", object_type=lead.object_type,
                       object_id=lead.object_id, outcome=action, reason=match.why[:500],
                       idempotency_key=f"handoff:{match.rule.name}:{lead.object_type}:{lead.object_id}:"
                                       f"{message_key}:{action}"[:200],
                       inputs={"rule": match.rule.name, "action": action, "message": message_key,
                               "text": _quote(text), "words": list(match.words), "matched": match.matched})
        if not claim(work.session, row):
            done.actions[action] = ""
            continue
        with released_on_error(work.session, lambda row=row: work.session.delete(row)):
            result = ACTIONS[action](work, match, lead, text)
        row.inputs = {**row.inputs, "result": result}
        work.session.commit()
        done.actions[action] = result
    return done


def lead_facts(rules: RuleSet, fields: dict[str, Any], facts: dict[str, Any], score: int | None,
               tier: str | None) -> dict[str, Any]:
    """What new-lead and reply conditions read: the source label (mapped through the rule set's labels), the
    lifecycle stage (else lead status) from the record, score and tier."""
    raw_source = facts.get("source") or fields.get("source")
    source = rules.source_labels.map(str(raw_source))[0] if raw_source else None
    lifecycle = fields.get("lifecycle_stage") or fields.get("leadrelay_lifecycle") or fields.get("lead_status")
    return {"source": source, "lifecycle": lifecycle, "score": score, "tier": tier}


def on_new_leads(work: Work, leads: list[NewLead]) -> None:
    """The `trigger: new_lead` rules for leads just owned: called before first response is planned, so a
    `skip_automation` hold stops the acknowledgment."""
    if work.rules is None or not any(r.trigger == "new_lead" for r in work.rules.handoff):
        return
    for new in leads:
        facts = lead_facts(work.rules, new.record_fields, new.facts, new.score, new.tier)
        name = " ".join(str(new.facts.get(k) or "") for k in ("first_name", "last_name")).strip()
        lead = Lead(new.object_type, new.object_id, new.owner.id if new.owner else None, name)
        for match in evaluate(work.rules, "new_lead", facts):
            apply(work, match, lead, "", "new_lead")
