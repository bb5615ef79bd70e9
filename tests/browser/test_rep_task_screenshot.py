"""The rep's first-touch task as each CRM sandbox stores it, shown the way that CRM shows a task body (HubSpot and
Pipedrive as HTML, Salesforce's Description as plain text) and saved as a screenshot for review (issue 13)."""
from __future__ import annotations

import html

import pytest

from tests.browser.conftest import shot
from tests.e2e.test_rep_task import DUE, HTML_BODIES, two_leads  # noqa: F401 - `two_leads` is a fixture

CRM = {"hubspot": "HubSpot", "salesforce": "Salesforce", "pipedrive": "Pipedrive"}
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
  body {{ font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; background: #f5f8fa;
         color: #33475b; margin: 24px; }}
  .panel {{ background: #fff; border: 1px solid #cbd6e2; border-radius: 4px; max-width: 760px; padding: 16px 20px; }}
  .crm {{ color: #7c98b6; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }}
  h1 {{ font-size: 18px; margin: 4px 0 12px; }}
  .body {{ border-top: 1px solid #eaf0f6; padding-top: 12px; }}
  .plain {{ white-space: pre-wrap; }}
  a {{ color: #0091ae; }}
</style></head><body><div class="panel">
  <div class="crm">{crm} · task as the sandbox stores it</div>
  <h1>{subject}</h1>
  <div class="body{plain}">{body}</div>
</div></body></html>"""


@pytest.mark.parametrize("platform", ["hubspot", "salesforce", "pipedrive"])
def test_screenshot_of_the_reps_task_as_the_crm_stores_it(chromium, two_leads, platform):  # noqa: F811
    run = two_leads(platform)
    task = run["tasks"][1]  # the second Sven Larsson: the task also names the duplicate
    body = task["body"] if platform in HTML_BODIES else html.escape(task["body"])
    context = chromium.new_context(viewport={"width": 900, "height": 700})
    try:
        page = context.new_page()
        page.set_content(PAGE.format(crm=CRM[platform], subject=html.escape(task["subject"]), body=body,
                                     plain="" if platform in HTML_BODIES else " plain"))
        text = page.inner_text(".body")
        assert text.splitlines()[0].startswith(f"Email Sven Larsson by {DUE}")
        assert "You got this lead because it comes from Sweden" in text and "Possible duplicate" in text
        if platform in HTML_BODIES:  # shown as HTML: separate lines and a link to click
            assert page.locator(".body a").first.get_attribute("href") == task["text"].split("Open the lead: ")[
                1].split("\n")[0]
        path = shot(page, f"rep-task-{platform}", docs="rep-task-hubspot" if platform == "hubspot" else None)
    finally:
        context.close()
    assert path.stat().st_size > 10_000
