"""`make demo` runs `leadrelay demo`: one run tells the whole story on HubSpot, Salesforce and Pipedrive.

Real processes (Redis, the sandbox in its realistic profile, workers, the web app), real OAuth installs, leads
through the CRMs' webhooks; the report is read back as written. What each beat means: leadrelay/demo_report.py.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, _free_port
from tests.e2e.conftest import demo_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(720)]  # two demo runs: about a minute each, more when busy
LEADS, SECONDS = 60, 20


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`leadrelay demo --leads 60 --seconds 20 --report F` run twice in a row in one clone (one var dir, new ports):
    the second run must tell the same story as the first, never mixing in the first run's state. Returns the
    second run (its output, web port and report) after checking that the first one succeeded too."""
    tmp = tmp_path_factory.mktemp("demo")
    env = demo_env(tmp / "var")
    runs = []
    for n in (1, 2):
        web, sandbox = _free_port(), _free_port()
        report = tmp / f"report-{n}.json"
        out = subprocess.run([sys.executable, "-m", "leadrelay", "demo", "--port", str(web),
                              "--sandbox-port", str(sandbox), "--leads", str(LEADS), "--seconds", str(SECONDS),
                              "--report", str(report)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
        runs.append((out, web, json.loads(report.read_text()) if report.exists() else None))
    first_out, _, first = runs[0]
    assert first_out.returncode == 0, first_out.stdout[-3000:] + first_out.stderr[-3000:]
    assert first["demo"] == "ok" and first["undecided"] == 0 and first["story"]["complete"] is True
    assert "An earlier demo run's state was moved to" in runs[1][0].stdout
    assert (tmp / "var" / "demo.previous" / "logs" / "worker.log").is_file()
    return runs[1]


def test_the_demo_starts_installs_and_decides_every_lead_fast(demo):
    out, web, summary = demo  # the second run in the same clone
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"LeadRelay web app listening on http://127.0.0.1:{web}" in out.stdout
    assert "/healthz → ok" in out.stdout
    assert summary["leads"] == LEADS and summary["undecided"] == 0
    assert summary["owned"] + summary["merged"] + summary["review"] == LEADS
    assert 0 < summary["speed_to_owner_ms"]["p50"] < 1000 and summary["speed_to_owner"]["discarded_negative"] == 0
    assert summary["demo"] == "ok" and "problems" not in summary
    assert summary["story_seconds"] < SECONDS + 60


def test_the_story_is_complete_on_every_crm_that_can_tell_it(demo):
    story = demo[2]["story"]
    assert story["complete"] is True and story["missing"] == {}, story
    for beat, platforms in story["beats"].items():
        shown_elsewhere = set(story["not_shown"].get(beat, {}))
        assert set(platforms) | shown_elsewhere == {"hubspot", "salesforce", "pipedrive"}, beat


def test_routing_shows_a_territory_a_round_robin_pool_and_the_account_owner(demo):
    examples = demo[2]["routing"]["examples"]
    assert "Rule 'Existing account owner'" in examples["account_owner"]["reason"]
    assert examples["account_owner"]["lead"] == "Elaine Benes"
    assert examples["account_owner"]["owner"] == "drew.tanaka@example.com"  # Vandelay's owner, not "West coast"
    assert "round-robin" in examples["round_robin_pool"]["reason"]
    assert examples["territory"]["reason"].startswith(("Rule 'Asia Pacific' (country JP)", "Rule 'DACH'",
                                                       "Rule 'West coast'", "Rule 'North America'"))


def test_the_hot_lead_has_its_call_task_on_the_demo_clock_as_the_crm_stores_it(demo):
    summary = demo[2]
    hot = summary["hot_lead"]
    assert hot["score"] >= 60 and "target account" in hot["why_hot"]
    assert hot["task"]["subject"] == f"Call {hot['lead']}: new hot lead"
    assert "first touch within 5 minutes (demo clock ×60: 5 minutes pass in 5 seconds)" in hot["task"]["body"]
    assert summary["demo_clock"].startswith("demo clock ×60: 5 minutes pass in 5 seconds")


def test_an_sla_is_met_and_one_is_breached_then_escalated_to_the_manager_and_reassigned(demo):
    sla = demo[2]["sla"]
    assert sla["met"] >= 1 and sla["breached"] >= 1
    assert any(m["lead"] == "Mary Jackson" for m in sla["met_leads"])  # her owner called in time
    notified = [e for e in sla["escalations"] if e["action"] == "notify_manager"]
    reassigned = [e for e in sla["escalations"] if e["action"] == "reassign"]
    assert notified and all(e["to"] == "avery.admin@example.com" and e["after_breach_s"] >= 0 for e in notified)
    assert reassigned and all(e["to"] != e["from"] and e["after_breach_s"] >= 0 for e in reassigned)


def test_duplicates_are_merged_or_wait_in_review_and_a_won_deal_makes_a_customer(demo):
    summary = demo[2]
    assert summary["duplicates"]["merged"] >= 1
    assert summary["duplicates"]["waiting_in_review"] >= 1
    assert {r["lead"] for r in summary["duplicates"]["review"]} == {"Evelyn Boyd"}
    assert all(0.70 <= r["score"] < 0.92 for r in summary["duplicates"]["review"])
    changes = summary["lifecycle"]["changes"]
    assert changes and all(c["to"] == "customer" and c["contact"] == "Elaine Benes" for c in changes)


def test_a_web_form_person_is_created_then_recognised_when_they_come_back(demo):
    """The demo's web-form chapter: a signed post to the real intake endpoint on each account creates the person,
    routed; the same person again (email in capitals, phone written differently) updates that record."""
    forms = demo[2]["web_forms"]
    assert set(forms) == {"hubspot", "salesforce", "pipedrive"}
    for platform, sent in forms.items():
        assert sent["new"]["status"] == "created", (platform, sent)
        assert sent["new"]["what_happened"].startswith("New lead from the web form") and "routed to" in \
            sent["new"]["what_happened"]
        assert sent["again"]["status"] == "updated" and sent["again"]["record_url"] == sent["new"]["record_url"]
        assert sent["again"]["what_happened"].startswith("Came back: matched Margaret Hamilton (same email)")
        assert 0 < sent["new"]["seconds"] < 60
