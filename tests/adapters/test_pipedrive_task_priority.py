"""PipedriveAdapter's tasks carry TaskSpec.priority as the account's activity priority option (GET
/v1/activityFields, read once per adapter), and none where the account has no priority field; the sandbox refuses
an id that is not one of its options."""
from __future__ import annotations

import datetime as dt

from integration.records import TaskSpec
from tests.adapters.test_pipedrive_adapter import HTTP, company  # noqa: F401 - the fixture

DUE = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


def _spec(owner: str, priority: str, person: str = "1") -> TaskSpec:
    return TaskSpec(subject=f"Call ({priority})", body="asked about pricing", due_at=DUE, owner_id=owner,
                    record_type="contact", record_id=person, priority=priority)


def test_each_priority_is_sent_as_the_option_with_its_label_read_once(company):  # noqa: F811
    company.simulate(action="activity_priorities", options=[{"id": 71, "label": "Low"}, {"id": 72, "label": "Medium"},
                                                            {"id": 73, "label": "High"}])
    adapter, owner = company.adapter(), company.users()[1]
    company.reset_calls()
    high = adapter.create_task(_spec(owner, "high"))
    ids = adapter.create_tasks([_spec(owner, "medium", "2"), _spec(owner, "low", "3")])
    assert [company.record("activities", i)["priority"] for i in (high, *ids)] == [73, 72, 71]
    reads = [c for c in company.calls() if "/activityFields" in c["path"]]
    assert len(reads) == 1


def test_the_default_options_give_high_to_a_hot_task(company):  # noqa: F811
    task = company.adapter().create_task(_spec(company.users()[1], "high"))
    assert company.record("activities", task)["priority"] == 262  # the sandbox's High


def test_an_account_without_the_priority_field_gets_tasks_without_one(company):  # noqa: F811
    company.simulate(action="activity_priorities", options=[])
    task = company.adapter().create_task(_spec(company.users()[1], "high"))
    stored = company.record("activities", task)
    assert stored["priority"] is None and stored["subject"] == "Call (high)"


def test_a_label_the_account_lacks_is_left_out(company):  # noqa: F811
    company.simulate(action="activity_priorities", options=[{"id": 5, "label": "High"}])
    task = company.adapter().create_task(_spec(company.users()[1], "low"))
    assert company.record("activities", task)["priority"] is None


def test_the_sandbox_refuses_a_priority_that_is_not_an_option(company):  # noqa: F811
    ca = company.server.sandbox.ca_file
    resp = HTTP.post(f"{company.account['api_base'].rstrip('/')}/api/v2/activities", timeout=10, verify=ca,
                     headers={"Authorization": f"Bearer {company.account['access_token']}"},
                     json={"subject": "x", "owner_id": int(company.users()[1]), "priority": 999})
    assert resp.status_code == 400 and "priority" in resp.json()["error"]
    fields = HTTP.get(f"{company.account['api_base'].rstrip('/')}/api/v1/activityFields", timeout=10, verify=ca,
                      headers={"Authorization": f"Bearer {company.account['access_token']}"}).json()["data"]
    [priority] = [f for f in fields if f["key"] == "priority"]
    assert {o["label"] for o in priority["options"]} == {"High", "Medium", "Low"}
