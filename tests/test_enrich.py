"""Enrichment, offline: each source (email lists, registrable domain, phone, US ZIP, country) and what it never does
(overwrite a value, touch the network)."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from integration.enrich import Enrichment, enrich
from integration.enrich.domains import registrable_domain
from integration.enrich.zones import country_zone
from tests.conftest import ROOT


def test_a_dallas_zip_gives_city_state_county_and_central_time():
    found = enrich({"email": "jo@acme.com", "postcode": "75201", "country": "US"})
    assert found.filled == {"city": "Dallas", "state": "TX"}  # neutral fields a CRM record has
    assert found.county == "Dallas County" and found.sources["county"] == "ZIP 75201"  # named, not filled
    assert found.timezone == "America/Chicago"
    assert found.sources["city"] == found.sources["timezone"] == "ZIP 75201"
    assert found.crm_fields() == {
        "leadrelay_enriched": "city, state, county, time zone from ZIP 75201; email type from email domain",
        "leadrelay_email_type": "business", "leadrelay_timezone": "America/Chicago"}


def test_a_zip_plus_four_reads_as_its_zip():
    assert enrich({"postcode": "75201-4618", "country": "USA"}).filled["city"] == "Dallas"


def test_a_214_phone_gives_the_us_and_central_time_and_names_the_number_only_by_its_start():
    found = enrich({"phone": "+1 214 555 0123"})
    assert found.filled == {"country": "US"}
    assert found.timezone == "America/Chicago"
    assert found.sources == {"country": "phone +1 214…", "timezone": "phone +1 214…"}
    assert found.phone_area == "Texas"
    assert "555" not in found.crm_fields()["leadrelay_enriched"]


def test_a_national_number_is_read_in_the_leads_country():
    found = enrich({"phone": "(214) 555-0123", "country": "United States"})
    assert found.timezone == "America/Chicago" and "country" not in found.filled


def test_a_number_in_several_zones_gives_none_unless_the_state_narrows_it_to_one():
    assert enrich({"phone": "+1 800 555 0199"}).timezone is None  # toll-free: the whole NANP
    narrowed = enrich({"phone": "+1 800 555 0199", "state": "California"})
    assert narrowed.timezone == "America/Los_Angeles"
    assert narrowed.sources["timezone"] == "phone +1 800… in CA"
    # Texas has two zones (El Paso keeps mountain time): a state that does not narrow to one gives none
    assert enrich({"phone": "+1 800 555 0199", "state": "TX"}).timezone is None


def test_the_zip_beats_the_phone_and_the_phone_beats_the_country():
    # a New York mobile number, a Dallas office ZIP: the ZIP is where the lead is
    assert enrich({"phone": "+1 212 555 0142", "postcode": "75201", "country": "US"}).timezone == "America/Chicago"
    assert enrich({"phone": "+1 212 555 0142", "country": "US"}).timezone == "America/New_York"
    assert enrich({"country": "Germany"}).timezone == "Europe/Berlin"
    assert enrich({"country": "Germany"}).sources == {"timezone": "country DE"}
    assert enrich({"country": "US"}).timezone is None  # several zones
    assert country_zone("FR") == "Europe/Paris" and country_zone("RU") is None


def test_a_state_in_one_zone_gives_it_without_zip_or_phone():
    assert enrich({"state": "California", "country": "US"}).sources == {"timezone": "state CA"}
    assert enrich({"state": "California"}).timezone == "America/Los_Angeles"
    assert enrich({"state": "Texas", "country": "US"}).timezone is None  # El Paso keeps mountain time


def test_a_five_digit_postcode_outside_the_us_is_no_zip():
    berlin = enrich({"postcode": "10115", "country": "DE"})
    assert berlin.filled == {} and berlin.timezone == "Europe/Berlin"
    # without a country, a ZIP counts only when the lead's state agrees with it
    assert enrich({"postcode": "10115"}).filled == {}
    assert enrich({"postcode": "75201", "state": "Texas"}).filled == {"city": "Dallas", "country": "US"}


def test_the_phone_fills_a_missing_country_and_then_the_zip_counts():
    found = enrich({"phone": "+1 214 555 0123", "postcode": "75201"})
    assert found.filled == {"country": "US", "city": "Dallas", "state": "TX"}
    assert found.sources["country"] == "phone +1 214…" and found.sources["city"] == "ZIP 75201"
    assert found.crm_fields()["leadrelay_enriched"] == ("country from phone +1 214…; city, state, county, "
                                                        "time zone from ZIP 75201")


@pytest.mark.parametrize(("email", "kind"), [
    ("jo@gmail.com", "free"), ("jo@yahoo.co.uk", "free"), ("jo@mailinator.com", "disposable"),
    ("info@acme.com", "role"), ("Sales+web@acme.com", "role"), ("noreply@acme.com", "role"),
    ("jo@acme.com", "business"), ("information@acme.com", "business"), ("info@gmail.com", "free"),
    ("jo@brand-new-startup.example", "business"), ("not an email", None), ("", None)])
def test_email_types(email, kind):
    assert enrich({"email": email}).email_type == kind


def test_disposable_beats_free_and_a_subdomain_counts_as_its_domain():
    # on both lists (a free provider that also hands out throwaway inboxes): disposable wins
    assert enrich({"email": "x@10minutemail.co.za"}).email_type == "disposable"
    assert enrich({"email": "x@eu.mailinator.com"}).email_type == "disposable"


def test_the_registrable_domain_of_the_email_else_of_the_website():
    assert enrich({"email": "ann@mail.acme.co.uk"}).domain == "acme.co.uk"
    assert enrich({"website": "https://www.Acme.com.au/about?x=1"}).domain == "acme.com.au"
    assert enrich({"email": "ann@acme.com", "website": "other.com"}).domain == "acme.com"
    # reserved names the suffix list does not have (sandboxes, intranets)
    assert registrable_domain("crm.acme.test") == "acme.test"
    assert registrable_domain("localhost") is None


def test_a_filled_field_is_never_overwritten():
    given = {"email": "jo@acme.com", "postcode": "75201", "country": "US", "city": "Fort Worth", "state": "TX",
             "county": "Tarrant County"}
    found = enrich(given)
    assert found.filled == {} and found.county is None
    assert set(found.sources) == {"timezone", "email_type"}  # nothing filled: only what was found is named
    assert enrich({"phone": "+1 214 555 0123", "country": "CA"}).filled == {}  # a given country stays, even Canada


def test_a_lead_with_nothing_to_enrich_gives_an_empty_enrichment():
    found = enrich({"first_name": "Ann", "last_name": "Lee", "company": "Acme", "country": "", "phone": None})
    assert found == Enrichment() and not found
    assert found.crm_fields() == {}
    assert enrich({"phone": "12345", "postcode": "ABC", "email": "nope"}) == Enrichment()


def test_lead_fields_are_what_normalize_reads():
    raw = {"email": "jo@gmail.com", "phone": "+1 214 555 0123", "city": ""}
    assert enrich(raw).lead_fields(raw) == {"email": "jo@gmail.com", "phone": "+1 214 555 0123", "city": "",
                                            "country": "US", "email_type": "free", "timezone": "America/Chicago"}


def test_the_summary_is_a_crm_text_field():
    found = enrich({"phone": "+1 214 555 0123", "postcode": "75201", "email": "info@acme.com"})
    assert len(found.crm_fields()["leadrelay_enriched"]) <= 255
    assert "_" not in found.crm_fields()["leadrelay_enriched"]


def test_enrichment_works_with_the_network_blocked(monkeypatch):
    # a fresh interpreter, so no list is loaded yet: the first load must read only what the packages ship
    code = (
        "import socket\n"
        "tried = []  # a library that catches the refusal and falls back must still be caught trying\n"
        "def refuse(*a, **k): tried.append(a); raise OSError('network used')\n"
        "for name in ('connect', 'connect_ex', 'sendto'): setattr(socket.socket, name, refuse)\n"
        "socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
        "from integration.enrich import enrich\n"
        "e = enrich({'email': 'jo@mail.acme.co.uk', 'phone': '+1 214 555 0123', 'postcode': '75201',\n"
        "            'website': 'https://acme.com'})\n"
        "assert e.timezone == 'America/Chicago' and e.domain == 'acme.co.uk' and e.email_type == 'business', e\n"
        "assert tried == [], tried\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    # and in this process too, whatever was loaded before
    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, lambda *a, **k: pytest.fail("enrichment used the network"))
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("enrichment resolved a name"))
    assert enrich({"email": "x@mailinator.com", "postcode": "75201", "country": "US"}).email_type == "disposable"


def test_it_is_fast_once_loaded():
    lead = {"email": "jo@acme.com", "phone": "+1 214 555 0123", "postcode": "75201", "website": "acme.com"}
    enrich(lead)
    leads = [{**lead, "email": f"jo{i}@acme{i}.com", "phone": f"+1 214 555 {i:04d}"} for i in range(500)]
    start = time.perf_counter()
    for one in leads:
        enrich(one)
    per_call = (time.perf_counter() - start) / len(leads)
    assert per_call < 0.002, f"{per_call * 1e6:.0f} µs per lead"
