"""Issue 17's "Done when": every console page a tenant admin or an agency admin can reach, at desktop and phone
width, is accessible (axe-core: nothing critical or serious), fits a phone without sideways scroll, speaks in
words (no raw snake_case keys, no `leadrelay_` names, no record named only by its id), and every chart has axes.

The console is spidered from the home pages, with data behind it: a HubSpot account installed through the sandbox
with a published rule set and real leads routed by the intake worker over several days, a duplicate pair in
review, a second account, and an agency managing both. Every finding of every page is collected and the test
fails once with the whole list, so one run shows everything.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import yaml
from sqlalchemy import select

from integration.db import session_scope
from integration.intake.events import enqueue_drain, record_events
from integration.models import (
    Agency,
    AgencyTemplate,
    ConsoleUser,
    Decision,
    Membership,
    ReviewItem,
    RuleSetVersion,
    Tenant,
)
from integration.records import Event
from tests.browser.conftest import shot, sign_in_as
from tests.browser.test_journeys import contact, install_hubspot, work
from tests.e2e.test_pipeline_flow import RULES

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WIDTHS = ((1440, 900), (390, 844))
MAX_PAGES = 40  # per role: ~80 pages in all
SKIP = re.compile(r"^/(logout|login|install|oauth)\b|/logout\b|\.csv$|/export\b|/download\b")
# Text that has an underscore and is not a key, each with its reason. Empty: nothing so far needed one.
ALLOWED_SNAKE: dict[str, str] = {}
SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")
BARE_ID = re.compile(r"\b(contact|lead|person|deal|company)s? #?\d{2,}\b", re.I)
PEOPLE = [("Grace", "Hopper", "Germany", "Navy"), ("Alan", "Turing", "United Kingdom", "Bletchley Park"),
          ("Ada", "Lovelace", "United Kingdom", "Analytical Engines"), ("Linus", "Pauling", "United States", "Caltech"),
          ("Hedy", "Lamarr", "Austria", "MGM"), ("Katherine", "Johnson", "United States", "NASA"),
          ("Tim", "Berners-Lee", "Switzerland", "CERN"), ("Marie", "Curie", "France", "Sorbonne")]

# The visible text of the page (what a reader sees, not pre/code/textarea, not hidden elements), per text node.
VISIBLE_TEXT = """() => {
  const skip = new Set(['PRE', 'CODE', 'TEXTAREA', 'SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE']);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const out = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    if (!text) continue;
    let el = node.parentElement, hidden = false;
    for (let up = el; up; up = up.parentElement) { if (skip.has(up.tagName)) { hidden = true; break; } }
    if (hidden) continue;
    const shown = el.tagName === 'OPTION' || (el.checkVisibility ? el.checkVisibility({visibilityProperty: true})
                                                                   : el.offsetParent !== null);
    if (shown) out.push(text);
  }
  return out.join('\\n');
}"""
# The elements sticking out past the right edge: what to fix when a page scrolls sideways.
TOO_WIDE = """() => {
  const width = window.innerWidth, found = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && box.width > 0) {
      let inside = false;  // inside a box that scrolls itself (a table wrap): not the page's problem
      for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
        const o = getComputedStyle(up).overflowX;
        if ((o === 'auto' || o === 'scroll' || o === 'hidden') && up.getBoundingClientRect().right <= width + 1) {
          inside = true; break;
        }
      }
      if (!inside) found.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
        (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '') +
        ' (right edge ' + Math.round(box.right) + 'px)');
    }
  }
  return found.slice(0, 4);
}"""
CHARTS_WITHOUT_AXES = """() => [...document.querySelectorAll('svg[role=img]')]
  .filter(svg => svg.querySelectorAll('.axis text').length < 2)
  .map(svg => svg.getAttribute('aria-label') || svg.querySelector('title')?.textContent || 'an unnamed chart')"""
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.filter(v => v.impact === 'critical' || v.impact === 'serious')
    .map(v => ({id: v.id, impact: v.impact, targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
}"""


def seed(crm_sandbox, crm_env, page, live) -> dict:
    """Two installed accounts, a published rule set and a draft, routed leads over ten days, a duplicate pair in
    review, and an agency (with its admin) managing both accounts."""
    tenant_id, account = install_hubspot(page, crm_sandbox, "Crawl Client")
    other = page.context.browser.new_context(ignore_https_errors=True, base_url=live[1])
    second_id, _ = install_hubspot(other.new_page(), crm_sandbox, "Crawl Second")
    other.close()
    now = dt.datetime.now(dt.UTC)
    draft = {**RULES, "routing": [{**RULES["routing"][0], "when": {"country": ["DE", "AT"]}}, RULES["routing"][1]]}
    with session_scope(crm_env["DATABASE_URL"]) as s:
        s.add_all([RuleSetVersion(tenant_id=tenant_id, version=1, status="published", body=RULES,
                                  created_by="crawl@leadrelay.test", published_at=now),
                   RuleSetVersion(tenant_id=tenant_id, version=2, status="draft", body=yaml.safe_load(
                       yaml.safe_dump(draft)), created_by="crawl@leadrelay.test")])
    ids = [contact(crm_sandbox, account, firstname=first, lastname=last, country=country, company=company,
                   email=f"{first.lower()}@{company.split()[0].lower()}.example") for first, last, country, company
           in PEOPLE]
    with session_scope(crm_env["DATABASE_URL"]) as s:
        record_events(s, tenant_id, [Event(platform="hubspot", account_id="", object_type="contact", object_id=i,
                                           kind="created", occurred_at=now, event_id=f"crawl-{i}") for i in ids])
    enqueue_drain(tenant_id)
    work(crm_env, "intake")
    twins = [contact(crm_sandbox, account, firstname="Jon", lastname="Smith", email=f"jon@smith{n}.example",
                     company="Smith & Co") for n in (1, 2)]
    with session_scope(crm_env["DATABASE_URL"]) as s:
        routed = s.scalars(select(Decision).where(Decision.tenant_id == tenant_id, Decision.kind == "route")
                           .order_by(Decision.id)).all()
        assert len(routed) >= 3, "the seeded leads were not routed"
        for n, decision in enumerate(routed):  # spread over ten days, so the charts have days to draw
            decision.created_at = now - dt.timedelta(days=(n * 3) % 10, hours=n)
        s.add(ReviewItem(tenant_id=tenant_id, kind="dedup", object_type="contact", object_id=twins[1],
                         other_object_id=twins[0], reason="Possible duplicate: same name, same company",
                         payload={"score": 0.82, "reasons": ["same name", "same company"]}))
        agency = Agency(name="Relay Partners")
        s.add(agency)
        s.flush()
        for tid, grant in ((tenant_id, "admin"), (second_id, "viewer")):
            tenant = s.get(Tenant, tid)
            tenant.agency_id, tenant.agency_grant = agency.id, grant
        boss = ConsoleUser(platform="hubspot", external_user_id="agnes@relay-partners.example",
                           email="agnes@relay-partners.example", name="Agnes Partner", agency_id=agency.id,
                           agency_role="admin")
        s.add(boss)
        s.add(AgencyTemplate(agency_id=agency.id, name="Starter routing", body=RULES, created_by=boss.email))
        s.flush()
        installer = s.scalar(select(Membership.user_id).where(Membership.tenant_id == tenant_id,
                                                              Membership.role == "admin"))
        s.add(Membership(tenant_id=second_id, user_id=installer, role="viewer"))  # so the switcher has a choice
        return {"tenant_id": tenant_id, "second_id": second_id, "agency_admin": boss}


def pattern(url: str) -> str:
    """Pages that are the same template: ids become N and a query keeps its names, not its values."""
    parts = urlsplit(url)
    keys = sorted({k for k, _ in parse_qsl(parts.query)})
    return re.sub(r"/\d+", "/N", parts.path) + ("?" + "&".join(keys) if keys else "")


def links(page, origin: str) -> list[str]:
    hrefs = page.eval_on_selector_all(
        "a[href]:not([download]):not([target=_blank])", "els => els.map(e => e.href)")
    out = []
    for href in hrefs:
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != origin or not parts.path.startswith("/console"):
            continue
        if SKIP.search(parts.path):
            continue
        out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


def slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower().removeprefix("/console")).strip("-") or "home"


def check(page, role: str, path: str, origin: str, findings: list[str]) -> list[str]:
    """Every check at both widths, each finding a line naming the page, the width and what is wrong; the page's
    console links (read at desktop width)."""
    found: list[str] = []
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        resp = page.goto(path)
        where = f"[{role} {path} @{width}]"
        if resp is None or resp.status >= 400:
            findings.append(f"{where} HTTP {resp.status if resp else 'no response'}")
            continue
        page.add_script_tag(path=str(AXE))
        for v in page.evaluate(AXE_RUN):
            findings.append(f"{where} axe {v['impact']} {v['id']}: {'; '.join(v['targets'])}")
        if width < 500:
            scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if scroll > inner:
                findings.append(f"{where} scrolls sideways ({scroll}px > {inner}px): "
                                f"{', '.join(page.evaluate(TOO_WIDE)) or 'no single element found'}")
        text = page.evaluate(VISIBLE_TEXT)
        keys = sorted({k for k in SNAKE.findall(text) if k not in ALLOWED_SNAKE})
        if keys:
            findings.append(f"{where} raw keys in visible text: {', '.join(keys[:8])}")
        if "leadrelay_" in text.lower():
            findings.append(f"{where} a leadrelay_ name in visible text")
        bare = sorted({m.group(0) for m in BARE_ID.finditer(text)})
        if bare:
            findings.append(f"{where} records named only by id: {', '.join(bare[:5])}")
        for chart in page.evaluate(CHARTS_WITHOUT_AXES):
            findings.append(f"{where} chart without axis labels: {chart}")
        shot(page, f"crawl-{role}-{slug(path)}-{width}")
        if width == WIDTHS[0][0]:
            found = links(page, origin)
    return found


def crawl(page, role: str, start: list[str], origin: str, findings: list[str]) -> list[str]:
    """Breadth-first over the console's GET links from `start`; each page pattern once, at most MAX_PAGES."""
    queue, seen, visited = list(start), {pattern(p) for p in start}, []
    while queue and len(visited) < MAX_PAGES:
        path = queue.pop(0)
        visited.append(path)
        for link in check(page, role, path, origin, findings):
            if pattern(link) not in seen:
                seen.add(pattern(link))
                queue.append(link)
    return visited


# every page an admin works in, reached by following links from the home page (a page nobody links to is a finding)
MUST_REACH = [r"^/console/$", r"^/console/tenants/\d+$", r"/onboarding$", r"/rules$", r"/rules/builder$",
              r"/rules/diff\?version=", r"/rules/\d+/publish", r"/simulate$", r"/simulate\?version=", r"/review$",
              r"/review/merge\?", r"/audit$", r"/outbox$", r"/rules/templates$", r"/kpis$", r"/health$", r"/settings$",
              r"/disconnect$", r"^/console/me$"]
AGENCY_PAGES = [r"^/console/agency$", r"^/console/agency/templates$", r"/agency/templates/view\?"]


def test_every_console_page_is_accessible_fits_a_phone_and_speaks_in_words(page, live, crm_sandbox, crm_env):
    world = seed(crm_sandbox, crm_env, page, live)
    origin = live[1]
    findings: list[str] = []
    # the header on an account page: its name and CRM, the tab in view, and the other account on the same tab
    page.goto(f"/console/tenants/{world['tenant_id']}/kpis")
    assert page.inner_text(".tenant-bar .tenant-name") == "crawl-client.example.com"
    assert page.get_attribute('nav[aria-label="Account"] a[aria-current="page"]', "href").endswith("/kpis")
    assert page.get_attribute(".switcher a", "href") == f"/console/tenants/{world['second_id']}/kpis"
    # a destructive action asks on a page that says what will happen; Cancel leaves everything as it was
    page.goto(f"/console/tenants/{world['tenant_id']}/settings")
    page.click("a:has-text('Disconnect crawl-client')")
    erased = page.inner_text("[data-erased]")
    assert "events" in erased and "cannot be stopped" in page.inner_text("main")
    page.locator("main").get_by_role("link", name="Cancel").click()
    assert page.url.endswith(f"/tenants/{world['tenant_id']}/settings#danger")
    with session_scope(crm_env["DATABASE_URL"]) as s:
        assert s.get(Tenant, world["tenant_id"]).status == "active"
    visited = {"tenant-admin": crawl(page, "tenant-admin", ["/console/", f"/console/tenants/{world['tenant_id']}"],
                                     origin, findings)}
    agency = page.context.browser.new_context(ignore_https_errors=True, base_url=origin)
    agency_page = agency.new_page()
    agency_page.set_default_timeout(15_000)
    sign_in_as(agency_page, live, world["agency_admin"])
    visited["agency-admin"] = crawl(agency_page, "agency-admin", ["/console/", "/console/agency"], origin, findings)
    agency.close()
    visitor = page.context.browser.new_context(ignore_https_errors=True, base_url=origin)  # signed out
    check(visitor.new_page(), "visitor", "/login", origin, findings)
    visitor.close()

    # the crawl reached the pages it is meant to judge, not only a sign-in page
    every_page = {"tenant-admin": MUST_REACH, "agency-admin": MUST_REACH + AGENCY_PAGES}
    for role, wanted in every_page.items():
        missed = [w for w in wanted if not any(re.search(w, p) for p in visited[role])]
        assert not missed, f"the {role} crawl never reached {missed}: {visited[role]}"
    pages = "\n".join(f"{role}: {len(paths)} pages: {', '.join(paths)}" for role, paths in visited.items())
    assert not findings, f"{len(findings)} findings on the console\n" + "\n".join(findings) + "\n\n" + pages
