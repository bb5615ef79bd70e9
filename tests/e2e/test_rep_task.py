"""Issue 13, defect 4: the first-touch task as each CRM stores it is written for the rep — what to do and by when
(in the rep's time zone) first, why they got the lead in plain words, the lead's full name, company, source and
score reasons, a link to the record in the CRM, and the record it may duplicate — while the admin's audit reason
stays as it was. Leads arrive on a Saturday: a `2d` business-hours SLA is due at Tuesday's close (defect 5)."""
from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from sqlalchemy import select

from integration.db import session_scope
from integration.models import Decision, ReviewItem, SlaTimer, Tenant
from tests.crm_helpers import browser, install_with_rules
from tests.e2e.test_pipeline_flow import LEAD_OBJECT, record_id, simulate
from tests.security.test_task_body_html import deliver  # a burst worker without RQ's 60 s pubsub wait

CASEY = "casey.rep@leadrelay.test"
USERS = [{"email": CASEY, "name": "Casey Rep", "timezone": "Europe/Stockholm"}]
RULES = {
    "version": 1, "timezone": "UTC",
    "owners": [{"email": CASEY, "timezone": "Europe/Stockholm", "country": "SE"}],
    "routing": [{"name": "Nordics", "when": {"country": ["SE", "NO", "DK", "FI"]}, "assign": {"owner": CASEY}}],
    "fallback": {"review": True},
    "scoring": {"rules": [{"when": {"source": ["referral"]}, "points": 20}, {"when": {"country": ["SE"]}, "points": 15},
                         {"when": {"has_phone": True}, "points": 10}],
                "tiers": {"hot": 60, "warm": 30}},
    "sla": {"warm": {"first_touch": "2d", "business_hours": True},
            "nurture": {"first_touch": "2d", "business_hours": True}},
    "dedup": {"auto_merge": 1.0, "review": 0.5},  # the same person written differently: a review, never a merge
}
SATURDAY = dt.datetime(2026, 7, 4, 9, 0, tzinfo=dt.UTC)  # 11:00 in Stockholm
DUE = "Tue 7 Jul 2026, 17:00 (Europe/Stockholm)"  # Monday is the 1st working day, Tuesday the 2nd
LEADS = {  # (first lead, the same person again), in each platform's own field names
    "hubspot": ("contacts",
                {"firstname": "Sven", "lastname": "Larsson", "email": "sven.larsson@nordbygg.example",
                 "phone": "+46 8 123 456 78", "country": "Sweden", "city": "Stockholm", "company": "Nordbygg AB"},
                {"email": "sven.larsson+expo@nordbygg.example", "phone": "+46 (8) 12345678"}),
    "salesforce": ("Lead",
                   {"FirstName": "Sven", "LastName": "Larsson", "Email": "sven.larsson@nordbygg.example",
                    "Phone": "+46 8 123 456 78", "Country": "Sweden", "City": "Stockholm", "Company": "Nordbygg AB",
                    "LeadSource": "Referral"},
                   {"Email": "Sven.Larsson@NORDBYGG.example", "Phone": "+46 (8) 12345678"}),
    "pipedrive": ("persons",  # a person has no country or source field: the +46 number tells the country
                  {"name": "Sven Larsson", "emails": [{"value": "sven.larsson@nordbygg.example", "primary": True,
                                                       "label": "work"}],
                   "phones": [{"value": "+46 8 123 456 78", "primary": True, "label": "work"}]},
                  {"emails": [{"value": "sven.larsson+expo@nordbygg.example", "primary": True, "label": "work"}],
                   "phones": [{"value": "+46 (8) 12345678", "primary": True, "label": "work"}]}),
}
# what each CRM knows: (tier, company, source, score line)
EXPECTED = {
    "hubspot": ("nurture", "Nordbygg AB", "not recorded",
                "Score: 25 of 100 (nurture). Top reasons: it comes from Sweden (+15), it has a phone number (+10)"),
    "salesforce": ("warm", "Nordbygg AB", "referral",
                   "Score: 45 of 100 (warm). Top reasons: it came in via referral (+20), it comes from Sweden (+15), "
                   "it has a phone number (+10)"),
    "pipedrive": ("nurture", "company not given", "not recorded",
                  "Score: 25 of 100 (nurture). Top reasons: it comes from Sweden (+15), it has a phone number (+10)"),
}
TASKS = {"hubspot": ("tasks", lambda t: t["properties"]["hs_task_body"], lambda t: t["properties"]["hs_task_subject"]),
         "salesforce": ("Task", lambda t: t["Description"], lambda t: t["Subject"]),
         "pipedrive": ("activities", lambda t: t["note"], lambda t: t["subject"])}
HTML_BODIES = {"hubspot", "pipedrive"}  # CRMs that show a task body as HTML
RECORDS = {"hubspot": "contacts", "salesforce": "Lead", "pipedrive": "persons"}


def record_link(platform: str, tenant: Tenant, lead_id: str) -> str:
    """The record page the adapter links, on the sandbox's origin (README: the CRM sandbox)."""
    base = tenant.api_base.rstrip("/")
    return {"hubspot": f"{base}/contacts/{tenant.external_id}/record/0-1/{lead_id}",
            "salesforce": f"{base}/lightning/r/Lead/{lead_id}/view",
            "pipedrive": f"{base}/person/{lead_id}"}[platform]


def stored_task(server, platform: str, account: dict, task_id: str) -> dict:
    """The task as the sandbox stores it: {"subject", "body" (as stored), "text" (what the rep reads)}."""
    sandbox_object, body_of, subject_of = TASKS[platform]
    rows = browser(server).get(f"{server.url}/_sandbox/accounts/{account['account_id']}/{sandbox_object}").json()
    [task] = [t for t in rows["results"] if str(t.get("id") or t.get("Id")) == task_id]
    body = body_of(task)
    text = unescape(re.sub(r"<[^>]+>", "", body.replace("<br>", "\n"))) if platform in HTML_BODIES else body
    return {"subject": subject_of(task), "body": body, "text": text}


def sandbox_record(server, platform: str, account: dict, record: str) -> dict | None:
    rows = browser(server).get(f"{server.url}/_sandbox/accounts/{account['account_id']}/{RECORDS[platform]}").json()
    return next((r for r in rows["results"] if str(r.get("id") or r.get("Id")) == record), None)


@pytest.fixture()
def two_leads(crm_env, app, crm_sandbox, monkeypatch):
    """Sven Larsson arrives on a Saturday, then the same person again; both routed to Casey, each with a task."""
    monkeypatch.setattr("integration.work.clock", lambda: SATURDAY)

    def run(platform: str) -> dict:
        tenant_id, account = install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], platform,
                                                RULES, f"Rep task {platform}", USERS)
        object_type, first, again = LEADS[platform]
        ids = []
        for properties in (first, {**first, **again}):
            ids.append(record_id(platform, simulate(crm_sandbox, account, {
                "action": "create", "object_type": object_type, "properties": properties})))
            deliver(crm_env, tenant_id, platform, LEAD_OBJECT[platform], ids[-1])
        with session_scope(crm_env["DATABASE_URL"]) as s:
            tenant = s.get(Tenant, tenant_id)
            s.expunge(tenant)
            timers = {t.object_id: t.task_id for t in s.scalars(select(SlaTimer))}
            reasons = {d.object_id: d.reason for d in s.scalars(select(Decision).where(Decision.kind == "route"))}
            review = s.scalar(select(ReviewItem).where(ReviewItem.kind == "dedup"))
            assert review is not None and (review.object_id, review.other_object_id) == (ids[1], ids[0])
        return {"tenant": tenant, "account": account, "ids": ids, "reasons": reasons,
                "tasks": [stored_task(crm_sandbox, platform, account, timers[i]) for i in ids]}
    return run


@pytest.mark.parametrize("platform", ["hubspot", "salesforce", "pipedrive"])
def test_the_reps_task_says_what_to_do_by_when_why_who_and_where(two_leads, crm_sandbox, platform):
    run = two_leads(platform)
    tier, company, source, score = EXPECTED[platform]
    first, second = run["tasks"]
    link = record_link(platform, run["tenant"], run["ids"][0])
    assert first["subject"] == f"Email Sven Larsson: new {tier} lead"
    assert first["text"].split("\n\n") == [
        f"Email Sven Larsson by {DUE}: a {tier} lead, first touch within 2 working days.",
        "You got this lead because it comes from Sweden, and the rule “Nordics” sends those leads to you.",
        f"Who: Sven Larsson, {company}\nEmail: sven.larsson@nordbygg.example\nPhone: +46 8 123 456 78\n"
        f"Where: {'Stockholm, ' if platform != 'pipedrive' else ''}Sweden\nSource: {source}\n{score}",
        f"Open the lead: {link}"]
    assert CASEY not in first["text"] and "→" not in first["text"]  # no admin jargon, no rep's own email
    if platform in HTML_BODIES:  # the link is a link where the CRM shows HTML
        assert f'<a href="{link}">{link}</a>' in first["body"]
    # the link leads to this lead's record in that account
    linked_id = re.search(r"/(?:record/0-1|Lead|person)/([^/]+)(?:/view)?$", link).group(1)
    assert linked_id == run["ids"][0] and sandbox_record(crm_sandbox, platform, run["account"], linked_id)
    # the admin's audit reason is unchanged
    assert run["reasons"][run["ids"][0]].startswith(f"Rule 'Nordics' (country SE) → {CASEY}")

    duplicate = second["text"].split("\n\n")[-1]
    assert duplicate.startswith("Possible duplicate: Sven Larsson, ")
    assert duplicate.endswith(f": {link}\nCheck that record before you reach out; your admin decides whether to "
                              f"merge them.")
    assert f"Open the lead: {record_link(platform, run['tenant'], run['ids'][1])}" in second["text"]
