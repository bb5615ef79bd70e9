"""The demo's story: install into one sandbox account per CRM, publish the rules, send leads, report."""
from __future__ import annotations

import json
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from sqlalchemy import func, select

from integration.config import get_settings
from integration.db import session_scope
from integration.models import Decision, RuleSetVersion, Tenant, WebhookKey
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


def install_everywhere(web_url: str, sandbox_url: str, ca_file: str) -> dict[str, dict]:
    """Create a seeded sandbox account per CRM and install LeadRelay into it through the real OAuth flow."""
    return {platform: install_into(web_url, sandbox_url, ca_file, {
        "platform": platform, "name": f"Demo {platform.capitalize()}", "users": OWNERS, "seed": "demo"})
        for platform in LEAD_OBJECT}


def install_into(web_url: str, sandbox_url: str, ca_file: str, account_body: dict) -> dict:
    """A new sandbox account (`account_body` as the sandbox's control API takes it), LeadRelay installed into it
    through the real OAuth flow, as an admin's browser would; returns the sandbox's account."""
    platform = account_body["platform"]
    account = local_http().post(f"{sandbox_url}/_sandbox/accounts", json=account_body, timeout=30).json()
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
    body = json.loads(json.dumps(yaml.safe_load(DEMO_RULES.read_text()), default=str))
    with session_scope(get_settings().database_url) as s:
        for tenant in s.scalars(select(Tenant)):
            if s.scalar(select(RuleSetVersion.id).where(RuleSetVersion.tenant_id == tenant.id)) is None:
                s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=body,
                                     created_by="demo"))


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
                secret = TokenCipher.from_env(get_settings().var_dir).decrypt(row.secret_enc)
                url = webhook_url("salesforce", row.key, secret)
                break
        time.sleep(0.2)
    else:
        raise RuntimeError("the Salesforce webhook credentials were not created (is the worker running?)")
    local_http().post(f"{sandbox_url}/_sandbox/accounts/{accounts['salesforce']['account_id']}/simulate",
                 json={"action": "configure_outbound", "endpoint_url": url}, timeout=10).raise_for_status()


@dataclass
class SentLead:
    platform: str
    object_id: str
    sent_at: float
    duplicate: bool


@dataclass
class LeadRun:
    sent: list[SentLead] = field(default_factory=list)
    calls_before: int = 0


def lead_properties(platform: str, first: str, last: str, email: str, phone: str, place: tuple) -> dict:
    """A lead's create properties in the platform's own field names."""
    country, state, postcode, _ = place
    if platform == "hubspot":
        return {"firstname": first, "lastname": last, "email": email, "phone": phone, "country": country,
                "state": state, "zip": postcode, "company": f"{last} Labs"}
    if platform == "salesforce":
        return {"FirstName": first, "LastName": last, "Email": email, "Phone": phone, "Country": country,
                "State": state, "PostalCode": postcode, "Company": f"{last} Labs", "LeadSource": "Web"}
    return {"name": f"{first} {last}", "emails": [{"value": email, "primary": True, "label": "work"}],
            "phones": [{"value": phone, "primary": True, "label": "work"}]}


def send_leads(sandbox_url: str, accounts: dict[str, dict], count: int, seconds: float, seed: int = 11) -> LeadRun:
    """`count` new leads across the three CRMs over `seconds`, about one in seven the same person again."""
    rng, run, http = random.Random(seed), LeadRun(), local_http()  # noqa: S311 - demo data, not secrets
    run.calls_before = _calls(sandbox_url, accounts)
    people: list[tuple] = []
    platforms = list(LEAD_OBJECT)
    for i in range(count):
        platform = platforms[i % 3]
        duplicate = bool(people) and rng.random() < 0.15 and any(p[0] == platform for p in people)
        if duplicate:
            _, first, last, email, phone, place = rng.choice([p for p in people if p[0] == platform])
            email = email.replace("@", "+demo@") if platform == "hubspot" else email.upper()
        else:
            first, last, place = rng.choice(FIRST), rng.choice(LAST), rng.choice(PLACES)
            email = f"{first}.{last}.{i}@{last.lower().replace('-', '')}labs.example".lower()
            phone = place[3].format(n=1000 + i)
            people.append((platform, first, last, email, phone, place))
        created = http.post(f"{sandbox_url}/_sandbox/accounts/{accounts[platform]['account_id']}/simulate", json={
            "action": "create", "object_type": LEAD_OBJECT[platform][0],
            "properties": lead_properties(platform, first, last, email, phone, place)}, timeout=10).json()
        object_id = str(created.get("id") or created.get("Id") or created.get("data", {}).get("id"))
        run.sent.append(SentLead(platform, object_id, time.time(), duplicate))
        time.sleep(max(0.0, seconds / max(count, 1)))
    return run


def _calls(sandbox_url: str, accounts: dict[str, dict]) -> int:
    http = local_http()
    return sum(len(http.get(f"{sandbox_url}/_sandbox/accounts/{a['account_id']}/calls", timeout=10).json()["calls"])
               for a in accounts.values())


def decided(run: LeadRun) -> dict[tuple[str, str], Decision]:
    with session_scope(get_settings().database_url) as s:
        rows = s.execute(select(Decision, Tenant.platform).join(Tenant, Tenant.id == Decision.tenant_id)
                         .where(Decision.kind == "route")).all()
        found = {(platform, d.object_id): d for d, platform in rows if "merged_from" not in (d.inputs or {})}
        for d, platform in rows:  # a lead merged since: its decision moved to the merged record and names the old id
            if moved := (d.inputs or {}).get("merged_from"):
                found.setdefault((platform, moved), d)
        return found


def wait_for_decisions(run: LeadRun, timeout: float, progress) -> dict[tuple[str, str], Decision]:
    deadline = time.monotonic() + timeout
    while True:
        found = decided(run)
        done = sum((lead.platform, lead.object_id) in found for lead in run.sent)
        progress(done, len(run.sent))
        if done == len(run.sent) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def report(run: LeadRun, found: dict, sandbox_url: str, accounts: dict[str, dict]) -> dict:
    outcomes = {"owned": 0, "merged": 0, "review": 0, "undecided": 0}
    speeds = []
    for lead in run.sent:
        d = found.get((lead.platform, lead.object_id))
        if d is None:
            outcomes["undecided"] += 1
        elif d.outcome in ("merged", "review"):
            outcomes[d.outcome] += 1
        else:
            outcomes["owned"] += 1
            written = d.inputs.get("written_at")
            if written:
                from datetime import datetime

                speeds.append(datetime.fromisoformat(written).timestamp() - lead.sent_at)
    calls = _calls(sandbox_url, accounts) - run.calls_before
    ordered = sorted(speeds)
    return {"leads": len(run.sent), "duplicates_sent": sum(lead.duplicate for lead in run.sent), **outcomes,
            "speed_to_owner_ms": {"p50": round(statistics.median(ordered) * 1000) if ordered else None,
                                  "p95": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000) if ordered else None},
            "crm_calls_per_lead": round(calls / max(len(run.sent), 1), 2),
            "review_items": _count_reviews(), "sla": _sla_totals()}


def _sla_totals() -> dict:
    """SLA figures summed over the demo's tenants (tasks created, met/breached so far, escalations)."""
    from integration.sla_figures import sla_figures

    keys = ("tasks_created", "sla_met", "sla_met_late", "sla_breached", "sla_pending", "escalations",
            "cadence_steps_done")
    totals = dict.fromkeys(keys, 0)
    with session_scope(get_settings().database_url) as s:
        for tenant_id in s.scalars(select(Tenant.id)):
            figures = sla_figures(s, tenant_id)
            for key in keys:
                totals[key] += figures.get(key) or 0
    return totals


def _count_reviews() -> int:
    from integration.models import ReviewItem

    with session_scope(get_settings().database_url) as s:
        return s.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "open"))
