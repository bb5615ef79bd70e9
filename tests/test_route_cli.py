"""`leadrelay route`: leads in input order, each at its created_at; id,owner,rule,reason out; clear errors."""
from __future__ import annotations

import argparse
import csv

import pytest

from leadrelay.route_cli import add_route_arguments, run_route
from tests.test_rules import EXAMPLE_RULES

HEADER = "id,first_name,last_name,email,phone,company,country,state,city,postcode,source,employees,created_at"


def run(tmp_path, leads: str, rules: str = EXAMPLE_RULES, *extra: str) -> int:
    (tmp_path / "rules.yaml").write_text(rules)
    (tmp_path / "leads.csv").write_text(leads)
    parser = argparse.ArgumentParser()
    add_route_arguments(parser)
    args = parser.parse_args(["--rules", str(tmp_path / "rules.yaml"), "--input", str(tmp_path / "leads.csv"),
                              "--output", str(tmp_path / "out.csv"), *extra])
    return run_route(args)


def output(tmp_path) -> list[dict[str, str]]:
    with open(tmp_path / "out.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_routes_each_lead_in_order_at_its_created_at(tmp_path, capsys):
    leads = "\n".join([
        HEADER,
        "1,Jane,Doe,jane@corp.com,(415) 555-0134,Corp,United States,California,SF,94105,web,350,"
        "2026-03-09T10:00:00-07:00",
        "2,John,Roe,john@corp.com,,Corp,USA,CA,SF,94105,web,900,2026-03-09T11:00:00-07:00",
        "3,Ann,Lee,ann@corp.com,,Corp,US,CA,SF,94105,web,900,2026-03-09T20:00:00-07:00",
        "4,Bo,Ng,bo@big.com,,Big,Germany,,Berlin,10115,web,6000,2026-03-09T12:00:00Z",
        "5,Al,Xu,al@xu.dev,,Xu,Canada,,Toronto,M5V 2T6,Partner Referral,5,2026-03-09T12:00:00Z",
    ]) + "\n"
    assert run(tmp_path, leads) == 0
    assert output(tmp_path) == [
        {"id": "1", "owner": "alice@acme.test", "rule": "West enterprise",
         "reason": "Rule 'West enterprise' (state CA, 350 employees) → pool west → alice@acme.test, round-robin, "
                   "1/25 open"},
        {"id": "2", "owner": "bob@acme.test", "rule": "West enterprise",
         "reason": "Rule 'West enterprise' (state CA, 900 employees) → pool west → bob@acme.test, round-robin, "
                   "1 open"},
        {"id": "3", "owner": "bob@acme.test", "rule": "West enterprise",
         "reason": "Rule 'West enterprise' (state CA, 900 employees) → pool west: nobody available "
                   "(alice@acme.test outside hours, bob@acme.test outside hours) → fallback pool inside → "
                   "bob@acme.test, least loaded, 2 open"},
        {"id": "4", "owner": "review", "rule": "Strategic accounts",
         "reason": "Rule 'Strategic accounts' (6000 employees) → review"},
        {"id": "5", "owner": "alice@acme.test", "rule": "Partners",
         "reason": "Rule 'Partners' (source partner) → pool inside → alice@acme.test, least loaded, 2 open"},
    ]
    assert "routed 5 leads: 4 to an owner, 1 to review" in capsys.readouterr().err


def test_no_rule_matched_is_written_as_fallback(tmp_path):
    leads = HEADER + "\n9,Al,Xu,al@xu.fr,,Xu,France,,Paris,75001,web,5,2026-03-09T12:00:00Z\n"
    assert run(tmp_path, leads) == 0
    assert output(tmp_path) == [{"id": "9", "owner": "bob@acme.test", "rule": "fallback",
                                 "reason": "No rule matched → fallback pool inside → bob@acme.test, least loaded, "
                                           "1 open"}]


def test_unusable_leads_go_to_review_when_asked(tmp_path):
    leads = HEADER + "\n9,test,test,,,X,France,,Paris,75001,web,5,2026-03-09T12:00:00Z\n"
    assert run(tmp_path, leads, EXAMPLE_RULES, "--review-unusable") == 0
    assert output(tmp_path) == [{"id": "9", "owner": "review", "rule": "validation",
                                 "reason": "Unusable lead: 'test test' is not a real name"}]


def test_missing_columns_are_named(tmp_path, capsys):
    assert run(tmp_path, "id,first_name,email\n1,Jane,jane@corp.com\n") == 2
    assert capsys.readouterr().err.strip() == (
        f"leadrelay route: {tmp_path / 'leads.csv'} is missing columns: last_name, phone, company, country, state, "
        f"city, postcode, source, employees, created_at")


def test_bad_rules_are_reported_with_their_path(tmp_path, capsys):
    rules = EXAMPLE_RULES.replace('"940-951", "954"', '"940-951", "9a1"')
    assert run(tmp_path, HEADER + "\n", rules) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"leadrelay route: {tmp_path / 'rules.yaml'} is not a valid rule set:",
        '  routing[2].when.postcode: "9a1" is not a postcode or range']


def test_a_bad_created_at_names_the_row(tmp_path, capsys):
    leads = HEADER + "\n1,Jane,Doe,jane@corp.com,,Corp,US,CA,SF,94105,web,350,yesterday\n"
    assert run(tmp_path, leads) == 2
    assert capsys.readouterr().err.strip() == (
        f"leadrelay route: {tmp_path / 'leads.csv'} row 2 (id '1'): created_at 'yesterday' is not an ISO 8601 "
        f"date-time")


def test_a_missing_input_file(tmp_path, capsys):
    (tmp_path / "rules.yaml").write_text(EXAMPLE_RULES)
    parser = argparse.ArgumentParser()
    add_route_arguments(parser)
    args = parser.parse_args(["--rules", str(tmp_path / "rules.yaml"), "--input", str(tmp_path / "nope.csv"),
                              "--output", str(tmp_path / "out.csv")])
    assert run_route(args) == 2
    assert "cannot read" in capsys.readouterr().err


def test_progress_is_shown_on_stderr_for_big_files(tmp_path, capsys):
    row = "{i},Jane,Doe,jane{i}@corp.com,,Corp,FR,,Paris,75001,web,5,2026-03-09T12:00:00Z"
    leads = HEADER + "\n" + "\n".join(row.format(i=i) for i in range(6000)) + "\n"
    assert run(tmp_path, leads) == 0
    err = capsys.readouterr().err
    assert "routed 6000/6000 leads (100%)" in err
    assert len(output(tmp_path)) == 6000


@pytest.mark.parametrize("extra_column", ["account_owner"])
def test_an_account_owner_column_is_used_when_present(tmp_path, extra_column):
    leads = (HEADER + f",{extra_column}\n"
             "1,Jane,Doe,jane@corp.com,,Corp,US,CA,SF,94105,web,350,2026-03-09T12:00:00Z,Dana@acme.test\n")
    assert run(tmp_path, leads) == 0
    assert output(tmp_path)[0]["owner"] == "dana@acme.test"
    assert output(tmp_path)[0]["rule"] == "Existing account owner"
