"""Normalize and validate: emails, phones, names, sources, countries, states, postcodes; unusable leads flagged."""
from __future__ import annotations

import pytest

from integration.routing.normalize import (
    Problem,
    normalize_country,
    normalize_email,
    normalize_lead,
    normalize_name,
    normalize_phone,
    normalize_postcode,
    normalize_state,
)
from integration.rules import SourceLabels


def test_email_is_trimmed_lower_cased_and_syntax_checked_without_dns():
    assert normalize_email("  Jane.Doe@Example.COM ") == ("jane.doe@example.com", None)
    assert normalize_email("bob@acme.test") == ("bob@acme.test", None)
    assert normalize_email("") == (None, None)
    email, problem = normalize_email("jane@@example.com")
    assert email is None
    assert problem.startswith("'jane@@example.com' is not a valid email")


@pytest.mark.parametrize(("raw", "country", "expected"), [
    ("(415) 555-0134", "US", "+14155550134"),
    ("415.555.0134", "US", "+14155550134"),
    ("+44 20 7946 0123", None, "+442079460123"),
    ("020 7946 0123", "GB", "+442079460123"),
    ("030 9018 2211", "DE", "+493090182211"),
])
def test_phone_to_e164_in_the_leads_country(raw, country, expected):
    assert normalize_phone(raw, country) == (expected, None)


def test_a_national_phone_without_a_country_is_a_problem():
    assert normalize_phone("415 555 0134", None) == (
        None, "'415 555 0134' is not a valid phone number (no country to read it in)")
    assert normalize_phone("12", "US") == (None, "'12' is not a valid phone number")


@pytest.mark.parametrize(("raw", "expected"), [
    ("  jane  ", "Jane"),
    ("JOHN", "John"),
    ("mcdonald", "McDonald"),
    ("McDonald", "McDonald"),
    ("van der Berg", "van der Berg"),
    ("VAN DER BERG", "Van der Berg"),
    ("o'neil", "O'Neil"),
    ("O'Neil", "O'Neil"),
    ("smith-jones", "Smith-Jones"),
    ("DeShawn", "DeShawn"),
    ("", None),
])
def test_names_are_trimmed_and_cased_only_when_typed_in_one_case(raw, expected):
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("United States", "US"), ("USA", "US"), ("U.S.", "US"), ("u.s.a.", "US"), ("us", "US"),
    ("Deutschland", "DE"), ("Germany", "DE"), ("DEU", "DE"), ("UK", "GB"), ("England", "GB"),
    ("United Kingdom", "GB"), ("Canada", "CA"), ("Narnia", None), ("", None),
])
def test_country_to_iso_alpha_2(raw, expected):
    assert normalize_country(raw) == expected


@pytest.mark.parametrize(("raw", "country", "expected"), [
    ("California", "US", "CA"), ("ca", "US", "CA"), ("New York", "US", "NY"), ("Ontario", "CA", "ON"),
    ("British Columbia", "CA", "BC"), ("New South Wales", "AU", "NSW"), ("Victoria", "AU", "VIC"),
    ("Bavaria", "DE", "Bavaria"), ("Texas", None, "TX"),
])
def test_state_or_province_to_its_code(raw, country, expected):
    assert normalize_state(raw, country) == expected


@pytest.mark.parametrize(("raw", "country", "expected"), [
    ("94105-1234", "US", "94105"), ("941051234", "US", "94105"), ("2134", "US", "02134"),
    ("sw1a1aa", "GB", "SW1A 1AA"), ("ec1a 1bb", "GB", "EC1A 1BB"), ("m1 1ae", "GB", "M1 1AE"),
    ("k1a0b1", "CA", "K1A 0B1"), ("1234ab", "NL", "1234 AB"), ("10115", "DE", "10115"), (" ", "US", None),
])
def test_postcodes_in_their_countrys_standard_form(raw, country, expected):
    assert normalize_postcode(raw, country) == expected


def test_source_labels_map_case_spacing_and_synonyms():
    labels = SourceLabels.from_synonyms({"Web Form": ["website", "contact form"], "Partner": []})
    assert labels.map("web form") == ("Web Form", None)
    assert labels.map("Web-Form") == ("Web Form", None)
    assert labels.map(" WEBSITE ") == ("Web Form", None)
    assert labels.map("partner") == ("Partner", None)
    assert labels.map("Carrier pigeon") == ("carrier pigeon", "'Carrier pigeon' is not an approved source label")


def test_a_lead_is_normalized_as_a_whole():
    result = normalize_lead({"id": "7", "first_name": " jane ", "last_name": "MCDONALD", "email": " Jane@Foo.COM",
                             "phone": "(415) 555-0134", "company": " Foo  Inc ", "country": "United States",
                             "state": "California", "city": "San Francisco", "postcode": "94105-1234",
                             "source": "Web-Form", "employees": "1,200"})
    lead = result.lead
    assert (lead.first_name, lead.last_name, lead.email, lead.phone) == ("Jane", "McDonald", "jane@foo.com",
                                                                          "+14155550134")
    assert (lead.company, lead.country, lead.state, lead.postcode) == ("Foo Inc", "US", "CA", "94105")
    assert (lead.source, lead.employees, lead.email_domain) == ("web_form", 1200, "foo.com")
    assert result.problems == []
    assert result.unusable is None


def test_problems_are_listed_without_stopping_the_lead():
    result = normalize_lead({"first_name": "Ann", "email": "ann@bar.com", "phone": "12", "country": "Narnia",
                             "employees": "lots", "source": "fax"})
    assert result.problems == [
        Problem("country", "'Narnia' is not a known country"),
        Problem("phone", "'12' is not a valid phone number (no country to read it in)"),
        Problem("employees", "'lots' is not a number of employees"),
        Problem("source", "'fax' is not an approved source label")]
    assert result.unusable is None
    assert result.lead.country == "Narnia"


@pytest.mark.parametrize(("raw", "reason"), [
    ({"first_name": "Ann", "last_name": "Lee"}, "unusable lead: no way to contact (no valid email or phone)"),
    ({"first_name": "Ann", "email": "ann@", "phone": "123", "country": "US"},
     "unusable lead: no way to contact (no valid email or phone; email 'ann@' is invalid, phone '123' is invalid)"),
    ({"first_name": "asdf", "email": "x@corp.com"}, "unusable lead: 'asdf' is not a real name"),
    ({"first_name": "test", "last_name": "test", "email": "x@corp.com"},
     "unusable lead: 'test test' is not a real name"),
    ({"first_name": "Jane2", "last_name": "Doe", "email": "x@corp.com"},
     "unusable lead: 'Jane2 Doe' is not a real name"),
])
def test_unusable_leads_say_why(raw, reason):
    assert normalize_lead(raw).unusable == reason


def test_a_lead_with_a_phone_only_or_no_name_is_usable():
    assert normalize_lead({"phone": "+1 415 555 0134"}).unusable is None
    assert normalize_lead({"first_name": "Al", "last_name": "Xu", "email": "al@xu.dev"}).unusable is None
