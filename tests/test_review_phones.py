"""The review queue names both records and shows one phone (or email) typed two ways as one value; a merge is
confirmed on a page that says what will happen. Flask test client, a FakeCRMAdapter as the CRM."""
from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest

from integration.db import session_scope
from integration.models import Decision, MergeSnapshot, ReviewItem, RuleSetVersion, Tenant
from integration.records import CRMUser, Record
from marketplace.review_pair import side_by_side
from tests.test_console_pages import DAY1, add, login
from tests.test_console_pages import world as pages_world  # noqa: F401 (a fixture)

RULES = {"version": 1, "owners": [{"email": "alice@acme.test", "name": "Alice Adams", "country": "US"}]}


@pytest.fixture()
def world(pages_world, env):  # noqa: F811
    """Tenant T on HubSpot (portal 77) whose owners work in the US; Alice owns the older Ada."""
    with session_scope(env["DATABASE_URL"]) as s:
        s.get(Tenant, pages_world["T"]).api_base = "https://api.hubapi.com"
        s.add(RuleSetVersion(tenant_id=pages_world["T"], version=1, status="published", body=RULES))
    fake = pages_world["fake"]
    fake.users = [CRMUser(id="60000002", email="alice@acme.test", name="Alice Adams")]
    fake.put("contact", "105", updated_at=DAY1, first_name="Ada", last_name="Lovelace", company="Acme",
             email="ada@acme.test", phone="+1 415-555-0101", city="", owner_id="60000002")  # as a CRM reads it
    fake.put("contact", "106", updated_at=DAY1 + dt.timedelta(days=2), first_name="Ada", last_name="Lovelace",
             company="ACME Inc.", email=" Ada@ACME.test ", phone="(415) 555 0101", city="San Francisco")
    [item] = add(env, ReviewItem(tenant_id=pages_world["T"], kind="dedup", object_type="contact", object_id="106",
                                 other_object_id="105", reason="Possible duplicate of 105 (score 0.84)",
                                 payload={"score": 0.84, "reasons": ["same name", "same phone"]}))
    return {**pages_world, "item": item}


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_a_phone_typed_two_ways_in_the_tenants_country_is_one_value_shown_once():
    new = Record("contact", "n", {"first_name": "Ada", "phone": "(415) 555 0101", "email": " Ada@ACME.test "})
    old = Record("contact", "o", {"first_name": "Ada", "phone": "+1 415-555-0101", "email": "ada@acme.test"})
    found = {row.label: row for row in side_by_side(new, old, region="US").rows}
    assert (found["Phone"].new, found["Phone"].other, found["Phone"].differs) == (
        "+1 415-555-0101", "+1 415-555-0101", False)
    assert found["Phone"].verdict == "same"
    assert (found["Email"].new, found["Email"].other, found["Email"].differs) == (
        "ada@acme.test", "ada@acme.test", False)
    # without a region the national number cannot be formatted: it shows as typed
    alone = {row.label: row for row in side_by_side(new, old).rows}
    assert (alone["Phone"].new, alone["Phone"].other) == ("(415) 555 0101", "+1 415-555-0101")


def test_the_pair_is_named_by_its_people_with_crm_links_and_plain_verdicts(app, env, world):
    page = login(app, world, "alice").get(f"/console/tenants/{world['T']}/review").get_data(as_text=True)
    start = page.index(">", page.index(f'id="item-{world["item"]}"')) + 1
    item = page[start:page.index('<section class="card" aria-labelledby="merges-title"')]
    heading = text(re.search(r"<h2[^>]*>(.*?)</h2>", item, re.S).group(1))
    assert heading == "Possible duplicate Ada Lovelace · ACME Inc. vs Ada Lovelace · Acme"
    assert 'href="https://app.hubspot.com/contacts/77/record/0-1/106" target="_blank" rel="noopener"' in item
    assert 'href="https://app.hubspot.com/contacts/77/record/0-1/105" target="_blank" rel="noopener"' in item
    assert "105" not in text(item)  # the reason ("Possible duplicate of 105") is the heading's, not repeated
    rows = {label: text(body) for label, body in re.findall(r'data-field="([^"]+)">(.*?)</tr>', item, re.S)}
    assert rows["Phone"].startswith("Phone +1 415-555-0101 +1 415-555-0101 Same")
    assert rows["Email"].startswith("Email ada@acme.test ada@acme.test Same")
    assert rows["Owner"].startswith("Owner Alice Adams <alice@acme.test>")
    assert re.search(r'<tr class="same" data-field="Phone">', item)
    # Acme and ACME Inc. are one company to the matcher: its "Same" is not highlighted as a difference
    assert rows["Company"].startswith("Company ACME Inc. Acme Same")
    assert '<tr class="same" data-field="Company">' in item
    for raw in ("contact 106", "contact 105", "60000002", "owner_id", "dedup"):
        assert raw not in text(item), raw


def test_merge_is_confirmed_on_a_page_that_says_what_happens(app, env, world):
    alice = login(app, world, "alice")
    review = alice.get(f"/console/tenants/{world['T']}/review").get_data(as_text=True)
    confirm_url = f"/console/tenants/{world['T']}/review/merge?item_id={world['item']}"
    assert f'href="{confirm_url.replace("?", "?")}"' in review.replace("&amp;", "&")
    page = alice.get(confirm_url).get_data(as_text=True)
    shown = text(page)
    # the same name twice tells the two apart by company
    assert "Merge Ada Lovelace · Acme (kept, owner Alice Adams) and Ada Lovelace · ACME Inc. (removed)." in shown
    takes = dict(re.findall(r'<tr><th scope="row">([^<]+)</th><td>([^<]*)</td></tr>', page))
    assert takes == {"City": "San Francisco"}  # the kept (older) record has no city of its own
    assert "company “ACME Inc.” is not copied: the kept record has its own" in shown
    assert "undo this afterwards with Undo in the Merges list" in shown
    assert world["fake"].calls["merge"] == 0  # the confirmation merges nothing
    form = re.search(r'<form method="post" action="([^"]+/review/merge)".*?</form>', page, re.S)
    assert form.group(1) == f"/console/tenants/{world['T']}/review/merge"
    assert f'name="item_id" value="{world["item"]}"' in form.group(0) and 'class="btn danger"' in form.group(0)
    assert "Cancel" in form.group(0)
    done = alice.post(form.group(1), data={"item_id": world["item"]}, follow_redirects=True).get_data(as_text=True)
    assert "Merged Ada Lovelace · ACME Inc. (removed) into Ada Lovelace · Acme (kept)." in unescape(done)
    assert world["fake"].calls["merge"] == 1
    merges = done[done.index('aria-labelledby="merges-title"'):]
    assert "Ada Lovelace" in text(merges)
    assert "Undo the merge of Ada Lovelace · ACME Inc. into Ada Lovelace · Acme" in unescape(merges)
    again = alice.get(confirm_url).get_data(as_text=True)
    assert "This possible duplicate is already resolved" in again and "review/merge\"" not in again.replace("'", '"')
    assert world["fake"].calls["merge"] == 1


def test_a_viewer_reads_what_a_merge_would_do_but_has_no_button(app, env, world):
    viewer = login(app, world, "victor")
    page = viewer.get(f"/console/tenants/{world['T']}/review/merge?item_id={world['item']}").get_data(as_text=True)
    assert "Merge Ada Lovelace · Acme (kept, owner Alice Adams)" in text(page)
    assert "Only an admin of Tenant T can merge records." in text(page) and 'method="post" action="/console' not in page
    review = viewer.get(f"/console/tenants/{world['T']}/review").get_data(as_text=True)
    assert "Merge…" not in review  # the queue offers a viewer no merge at all


def test_an_empty_queue_says_what_appears_here(app, env, world):
    with session_scope(env["DATABASE_URL"]) as s:
        s.get(ReviewItem, world["item"]).status = "resolved"
    page = text(login(app, world, "victor").get(f"/console/tenants/{world['T']}/review").get_data(as_text=True))
    assert "Nothing to review. Unsure duplicates and leads nobody could take appear here." in page
    assert "No merges yet." in page


def test_a_merge_listed_names_both_records(app, env, world):
    add(env, MergeSnapshot(tenant_id=world["T"], object_type="contact", survivor_id="300", loser_id="301", score=0.97,
                           status="merged", survivor_before={"id": "300", "first_name": "Kim", "last_name": "Park"},
                           loser_before={"id": "301", "first_name": "Kim", "last_name": "Park",
                                         "email": "kim.p@acme.test"}, merged_fields={}))
    page = login(app, world, "alice").get(f"/console/tenants/{world['T']}/review").get_data(as_text=True)
    row = re.search(r'<tr class="merge".*?</tr>', page, re.S).group(0)
    assert "Kim Park" in text(row) and "kim.p@acme.test" in text(row) and "Merged" in text(row)
    assert "/record/0-1/301" in row and "/record/0-1/300" in row


def test_an_unusable_lead_is_named_from_its_audit_when_the_crm_has_it_no_more(app, env, world):
    """The CRM no longer returns the record: the route decision's fields name the person; the reason reads as a
    sentence under the "Unusable lead" heading, not "unusable lead: unusable lead: …"."""
    t = world["T"]
    add(env, Decision(tenant_id=t, idempotency_key="route:contact:900", kind="route", object_type="contact",
                      object_id="900", outcome="review", reason="Unusable lead: no way to contact (no valid email or "
                      "phone)", inputs={"fields": {"first_name": "Ann", "last_name": "Lee", "company": "Leeway"}}),
        ReviewItem(tenant_id=t, kind="validation", object_type="contact", object_id="900",
                   reason="unusable lead: no way to contact (no valid email or phone)"))
    page = login(app, world, "alice").get(f"/console/tenants/{t}/review").get_data(as_text=True)
    item = text(page[page.index('data-kind="validation"'):page.index('aria-labelledby="merges-title"')])
    assert "Unusable lead Ann Lee · Leeway" in item
    assert "No way to contact (no valid email or phone)" in item and "unusable lead:" not in item.lower()
    assert "Give this lead to" in item
