"""The demo's first-response and handoff chapter.

Before the leads arrive, each account gets its own Twilio-compatible SMS account in the sandbox (the tenant's
credentials, saved as an admin saves them on the Senders card); email goes to the sandbox's SMTP server. While the
story runs, every hot and warm lead gets its acknowledgment. Then people answer, as leads do: one asks what it
costs, one wants no more email, one is angry (each a reply the CRM's email sync logs on the record, quoted history
and all), one texts STOP, and a referral fills in a web form — and the report says what LeadRelay sent, what it
skipped and why, and what each handoff rule did.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from adapters.senders.settings import save_sms, sms_inbound_key
from integration.config import get_settings
from integration.db import session_scope
from integration.models import Decision, InboundMessageRow, OutboundMessage, Tenant
from integration.models.outreach import SENDING, SENT, SKIPPED
from integration.rules.outreach import ACTIONS
from leadrelay import demo_forms
from leadrelay.demo_crm import SandboxCRM
from leadrelay.processes import local_http

WAIT_S = 60  # the acknowledgment's budget; replies are read every LEADRELAY_INBOUND_INTERVAL (2 s in the demo)
# the lead's mail client quotes the acknowledgment under the answer: not the lead's words, the rules skip it
QUOTE = "\n\nOn {day}, {sender} wrote:\n> Hi,\n> thanks for getting in touch. We will get back to you shortly.\n"
REPLIES = {  # what the lead writes back → the handoff rule it should meet (integration/rules/demo_rules.yaml)
    "pricing": "Thanks for the quick answer! How much does the team plan cost per seat?",
    "opt_out": "Please unsubscribe me and stop emailing me.",
    "unhappy": "This is the third time I asked and nobody called back. Terrible service, I am really disappointed "
               "and angry.",
}
REFERRAL = {"first_name": "Rosa", "last_name": "Lindqvist", "company": "Northwind Traders", "country": "US",
            "phone": "+1 312 555 0147", "postcode": "60601", "source": "customer referral", "consent": "yes",
            "message": "Ana from Contoso said you could help us too."}


def setup_sms(sandbox_url: str, tenants: dict[str, int]) -> dict[str, str]:
    """One sandbox Twilio account per tenant, saved as the tenant's SMS sender; returns platform → our number."""
    http, numbers = local_http(), {}
    for platform, tenant_id in tenants.items():
        answer = http.post(f"{sandbox_url}/_sandbox/twilio/accounts", json={}, timeout=10)
        answer.raise_for_status()
        account = answer.json()
        with session_scope(get_settings().database_url) as session:
            save_sms(session, tenant_id, account_sid=account["account_sid"], auth_token=account["auth_token"],
                     from_number=account["from_number"], api_base=account["api_base"])
        numbers[platform] = account["from_number"]
    return numbers


def referral_forms(web_url: str, tenants: dict[str, int]) -> dict[str, Any]:
    """A referral fills in the web form on each account: owned and tasked, never messaged by LeadRelay."""
    out = {}
    for platform, tenant_id in tenants.items():
        url, secret = demo_forms._intake(web_url, tenant_id)
        email = f"rosa.lindqvist.{platform}@northwind.example"
        out[platform] = demo_forms._submit(url, secret, {**REFERRAL, "email": email})
    return out


def answer_back(crms: dict[str, SandboxCRM], tenants: dict[str, int], web_url: str, sandbox_url: str,
                numbers: dict[str, str]) -> dict[str, Any]:
    """Per CRM: three leads that got an email answer it (pricing, opt-out, angry), a fourth texts STOP; then wait
    until LeadRelay read each and its handoff rules acted."""
    waited_for: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for platform, tenant_id in tenants.items():
        crm, acks = crms[platform], _acknowledged(tenant_id)
        said = []
        for (kind, text), ack in zip(REPLIES.items(), acks, strict=False):
            quote = QUOTE.format(day=time.strftime("%a, %d %b %Y at %H:%M"), sender=ack.from_address or "us")
            crm.simulate({"action": "reply", "object_type": crm.LEAD_TYPE, "id": ack.object_id,
                          "properties": {"subject": f"Re: {ack.subject}", "text": text + quote,
                                         "from": ack.to_address}})
            said.append({"lead": ack.object_id, "wrote": kind})
            waited_for.setdefault(platform, []).append(ack.object_id)
        stop = _texter(tenant_id, exclude={a.object_id for a in acks[:len(REPLIES)]})
        if stop is not None and platform in numbers:
            object_id, phone = stop
            url = f"{web_url}/webhooks/sms/{tenant_id}/{_inbound_key(tenant_id)}"
            answer = local_http().post(f"{sandbox_url}/_sandbox/twilio/inbound", timeout=20, json={
                "from": phone, "to": numbers[platform], "body": "STOP", "url": url})
            said.append({"lead": object_id, "wrote": "STOP (a text)", "webhook_status": answer.json().get("status")})
            waited_for.setdefault(platform, []).append(object_id)
        out[platform] = said
    _wait_handled(tenants, waited_for)
    return out


def _acknowledged(tenant_id: int) -> list[OutboundMessage]:
    """Leads whose email acknowledgment was sent, oldest first (waiting up to WAIT_S for the first three)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        with session_scope(get_settings().database_url) as session:
            rows = list(session.scalars(select(OutboundMessage).where(
                OutboundMessage.tenant_id == tenant_id, OutboundMessage.channel == "email",
                OutboundMessage.status == SENT).order_by(OutboundMessage.id)))
        if len(rows) >= len(REPLIES) or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def _texter(tenant_id: int, exclude: set[str]) -> tuple[str, str] | None:
    """A lead LeadRelay texted (else any routed lead with a mobile-looking number) that sends STOP back."""
    with session_scope(get_settings().database_url) as session:
        texted = session.execute(select(OutboundMessage.object_id, OutboundMessage.to_address).where(
            OutboundMessage.tenant_id == tenant_id, OutboundMessage.channel == "sms",
            OutboundMessage.status == SENT).order_by(OutboundMessage.id)).all()
        for object_id, phone in texted:
            if object_id not in exclude and phone:
                return object_id, phone
        for decision in session.scalars(select(Decision).where(Decision.tenant_id == tenant_id,
                                                                Decision.kind == "route").order_by(Decision.id)):
            phone = ((decision.inputs or {}).get("lead") or {}).get("phone")
            if decision.object_id not in exclude and phone and decision.outcome != "review":
                return decision.object_id, phone
    return None


def _inbound_key(tenant_id: int) -> str:
    with session_scope(get_settings().database_url) as session:
        return sms_inbound_key(session.get(Tenant, tenant_id)) or ""


def _wait_handled(tenants: dict[str, int], waited_for: dict[str, list[str]]) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        done = True
        with session_scope(get_settings().database_url) as session:
            for platform, ids in waited_for.items():
                handled = set(session.scalars(select(InboundMessageRow.object_id).where(
                    InboundMessageRow.tenant_id == tenants[platform], InboundMessageRow.object_id.in_(ids),
                    InboundMessageRow.handled_at.is_not(None))))
                done = done and handled >= set(ids)
        if done:
            return
        time.sleep(0.5)


def report(tenants: dict[str, int]) -> dict[str, dict[str, Any]]:
    """The report's `first_response` (sent, skipped by reason, p50/p95 ms from the record's creation to the message
    accepted by the SMTP server or SMS provider) and `handoffs` (actions by kind) sections."""
    ids = list(tenants.values())
    with session_scope(get_settings().database_url) as session:
        rows = list(session.scalars(select(OutboundMessage).where(OutboundMessage.tenant_id.in_(ids))))
        actions = dict(session.execute(select(Decision.outcome, func.count()).where(
            Decision.tenant_id.in_(ids), Decision.kind == "handoff").group_by(Decision.outcome)).all())
        replies = list(session.scalars(select(InboundMessageRow).where(InboundMessageRow.tenant_id.in_(ids))
                                       .order_by(InboundMessageRow.id)))
    platform_of = {tenant_id: platform for platform, tenant_id in tenants.items()}
    sent = [r for r in rows if r.status == SENT]
    took = sorted((r.accepted_at - r.record_created_at).total_seconds() * 1000 for r in sent
                  if r.accepted_at and r.record_created_at)
    # skipped ones by their reason, failed ones as failed:<reason>
    skipped = Counter(str(r.reason) if r.status == SKIPPED else f"{r.status}:{r.reason}" for r in rows
                      if r.status not in (SENT, SENDING))
    by_platform = {platform: {"sent": sum(1 for r in sent if r.tenant_id == tenant_id),
                              "email": sum(1 for r in sent if r.tenant_id == tenant_id and r.channel == "email"),
                              "sms": sum(1 for r in sent if r.tenant_id == tenant_id and r.channel == "sms")}
                   for platform, tenant_id in tenants.items()}
    first = {"sent": len(sent), "skipped": dict(sorted(skipped.items())), "p50_ms": _pct(took, 50),
             "p95_ms": _pct(took, 95), "by_platform": by_platform,
             "meaning": "each lead's acknowledgment (email; a text too for hot leads with a mobile number, "
                        "outside their quiet hours): ms from the record's creation in the CRM to the message "
                        "accepted by the SMTP server / SMS provider; skipped and failed ones by reason (the "
                        "console's Outbox)"}
    handoffs = {"actions": {action: actions.get(action, 0) for action in ACTIONS},
                "replies": [{"crm": platform_of.get(r.tenant_id), "lead": r.object_id, "channel": r.channel,
                             "text": r.text.split("\n")[0][:120],
                             "did": [{"rule": m["rule"], "words": m.get("words"), "actions": sorted(m["actions"])}
                                     for m in (r.outcome or {}).get("rules") or []]
                             or (r.outcome or {}).get("why")}
                            for r in replies],
                "meaning": "what the handoff rules did (rule set `handoff:`), each action audited with the words "
                           "that triggered it (the console's Outbox and Audit pages)"}
    return {"first_response": first, "handoffs": handoffs}


def _pct(ordered: list[float], q: float) -> int | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))])


def problems(summary: dict) -> list[str]:
    """What the report must call incomplete: no acknowledgment sent, a handoff action never shown, a referral
    messaged."""
    out = []
    first = summary.get("first_response") or {}
    if "first_response" in summary and not first.get("sent"):
        out.append("no lead got its acknowledgment (first_response.sent is 0: see the console's Outbox)")
    actions = ((summary.get("handoffs") or {}).get("actions")) or {}
    if "handoffs" in summary:
        missing = [a for a in ACTIONS if not actions.get(a)]
        if missing:
            out.append(f"handoff actions never shown: {', '.join(missing)}")
    return out
