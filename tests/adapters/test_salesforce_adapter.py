"""SalesforceAdapter contract tests: the adapter, simple-salesforce inside it, the sandbox org on the other side."""
from __future__ import annotations

import datetime as dt

import pytest
import requests
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest, SalesforceResourceNotFound

from adapters.registry import get_adapter_class
from adapters.salesforce.adapter import SalesforceAdapter
from adapters.salesforce.errors import SoapFault, from_save_result, translate
from integration.errors import (
    CRMAuthError,
    CRMConflict,
    CRMNotFound,
    CRMRateLimited,
    CRMRecordRefused,
    CRMTransient,
    CRMValidationError,
    ReauthRequired,
)
from integration.protocols import CRMAdapter
from integration.records import NewRecord, OwnerWrite, TaskSpec
from tests.adapters.conftest import (
    RecordingBudget,
    RecordingWrites,
    StaticTokens,
    believed_limits,
    sandbox_account,
    shared_budget,
    tenant_for,
)

HTTP = requests.Session()
HTTP.trust_env = False


@pytest.fixture()
def org(adapter_sandbox):
    return sandbox_account(adapter_sandbox, "salesforce")


@pytest.fixture()
def adapter(org, budget, writes):
    return SalesforceAdapter(tenant_for(org, "salesforce"), StaticTokens(org["access_token"]), budget, writes)


@pytest.fixture()
def control(adapter_sandbox, org):
    """GET/POST helpers on the sandbox control API for this org; staged config is reset afterwards."""
    base = f"{adapter_sandbox.url}/_sandbox/accounts/{org['account_id']}"

    class Control:
        def rows(self, object_type):
            return HTTP.get(f"{base}/{object_type}", timeout=10).json()["results"]

        def row(self, object_type, record_id):
            return next(r for r in self.rows(object_type) if r["Id"] == record_id)

        def simulate(self, **body):
            answer = HTTP.post(f"{base}/simulate", json=body, timeout=10)
            answer.raise_for_status()
            return answer.json()

        def calls(self):
            return len(HTTP.get(f"{base}/calls", timeout=10).json()["calls"])

        def stage(self, **config):
            HTTP.post(f"{adapter_sandbox.url}/_sandbox/config", json=config, timeout=10).raise_for_status()

    yield Control()
    HTTP.post(f"{adapter_sandbox.url}/_sandbox/config/reset", timeout=10)


def lead_id(control, email):
    return next(r["Id"] for r in control.rows("Lead") if r["Email"] == email)


def test_registry_and_protocol(adapter):
    assert get_adapter_class("salesforce") is SalesforceAdapter
    assert isinstance(adapter, CRMAdapter)
    assert SalesforceAdapter.LEAD_OBJECT == "lead"


def test_get_record_maps_fields_and_company(adapter, control):
    contact = next(r for r in control.rows("Contact") if r["Email"] == "jon.smith@acme.com")
    record = adapter.get_record("contact", contact["Id"])
    assert record.fields["email"] == "jon.smith@acme.com"
    assert record.fields["company"] == "Acme Corporation"
    assert (record.company_id, record.owner_id) == (contact["AccountId"], contact["OwnerId"])


def test_get_record_of_a_missing_id_is_none(adapter):
    assert adapter.get_record("lead", "00Q8d000000ZZZZEAA") is None
    assert adapter.get_record("lead", "not-an-id") is None


def test_batch_read_uses_one_call_for_many_ids(adapter, control):
    ids = [r["Id"] for r in control.rows("Lead")][:10]
    before = control.calls()
    records = adapter.get_records("lead", ids + ["00Q8d000000ZZZZEAA"])
    assert sorted(r.id for r in records) == sorted(ids)
    assert control.calls() - before == 1


def test_duplicates_by_email_case_phone_format_and_name_company(adapter):
    by_email = adapter.find_duplicate_candidates("lead", emails=["jon.smith@acme.com"])
    by_phone = adapter.find_duplicate_candidates("contact", phones=["+14155550134"])
    by_name = adapter.find_duplicate_candidates("contact", name="Lena Fischer", company="Initech GmbH")
    assert [r.fields["email"] for r in by_email] == ["Jon.Smith@Acme.com"]
    assert [r.fields["phone"] for r in by_phone] == ["+1 (415) 555-0134"]
    assert [r.fields["email"] for r in by_name] == ["lena.fischer@initech.de"]


def test_duplicates_across_phone_formats_without_false_friends(adapter):
    found = adapter.find_duplicate_candidates("lead", phones=["+447700900123"])
    assert sorted(r.fields["phone"] for r in found) == ["+44 7700 900123", "07700 900123"]
    assert adapter.find_duplicate_candidates("lead") == []


def test_users_have_active_flags_time_zones_and_managers(adapter, control):
    users = control.rows("User")
    control.simulate(action="update", object_type="User", id=users[3]["Id"], properties={"IsActive": False})
    by_email = {u.email: u for u in adapter.list_users()}
    assert by_email["drew.tanaka@example.com"].active is False
    assert by_email["casey.muller@example.com"].timezone == "Europe/Berlin"
    assert by_email["blake.rivera@example.com"].manager_id == users[0]["Id"]


def test_find_company_by_domain_then_name(adapter):
    by_domain = adapter.find_company(domain="www.acme.com")
    assert (by_domain.name, by_domain.domain) == ("Acme Corporation", "acme.com")
    assert adapter.find_company(name="Hooli").domain == "hooli.com"
    assert adapter.find_company(domain="nobody.example") is None


def test_find_companies_is_one_query_and_agrees_with_find_company(adapter, control):
    owners = [u["Id"] for u in control.rows("User")][:3]
    made = [control.simulate(action="create", object_type="Account", properties={"Name": n, "Website": w, "OwnerId": o})
            for n, w, o in zip(("Alpha", "Beta", "Gamma"), ("https://www.alpha.example/about", "beta.example",
                                                             "http://gamma.example"), owners, strict=True)]
    before = control.calls()
    found = adapter.find_companies(["alpha.example", "BETA.example", "nowhere.example"])
    assert control.calls() - before == 1
    assert {d: c and (c.id, c.name, c.owner_id) for d, c in found.items()} == {
        "alpha.example": (made[0]["Id"], "Alpha", owners[0]), "BETA.example": (made[1]["Id"], "Beta", owners[1]),
        "nowhere.example": None}
    assert [adapter.find_company(domain=d) for d in found] == list(found.values())


def test_set_owner_changes_the_stored_owner(adapter, control, writes, budget):
    lead = lead_id(control, "sofia.rossi@example.it")
    new_owner = control.rows("User")[3]["Id"]
    adapter.set_owner("lead", lead, new_owner)
    assert control.row("Lead", lead)["OwnerId"] == new_owner
    assert writes.writes == [("lead", lead, ("owner",))]
    assert ("daily", 1) in budget.acquired
    assert budget.observed[-1][0] == "daily" and budget.observed[-1][2] == 100_000


def test_set_fields_writes_mapped_fields_and_refuses_unknown_ones(adapter, control, writes):
    lead = lead_id(control, "sofia.rossi@example.it")
    adapter.set_fields("lead", lead, {"lead_status": "Working - Contacted", "city": "Milano"})
    stored = control.row("Lead", lead)
    assert (stored["Status"], stored["City"]) == ("Working - Contacted", "Milano")
    assert writes.writes == [("lead", lead, ("lead_status", "city"))]
    with pytest.raises(CRMValidationError, match="lifecycle_stage"):
        adapter.set_fields("lead", lead, {"lifecycle_stage": "customer"})


def test_task_lifecycle(adapter, control, writes):
    lead = lead_id(control, "sofia.rossi@example.it")
    owner, other = control.rows("User")[1]["Id"], control.rows("User")[2]["Id"]
    due = dt.datetime(2031, 3, 4, 9, 5, tzinfo=dt.UTC)
    task_id = adapter.create_task(TaskSpec(subject="Call Sofia", body="Hot lead: Web, Italy", due_at=due,
                                           owner_id=owner, record_type="lead", record_id=lead))
    stored = control.row("Task", task_id)
    assert (stored["WhoId"], stored["OwnerId"], stored["ActivityDate"]) == (lead, owner, "2031-03-04")
    assert (stored["Subject"], stored["Priority"], stored["IsClosed"]) == ("Call Sofia", "High", False)
    adapter.update_task(task_id, owner_id=other)
    assert adapter.get_task(task_id).owner_id == other
    adapter.complete_task(task_id, note="Escalated: nobody called")
    state = adapter.get_task(task_id)
    assert (state.done, state.due_at) == (True, dt.datetime(2031, 3, 4, tzinfo=dt.UTC))
    assert control.row("Task", task_id)["Description"] == "Hot lead: Web, Italy\n\nEscalated: nobody called"
    assert ("task", task_id, ("*",)) in writes.writes


THREE_LEADS = ("sofia.rossi@example.it", "ahmed.khan@wayne-logistics.com", "yuki.sato@tyrell.jp")


def test_set_owners_writes_owners_and_fields_in_one_request(adapter, control, writes):
    leads = [lead_id(control, email) for email in THREE_LEADS]
    owners = [user["Id"] for user in control.rows("User")[1:4]]
    before = control.calls()
    failures = adapter.set_owners("lead", [OwnerWrite(lead, owner, {"leadrelay_score": 87, "leadrelay_rule": "EMEA"})
                                           for lead, owner in zip(leads, owners, strict=True)])
    assert failures == {}
    assert control.calls() - before == 1
    stored = [control.row("Lead", lead) for lead in leads]
    assert [(r["OwnerId"], r["LeadRelay_Score__c"], r["LeadRelay_Rule__c"]) for r in stored] == [
        (owners[0], 87, "EMEA"), (owners[1], 87, "EMEA"), (owners[2], 87, "EMEA")]
    assert writes.writes == [("lead", lead, ("owner", "leadrelay_score", "leadrelay_rule")) for lead in leads]


def test_set_owners_fails_only_the_records_salesforce_refused(adapter, control, writes):
    good, deleted, bad_owner = [lead_id(control, email) for email in THREE_LEADS]
    owner = control.rows("User")[2]["Id"]
    control.simulate(action="delete", object_type="Lead", id=deleted)
    failures = adapter.set_owners("lead", [OwnerWrite(good, owner), OwnerWrite(deleted, owner),
                                           OwnerWrite(bad_owner, "0058d000000ZZZZAAA")])
    assert sorted(failures) == sorted([deleted, bad_owner])
    assert isinstance(failures[deleted], CRMNotFound)
    assert isinstance(failures[bad_owner], CRMValidationError)
    assert "INVALID_CROSS_REFERENCE_KEY" in str(failures[bad_owner])
    assert control.row("Lead", good)["OwnerId"] == owner
    # every record is remembered before the write (its change notification can come before the answer)
    assert writes.writes == [("lead", lead, ("owner",)) for lead in (good, deleted, bad_owner)]


def test_create_tasks_returns_ids_in_order_from_one_request(adapter, control, writes):
    leads = [lead_id(control, email) for email in THREE_LEADS]
    owners = [user["Id"] for user in control.rows("User")[1:4]]
    due = [dt.datetime(2031, 3, day, 9, 5, tzinfo=dt.UTC) for day in (4, 5, 6)]
    before = control.calls()
    task_ids = adapter.create_tasks([TaskSpec(subject="Call", body="", due_at=when, owner_id=owner,
                                              record_type="lead", record_id=lead)
                                     for lead, owner, when in zip(leads, owners, due, strict=True)])
    assert control.calls() - before == 1
    stored = [control.row("Task", task_id) for task_id in task_ids]
    assert [(r["WhoId"], r["OwnerId"], r["ActivityDate"]) for r in stored] == [
        (leads[0], owners[0], "2031-03-04"), (leads[1], owners[1], "2031-03-05"), (leads[2], owners[2], "2031-03-06")]
    assert writes.writes == [("task", task_id, ("*",)) for task_id in task_ids]


def test_a_request_refused_as_a_whole_fails_every_item(adapter, control):
    leads = [lead_id(control, email) for email in THREE_LEADS]
    owner = control.rows("User")[1]["Id"]
    control.stage(limits={"salesforce": {"daily_api_requests": 0}})
    failures = adapter.set_owners("lead", [OwnerWrite(lead, owner) for lead in leads])
    results = adapter.create_tasks([TaskSpec(subject="Call", body="", due_at=dt.datetime(2031, 3, 4, tzinfo=dt.UTC),
                                             owner_id=owner, record_type="lead", record_id=lead) for lead in leads])
    assert sorted(failures) == sorted(leads)
    assert all(isinstance(error, CRMRateLimited) for error in [*failures.values(), *results])
    assert len(results) == 3


# the seeded org has Katie Jones twice (two mailboxes): duplicates for a rule matching on the name
SAME_NAME = {"sobject": "Lead", "name": "Same_Name", "match": ["FirstName+LastName"]}


def test_writes_pass_duplicate_rules_that_only_alert(adapter, control):
    katie, other = lead_id(control, "katie.jones@gmail.com"), lead_id(control, "katiejones@gmail.com")
    owner = control.rows("User")[2]["Id"]
    control.stage(duplicate_rules=[{**SAME_NAME, "on_create": "alert", "on_edit": "alert"}])
    adapter.set_owner("lead", katie, owner)
    assert adapter.set_owners("lead", [OwnerWrite(other, owner)]) == {}
    again = adapter.create_record("lead", {"first_name": "Katie", "last_name": "Jones", "company": "Self-employed"},
                                  owner)
    assert [control.row("Lead", i)["OwnerId"] for i in (katie, other, again)] == [owner] * 3


def test_a_blocking_duplicate_rule_refuses_the_record_with_salesforces_words(adapter, control):
    katie, other = lead_id(control, "katie.jones@gmail.com"), lead_id(control, "katiejones@gmail.com")
    owner = next(u["Id"] for u in control.rows("User") if u["Id"] != control.row("Lead", katie)["OwnerId"])
    control.stage(duplicate_rules=[{**SAME_NAME, "on_edit": "block", "message": "Merge the Katies first."}])
    with pytest.raises(CRMRecordRefused) as err:
        adapter.set_owner("lead", katie, owner)
    assert str(err.value) == f"DUPLICATES_DETECTED: Merge the Katies first. (duplicate rule Same_Name matched {other})"
    failures = adapter.set_owners("lead", [OwnerWrite(other, owner)])
    assert isinstance(failures[other], CRMRecordRefused)
    assert str(failures[other]) == "DUPLICATES_DETECTED: Merge the Katies first."  # a SaveResult has no details
    assert control.row("Lead", katie)["OwnerId"] != owner


def test_create_records_saves_each_record_it_can_in_one_request(adapter, control, writes):
    accounts = [r["Id"] for r in control.rows("Account")[:2]]
    owners = [user["Id"] for user in control.rows("User")[1:3]]
    items = [NewRecord({"email": "ann@newco.example", "first_name": "Ann", "last_name": "Lee"}, owners[0], accounts[0]),
             NewRecord({"email": "nolast@newco.example", "first_name": "No"}, owners[0], accounts[0]),
             NewRecord({"email": "bob@newco.example", "last_name": "Bobson"}, owners[1], accounts[1])]
    before = control.calls()
    ann, refused, bob = adapter.create_records("contact", items)
    assert control.calls() - before == 1
    assert isinstance(refused, CRMValidationError) and str(refused).startswith("REQUIRED_FIELD_MISSING")
    stored = [control.row("Contact", i) for i in (ann, bob)]
    assert [(r["Email"], r["OwnerId"], r["AccountId"]) for r in stored] == [
        ("ann@newco.example", owners[0], accounts[0]), ("bob@newco.example", owners[1], accounts[1])]
    assert "nolast@newco.example" not in {r["Email"] for r in control.rows("Contact")}
    assert writes.writes == [("contact", ann, ("*",)), ("contact", bob, ("*",))]


def test_create_records_maps_a_blocking_duplicate_rule_as_create_record_does(adapter, control):
    control.stage(duplicate_rules=[{**SAME_NAME, "on_create": "block", "message": "Merge the Katies first."}])
    katie = {"first_name": "Katie", "last_name": "Jones", "company": "Self-employed"}
    items = [NewRecord({"first_name": "Ann", "last_name": "Lee", "company": "NewCo"}, None, "001ignoredForALead"),
             NewRecord(katie), NewRecord({"last_name": "Bobson", "company": "NewCo"})]
    ann, refused, bob = adapter.create_records("lead", items)
    with pytest.raises(CRMRecordRefused) as alone:
        adapter.create_record("lead", katie, None)
    assert type(refused) is type(alone.value) and str(refused) == "DUPLICATES_DETECTED: Merge the Katies first."
    assert [control.row("Lead", i)["LastName"] for i in (ann, bob)] == ["Lee", "Bobson"]


def test_add_notes_makes_each_note_on_its_record_in_one_request(adapter, control, writes):
    leads = [lead_id(control, email) for email in THREE_LEADS[:2]]
    before = control.calls()
    note_ids = adapter.add_notes("lead", [(leads[0], "Web form\nAsked for pricing"), (leads[1], "Web form")])
    assert control.calls() - before == 1
    stored = [control.row("Note", n) for n in note_ids]
    assert [(r["ParentId"], r["Title"], r["Body"]) for r in stored] == [
        (leads[0], "Web form", "Web form\nAsked for pricing"), (leads[1], "Web form", "Web form")]
    assert writes.writes == [("note", n, ("*",)) for n in note_ids]


def test_get_task_of_a_deleted_task_is_none(adapter, control):
    task_id = next(r["Id"] for r in control.rows("Task"))
    control.simulate(action="delete", object_type="Task", id=task_id)
    assert adapter.get_task(task_id) is None


def test_activity_logged_since_sees_a_logged_call_not_our_open_task(adapter, control):
    lead = lead_id(control, "sofia.rossi@example.it")
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    adapter.create_task(TaskSpec(subject="SLA", body="", due_at=since, owner_id=control.rows("User")[1]["Id"],
                                 record_type="lead", record_id=lead))
    assert adapter.activity_logged_since("lead", lead, since) is False
    control.simulate(action="create", object_type="Task", properties={
        "Subject": "Call", "WhoId": lead, "TaskSubtype": "Call", "Status": "Completed", "Type": "Call"})
    assert adapter.activity_logged_since("lead", lead, since) is True


def test_merge_keeps_survivor_values_and_fills_gaps_from_the_other(adapter, control, writes):
    survivor = control.simulate(action="create", object_type="Lead", properties={
        "FirstName": "Ada", "LastName": "King", "Company": "Engines Ltd", "Email": "ada@engines.example"})["Id"]
    other = control.simulate(action="create", object_type="Lead", properties={
        "FirstName": "Augusta", "LastName": "King", "Company": "Engines", "Email": "augusta@engines.example",
        "Phone": "+44 20 7946 0000", "Title": "Countess"})["Id"]
    result = adapter.merge("lead", survivor, other, fields={"lead_status": "Working - Contacted"})
    assert (result.survivor_id, result.merged_ids) == (survivor, (other,))
    stored = control.row("Lead", survivor)
    assert (stored["FirstName"], stored["Email"], stored["Company"]) == ("Ada", "ada@engines.example", "Engines Ltd")
    assert (stored["Phone"], stored["Title"], stored["Status"]) == ("+44 20 7946 0000", "Countess",
                                                                    "Working - Contacted")
    assert other not in {r["Id"] for r in control.rows("Lead")}
    assert adapter.get_record("lead", other) is None
    assert ("lead", other, ("*",)) in writes.writes
    assert adapter.merge("lead", survivor, other) == result  # a retried job changes nothing


def test_a_lead_keeps_no_additional_emails_or_phones(adapter, control):
    before = control.calls()
    adapter.set_additional("lead", "00Q8d000000001AAA", emails=[], phones=[])  # nothing to do
    with pytest.raises(CRMValidationError, match="no additional emails or phones"):
        adapter.set_additional("lead", "00Q8d000000001AAA", emails=["x@home.example"])
    assert control.calls() == before


def test_merge_of_an_unmergeable_object_is_refused(adapter):
    with pytest.raises(CRMValidationError):
        adapter.merge("deal", "0068d0000000001AAA", "0068d0000000002AAA")


def test_changed_since_pages_through_changes_after_the_cursor(adapter, control):
    cursor = adapter.changed_since("lead", None, limit=200).cursor
    ids = [lead_id(control, e) for e in ("sofia.rossi@example.it", "ahmed.khan@wayne-logistics.com",
                                         "yuki.sato@tyrell.jp")]
    for record_id in ids:
        control.simulate(action="update", object_type="Lead", id=record_id, properties={"Rating": "Hot"})
    first = adapter.changed_since("lead", cursor, limit=2)
    second = adapter.changed_since("lead", first.cursor, limit=2)
    assert ([r.id for r in first.records], first.has_more) == (ids[:2], True)
    assert ([r.id for r in second.records], second.has_more) == (ids[2:], False)
    assert adapter.changed_since("lead", second.cursor).records == []


def test_subscriptions_are_configured_by_the_admin(adapter, control):
    before = control.calls()
    assert adapter.subscribe_webhooks("https://x.example/webhooks/salesforce/k/s", "k", "s") == []
    adapter.unsubscribe_webhooks()
    assert control.calls() == before


def test_bad_token_refreshes_once_then_succeeds(org):
    tokens = StaticTokens("sa-expired", refreshed=org["access_token"])
    adapter = SalesforceAdapter(tenant_for(org, "salesforce"), tokens)
    assert adapter.find_company(name="Hooli") is not None
    assert tokens.refresh_calls == 1


def test_bad_token_after_refresh_is_an_auth_error(org):
    tokens = StaticTokens("sa-expired", refreshed="sa-still-bad")
    with pytest.raises(CRMAuthError):
        SalesforceAdapter(tenant_for(org, "salesforce"), tokens).list_users()
    assert tokens.refresh_calls == 1


def test_refused_refresh_propagates_reauth_required(org):
    with pytest.raises(ReauthRequired):
        SalesforceAdapter(tenant_for(org, "salesforce"), StaticTokens("sa-expired")).list_users()


def test_staged_500_is_transient(adapter, control):
    control.stage(error_rate=1.0)
    with pytest.raises(CRMTransient):
        adapter.list_users()


def test_used_up_daily_allocation_is_rate_limited(adapter, control):
    control.stage(limits={"salesforce": {"daily_api_requests": 0}})
    with pytest.raises(CRMRateLimited) as err:
        adapter.get_record("lead", "00Q8d000000ZZZZEAA")
    assert err.value.retry_after == 3600


def test_a_used_up_allocation_holds_every_call_and_lowers_the_believed_allocation(org, control, redis_url):
    """REQUEST_LIMIT_EXCEEDED: the org's rolling 24 h allocation, its only limit, ran out although the budget let the
    call go (other apps share it). It names no reset to hold calls until, so the shared budget holds every call off
    for the error's hour and believes a quarter less of the allocation meanwhile."""
    budget = shared_budget(redis_url, SalesforceAdapter)
    control.stage(limits={"salesforce": {"daily_api_requests": 0}})
    with pytest.raises(CRMRateLimited) as err:
        SalesforceAdapter(tenant_for(org, "salesforce"), StaticTokens(org["access_token"]), budget).list_users()
    assert not getattr(err.value, "ours", False)
    assert believed_limits(redis_url, SalesforceAdapter) == {"daily": 75_000}  # of the 100,000 assumed
    with pytest.raises(CRMRateLimited) as held:
        budget.acquire("daily")
    assert held.value.retry_after >= err.value.retry_after


def test_a_429_of_our_own_budget_teaches_it_nothing(org, control, redis_url):
    budget = shared_budget(redis_url, SalesforceAdapter)
    budget.acquire("daily", 90_000)  # all of the 90 % of the org's allocation LeadRelay allows itself
    before = control.calls()
    with pytest.raises(CRMRateLimited) as err:
        SalesforceAdapter(tenant_for(org, "salesforce"), StaticTokens(org["access_token"]), budget).list_users()
    assert err.value.ours and control.calls() == before
    assert believed_limits(redis_url, SalesforceAdapter) == {"daily": None}


def test_budget_is_taken_for_every_call(org):
    budget, writes = RecordingBudget(), RecordingWrites()
    adapter = SalesforceAdapter(tenant_for(org, "salesforce"), StaticTokens(org["access_token"]), budget, writes)
    adapter.list_users()
    adapter.find_company(domain="acme.com")
    assert budget.acquired == [("daily", 1), ("daily", 1)]


@pytest.mark.parametrize(("failure", "expected"), [
    (SoapFault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), CRMRateLimited),
    (SoapFault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader"), CRMAuthError),
    (SoapFault("INVALID_ID_FIELD", "invalid record id"), CRMValidationError),
    (SoapFault("", "<html>bad gateway</html>", 502), CRMTransient),
    (SalesforceGeneralError("u", 409, "Lead", [{"errorCode": "CONFLICT", "message": "changed"}]), CRMConflict),
    (SalesforceGeneralError("u", 503, "Lead", "Service Unavailable"), CRMTransient),
    (SalesforceResourceNotFound("u", 404, "Lead", [{"errorCode": "ENTITY_IS_DELETED", "message": "deleted"}]),
     CRMNotFound),
    (SalesforceMalformedRequest("u", 400, "Lead", [{"errorCode": "INVALID_EMAIL_ADDRESS", "message": "Email"}]),
     CRMValidationError),
    (requests.ReadTimeout("read timed out"), CRMTransient),
    (requests.ConnectionError("reset"), CRMTransient),
])
def test_error_mapping(failure, expected):
    assert isinstance(translate(failure), expected)


def test_validation_error_keeps_salesforce_message():
    error = translate(SalesforceMalformedRequest("u", 400, "Lead", [
        {"errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "message": "Status: bad value"}]))
    assert str(error) == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: Status: bad value"


@pytest.mark.parametrize("details", [None, "garbage", {"matchResults": "garbage"}, {"matchResults": [
    {"matchRecords": [{"record": "garbage"}, {"record": {"Id": None}}]}]}])
def test_duplicate_details_that_are_missing_or_malformed_still_give_the_message(details):
    body = {"errorCode": "DUPLICATES_DETECTED", "message": "Use one of these records?"}
    if details is not None:
        body["duplicateResut"] = details
    error = translate(SalesforceMalformedRequest("u", 400, "Lead", [body]))
    assert isinstance(error, CRMRecordRefused) and str(error).startswith("DUPLICATES_DETECTED: Use one of these")


@pytest.mark.parametrize(("code", "fields", "expected"), [
    ("ENTITY_IS_DELETED", [], CRMNotFound),
    ("INVALID_CROSS_REFERENCE_KEY", [], CRMNotFound),
    ("INVALID_CROSS_REFERENCE_KEY", ["OwnerId"], CRMValidationError),
    ("INACTIVE_OWNER_OR_USER", ["OwnerId"], CRMValidationError),
    ("UNABLE_TO_LOCK_ROW", [], CRMTransient),
    ("DUPLICATES_DETECTED", [], CRMRecordRefused),
])
def test_save_result_mapping(code, fields, expected):
    result = {"id": None, "success": False, "errors": [{"statusCode": code, "message": "m", "fields": fields}]}
    assert isinstance(from_save_result(result), expected)
    assert from_save_result({"id": "00Q8d000000ZZZZEAA", "success": True, "errors": []}) is None
