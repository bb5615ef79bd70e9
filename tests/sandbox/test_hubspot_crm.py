"""Contract tests: hubspot-api-client 12 against the sandbox's CRM API."""
from __future__ import annotations

import json

import pytest
from hubspot.crm.associations.v4 import AssociationSpec
from hubspot.crm.contacts import (
    BatchReadInputSimplePublicObjectId,
    PublicMergeInput,
    PublicObjectSearchRequest,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ApiException, NotFoundException, UnauthorizedException
from hubspot.crm.deals import PublicMergeInput as DealMerge
from hubspot.crm.objects import SimplePublicObjectInputForCreate as ObjectInput
from hubspot.crm.objects.notes.exceptions import ApiException as NoteApiException
from hubspot.crm.objects.tasks.exceptions import ApiException as TaskApiException

from tests.sandbox import hubspot_support as S

portal, sdk = S.portal, S.sdk


@pytest.fixture()
def demo(sandbox):
    # contract tests page through search quickly; the real 5/s search limit is covered in test_hubspot_limits
    sandbox.sandbox.config.update({"limits": {"hubspot": {"search_per_second": 1000}}})
    acct = portal(sandbox, seed=True)
    return acct, sdk(sandbox, acct["access_token"])


def _search(client, filters, **kw):
    req = PublicObjectSearchRequest(filter_groups=[{"filters": filters}], **kw)
    return client.crm.contacts.search_api.do_search(public_object_search_request=req)


def test_get_by_id_returns_string_properties_and_404_for_unknown(demo):
    _, client = demo
    page = client.crm.contacts.basic_api.get_page(limit=2, properties=["email", "phone"])
    first = page.results[0]
    got = client.crm.contacts.basic_api.get_by_id(first.id, properties=["email", "phone", "hubspot_owner_id"])
    assert got.properties["hs_object_id"] == first.id
    assert isinstance(got.properties["hubspot_owner_id"], str)
    assert got.properties["email"] and got.created_at is not None
    with pytest.raises(NotFoundException) as exc:
        client.crm.contacts.basic_api.get_by_id("999999999")
    assert json.loads(exc.value.body)["category"] == "OBJECT_NOT_FOUND"


def test_bad_and_expired_tokens_get_the_sdk_auth_error(sandbox):
    with pytest.raises(UnauthorizedException) as exc:
        sdk(sandbox, "not-a-token").crm.contacts.basic_api.get_page()
    assert json.loads(exc.value.body)["category"] == "INVALID_AUTHENTICATION"
    expired = portal(sandbox, token_ttl=0.001)
    with pytest.raises(UnauthorizedException) as exc:
        sdk(sandbox, expired["access_token"]).crm.contacts.basic_api.get_page()
    assert json.loads(exc.value.body)["category"] == "EXPIRED_AUTHENTICATION"


def test_create_update_owner_and_lifecycle(demo):
    _, client = demo
    owners = client.crm.owners.owners_api.get_page().results
    contact = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": "new.lead@example.org", "firstname": "New", "hubspot_owner_id": owners[0].id}))
    assert contact.properties["hs_email_domain"] == "example.org"
    client.crm.contacts.basic_api.update(contact.id, SimplePublicObjectInput(
        properties={"hubspot_owner_id": owners[1].id, "lifecyclestage": "salesqualifiedlead"}))
    got = client.crm.contacts.basic_api.get_by_id(contact.id, properties=["hubspot_owner_id", "lifecyclestage"],
                                                  properties_with_history=["hubspot_owner_id"])
    assert got.properties["hubspot_owner_id"] == owners[1].id
    assert got.properties["lifecyclestage"] == "salesqualifiedlead"
    assert [h.value for h in got.properties_with_history["hubspot_owner_id"]] == [owners[1].id, owners[0].id]
    assert got.updated_at > contact.created_at
    with pytest.raises(ApiException) as exc:
        client.crm.contacts.basic_api.update(contact.id, SimplePublicObjectInput(
            properties={"hubspot_owner_id": "123"}))
    assert exc.value.status == 400 and "INVALID_OWNER_ID" in exc.value.body


def test_validation_errors_and_duplicate_email_conflict(demo):
    _, client = demo
    with pytest.raises(ApiException) as exc:
        client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"no_such_prop": "x"}))
    body = json.loads(exc.value.body)
    assert exc.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    with pytest.raises(ApiException) as exc:
        client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
            properties={"email": "JENNIFER.WALSH@acmerobotics.com"}))
    assert exc.value.status == 409 and "Existing ID" in json.loads(exc.value.body)["message"]


def test_batch_read_reports_missing_ids(demo):
    _, client = demo
    ids = [c.id for c in client.crm.contacts.basic_api.get_page(limit=3).results]
    resp = client.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=i) for i in ids + ["424242"]], properties=["email"],
        properties_with_history=[]))
    assert sorted(r.id for r in resp.results) == sorted(ids)
    assert resp.errors[0].context["ids"] == ["424242"]


def test_batch_create_and_update(demo):
    _, client = demo
    created = client.crm.contacts.batch_api.create({"inputs": [
        {"properties": {"email": f"batch{i}@example.net"}, "associations": []} for i in range(3)]})
    assert len(created.results) == 3
    updated = client.crm.contacts.batch_api.update({"inputs": [
        {"id": r.id, "properties": {"lifecyclestage": "lead"}} for r in created.results]})
    assert {r.properties["lifecyclestage"] for r in updated.results} == {"lead"}


def _emails(client) -> set[str]:
    found, after = set(), None
    while True:
        page = client.crm.contacts.basic_api.get_page(limit=100, after=after, properties=["email"])
        found |= {(c.properties.get("email") or "").lower() for c in page.results}
        after = page.paging.next.after if page.paging and page.paging.next else None
        if not after:
            return found


def test_batch_create_with_one_taken_email_is_a_409_for_the_batch_and_creates_nothing(demo):
    # HubSpot/hubspot-api-python#51: the batch answers the first taken email's conflict; the valid inputs before it
    # are not created either (mitodl/mitxpro#2653 retries them one by one)
    _, client = demo
    taken = _search(client, [{"propertyName": "email", "operator": "EQ",
                              "value": "jennifer.walsh@acmerobotics.com"}]).results[0]
    inputs = [{"properties": {"email": "first@fresh.example"}, "associations": []},
              {"properties": {"email": "Jennifer.Walsh@acmerobotics.com"}, "associations": []},
              {"properties": {"email": "last@fresh.example"}, "associations": []}]
    with pytest.raises(ApiException) as exc:
        client.crm.contacts.batch_api.create({"inputs": inputs})
    body = json.loads(exc.value.body)
    assert (exc.value.status, body["category"], body["message"]) == (
        409, "CONFLICT", f"Contact already exists. Existing ID: {taken.id}")
    assert not {"first@fresh.example", "last@fresh.example"} & _emails(client)


@pytest.mark.parametrize("second", [
    {"properties": {"email": "one@fresh.example"}, "associations": []},  # the same email twice in one batch
    {"properties": {"email": "two@fresh.example"}, "associations": [
        {"to": {"id": "987654321"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]},
    {"properties": {"no_such_prop": "x"}, "associations": []},
])
def test_batch_create_with_one_invalid_input_is_a_400_for_the_batch_and_creates_nothing(demo, second):
    _, client = demo
    with pytest.raises(ApiException) as exc:
        client.crm.contacts.batch_api.create({"inputs": [
            {"properties": {"email": "one@fresh.example"}, "associations": []}, second]})
    assert exc.value.status == 400 and json.loads(exc.value.body)["category"] == "VALIDATION_ERROR"
    assert not {"one@fresh.example", "two@fresh.example"} & _emails(client)


NOTE_TO_CONTACT = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}


def test_batch_create_of_notes_associates_each_to_its_contact(demo):
    _, client = demo
    contacts = [c.id for c in client.crm.contacts.basic_api.get_page(limit=2).results]
    notes = client.crm.objects.notes.batch_api.create({"inputs": [
        {"properties": {"hs_note_body": f"note {n}", "hs_timestamp": "2026-12-01T09:00:00Z"},
         "objectWriteTraceId": str(n), "associations": [{"to": {"id": c}, "types": [NOTE_TO_CONTACT]}]}
        for n, c in enumerate(contacts)]})
    by_trace = {r.object_write_trace_id: r.id for r in notes.results}
    for n, contact in enumerate(contacts):
        links = client.crm.associations.v4.basic_api.get_page("contacts", contact, "notes")
        assert [(r.to_object_id, r.association_types[0].type_id) for r in links.results] == [(by_trace[str(n)], 201)]
    with pytest.raises(NoteApiException) as exc:  # hs_timestamp is required on notes
        client.crm.objects.notes.batch_api.create({"inputs": [{"properties": {"hs_note_body": "x"},
                                                               "associations": []}]})
    assert exc.value.status == 400 and "REQUIRED_PROPERTY" in exc.value.body


def test_search_duplicate_candidates(demo):
    _, client = demo
    by_email = _search(client, [{"propertyName": "email", "operator": "EQ", "value": "maria.garcia@globex.com"}])
    assert by_email.total == 1 and by_email.results[0].properties["email"] == "Maria.Garcia@Globex.com"
    by_phone = _search(client, [{"propertyName": "phone", "operator": "CONTAINS_TOKEN", "value": "*0199"}],
                       properties=["phone", "company"])
    assert by_phone.total >= 3 and {r.properties["company"] for r in by_phone.results} == {"Initech"}
    by_name = _search(client, [{"propertyName": "lastname", "operator": "EQ", "value": "walsh"}],
                      properties=["firstname"])
    assert sorted(r.properties["firstname"] for r in by_name.results) == ["Jen", "Jennifer"]
    query = client.crm.contacts.search_api.do_search(PublicObjectSearchRequest(query="chen", limit=10))
    assert query.total == 2


def test_search_paging_and_modified_since_cursor(demo):
    _, client = demo
    seen, after = [], None
    while True:
        page = client.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
            filter_groups=[{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}],
            sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}], limit=7, after=after))
        seen += [r.id for r in page.results]
        if not page.paging:
            break
        after = page.paging.next.after
    assert len(seen) == page.total == len(set(seen)) and seen == sorted(seen, key=int)
    cursor = client.crm.contacts.basic_api.get_by_id(seen[-1]).updated_at
    client.crm.contacts.basic_api.update(seen[0], SimplePublicObjectInput(properties={"jobtitle": "Changed"}))
    changed = client.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "lastmodifieddate", "operator": "GT",
                                     "value": str(int(cursor.timestamp() * 1000))}]}],
        sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]))
    assert [r.id for r in changed.results] == [seen[0]]


def test_search_filter_limits_are_enforced(demo):
    _, client = demo
    flt = {"propertyName": "email", "operator": "HAS_PROPERTY"}
    with pytest.raises(ApiException) as exc:
        client.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
            filter_groups=[{"filters": [flt]} for _ in range(6)]))
    assert exc.value.status == 400


def test_owners_paging_active_state_and_company_by_domain(sandbox):
    users = [{"email": f"u{i}@corp.test", "name": f"User {i}", "timezone": "Europe/Paris", "active": i != 2}
             for i in range(4)]
    acct = portal(sandbox, users=users)
    client = sdk(sandbox, acct["access_token"])
    page1 = client.crm.owners.owners_api.get_page(limit=2)
    page2 = client.crm.owners.owners_api.get_page(limit=2, after=page1.paging.next.after)
    active = page1.results + page2.results
    assert [o.email for o in active] == ["u0@corp.test", "u1@corp.test", "u3@corp.test"]
    archived = client.crm.owners.owners_api.get_page(archived=True).results
    assert [o.email for o in archived] == ["u2@corp.test"] and archived[0].user_id is None
    assert client.crm.owners.owners_api.get_by_id(active[0].id).first_name == "User"
    company = client.crm.companies.basic_api.create({"properties": {
        "name": "Corp", "domain": "corp.test", "hubspot_owner_id": active[1].id}})
    found = client.crm.companies.search_api.do_search({"filterGroups": [{"filters": [
        {"propertyName": "domain", "operator": "EQ", "value": "CORP.test"}]}],
        "properties": ["hubspot_owner_id", "name"]})
    assert found.results[0].id == company.id and found.results[0].properties["hubspot_owner_id"] == active[1].id


def test_tasks_create_complete_and_associations(demo):
    _, client = demo
    contact = _search(client, [{"propertyName": "email", "operator": "EQ",
                                "value": "peter.gibbons@initech.com"}]).results[0]
    task = client.crm.objects.tasks.basic_api.create(ObjectInput(
        properties={"hs_timestamp": "2025-07-01T09:00:00Z", "hs_task_subject": "Call Peter",
                    "hs_task_type": "CALL"},
        associations=[{"to": {"id": contact.id},
                       "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}]))
    assert task.properties["hs_task_status"] == "NOT_STARTED"
    client.crm.objects.tasks.basic_api.update(task.id, {"properties": {"hs_task_status": "COMPLETED"}})
    done = client.crm.objects.tasks.basic_api.get_by_id(task.id, properties=["hs_task_status",
                                                                             "hs_task_completion_date"])
    assert done.properties["hs_task_status"] == "COMPLETED" and done.properties["hs_task_completion_date"]
    links = client.crm.associations.v4.basic_api.get_page("contacts", contact.id, "tasks")
    assert [(r.to_object_id, r.association_types[0].type_id) for r in links.results] == [(task.id, 203)]
    with pytest.raises(TaskApiException) as exc:
        client.crm.objects.tasks.basic_api.create(ObjectInput(properties={"hs_task_subject": "no due date"}))
    assert "REQUIRED_PROPERTY" in exc.value.body


def test_logged_call_is_visible_on_the_contact(demo):
    _, client = demo
    contact = _search(client, [{"propertyName": "email", "operator": "EQ",
                                "value": "jennifer.walsh@acmerobotics.com"}],
                      properties=["notes_last_updated"]).results[0]
    assert contact.properties["notes_last_updated"]
    calls = client.crm.objects.search_api.do_search("calls", {"filterGroups": [{"filters": [
        {"propertyName": "associations.contact", "operator": "EQ", "value": contact.id}]}],
        "properties": ["hs_call_title"]})
    assert [c.properties["hs_call_title"] for c in calls.results] == ["Intro call"]


def test_default_association_create_and_delete(demo):
    _, client = demo
    contact = client.crm.contacts.basic_api.create({"properties": {"email": "assoc@example.com"}})
    company = client.crm.companies.basic_api.create({"properties": {"name": "Assoc Inc", "domain": "assoc.io"}})
    resp = client.crm.associations.v4.basic_api.create_default("contacts", contact.id, "companies", company.id)
    assert resp.results[0].association_spec.association_type_id == 279
    labeled = client.crm.associations.v4.basic_api.create(
        "contacts", contact.id, "companies", company.id,
        [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)])
    assert labeled.to_object_id == company.id
    got = client.crm.contacts.basic_api.get_by_id(contact.id, associations=["companies"])
    assert {r.type for r in got.associations["companies"].results} == {"contact_to_company",
                                                                        "contact_to_company_unlabeled"}
    client.crm.associations.v4.basic_api.archive("contacts", contact.id, "companies", company.id)
    assert client.crm.associations.v4.basic_api.get_page("companies", company.id, "contacts").results == []


def test_merge_creates_a_new_record_with_the_primarys_values(demo):
    # developer changelog "Updated merge functionality for contacts and companies": "a new record with a new ID will
    # be created for the resulting merged record, with both records merged into the new one"
    _, client = demo
    api = client.crm.contacts.basic_api
    primary = api.create({"properties": {"email": "dana@acme.test", "firstname": "Dana", "jobtitle": "CEO"}})
    loser = api.create({"properties": {"email": "dana.personal@gmail.com", "firstname": "D.", "phone": "+1 555 0100",
                                       "jobtitle": "Founder"}})
    company = client.crm.companies.basic_api.create({"properties": {"name": "Acme Test"}})
    client.crm.associations.v4.basic_api.create_default("contacts", loser.id, "companies", company.id)
    merged = api.merge(PublicMergeInput(primary_object_id=primary.id, object_id_to_merge=loser.id))
    assert merged.id not in (primary.id, loser.id)
    got = api.get_by_id(merged.id, properties=["firstname", "jobtitle", "phone", "email", "hs_additional_emails",
                                               "hs_merged_object_ids", "hs_object_id"], associations=["companies"])
    assert (got.properties["firstname"], got.properties["jobtitle"]) == ("Dana", "CEO")
    assert got.properties["phone"] == "+1 555 0100"
    assert got.properties["hs_additional_emails"] == "dana.personal@gmail.com"
    assert got.properties["hs_merged_object_ids"].split(";") == [primary.id, loser.id]
    assert got.properties["hs_object_id"] == merged.id
    assert [r.id for r in got.associations["companies"].results] == [company.id]
    with pytest.raises(ApiException) as exc:
        api.merge(PublicMergeInput(primary_object_id=merged.id, object_id_to_merge=merged.id))
    assert exc.value.status == 400


def test_old_ids_answer_the_merged_record_and_only_the_new_id_is_searched(demo):
    # "both of the previous IDs will point to the resulting merged record, so fetching any records using the original
    # IDs will return the new merged record with the new ID" (same changelog)
    _, client = demo
    api = client.crm.contacts.basic_api
    primary = api.create({"properties": {"email": "lee@merge.test", "lastname": "Mergeson"}})
    other = api.create({"properties": {"email": "lee.two@merge.test", "lastname": "Mergeson"}})
    merged = api.merge(PublicMergeInput(primary_object_id=primary.id, object_id_to_merge=other.id))
    assert [api.get_by_id(i).id for i in (primary.id, other.id)] == [merged.id, merged.id]
    batch = client.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        properties=["email"], properties_with_history=[], inputs=[SimplePublicObjectId(id=other.id)]))
    assert [r.id for r in batch.results] == [merged.id]
    found = _search(client, [{"propertyName": "lastname", "operator": "EQ", "value": "Mergeson"}])
    assert [r.id for r in found.results] == [merged.id]
    # a write to an old id lands on the merged record (UNCONFIRMED on HubSpot: no vendor statement found)
    updated = api.update(primary.id, SimplePublicObjectInput(properties={"jobtitle": "CTO"}))
    assert updated.id == merged.id
    assert api.get_by_id(merged.id, properties=["jobtitle"]).properties["jobtitle"] == "CTO"
    assert client.crm.associations.v4.basic_api.get_page("contacts", other.id, "companies").results == []


def test_deal_merges_get_a_new_id_too(demo):
    # developer changelog "Announcement: Deals now support merging": merging Deal A and Deal B creates Deal C
    _, client = demo
    api = client.crm.deals.basic_api
    a = api.create({"properties": {"dealname": "A", "dealstage": "appointmentscheduled", "pipeline": "default"}})
    b = api.create({"properties": {"dealname": "B", "dealstage": "appointmentscheduled", "pipeline": "default"}})
    merged = api.merge(DealMerge(primary_object_id=a.id, object_id_to_merge=b.id))
    assert merged.id not in (a.id, b.id)
    assert api.get_by_id(a.id).id == merged.id
