"""The rep's first-touch task, written for the rep: what to do and by when, why they got the lead, who it is, how it
scored, where it is in the CRM and which record it may duplicate.

Plain text: adapters escape it for CRMs that show task bodies as HTML. The admin's one-line audit reason stays on
the route decision and in LeadRelay's reason field; the task never quotes it, since it speaks of the rep by email
and in routing terms ("→ pool west → alice@…, 12/25 open").
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import phonenumbers
import pycountry

from integration.followup.common import Duplicate, lead_name
from integration.routing.conditions import Facts, RuleMatcher
from integration.routing.normalize import Lead
from integration.rules.model import RoutingRule, RuleSet, Target, When
from integration.rules.values import Days, zone

TOP_SCORE_REASONS = 3
VERB = {"call": "Call", "email": "Email", "todo": "Follow up with"}
TURN = {"round_robin": "shares those leads in turn within the {pool} team: it was your turn",
        "weighted": "shares those leads within the {pool} team by weight: it was your turn",
        "least_loaded": "gives those leads to whoever in the {pool} team has the fewest open leads: you"}
FALLBACK_TURN = {"round_robin": "the {pool} team, where it was your turn",
                 "weighted": "the {pool} team, where it was your turn",
                 "least_loaded": "the {pool} team, where you had the fewest open leads"}
_LEAD_FIELDS = tuple(f.name for f in dataclasses.fields(Lead))


@dataclasses.dataclass(frozen=True)
class FirstTouch:
    """Everything the task says, gathered by the SLA clock."""

    kind: str  # call | email
    tier: str
    first_touch: dt.timedelta
    business_hours: bool
    due: dt.datetime
    timezone: str  # the owner's
    owner_email: str
    lead: dict[str, Any]  # the route decision's normalized lead
    route: dict[str, Any]  # the route decision's inputs (score, tier, rule, qualification)
    reason: str  # the admin's audit reason
    url: str
    why: str | None = None  # a plain "because" given by the caller (a reassignment), instead of the route's
    duplicate: Duplicate | None = None
    time_scale: float = 1.0  # LEADRELAY_TIME_SCALE the due time was computed with (the demo's ×60)


def task_text(rules: RuleSet, task: FirstTouch) -> tuple[str, str]:
    """(subject, body) of the first-touch task."""
    name = lead_name(task.lead)
    verb = VERB.get(task.kind, "Contact")
    within = duration_words(task.first_touch, task.business_hours)
    if task.time_scale != 1:  # an accelerated clock: the rep must see that "5 minutes" are seconds here
        within = f"{within} ({clock_note(task.time_scale, task.first_touch)})"
    head = (f"{verb} {name} by {due_text(task.due, task.timezone, seconds=task.time_scale != 1)}: a {task.tier} "
            f"lead, first touch within {within}.")
    why = task.why or why_you(rules, task.route, task.lead, task.reason, task.owner_email)
    parts = [head, f"You got this lead because {why}", lead_lines(rules, task), f"Open the lead: {task.url}"]
    if task.duplicate is not None:
        parts.append(duplicate_text(task.duplicate))
    return f"{verb} {name}: new {task.tier} lead", "\n\n".join(parts)


def sent_line(channel: str, text: str, at: dt.datetime, reply_to_owner: bool) -> str:
    """'Already sent to the lead by LeadRelay at 14:02:11: email "Thanks for your request, Ana" (…)': what the
    lead received, so the rep does not repeat it (`at` on the owner's clock)."""
    words = " ".join(text.split())
    quoted = words if len(words) <= 80 else words[:79].rstrip() + "…"
    what = "email" if channel == "email" else "SMS"
    after = "; the lead's reply comes to you" if channel == "email" and reply_to_owner else ""
    return f"Already sent to the lead by LeadRelay at {at:%H:%M:%S}: {what} “{quoted}” (acknowledgment{after})"


# the first line -------------------------------------------------------------------------------------------

def due_text(moment: dt.datetime, timezone: str, seconds: bool = False) -> str:
    """"Tue 7 Jul 2026, 17:00 (Europe/Berlin)": the owner's wall clock, with the zone named (and the seconds, which
    matter on an accelerated clock)."""
    local = moment.astimezone(zone(timezone))
    clock = f"{local:%H:%M:%S}" if seconds else f"{local:%H:%M}"
    return f"{local:%a} {local.day} {local:%b %Y}, {clock} ({timezone})"


def clock_note(scale: float, duration: dt.timedelta | None = None) -> str:
    """"demo clock ×60: 5 minutes pass in 5 seconds": how an accelerated clock (LEADRELAY_TIME_SCALE) reads."""
    head = f"demo clock ×{scale:g}"
    if duration is None:
        return head
    real = duration.total_seconds() / scale
    amount, unit = (round(real), "second") if real < 90 else (round(real / 60), "minute")
    span = duration_words(duration, False)
    verb = "passes" if span.startswith("1 ") else "pass"
    return f"{head}: {span} {verb} in {amount} {unit}{'' if amount == 1 else 's'}"


def duration_words(delta: dt.timedelta, business_hours: bool) -> str:
    """"5 minutes", "4 working hours", "2 working days" (a `d` in business hours counts working days)."""
    working = "working " if business_hours else ""
    minutes = int(delta.total_seconds() // 60)
    if isinstance(delta, Days) or (minutes and minutes % 1440 == 0):
        amount, unit = delta.days, f"{working}day"
    elif minutes % 60 == 0:
        amount, unit = minutes // 60, f"{working}hour"
    else:
        amount, unit = minutes, f"{working}minute"
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


# why you ------------------------------------------------------------------------------------------------

def why_you(rules: RuleSet, route: dict[str, Any], lead: dict[str, Any], reason: str, owner_email: str) -> str:
    """Why the rep got the lead, in plain words, from the routing rule that decided it (read from the rule set)."""
    rule = next((r for r in rules.routing if r.name == route.get("rule")), None)
    fell_back = " → fallback" in reason  # the router's own reason format (integration/routing/router.py)
    if rule is None and not fell_back:
        return _as_said(reason, owner_email)
    facts = _facts(lead, route)
    if rule is not None and rule.assign.account_owner and not fell_back:
        company = facts.lead.company or facts.lead.email_domain or "its company"
        return f"you own the account of {company} (rule “{rule.name}”)."
    because = _joined(matched_phrases(rule.when, facts)) if rule else ""
    if fell_back:
        where = _fallback_words(rules, rules.fallback)
        if rule is None:
            return f"no routing rule fits it, so it went to the fallback: {where}."
        return (f"it fits the rule “{rule.name}” ({because or 'its conditions'}), but nobody there could take it "
                f"just now, so it went to the fallback: {where}.")
    return f"{because or 'it fits its conditions'}, and the rule “{rule.name}” {_target_words(rules, rule)}."


def _as_said(reason: str, owner_email: str) -> str:
    """A decision made outside the routing rules (by hand, by an escalation): its reason, the rep as "you"."""
    text = re.sub(re.escape(owner_email), "you", reason, flags=re.IGNORECASE) if owner_email else reason
    return text[:1].lower() + text[1:] + ("" if text.endswith(".") else ".")


def _target_words(rules: RuleSet, rule: RoutingRule) -> str:
    if rule.assign.pool:
        pool = rules.pools[rule.assign.pool]
        return TURN[pool.strategy].format(pool=rule.assign.pool)
    return "sends those leads to you"


def _fallback_words(rules: RuleSet, target: Target) -> str:
    if target.pool:
        return FALLBACK_TURN[rules.pools[target.pool].strategy].format(pool=target.pool)
    return "you"


def _facts(lead: dict[str, Any], route: dict[str, Any]) -> Facts:
    known = Lead(**{k: lead[k] for k in _LEAD_FIELDS if k in lead and k != "created_at"})
    return Facts(known, route.get("score"), route.get("tier"), known.account_owner)


def matched_phrases(when: When, facts: Facts) -> list[str]:
    """One plain phrase per condition of `when` that the lead meets ("it comes from Sweden")."""
    matcher = RuleMatcher([when])
    prepared = matcher.prepare(dataclasses.replace(facts, postcode_hits=set()))
    compiled = matcher.rules[0]
    phrases = [_condition_words(key, prepared) for key, test in zip(compiled.keys, compiled.tests, strict=True)
               if test(prepared)]
    if "state" in compiled.keys and any(p.startswith("it is in ") for p in phrases):
        phrases = [p for p in phrases if not p.startswith("it comes from ")]  # "in California" says the country
    return list(dict.fromkeys(phrases))


def _condition_words(key: str, f: Facts) -> str:
    lead = f.lead
    words: dict[str, Callable[[], str]] = {
        "country": lambda: f"it comes from {country_name(lead.country)}",
        "state": lambda: f"it is in {state_name(lead.state, lead.country)}",
        "city": lambda: f"it is in {lead.city}",
        "postcode": lambda: f"its postcode {lead.postcode} is in the territory",
        "source": lambda: f"it came in via {source_words(lead.source)}",
        "industry": lambda: f"its industry is {lead.industry}",
        "language": lambda: f"its language is {lead.language}",
        "service": lambda: f"it asked about {lead.service}",
        "employees_gte": lambda: f"{lead.company or 'its company'} has {lead.employees} employees",
        "score_gte": lambda: f"it scored {f.score}",
        "tier": lambda: f"it is a {f.tier} lead",
        "email_domain": lambda: f"its email address is at {lead.email_domain}",
        "has_phone": lambda: "it has a phone number" if lead.phone else "it has no phone number",
        "has_email": lambda: "it has an email address" if lead.email else "it has no email address",
        "account_owner": lambda: "its company has an account owner" if f.account_owner else "its company has no "
                                                                                           "account owner",
    }
    words["employees_lt"], words["score_lt"] = words["employees_gte"], words["score_gte"]
    return words[key]()


def _joined(phrases: list[str]) -> str:
    if len(phrases) <= 1:
        return "".join(phrases)
    return f"{', '.join(phrases[:-1])} and {phrases[-1]}"


THE_COUNTRIES = frozenset({"Netherlands", "Philippines", "Bahamas", "Gambia", "Maldives", "Comoros", "Seychelles"})


def country_name(code: str | None, article: bool = True) -> str:
    """"Sweden", "the United States" (as the name reads in a sentence; without "the" for a list)."""
    found = pycountry.countries.get(alpha_2=code) if code and len(code) == 2 else None
    name = getattr(found, "common_name", None) or getattr(found, "name", None) or (code or "?")
    plural = name in THE_COUNTRIES or name.startswith("United ") or name.endswith((" Republic", " Islands"))
    return f"the {name}" if plural and article else name


def state_name(state: str | None, country: str | None) -> str:
    found = pycountry.subdivisions.get(code=f"{country}-{state}") if state and country else None
    return found.name if found else (state or "?")


def source_words(source: str | None) -> str:
    return (source or "an unknown source").replace("_", " ")


# who and how it scored -----------------------------------------------------------------------------------

def lead_lines(rules: RuleSet, task: FirstTouch) -> str:
    lead = task.lead
    company = lead.get("company") or "company not given"
    if lead.get("employees"):
        company = f"{company} ({lead['employees']} employees)"
    place = ", ".join(x for x in place_parts(lead) if x)
    lines = [f"Who: {lead_name(lead)}, {company}", f"Email: {lead.get('email') or 'not given'}",
             f"Phone: {phone_text(lead.get('phone'))}"]
    if place:
        lines.append(f"Where: {place}")
    lines += [f"Source: {source_words(lead.get('source')) if lead.get('source') else 'not recorded'}",
              score_line(rules, task.route, lead)]
    return "\n".join(lines)


def place_parts(lead: dict[str, Any]) -> tuple[str | None, ...]:
    """City, state and country names as the lead gives them (e.g. Stockholm, Sweden)."""
    state, country = lead.get("state"), lead.get("country")
    return (lead.get("city"), state_name(state, country) if state else None,
            country_name(country, article=False) if country else None)


def phone_text(phone: str | None) -> str:
    """"+46 8 123 456 78": the normalized E.164 number grouped for dialling."""
    if not phone:
        return "not given"
    try:
        return phonenumbers.format_number(phonenumbers.parse(phone, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return phone


def score_line(rules: RuleSet, route: dict[str, Any], lead: dict[str, Any]) -> str:
    """"Score: 70 of 100 (hot). Top reasons: it came in via referral (+30), …" from the scoring rules that
    matched; the stored reason's list when the rules changed since (the recomputed score differs)."""
    score, tier = route.get("score"), route.get("tier")
    if score is None:
        return "Score: not scored"
    head = f"Score: {score} of 100 ({tier})"
    reasons = _score_reasons(rules, route, lead)
    if reasons is None:  # the scoring rules changed since the decision: what the decision itself said
        detail = str(route.get("qualification") or "").partition(": ")[2]
        return f"{head}. Top reasons: {detail}" if detail else head
    if not reasons:
        return f"{head}. No scoring rule matched."
    top = ", ".join(f"{text} ({points:+d})" for points, text in reasons[:TOP_SCORE_REASONS])
    more = len(reasons) - TOP_SCORE_REASONS
    return f"{head}. Top reasons: {top}" + (f", and {more} more" if more > 0 else "")


def _score_reasons(rules: RuleSet, route: dict[str, Any], lead: dict[str, Any]) -> list[tuple[int, str]] | None:
    scoring = rules.scoring
    matcher = RuleMatcher([r.when for r in scoring.rules])
    facts = matcher.prepare(_facts(lead, {}))
    matched = matcher.all(facts)
    if max(0, min(100, sum(scoring.rules[i].points for i in matched))) != route.get("score"):
        return None
    reasons = [(scoring.rules[i].points, scoring.rules[i].name or _joined(matched_phrases(scoring.rules[i].when,
                                                                                         facts)))
               for i in matched]
    return sorted(reasons, key=lambda r: -abs(r[0]))


# the duplicate ------------------------------------------------------------------------------------------

def duplicate_text(duplicate: Duplicate) -> str:
    """Who the other record is and how alike, its link at the end of a line (nothing glued to the URL)."""
    alike = f", {round(duplicate.score * 100)}% alike" if duplicate.score is not None else ""
    why = f" ({'; '.join(duplicate.reasons[:3])})" if duplicate.reasons else ""
    return (f"Possible duplicate: {duplicate.name or 'another record'}{alike}{why}: {duplicate.url}\n"
            f"Check that record before you reach out; your admin decides whether to merge them.")
