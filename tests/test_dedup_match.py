"""The matcher: hard negatives stay apart, real duplicates match, clusters never chain, survivorship keeps values."""
from __future__ import annotations

import pytest

from integration.dedup import DedupConfigError, classify, find_duplicates, parse_dedup_section, score_pair, survivor

OFFICE = {"company": "Acme Corp", "street": "7182 Lake Rd", "city": "Boston", "postcode": "02130", "state": "MA",
          "country": "US"}


def lead(**fields) -> dict:
    return {**OFFICE, **fields}


def decision(a: dict, b: dict) -> str:
    return classify(score_pair(a, b).score, 0.92, 0.70)


def test_colleagues_on_a_switchboard_stay_apart():
    a = lead(first_name="Arthur", last_name="White", email="arthurw@acme.co", phone="(823) 512-3616")
    b = lead(first_name="Ronald", last_name="Edwards", email="redwards@acme.co", phone="823.512.3616")
    result = score_pair(a, b)
    assert decision(a, b) == "distinct"
    assert "different mailboxes at the same company domain" in result.reasons


def test_family_on_a_household_phone_stays_apart():
    home = {"street": "5549 Elm St", "city": "San Francisco", "postcode": "94133", "country": "US"}
    a = dict(home, first_name="Benjamin", last_name="Barnes", email="benjamin.barnes@gmail.com", phone="660.922.8617")
    b = dict(home, first_name="Judith", last_name="Barnes", email="judith.barnes@yahoo.com", phone="+16609228617")
    assert decision(a, b) == "distinct"
    assert "different first names (benjamin/judith)" in score_pair(a, b).reasons


def test_real_names_one_letter_apart_are_two_people():
    a = lead(first_name="Mark", last_name="Lee", email="", phone="660.922.8617", company="")
    b = lead(first_name="Mary", last_name="Lee", email="", phone="+16609228617", company="")
    assert decision(a, b) == "distinct"


def test_family_sharing_one_mailbox_is_never_merged():
    a = lead(first_name="Jerry", last_name="Murray", email="jmurray@outlook.com", company="")
    b = lead(first_name="Jennifer", last_name="Murray", email="jmurray@outlook.com", company="")
    assert decision(a, b) == "distinct"


def test_same_name_at_another_company_and_city_stays_apart():
    a = lead(first_name="Michelle", last_name="White", email="michelle_white@proseware.com", phone="+19125725930",
             company="Proseware Labs", street="1070 Cedar Ln", city="Austin", postcode="78730")
    b = lead(first_name="Michelle", last_name="White", email="michelle.white@harbor.com", phone="866-601-9098",
             company="Harbor Group", street="3453 Market St", city="Dallas", postcode="75207")
    assert decision(a, b) == "distinct"


def test_a_shared_role_mailbox_is_no_evidence():
    a = lead(first_name="Ann", last_name="Cole", email="info@acme.co")
    b = lead(first_name="Tom", last_name="Hart", email="Info@Acme.co")
    result = score_pair(a, b)
    assert decision(a, b) == "distinct"
    assert result.reasons[-1] == "shared role mailbox ignored (info@acme.co)"


def test_an_initial_on_a_household_phone_is_only_a_review():
    a = lead(first_name="J.", last_name="Smith", phone="660.922.8617", company="")
    b = lead(first_name="Jane", last_name="Smith", phone="+16609228617", company="")
    assert score_pair(a, b).score == 0.8


def test_nickname_gmail_dots_plus_address_and_company_suffix_match():
    a = lead(first_name="Bob", last_name="Hunt", email="robert.hunt@gmail.com", phone="348-869-2632")
    b = lead(first_name="Robert", last_name="Hunt", email="roberthunt+crm@googlemail.com", phone="(348) 869 2632",
             company="ACME, Inc.")
    result = score_pair(a, b)
    assert decision(a, b) == "merge"
    assert result.reasons[:3] == ["first names are nickname forms (bob/robert)", "same last name", "same email"]
    assert "same company" in result.reasons


def test_typos_in_both_names_match():
    a = lead(first_name="Sarah", last_name="Silva", email="sarahs@icloud.com", phone="+17215765124")
    b = lead(first_name="Saah", last_name="Sivla", email="", phone="721-576-5124")
    assert decision(a, b) == "merge"
    assert score_pair(a, b).reasons[:2] == ["first name typo (sarah/saah)", "last name typo (silva/sivla)"]


def test_transposed_names_match():
    a = lead(first_name="Adam", last_name="Rivera", email="adam.rivera@outlook.com", phone="+1 353 676 7192")
    b = lead(first_name="Rivera", last_name="Adam", email="adam.rivera+web@outlook.com", phone="(353) 676-7192")
    assert decision(a, b) == "merge"
    assert score_pair(a, b).reasons[0] == "first/last names transposed"


def test_classify_thresholds_are_inclusive():
    assert [classify(s, 0.92, 0.70) for s in (0.92, 0.9199, 0.70, 0.6999)] == ["merge", "review", "review",
                                                                             "distinct"]


def test_a_bridge_record_cannot_chain_two_people():
    # "Chris" is a nickname of both, but Christopher and Christina are two people: one link must give way
    shared = {"email": "clee@acme.co", "phone": "617-555-0101"}
    records = [lead(id="1", first_name="Christopher", last_name="Lee", **shared),
               lead(id="2", first_name="Chris", last_name="Lee", **shared),
               lead(id="3", first_name="Christina", last_name="Lee", **shared)]
    # Christopher/Christina: two real names alike, so a conflict no one needs to review
    assert find_duplicates(records) == [("1", "2", 0.9913, "merge"), ("2", "3", 0.9913, "review")]


def test_survivor_keeps_the_oldest_and_never_drops_a_value():
    old = {"id": "a", "first_name": "Robert", "last_name": "Hunt", "email": "robert@acme.co", "phone": "",
           "company": "Acme", "created_at": "2026-03-01T08:00:00Z", "owner_id": ""}
    new = {"id": "b", "first_name": "Bob", "last_name": "Hunt", "email": "bob@gmail.com", "phone": "617-555-0101",
           "company": "", "city": "Boston", "created_at": "2026-03-05T08:00:00Z", "owner_id": "u7"}
    result = survivor(new, old, "oldest")
    assert result.survivor is old
    assert result.merged == {"id": "a", "first_name": "Robert", "last_name": "Hunt", "email": "robert@acme.co",
                             "extra_emails": ["bob@gmail.com"], "phone": "617-555-0101", "extra_phones": [],
                             "company": "Acme", "created_at": "2026-03-01T08:00:00Z", "owner_id": "u7",
                             "city": "Boston"}
    assert result.overridden == {"first_name": "Bob", "created_at": "2026-03-05T08:00:00Z"}


@pytest.mark.parametrize(("keep", "winner"), [("oldest", "a"), ("most_complete", "b"), ("has_owner", "b")])
def test_survivor_rules(keep, winner):
    a = {"id": "a", "email": "x@acme.co", "created_at": "2026-01-01T00:00:00Z"}
    b = {"id": "b", "email": "x@acme.co", "phone": "617-555-0101", "owner_id": "u1",
         "created_at": "2026-02-01T00:00:00Z"}
    assert survivor(a, b, keep).merged["id"] == winner
    assert survivor(a, b, keep).merged["owner_id"] == "u1"


def test_dedup_section_is_validated_with_its_path():
    assert parse_dedup_section({"auto_merge": 0.95, "review": 0.6, "keep": "has_owner"}).auto_merge == 0.95
    with pytest.raises(DedupConfigError, match=r"^dedup.review: 0.95 is above dedup.auto_merge \(0.92\)$"):
        parse_dedup_section({"review": 0.95})
    with pytest.raises(DedupConfigError, match=r"^dedup.keep: 'newest' is not one of oldest, most_complete"):
        parse_dedup_section({"keep": "newest"})
    with pytest.raises(DedupConfigError, match=r"^dedup.treshold: unknown key"):
        parse_dedup_section({"treshold": 0.9})
