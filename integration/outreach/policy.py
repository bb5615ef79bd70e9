"""Whether a lead may receive its acknowledgment on a channel: each refusal is a reason word and a sentence
(README "First response": the skip reasons), checked in a fixed order so the audit names the first that applies."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy import select

from integration.models import IntakeSubmission
from integration.outreach.common import holds_of
from integration.rules.outreach import FirstResponse, TierResponse, in_quiet_hours, quiet_hours_text
from integration.rules.values import zone
from integration.work import Work

# A record created longer ago than this is not "just now": a backfilled or swept old lead, or one whose job waited
# out an outage, gets no "thanks for your request" hours after the request (README "First response")
TOO_LATE = dt.timedelta(minutes=30)
HOLD_WORDS = {"do_not_contact": "the lead opted out (do not contact)", "stop": "automation was stopped for the lead",
              "skip_automation": "a handoff rule leaves the lead to a person"}
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on", "checked", "agreed", "accept", "accepted"})
MOBILE = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


@dataclass(frozen=True)
class Skip:
    reason: str  # the word the outbox and the KPIs count
    detail: str  # the sentence the admin reads


@dataclass(frozen=True)
class Lead:
    """What the checks read of one lead: the record's fields now (opt-outs may have changed), the route's facts."""

    object_type: str
    object_id: str
    fields: dict[str, Any]
    created_at: dt.datetime | None


def first_skip(work: Work, section: FirstResponse, tier: TierResponse, lead: Lead, channel: str) -> Skip | None:
    """The first reason not to send on `channel`, else None (the sender's availability and the daily cap are
    checked by the caller, who holds the sender)."""
    return (_held(work, lead) or _too_late(work, lead) or _opted_out(lead, channel)
            or _no_consent(work, section, tier, lead) or _no_address(lead, channel)
            or (_quiet(work, section, lead) if channel == "sms" else None))


def address(lead: Lead, channel: str) -> str | None:
    """The lead's email address, or a mobile-capable E.164 number (mobile first, then phone)."""
    if channel == "email":
        email = str(lead.fields.get("email") or "").strip()
        return email if "@" in email else None
    for name in ("mobile", "phone"):
        number = _mobile(lead.fields.get(name))
        if number:
            return number
    return None


def lead_timezone(work: Work, lead: Lead) -> str:
    """The lead's zone as enrichment found it (leadrelay_timezone), else the rule set's."""
    for value in (lead.fields.get("leadrelay_timezone"), lead.fields.get("timezone")):
        if value:
            try:
                zone(str(value))
                return str(value)
            except (KeyError, ValueError):
                continue
    return work.rules.timezone


def _held(work: Work, lead: Lead) -> Skip | None:
    holds = holds_of(work.session, work.tenant_id, lead.object_type, lead.object_id)
    for kind, words in HOLD_WORDS.items():
        if kind in holds:
            hold = holds[kind]
            if hold.rule:  # the hold's reason is the rule's own "Handoff rule 'X': …" line: say the rule once
                why = hold.reason.split(": ", 1)[1] if hold.reason.startswith("Handoff rule") else hold.reason
                return Skip("automation_hold", f"Not sent: {words}: rule “{hold.rule}” ({why})")
            return Skip("automation_hold", f"Not sent: {words}: {hold.reason}".rstrip(": "))
    return None


def _too_late(work: Work, lead: Lead) -> Skip | None:
    if lead.created_at is None or work.now() - lead.created_at <= TOO_LATE:
        return None
    age = work.now() - lead.created_at
    minutes, days = int(age.total_seconds() // 60), age.days
    ago = (f"on {lead.created_at:%d %b %Y} ({days} days ago)" if days >= 2 else
           f"{minutes // 60} hours ago" if minutes >= 120 else f"{minutes} minutes ago")
    return Skip("too_late", f"Not sent: the record was created {ago}; an acknowledgment goes out only within "
                            f"{int(TOO_LATE.total_seconds() // 60)} minutes of the request")


def _opted_out(lead: Lead, channel: str) -> Skip | None:
    if channel == "email" and _truthy(lead.fields.get("email_opt_out")):
        return Skip("opted_out", "Not sent: the lead opted out of email in the CRM")
    if channel == "sms" and _truthy(lead.fields.get("do_not_call")):
        return Skip("opted_out", "Not sent: the lead is marked do-not-call in the CRM")
    return None


def _no_consent(work: Work, section: FirstResponse, tier: TierResponse, lead: Lead) -> Skip | None:
    if tier.consent == "any":
        return None
    consents = work.session.scalars(select(IntakeSubmission.fields).where(
        IntakeSubmission.tenant_id == work.tenant_id, IntakeSubmission.record_id == lead.object_id))
    if any(_truthy((fields or {}).get("consent")) for fields in consents):
        return None
    return Skip("no_consent", "Not sent: the tier asks for recorded consent and the lead's form submission did not "
                              "give it (a lead created in the CRM has none recorded)")


def _no_address(lead: Lead, channel: str) -> Skip | None:
    if address(lead, channel):
        return None
    what = "email address" if channel == "email" else "mobile number that can receive texts"
    return Skip("no_address", f"Not sent: the lead has no {what}")


def _quiet(work: Work, section: FirstResponse, lead: Lead) -> Skip | None:
    tz = lead_timezone(work, lead)
    local = work.now().astimezone(zone(tz))
    if not in_quiet_hours(section.quiet_hours, local.time()):
        return None
    return Skip("quiet_hours", f"Not sent: it is {local:%H:%M} for the lead ({tz}), inside the quiet hours "
                               f"{quiet_hours_text(section.quiet_hours)}")


def _mobile(value: Any) -> str | None:
    if not value:
        return None
    try:
        number = phonenumbers.parse(str(value), None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in MOBILE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_WORDS if value is not None else False
