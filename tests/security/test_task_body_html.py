"""Finding 14c: SLA task bodies carried raw HTML from lead fields into HubSpot, whose task body (like a Pipedrive
activity's note) is rendered as HTML. A lead whose name is markup goes through the real pipeline into each
sandbox CRM; the task body is read back as the CRM stores it."""
from __future__ import annotations

import datetime as dt

import pytest
from redis import Redis
from sqlalchemy import select

from integration.db import session_scope
from integration.intake.events import enqueue_drain, record_events
from integration.models import SlaTimer
from integration.records import Event
from tests.crm_helpers import browser, install_with_rules
from tests.e2e.test_pipeline_flow import LEAD_OBJECT, record_id, simulate
from tests.workers import BurstWorker

MARKUP = "<img src=x onerror=alert(document.domain)>"  # no digit: a "garbage" name would go to review instead
COMPANY = "<b>Navy</b> & Co"
OWNERS = [{"email": "ana.owner@leadrelay.test", "name": "Ana Owner", "timezone": "America/New_York"}]
RULES = {
    "version": 1, "timezone": "UTC", "owners": [{"email": OWNERS[0]["email"]}],
    "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"owner": OWNERS[0]["email"]}}],
    "fallback": {"review": True},
    "scoring": {"rules": [{"when": {"has_email": True}, "points": 70}]},
    "sla": {"hot": {"first_touch": "5m", "business_hours": False}},
}
LEAD = {
    "hubspot": ("contacts", {"firstname": "Grace", "lastname": MARKUP, "email": "grace@navy.example",
                             "company": COMPANY}),
    "salesforce": ("Lead", {"FirstName": "Grace", "LastName": MARKUP, "Email": "grace@navy.example",
                            "Company": COMPANY}),
    "pipedrive": ("persons", {"name": f"Grace {MARKUP}",
                              "emails": [{"value": "grace@navy.example", "primary": True, "label": "work"}]}),
}
# where each CRM keeps the task body: (sandbox object, field)
TASK_BODY = {"hubspot": ("tasks", lambda t: t["properties"]["hs_task_body"]),
             "salesforce": ("Task", lambda t: t["Description"]),
             "pipedrive": ("activities", lambda t: t["note"])}


def deliver(env, tenant_id: int, platform: str, object_type: str, object_id: str) -> None:
    """What the webhook endpoint does for a created record, then the drain job on the intake queue."""
    with session_scope(env["DATABASE_URL"]) as s:
        record_events(s, tenant_id, [Event(platform=platform, account_id="", object_type=object_type,
                                           object_id=str(object_id), kind="created",
                                           occurred_at=dt.datetime.now(dt.UTC), event_id=f"markup-{object_id}")])
    enqueue_drain(tenant_id)
    BurstWorker(["intake"], connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)


def stored_task_body(crm_env, crm_sandbox, platform: str, tenant_id: int, account: dict, again: bool = False) -> str:
    """The lead created in the CRM and routed (unless `again`); its SLA task's body as the sandbox stores it."""
    if not again:
        object_type, properties = LEAD[platform]
        lead_id = record_id(platform, simulate(crm_sandbox, account, {"action": "create", "object_type": object_type,
                                                                      "properties": properties}))
        deliver(crm_env, tenant_id, platform, LEAD_OBJECT[platform], lead_id)
    with session_scope(crm_env["DATABASE_URL"]) as s:
        task_id = s.scalar(select(SlaTimer.task_id))
    assert task_id, "the lead was not routed with an SLA task"
    sandbox_object, body_of = TASK_BODY[platform]
    rows = browser(crm_sandbox).get(
        f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/{sandbox_object}").json()["results"]
    [task] = [t for t in rows if str(t.get("id") or t.get("Id")) == task_id]
    return body_of(task)


@pytest.fixture()
def routed_body(crm_env, app, crm_sandbox):
    def run(platform: str, then=None) -> str:
        tenant_id, account = install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], platform,
                                                RULES, f"Markup {platform}", OWNERS)
        body = stored_task_body(crm_env, crm_sandbox, platform, tenant_id, account)
        if then is None:
            return body
        from adapters.factory import build_adapter

        with session_scope(crm_env["DATABASE_URL"]) as s:
            then(build_adapter(tenant_id), s.scalar(select(SlaTimer.task_id)))
        return stored_task_body(crm_env, crm_sandbox, platform, tenant_id, account, again=True)
    return run


@pytest.mark.parametrize("platform", ["hubspot", "pipedrive"])
def test_markup_from_a_lead_is_text_in_a_task_body_the_crm_renders_as_html(routed_body, platform):
    body = routed_body(platform)
    assert "<img" not in body and "<b>" not in body
    # (the pipeline re-cases a name typed in one case: <img Src=x Onerror=…>)
    assert "Who: Grace &lt;img Src=x Onerror=alert(document.domain)&gt;" in body
    if platform == "hubspot":  # a Pipedrive person has no company field of its own
        assert "&lt;img Src=x Onerror=alert(document.domain)&gt;, &lt;b&gt;Navy&lt;/b&gt; &amp; Co<br>" in body


def test_closing_the_task_with_a_note_does_not_escape_the_body_twice(routed_body):
    """HubSpot returns the body it stores (escaped); the closing note is appended and the whole written back."""
    body = routed_body("hubspot", then=lambda adapter, task_id: adapter.complete_task(task_id, note="Reassigned <x>"))
    assert "Who: Grace &lt;img Src=x Onerror=alert(document.domain)&gt;" in body and "&amp;lt;" not in body
    assert body.endswith("<br><br>Reassigned &lt;x&gt;")


def test_a_plain_text_task_body_gets_the_lead_verbatim(routed_body):
    """Salesforce's Task Description is plain text: escaping there would only show &lt; and &amp; to the rep."""
    body = routed_body("salesforce")
    assert f"Who: Grace <img Src=x Onerror=alert(document.domain)>, {COMPANY}\n" in body
    assert "&lt;" not in body and "&amp;" not in body
