"""The demo's stage: one sandbox account per CRM with LeadRelay installed through OAuth, the rules published,
Salesforce's Outbound Messages wired (the story itself: demo_story; who is sent: demo_script)."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from sqlalchemy import select

from integration.config import get_settings
from integration.db import session_scope
from integration.models import RuleSetVersion, Tenant, WebhookKey
from leadrelay.processes import local_http

DEMO_RULES = Path(__file__).resolve().parent.parent / "integration" / "rules" / "demo_rules.yaml"
OWNERS = [{"email": "avery.admin@example.com", "name": "Avery Admin", "timezone": "America/Los_Angeles"},
          {"email": "blake.rivera@example.com", "name": "Blake Rivera", "timezone": "America/New_York"},
          {"email": "casey.muller@example.com", "name": "Casey Müller", "timezone": "Europe/Berlin"},
          {"email": "drew.tanaka@example.com", "name": "Drew Tanaka", "timezone": "Asia/Tokyo"}]
LEAD_OBJECT = {"hubspot": ("contacts", "contact"), "salesforce": ("Lead", "lead"), "pipedrive": ("persons", "contact")}
FIRST = ["Ada", "Grace", "Alan", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger", "Radia",
         "Tim", "Katherine", "John", "Hedy", "Donald", "Sophie", "Niklaus", "Jean", "Guido"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen",
        "Dijkstra", "Perlman", "Berners-Lee", "Johnson", "Backus", "Lamarr", "Knuth", "Wilson", "Wirth", "Sammet",
        "Rossum"]
PLACES = [("US", "CA", "94105", "+1 415 555 {n:04d}"), ("US", "NY", "10001", "+1 212 555 {n:04d}"),
          ("US", "TX", "73301", "+1 512 555 {n:04d}"), ("DE", "", "10115", "+49 30 555{n:04d}"),
          ("GB", "", "EC1A 1BB", "+44 20 7946 {n:04d}"), ("JP", "", "100-0001", "+81 3 5555 {n:04d}"),
          ("FR", "", "75001", "+33 1 55 55 {n:04d}")]


def install_everywhere(web_url: str, sandbox_url: str, ca_file: str,
                       before_install: Callable[[dict], None] | None = None) -> dict[str, dict]:
    """Create a seeded sandbox account per CRM and install LeadRelay into it through the real OAuth flow;
    `before_install(account)` is what people did in the CRM before LeadRelay arrived."""
    return {platform: install_into(web_url, sandbox_url, ca_file, {
        "platform": platform, "name": f"Demo {platform.capitalize()}", "users": OWNERS, "seed": "demo"},
        before_install) for platform in LEAD_OBJECT}


def install_into(web_url: str, sandbox_url: str, ca_file: str, account_body: dict,
                 before_install: Callable[[dict], None] | None = None) -> dict:
    """A new sandbox account (`account_body` as the sandbox's control API takes it), LeadRelay installed into it
    through the real OAuth flow, as an admin's browser would; returns the sandbox's account."""
    platform = account_body["platform"]
    account = local_http().post(f"{sandbox_url}/_sandbox/accounts", json=account_body, timeout=30).json()
    if before_install is not None:
        before_install(account)
    browser = local_http(ca_file)  # keeps the web app's session cookie, like the admin's browser
    start = browser.get(f"{web_url}/install/{platform}", allow_redirects=False, timeout=10)
    param = "company_id" if platform == "pipedrive" else "account"
    approved = browser.get(f"{start.headers['Location']}&{param}={account['account_id']}",
                           allow_redirects=False, timeout=10)
    callback = urlsplit(approved.headers["Location"])
    done = browser.get(f"{web_url}{callback.path}?{callback.query}", allow_redirects=False, timeout=30)
    if done.status_code != 302 or "/onboarding" not in done.headers.get("Location", ""):
        raise RuntimeError(f"installing into the {platform} sandbox failed: {done.status_code} {done.text[:300]}")
    return account


def publish_demo_rules() -> None:
    """The demo rule set, published for every tenant that has none yet (as its admin would in the console)."""
    body = json.loads(json.dumps(yaml.safe_load(DEMO_RULES.read_text()), default=str))
    with session_scope(get_settings().database_url) as s:
        for tenant in s.scalars(select(Tenant)):
            if s.scalar(select(RuleSetVersion.id).where(RuleSetVersion.tenant_id == tenant.id)) is None:
                s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=body,
                                     created_by="demo"))
    from integration.outreach.replies import schedule_inbound

    with session_scope(get_settings().database_url) as s:
        tenant_ids = list(s.scalars(select(Tenant.id)))
    for tenant_id in tenant_ids:
        schedule_inbound(tenant_id)  # the rules have reply handoff rules: read the leads' replies from now on


def wait_until_ready(tenants: dict[str, int], timeout: float = 60) -> None:
    """Until the install's follow-up jobs are done for every tenant, as the onboarding page shows them: webhooks
    subscribed (a Pipedrive person created before that sends no webhook at all) and LeadRelay's fields made."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(get_settings().database_url) as s:
            waiting = [t.platform for t in s.scalars(select(Tenant).where(Tenant.id.in_(tenants.values())))
                       if not {"webhook_subscriptions", "leadrelay_fields"} <= set(t.settings or {})]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the install jobs of {', '.join(waiting)} did not finish (is the worker running?)")
        time.sleep(0.2)


def tenants_of(accounts: dict[str, dict]) -> dict[str, int]:
    """This run's tenant per CRM: the one installed into each sandbox account (a Pipedrive account id is
    "pd-<company id>", the company id being what LeadRelay keeps)."""
    with session_scope(get_settings().database_url) as s:
        rows = s.execute(select(Tenant.id, Tenant.platform, Tenant.external_id)).all()
    found = {platform: max((tid for tid, p, external in rows if p == platform
                            and account["account_id"] in (external, f"pd-{external}")), default=None)
             for platform, account in accounts.items()}
    missing = [p for p, tid in found.items() if tid is None]
    if missing:
        raise RuntimeError(f"no tenant for the {', '.join(missing)} sandbox account (did the install finish?)")
    return found  # type: ignore[return-value]


def wire_salesforce_outbound(sandbox_url: str, accounts: dict[str, dict], timeout: float = 30) -> None:
    """Salesforce admins configure Outbound Messages themselves; the demo does it with the URL LeadRelay shows."""
    from adapters.subscriptions import webhook_url
    from oauth.crypto import TokenCipher

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(get_settings().database_url) as s:
            row = s.execute(select(WebhookKey).join(Tenant, Tenant.id == WebhookKey.tenant_id)
                            .where(Tenant.platform == "salesforce")).scalar_one_or_none()
            if row is not None:
                secret = TokenCipher.from_settings().decrypt(row.secret_enc)
                url = webhook_url("salesforce", row.key, secret)
                break
        time.sleep(0.2)
    else:
        raise RuntimeError("the Salesforce webhook credentials were not created (is the worker running?)")
    # one Outbound Message per object, as an admin sets them up: leads and contacts to route and index, and
    # opportunities, whose stage moves their contact's lifecycle stage (integration/followup/lifecycle.py)
    local_http().post(f"{sandbox_url}/_sandbox/accounts/{accounts['salesforce']['account_id']}/simulate",
                      json={"action": "configure_outbound", "endpoint_url": url,
                            "objects": ["Lead", "Contact", "Opportunity"]}, timeout=10).raise_for_status()


def lead_properties(platform: str, first: str, last: str, email: str, phone: str, place: tuple,
                    company: str | None = None) -> dict:
    """A lead's create properties in the platform's own field names (Pipedrive persons: name, email, phone)."""
    country, state, postcode, _ = place
    company = company or f"{last} Labs"
    if platform == "hubspot":
        return {"firstname": first, "lastname": last, "email": email, "phone": phone, "country": country,
                "state": state, "zip": postcode, "company": company}
    if platform == "salesforce":
        return {"FirstName": first, "LastName": last, "Email": email, "Phone": phone, "Country": country,
                "State": state, "PostalCode": postcode, "Company": company, "LeadSource": "Web"}
    return {"name": f"{first} {last}", "emails": [{"value": email, "primary": True, "label": "work"}],
            "phones": [{"value": phone, "primary": True, "label": "work"}]}
