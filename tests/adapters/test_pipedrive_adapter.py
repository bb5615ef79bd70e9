"""PipedriveAdapter contract tests: the real adapter and pipedrive-python-lib against the sandbox (HTTPS).

Assertions are about what a user would notice in Pipedrive (the sandbox's stored records, read through its
control API) and the API calls the sandbox saw. Seeded ids: persons 1..30, organizations 1..8 (see
sandbox/pipedrive/seed.py); user ids come from the account, since the sandbox numbers them per session.
"""
from __future__ import annotations

import datetime as dt

import pytest
import requests
import responses

from adapters.pipedrive.adapter import PipedriveAdapter
from adapters.registry import get_adapter_class
from integration.errors import (
    CRMAuthError,
    CRMBudgetExhausted,
    CRMRateLimited,
    CRMTransient,
    CRMValidationError,
    ReauthRequired,
)
from integration.protocols import CRMAdapter
from integration.records import NewRecord, TaskSpec
from sandbox.pipedrive.model import WEBSITE_KEY
from tests.adapters.conftest import StaticTokens, believed_limits, sandbox_account, shared_budget, tenant_for

HTTP = requests.Session()
HTTP.trust_env = False
UTC = dt.UTC


class Company:
    """A demo-seeded sandbox company (its own token, so its own burst window) and control-API helpers."""

    def __init__(self, server, **extra) -> None:
        self.server = server
        self.account = sandbox_account(server, "pipedrive", **extra)
        self.base = f"{server.url}/_sandbox/accounts/{self.account['account_id']}"

    def adapter(self, budget=None, writes=None, tokens=None, cls=PipedriveAdapter, **settings) -> PipedriveAdapter:
        return cls(tenant_for(self.account, "pipedrive", **settings),
                   tokens or StaticTokens(self.account["access_token"]), budget, writes)

    def records(self, object_type: str) -> list[dict]:
        return HTTP.get(f"{self.base}/{object_type}", timeout=10).json()["results"]

    def record(self, object_type: str, record_id) -> dict | None:
        return next((r for r in self.records(object_type) if str(r["id"]) == str(record_id)), None)

    def users(self) -> list[str]:
        return [str(u["id"]) for u in self.records("users")]

    def simulate(self, **payload) -> dict:
        resp = HTTP.post(f"{self.base}/simulate", json=payload, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def calls(self) -> list[dict]:
        return HTTP.get(f"{self.base}/calls", timeout=10).json()["calls"]

    def reset_calls(self) -> None:
        HTTP.delete(f"{self.base}/calls", timeout=10).raise_for_status()


@pytest.fixture()
def company(adapter_sandbox) -> Company:
    return Company(adapter_sandbox)


@pytest.fixture()
def staged(adapter_sandbox):
    """Stage sandbox config (faults, limits) for one test, reset afterwards."""
    def stage(**config) -> None:
        HTTP.post(f"{adapter_sandbox.url}/_sandbox/config", json=config, timeout=10).raise_for_status()
    yield stage
    HTTP.post(f"{adapter_sandbox.url}/_sandbox/config/reset", timeout=10).raise_for_status()


def test_registry_and_protocol(company):
    assert get_adapter_class("pipedrive") is PipedriveAdapter
    assert isinstance(company.adapter(), CRMAdapter)


# reads -----------------------------------------------------------------------------------------------
def test_get_record_reads_person_with_owner_company_and_times(company, budget):
    record = company.adapter(budget=budget).get_record("contact", "1")
    assert record.fields["email"] == "alice.johnson@northwind.example"
    assert record.fields["phone"] == "+1 206 555 0101"
    assert (record.fields["first_name"], record.fields["last_name"]) == ("Alice", "Johnson")
    assert record.owner_id == str(company.record("persons", 1)["owner_id"])
    assert record.company_id == "1"
    assert record.created_at == dt.datetime(2025, 1, 7, 4, 0, tzinfo=UTC)
    assert budget.acquired == [("default", 1), ("daily", 1)]  # a v2 get costs 1 token
    assert budget.observed[0][0] == "default" and budget.observed[0][2] == 40  # x-ratelimit-limit


def test_get_record_of_organization_carries_its_website_domain(company):
    record = company.adapter().get_record("company", "2")
    assert record.fields["name"] == "Acme Robotics"
    assert record.fields["domain"] == "acme-robotics.example"


def test_get_record_of_missing_or_merged_away_id_is_none(company):
    adapter = company.adapter()
    assert adapter.get_record("contact", "9999") is None
    assert adapter.get_record("lead", "00000000-0000-0000-0000-000000000000") is None
    company.simulate(action="merge", object_type="person", id=2, merge_with_id=1)
    assert adapter.get_record("contact", "2") is None


def test_get_records_is_one_batch_call(company):
    company.reset_calls()
    records = company.adapter().get_records("contact", [str(i) for i in range(1, 11)] + ["9999"])
    assert sorted(int(r.id) for r in records) == list(range(1, 11))
    assert len(company.calls()) == 1


def test_find_duplicate_candidates_by_email_case_phone_format_and_name_company(company, budget):
    adapter = company.adapter(budget=budget)
    by_email = adapter.find_duplicate_candidates("contact", emails=["ELLEN.RIPLEY@weyland.example"])
    assert sorted(r.id for r in by_email) == ["28", "29"]
    by_phone = adapter.find_duplicate_candidates("contact", phones=["+1 (303) 555-0199"])
    assert sorted(r.id for r in by_phone) == ["21", "22"]  # "+1 303 555 0199" and "303.555.0199"
    by_name = adapter.find_duplicate_candidates("contact", name="Michael Bolton", company="Initech Software")
    assert [(r.id, r.fields["company"]) for r in by_name] == [("11", "Initech Software")]
    assert adapter.find_duplicate_candidates("contact", name="Michael Bolton", company="Acme Robotics") == []
    assert ("search", 1) in budget.acquired and ("daily", 20) in budget.acquired


def test_find_duplicate_candidates_uses_a_few_calls(company):
    company.reset_calls()
    found = company.adapter().find_duplicate_candidates(
        "contact", emails=["alice.johnson@northwind.example"], phones=["206-555-0101"], name="Alice Johnson",
        company="Northwind Traders")
    assert sorted(r.id for r in found) == ["1", "2"]
    assert len(company.calls()) == 4  # three searches + one batch read


def test_list_users_have_active_flags_and_time_zones(adapter_sandbox):
    company = Company(adapter_sandbox, seed=None, users=[
        {"email": "ann@example.com", "name": "Ann Admin", "timezone": "Europe/Berlin"},
        {"email": "gone@example.com", "name": "Gus Gone", "timezone": "America/Chicago", "active": False}])
    users = company.adapter().list_users()
    assert [(u.email, u.name, u.active, u.timezone) for u in users] == [
        ("ann@example.com", "Ann Admin", True, "Europe/Berlin"),
        ("gone@example.com", "Gus Gone", False, "America/Chicago")]
    assert [u.id for u in users] == company.users()


def test_find_company_by_domain_or_name(company):
    adapter = company.adapter()
    acme = adapter.find_company(domain="https://www.Acme-Robotics.example/contact")
    assert (acme.id, acme.name, acme.domain) == ("2", "Acme Robotics", "acme-robotics.example")
    assert acme.owner_id == str(company.record("organizations", 2)["owner_id"])
    assert adapter.find_company(domain="nowhere.example", name="globex logistics").id == "3"
    assert adapter.find_company(domain="nowhere.example") is None


def test_find_companies_searches_each_domain_and_agrees_with_find_company(company):
    owners = company.users()[:3]
    made = [company.simulate(action="create", object_type="organization", properties={
        "name": name, "owner_id": owner, "custom_fields": {WEBSITE_KEY: f"https://www.{name.lower()}.example/"}})
        for name, owner in zip(("Alpha", "Beta", "Gamma"), owners, strict=True)]
    adapter = company.adapter()
    company.reset_calls()
    found = adapter.find_companies(["alpha.example", "BETA.example", "nowhere.example"])
    assert len(company.calls()) == 3  # one organization search per domain
    assert {d: c and (c.id, c.name, c.owner_id) for d, c in found.items()} == {
        "alpha.example": (str(made[0]["id"]), "Alpha", owners[0]),
        "BETA.example": (str(made[1]["id"]), "Beta", owners[1]), "nowhere.example": None}
    assert [adapter.find_company(domain=d) for d in found] == list(found.values())


def test_changed_since_pages_through_records_changed_after_the_cursor(company):
    for pid in (4, 7, 9):
        company.simulate(action="update", object_type="person", id=pid, properties={"visible_to": 1})
    adapter = company.adapter()
    first = adapter.changed_since("contact", None, limit=2)  # None: the last day; the seed is from 2025
    assert first.has_more and len(first.records) == 2
    second = adapter.changed_since("contact", first.cursor, limit=2)
    assert not second.has_more
    assert sorted(r.id for r in first.records + second.records) == ["4", "7", "9"]
    stamps = [r.updated_at for r in first.records + second.records]
    assert stamps == sorted(stamps)


# writes ------------------------------------------------------------------------------------------------
def test_set_owner_changes_the_stored_owner_and_is_reported(company, writes, budget):
    new_owner = company.users()[3]
    company.adapter(budget=budget, writes=writes).set_owner("contact", "1", new_owner)
    assert str(company.record("persons", 1)["owner_id"]) == new_owner
    assert writes.writes == [("contact", "1", ("owner",))]
    assert ("daily", 5) in budget.acquired  # a v2 update costs 5 tokens


def test_set_owner_again_changes_nothing(company):
    adapter, new_owner = company.adapter(), company.users()[3]
    adapter.set_owner("contact", "1", new_owner)
    stamp = company.record("persons", 1)["update_time"]
    adapter.set_owner("contact", "1", new_owner)
    assert company.record("persons", 1)["update_time"] == stamp


def test_set_owner_of_a_v1_lead(company, writes):
    lead = company.records("leads")[0]
    new_owner = company.users()[2]
    company.adapter(writes=writes).set_owner("lead", lead["id"], new_owner)
    assert str(company.record("leads", lead["id"])["owner_id"]) == new_owner
    assert writes.writes == [("lead", lead["id"], ("owner",))]


def test_set_fields_writes_neutral_fields_and_keeps_other_emails(company, writes):
    company.simulate(action="update", object_type="person", id=5, properties={
        "emails": [{"value": "bobsmith@gmail.com", "primary": True}, {"value": "rs@home.example"}]})
    company.adapter(writes=writes).set_fields("contact", "5", {"email": "robert.smith@gmail.com",
                                                               "first_name": "Bob"})
    person = company.record("persons", 5)
    assert person["name"] == "Bob Smith"
    assert [(e["value"], e["primary"]) for e in person["emails"]] == [("robert.smith@gmail.com", True),
                                                                       ("rs@home.example", False)]
    assert writes.writes == [("contact", "5", ("email", "first_name"))]


def test_set_fields_maps_deal_fields_and_tenant_custom_fields(company):
    adapter = company.adapter(custom_fields={"lifecycle_stage": "a" * 40})
    adapter.set_fields("deal", "1", {"deal_stage": 4, "amount": 9000})
    adapter.set_fields("contact", "1", {"lifecycle_stage": "opportunity"})
    assert (company.record("deals", 1)["stage_id"], company.record("deals", 1)["value"]) == (4, 9000)
    assert company.record("persons", 1)["custom_fields"] == {"a" * 40: "opportunity"}
    assert adapter.get_record("contact", "1").fields["lifecycle_stage"] == "opportunity"


def test_set_fields_refuses_fields_pipedrive_has_not(company):
    with pytest.raises(CRMValidationError, match="lifecycle_stage"):
        company.adapter().set_fields("contact", "1", {"lifecycle_stage": "lead"})


def test_create_record_links_the_persons_organization(company, writes):
    ann = {"email": "ann@newco.example", "first_name": "Ann", "last_name": "Lee"}
    person = company.adapter(writes=writes).create_record("contact", ann, None, "3")
    assert company.record("persons", person)["org_id"] == 3
    assert company.adapter().get_record("contact", person).company_id == "3"
    alone = company.adapter().create_record("contact", {"last_name": "Solo"}, None)
    assert company.record("persons", alone)["org_id"] is None
    assert writes.writes == [("contact", person, ("*",))]


def test_create_records_creates_each_person_alone_and_fails_only_the_invalid_one(company, writes):
    owners = company.users()[1:3]
    items = [NewRecord({"email": "ann@newco.example", "first_name": "Ann", "last_name": "Lee"}, owners[0], "2"),
             NewRecord({"last_name": "Staged", "lifecycle_stage": "lead"}, owners[0], "2"),
             NewRecord({"email": "bob@newco.example", "last_name": "Bobson"}, owners[1], "5")]
    company.reset_calls()
    ann, refused, bob = company.adapter(writes=writes).create_records("contact", items)
    assert [c["method"] for c in company.calls()] == ["POST", "POST"]  # no batch create: one per person it can take
    assert isinstance(refused, CRMValidationError) and "lifecycle_stage" in str(refused)
    stored = [company.record("persons", i) for i in (ann, bob)]
    assert [(p["emails"][0]["value"], str(p["owner_id"]), p["org_id"]) for p in stored] == [
        ("ann@newco.example", owners[0], 2), ("bob@newco.example", owners[1], 5)]
    assert writes.writes == [("contact", ann, ("*",)), ("contact", bob, ("*",))]


def test_add_notes_adds_each_note_to_its_person(company, writes):
    note_ids = company.adapter(writes=writes).add_notes("contact", [("1", "Web form: pricing"), ("2", "Web form")])
    stored = [company.record("notes", n) for n in note_ids]
    assert [(p["person_id"], p["content"]) for p in stored] == [(1, "Web form: pricing"), (2, "Web form")]
    assert writes.writes == [("note", n, ("*",)) for n in note_ids]


def test_task_is_created_for_the_owner_due_in_utc_and_then_reads_as_done(company, writes):
    adapter, owner, other = company.adapter(writes=writes), company.users()[1], company.users()[2]
    due = dt.datetime(2026, 3, 2, 10, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    task_id = adapter.create_task(TaskSpec(subject="Call Alice", body="Hot lead: territory West", due_at=due,
                                           owner_id=owner, record_type="contact", record_id="1"))
    stored = company.record("activities", task_id)
    assert (stored["type"], str(stored["owner_id"]), stored["person_id"]) == ("call", owner, 1)
    assert (stored["due_date"], stored["due_time"], stored["done"]) == ("2026-03-02", "08:05", False)
    assert writes.writes == [("task", task_id, ("*",))]
    adapter.update_task(task_id, owner_id=other, due_at=dt.datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
    adapter.complete_task(task_id, note="closed by LeadRelay")
    state = adapter.get_task(task_id)
    assert (state.done, state.owner_id, state.due_at) == (True, other, dt.datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
    assert state.completed_at is not None
    assert company.record("activities", task_id)["note"] == "Hot lead: territory West<br><br>closed by LeadRelay"


def test_get_task_of_a_deleted_activity_is_none(company):
    company.simulate(action="delete", object_type="activity", id=4)
    assert company.adapter().get_task("4") is None


def test_activity_logged_since_sees_a_logged_call_only(company):
    adapter, since = company.adapter(), dt.datetime.now(UTC) - dt.timedelta(seconds=2)
    assert adapter.activity_logged_since("contact", "6", since) is False
    company.simulate(action="create", object_type="activity", properties={
        "type": "task", "done": True, "participants": [{"person_id": 6, "primary": True}]})
    assert adapter.activity_logged_since("contact", "6", since) is False  # a to-do is not contact
    company.simulate(action="create", object_type="activity", properties={
        "type": "call", "done": True, "participants": [{"person_id": 6, "primary": True}]})
    assert adapter.activity_logged_since("contact", "6", since) is True
    assert adapter.activity_logged_since("contact", "6", dt.datetime.now(UTC) + dt.timedelta(hours=1)) is False


def test_merge_keeps_the_survivor_with_its_values_and_the_losers_non_empty_ones(company, writes):
    # 29 has only the upper-cased email; 28 has the lower-cased email and a phone
    result = company.adapter(writes=writes).merge("contact", "29", "28")
    assert (result.survivor_id, result.merged_ids) == ("29", ("28",))
    assert company.record("persons", 28) is None
    survivor = company.record("persons", 29)
    assert [e["value"] for e in survivor["emails"]] == ["ELLEN.RIPLEY@WEYLAND.EXAMPLE"]
    assert [p["value"] for p in survivor["phones"]] == ["+1 415 555 0188"]
    assert set(writes.writes) == {("contact", "29", ("*",)), ("contact", "28", ("*",))}


def test_additional_emails_and_phones_keep_the_primary_ones(company, writes):
    adapter = company.adapter(writes=writes)
    before = company.record("persons", 28)
    [(email, _)] = [(e["value"], e["primary"]) for e in before["emails"]]
    [(phone, _)] = [(p["value"], p["primary"]) for p in before["phones"]]
    adapter.set_additional("contact", "28", emails=["ellen@home.example"], phones=["+1 415 555 0199"])
    person = company.record("persons", 28)
    assert [(e["value"], e["primary"]) for e in person["emails"]] == [(email, True), ("ellen@home.example", False)]
    assert [(p["value"], p["primary"]) for p in person["phones"]] == [(phone, True), ("+1 415 555 0199", False)]
    company.reset_calls()
    adapter.set_additional("contact", "28", emails=["ellen@home.example"])  # as it is: one read, no write
    assert [c["method"] for c in company.calls()] == ["GET"]
    adapter.set_additional("contact", "28", emails=[], phones=[])
    record = adapter.get_record("contact", "28")
    assert (record.fields["email"], record.fields["phone"], record.extra_emails, record.extra_phones) == (
        email, phone, (), ())
    assert ("contact", "28", ("extra_emails", "extra_phones")) in writes.writes


def test_merge_then_sets_the_given_fields_on_the_survivor(company):
    company.adapter().merge("contact", "21", "22", {"email": "selina.kyle@gmail.com"})
    assert company.record("persons", 22) is None
    assert company.record("persons", 21)["emails"][0]["value"] == "selina.kyle@gmail.com"


def test_subscribe_webhooks_is_idempotent_replaces_rotated_credentials_and_unsubscribes(company, staged):
    staged(limits={"pipedrive": {"burst_per_2s": 1000}})  # ~45 calls in a row
    adapter, url = company.adapter(), "https://leadrelay.test/webhooks/pipedrive"
    ids = adapter.subscribe_webhooks(url, "key-1", "secret-1")
    assert len(ids) == len(PipedriveAdapter.SUBSCRIPTIONS) == 14
    assert adapter.subscribe_webhooks(url, "key-1", "secret-1") == ids
    hooks = company.records("webhooks")
    assert {(h["event_action"], h["event_object"]) for h in hooks} == set(PipedriveAdapter.SUBSCRIPTIONS)
    assert {(h["version"], h["http_auth_user"], h["http_auth_password"]) for h in hooks} == {
        ("2.0", "key-1", "secret-1")}
    rotated = adapter.subscribe_webhooks(url, "key-2", "secret-2")
    assert set(rotated).isdisjoint(ids) and len(company.records("webhooks")) == 14
    adapter.unsubscribe_webhooks()
    assert company.records("webhooks") == []


def test_unsubscribe_uses_the_ids_stored_in_tenant_settings(company, staged):
    staged(limits={"pipedrive": {"burst_per_2s": 1000}})
    ids = company.adapter().subscribe_webhooks("https://leadrelay.test/webhooks/pipedrive", "k", "s")
    company.adapter(webhook_subscriptions=ids).unsubscribe_webhooks()
    assert company.records("webhooks") == []


# errors --------------------------------------------------------------------------------------------------
def test_bad_token_is_refreshed_once_then_auth_error(company):
    tokens = StaticTokens("pi-bad", refreshed="pi-still-bad")
    with pytest.raises(CRMAuthError):
        company.adapter(tokens=tokens).get_record("contact", "1")
    assert tokens.refresh_calls == 1


def test_refreshed_token_is_retried_once_and_works(company):
    tokens = StaticTokens("pi-expired", refreshed=company.account["access_token"])
    assert company.adapter(tokens=tokens).get_record("contact", "1").id == "1"
    assert tokens.refresh_calls == 1


def test_refused_refresh_propagates_reauth_required(company):
    with pytest.raises(ReauthRequired):
        company.adapter(tokens=StaticTokens("pi-bad")).list_users()


def test_staged_500_is_transient(company, staged):
    staged(error_rate=1.0)
    with pytest.raises(CRMTransient):
        company.adapter().get_record("contact", "1")


def test_timeout_is_transient(company, staged):
    class QuickAdapter(PipedriveAdapter):
        TIMEOUT = (2.0, 0.2)

    staged(timeout_rate=1.0, timeout_s=0.6)
    with pytest.raises(CRMTransient):
        company.adapter(cls=QuickAdapter).get_record("contact", "1")


def test_staged_burst_is_rate_limited_with_retry_after(company, staged, budget):
    staged(limits={"pipedrive": {"burst_per_2s": 1}})
    adapter = company.adapter(budget=budget)
    adapter.get_record("contact", "1")
    with pytest.raises(CRMRateLimited) as caught:
        adapter.get_record("contact", "2")
    assert 0 < caught.value.retry_after <= 2
    assert budget.observed[-1][:3] == ("default", 0, 1)


def test_used_up_daily_budget_is_exhausted_until_midnight_and_held_not_a_burst(company, staged, budget):
    """Pipedrive's daily-budget 429 (x-daily-ratelimit-token-remaining below the call's cost) says nothing goes
    through until midnight; its x-ratelimit-* still describe a 2-second window with room, which is no reason to
    ask again in two seconds."""
    staged(limits={"pipedrive": {"daily_tokens": 12}})
    adapter = company.adapter(budget=budget)
    adapter.get_records("contact", ["1", "2"])  # a v2 list: 10 of the 12 tokens
    with pytest.raises(CRMBudgetExhausted) as caught:
        adapter.find_company(domain="acme-robotics.example")  # a search costs 20
    midnight = dt.datetime.combine(dt.datetime.now(UTC).date() + dt.timedelta(days=1), dt.time(), tzinfo=UTC)
    assert caught.value.until == midnight + dt.timedelta(minutes=1) and caught.value.retry_after > 60
    assert "daily API token budget is used up (2 of 12 tokens left, this call costs 20)" in str(caught.value)
    assert budget.held == [("daily", caught.value.until.timestamp())]


def test_a_burst_429_lowers_the_limit_every_worker_believes(company, staged, redis_url):
    """Calls the tenant's budget never saw used up the company's 2-second window: the CRM's 429 holds the shared
    budget's burst bucket off and makes it believe a quarter less than even that 429's headers say; the daily
    token budget is left as it was."""
    staged(limits={"pipedrive": {"burst_per_2s": 4}})
    budget = shared_budget(redis_url, PipedriveAdapter)
    elsewhere = company.adapter()
    for person in ("1", "2", "3", "4"):
        elsewhere.get_record("contact", person)
    with pytest.raises(CRMRateLimited) as caught:
        company.adapter(budget=budget).get_record("contact", "5")
    assert not getattr(caught.value, "ours", False) and not isinstance(caught.value, CRMBudgetExhausted)
    assert believed_limits(redis_url, PipedriveAdapter) == {"default": 3, "search": None, "daily": None}
    with pytest.raises(CRMRateLimited):  # the next call LeadRelay would send waits out the 429
        budget.acquire("default")


def test_a_used_up_daily_budget_holds_calls_but_lowers_no_limit(company, staged, redis_url):
    staged(limits={"pipedrive": {"daily_tokens": 12, "burst_per_2s": 50, "search_burst_per_2s": 8}})
    budget = shared_budget(redis_url, PipedriveAdapter)
    adapter = company.adapter(budget=budget)
    adapter.get_records("contact", ["1", "2"])  # a v2 list: 10 of the 12 tokens
    with pytest.raises(CRMBudgetExhausted):
        adapter.find_company(domain="acme-robotics.example")  # a search costs 20
    # what the headers said, nothing lower
    assert believed_limits(redis_url, PipedriveAdapter) == {"default": 50, "search": 8, "daily": None}
    with pytest.raises(CRMBudgetExhausted):
        budget.acquire("daily")


def test_a_429_of_our_own_budget_teaches_it_nothing(company, redis_url):
    budget = shared_budget(redis_url, PipedriveAdapter)
    budget.acquire("default", 144)  # all of the 90 % of 160 per 2 s LeadRelay allows itself
    company.reset_calls()
    with pytest.raises(CRMRateLimited) as caught:
        company.adapter(budget=budget).get_record("contact", "1")
    assert caught.value.ours and company.calls() == []
    assert believed_limits(redis_url, PipedriveAdapter) == {"default": None, "search": None, "daily": None}


@responses.activate
def test_a_429_without_the_budget_headers_is_a_burst_to_wait_out_briefly(budget):
    # the budget headers can be missing after a long idle spell (Pipedrive staff, developer community): never
    # assume a whole day's wait without them
    base = "https://acme.pipedrive.example"
    body = {"success": False, "error": "Request over limit", "errorCode": 429}
    responses.get(f"{base}/api/v2/persons/1", json=body, status=429, headers={"x-ratelimit-reset": "2"})
    responses.get(f"{base}/api/v2/persons/2", json=body, status=429, headers={
        "x-ratelimit-reset": "1", "x-daily-ratelimit-token-remaining": "40", "x-daily-ratelimit-token-limit": "60000"})
    adapter = PipedriveAdapter(tenant_for({"account_id": "13000099", "api_base": base}, "pipedrive"),
                               StaticTokens("tok"), budget)
    for rid, wait in (("1", 2.0), ("2", 1.0)):
        with pytest.raises(CRMRateLimited) as caught:
            adapter.get_record("contact", rid)
        assert not isinstance(caught.value, CRMBudgetExhausted) and caught.value.retry_after == wait
    assert budget.held == []


def test_refused_data_is_a_validation_error_with_pipedrives_message(company):
    with pytest.raises(CRMValidationError, match="owner_id"):
        company.adapter().set_owner("contact", "1", "424242")


@responses.activate
def test_non_json_error_bodies_are_mapped_not_returned():
    # pipedrive-python-lib returns non-JSON bodies as text instead of raising (a proxy's 503 page)
    base = "https://acme.pipedrive.example"
    responses.get(f"{base}/api/v2/persons/1", body="<html>503 upstream</html>", status=503, content_type="text/html")
    responses.get(f"{base}/api/v2/persons/2", body="Not Found", status=404, content_type="text/plain")
    responses.get(f"{base}/api/v2/persons/3", body="<html>ok?</html>", status=200, content_type="text/html")
    account = {"account_id": "13000099", "api_base": base}
    adapter = PipedriveAdapter(tenant_for(account, "pipedrive"), StaticTokens("tok"))
    with pytest.raises(CRMTransient, match="503"):
        adapter.get_record("contact", "1")
    assert adapter.get_record("contact", "2") is None
    with pytest.raises(CRMTransient, match="expected JSON"):
        adapter.get_record("contact", "3")
