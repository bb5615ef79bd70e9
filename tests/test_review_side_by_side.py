"""The review queue compares normalised values and says, field by field, why a pair scored as it did.

`side_by_side` on neutral records, then the page itself through the Flask test client (FakeCRMAdapter as the CRM).
"""
from __future__ import annotations

import datetime as dt
import re
from html import unescape

from integration.models import ReviewItem
from integration.records import CRMUser, Record
from marketplace.review_pair import Row, side_by_side
from tests import test_console_pages as pages
from tests.test_console_pages import add, login

world = pages.world  # tenant T, alice its admin, a FakeCRMAdapter as its CRM

NORA = {"first_name": "Nora", "last_name": "Quill", "phone": "+61 407 112 233", "street": "14 Banksia Street",
        "city": "Glenroy", "postcode": "3046", "country": "AU"}


def rows(new: dict, other: dict, **owners: str) -> dict[str, Row]:
    pair = side_by_side(Record("contact", "n1", dict(new)), Record("contact", "o1", dict(other)), owners.get)
    return {row.label: row for row in pair.rows}


def test_one_phone_in_two_formats_is_the_same_phone_shown_once():
    phone = rows(NORA, {**NORA, "phone": "0407112233"})["Phone"]
    assert phone == Row("Phone", "+61 407 112 233", "+61 407 112 233", differs=False, verdict="same", detail="",
                        effect=phone.effect)
    assert phone.effect > 0


def test_email_case_and_postcode_format_are_no_difference_and_one_email_shows_once():
    us = {"first_name": "Ann", "last_name": "Lee", "country": "US"}
    found = rows({**us, "email": "Ann.Lee@Acme.com", "postcode": "02130-1234"},
                 {**us, "email": "ann.lee@acme.com", "postcode": "02130"})
    assert (found["Email"].new, found["Email"].other, found["Email"].differs) == (
        "ann.lee@acme.com", "ann.lee@acme.com", False)
    assert (found["Postcode"].differs, found["Postcode"].verdict) == (False, "same")


def test_a_real_difference_is_one_and_says_it_lowered_the_score():
    found = rows(NORA, {**NORA, "first_name": "Mark", "phone": "0407 999 000"})
    assert (found["First name"].differs, found["First name"].verdict) == (True, "different")
    assert found["First name"].effect < 0 and found["Phone"].verdict == "different"
    assert (found["Last name"].differs, found["Last name"].verdict) == (False, "same")


def test_a_nickname_is_similar_and_a_missing_value_counts_neither_way():
    found = rows({**NORA, "first_name": "Bob", "email": "bob@quill.net"}, {**NORA, "first_name": "Robert"})
    assert (found["First name"].verdict, found["First name"].detail) == ("similar", "a nickname of the other")
    assert (found["Email"].verdict, found["Email"].effect, found["Email"].other) == ("missing", 0.0, "")


def test_fields_the_matcher_ignores_have_no_verdict_and_owners_are_named():
    pair = side_by_side(Record("contact", "n1", {**NORA, "title": "CTO"}, owner_id="u1"),
                        Record("contact", "o1", {**NORA, "title": "cto"}, owner_id="u9"),
                        {"u1": "Rep One <rep1@acme.com>"}.get)
    found = {row.label: row for row in pair.rows}
    assert found["Job title"] == Row("Job title", "CTO", "cto", differs=False)
    assert (found["Owner"].new, found["Owner"].other, found["Owner"].verdict) == ("Rep One <rep1@acme.com>", "u9", "")
    assert pair.score_now is not None and pair.score_now >= 0.92


def test_a_record_gone_from_the_crm_shows_the_other_without_verdicts():
    pair = side_by_side(Record("contact", "n1", dict(NORA)), None)
    assert pair.score_now is None
    assert {row.verdict for row in pair.rows} == {""} and {row.other for row in pair.rows} == {""}


def table_rows(page: str) -> dict[str, list[str]]:
    """The review table's rows by field label: the cells' text, and the row's class first."""
    found = {}
    for cls, label, body in re.findall(r'<tr class="(\w+)" data-field="([^"]+)">(.*?)</tr>', page, re.S):
        cells = [unescape(re.sub(r"<[^>]+>", "", c)).strip()
                 for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", body, re.S)]
        found[label] = [cls, *cells]
    return found


def test_the_page_shows_values_as_typed_verdicts_and_effects_by_field_name(app, env, world):
    fake = world["fake"]
    fake.users = [CRMUser(id="u1", email="rep@acme.com", name="Rita Rep")]
    fake.put("contact", "o1", updated_at=dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC), **{**NORA, "phone": "0407112233",
             "first_name": "nora", "postcode": "2112"}, owner_id="u1")
    fake.put("contact", "n1", updated_at=dt.datetime(2024, 3, 2, 9, 0, tzinfo=dt.UTC), **NORA)
    add(env, ReviewItem(tenant_id=world["T"], kind="dedup", object_type="contact", object_id="n1",
                        other_object_id="o1", reason="Possible duplicate of o1 (score 0.85)",
                        payload={"score": 0.85, "reasons": ["same first name", "same phone"]}))
    page = login(app, world, "alice").get(f"/console/tenants/{world['T']}/review").get_data(as_text=True)
    table = table_rows(page)
    assert table["Phone"][:5] == ["same", "Phone", "+61 407 112 233", "+61 407 112 233", "Same"]
    assert table["First name"][:5] == ["same", "First name", "Nora", "nora", "Same"]
    assert table["Postcode"][:5] == ["differs", "Postcode", "3046", "2112", "Different"]
    assert table["Postcode"][5].startswith("lowers it by 0.")
    assert table["Phone"][5].startswith("raises it by 0.")
    assert table["Owner"][1:4] == ["Owner", "", "Rita Rep <rep@acme.com>"]
    assert table["Country"][4:] == ["not compared", ""]
    assert "first_name" not in page and "owner_id" not in page and "leadrelay_duplicate_of" not in page


def test_times_that_show_alike_are_no_difference():
    created = dt.datetime(2024, 3, 1, 9, 0, 12, tzinfo=dt.UTC)
    pair = side_by_side(Record("contact", "n1", dict(NORA), created_at=created),
                        Record("contact", "o1", dict(NORA), created_at=created + dt.timedelta(seconds=30)))
    assert next(r for r in pair.rows if r.label == "Created") == Row("Created", "2024-03-01 09:00", "2024-03-01 09:00",
                                                                     differs=False)
