"""The contract checks bite: a real sandbox answer passes, and the same answer with its shape broken fails.

Each case takes a conforming answer, breaks one thing the published schema forbids (a required list dropped,
the paging cursor renamed, an id turned into a number, a documented error field missing …) and shows that
`check` (or the Salesforce shapes) now reports exactly that path. The allowances are shown to be narrow: a
non-null value where the allowance excuses only null, or a null at a path no allowance names, still fails.
"""
from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pytest

from adapters.hubspot import fields as f
from adapters.hubspot import queries as q
from tests.contracts import salesforce_shapes as shapes
from tests.contracts.deviations import HUBSPOT_NULL_PROPERTIES, PIPEDRIVE_NULL_NEXT_CURSOR, PIPEDRIVE_UNSET_PERSON
from tests.contracts.openapi import ContractViolation, check
from tests.contracts.test_pipedrive_contract import ENVELOPE, V2, v2

CONTACTS = "hubspot/crm-contacts-v3.json"
SEARCH = "/crm/v3/objects/contacts/search"
NULLS = (HUBSPOT_NULL_PROPERTIES,)


def broken(answer, mutate):
    body = copy.deepcopy(answer.body)
    mutate(body)
    return replace(answer, body=body)


def fails_at(path: str, answer, *args, **kwargs) -> None:
    with pytest.raises(ContractViolation) as caught:
        check(answer, *args, **kwargs)
    assert re.search(path, str(caught.value)), str(caught.value)


@pytest.fixture()
def search_page(hubspot_sdk, hs):
    groups = [[{"property_name": "lastname", "operator": "HAS_PROPERTY"}]]
    answer = hs(hubspot_sdk.crm.contacts.search_api, "do_search",
                q.search_request("contacts", groups, f.read_properties("contacts"), 2))
    check(answer, CONTACTS, "POST", SEARCH, allow=NULLS, expect=200)  # the unbroken answer conforms
    assert answer.body["paging"]["next"]["after"]
    return answer


def test_dropping_results_fails(search_page):
    fails_at(r"at \$: 'results' is a required property", broken(search_page, lambda b: b.pop("results")),
             CONTACTS, "POST", SEARCH, allow=NULLS)


def test_renaming_the_paging_cursor_fails(search_page):
    def rename(body):
        body["paging"]["next"]["cursor"] = body["paging"]["next"].pop("after")

    fails_at(r"\$\.paging\.next: 'after' is a required property", broken(search_page, rename),
             CONTACTS, "POST", SEARCH, allow=NULLS)


def test_a_numeric_id_fails(search_page):
    def number(body):
        body["results"][0]["id"] = int(body["results"][0]["id"])

    fails_at(r"\$\.results\[0\]\.id: \d+ is not of type 'string'", broken(search_page, number),
             CONTACTS, "POST", SEARCH, allow=NULLS)


def test_a_wrong_date_format_fails(search_page):
    def stamp(body):
        body["results"][0]["createdAt"] = "yesterday"

    fails_at(r"\$\.results\[0\]\.createdAt: 'yesterday' is not a 'date-time'", broken(search_page, stamp),
             CONTACTS, "POST", SEARCH, allow=NULLS)


def test_the_null_allowance_excuses_null_only(search_page):
    def number(body):
        body["results"][0]["properties"]["email"] = 42

    fails_at(r"\$\.results\[0\]\.properties\.email: 42 is not of type 'string'", broken(search_page, number),
             CONTACTS, "POST", SEARCH, allow=NULLS)

    def null_id(body):
        body["results"][0]["id"] = None

    fails_at(r"\$\.results\[0\]\.id: None", broken(search_page, null_id), CONTACTS, "POST", SEARCH, allow=NULLS)


def test_an_error_without_its_correlation_id_fails(hubspot_sdk, hs):
    gone = hs(hubspot_sdk.crm.contacts.basic_api, "get_by_id", "9099999999", archived=False)
    check(gone, CONTACTS, "GET", "/crm/v3/objects/contacts/{contactId}", expect=404)
    fails_at(r"'correlationId' is a required property", broken(gone, lambda b: b.pop("correlationId")),
             CONTACTS, "GET", "/crm/v3/objects/contacts/{contactId}")
    fails_at(r"'not-a-uuid' is not a 'uuid'", broken(gone, lambda b: b.update(correlationId="not-a-uuid")),
             CONTACTS, "GET", "/crm/v3/objects/contacts/{contactId}")


def test_the_wrong_operation_is_refused(search_page):
    with pytest.raises(AssertionError, match="not to /crm/v3/objects/contacts/batch/read"):
        check(search_page, CONTACTS, "POST", "/crm/v3/objects/contacts/batch/read")


def test_pipedrive_string_id_and_numeric_cursor_fail(pipedrive_sdk):
    page = v2(pipedrive_sdk, "get", "persons", params={"limit": 2})
    allow = (PIPEDRIVE_UNSET_PERSON, PIPEDRIVE_NULL_NEXT_CURSOR)
    check(page, V2, "GET", "/persons", allow=allow, expect=200)
    fails_at(r"\$\.data\[0\]\.id: '\d+' is not of type 'integer'",
             broken(page, lambda b: b["data"][0].update(id=str(b["data"][0]["id"]))), V2, "GET", "/persons",
             allow=allow)
    fails_at(r"\$\.additional_data\.next_cursor: 7 is not of type 'string'",
             broken(page, lambda b: b["additional_data"].update(next_cursor=7)), V2, "GET", "/persons", allow=allow)


def test_pipedrive_error_envelope_rule_bites(pipedrive_sdk):
    gone = v2(pipedrive_sdk, "get", "persons/909999")
    check(gone, V2, "GET", "/persons/{id}", fallback=ENVELOPE[V2], expect=404)
    fails_at(r"True is not one of \[False\]", broken(gone, lambda b: b.update(success=True)), V2, "GET",
             "/persons/{id}", fallback=ENVELOPE[V2])
    fails_at(r"'error' is a required property", broken(gone, lambda b: b.pop("error")), V2, "GET",
             "/persons/{id}", fallback=ENVELOPE[V2])


@pytest.mark.parametrize(("schema", "instance", "complaint"), [
    (shapes.QUERY_PAGE, {"totalSize": 3, "done": False, "records": []}, "'nextRecordsUrl' is a required property"),
    (shapes.QUERY_PAGE, {"totalSize": 1, "done": True, "records": [{"Id": "00Q000000000001AAA"}]},
     "'attributes' is a required property"),
    (shapes.CREATED, {"id": "00Q000000000001AAA", "success": True}, "'errors' is a required property"),
    (shapes.CREATED, {"id": 17, "success": True, "errors": []}, "17 is not of type 'string'"),
    (shapes.REST_ERRORS, {"message": "x", "errorCode": "NOT_FOUND"}, "is not of type 'array'"),
    (shapes.COLLECTION_RESULTS, [{"success": False, "errors": []}], "should be non-empty"),
    (shapes.COLLECTION_RESULTS, [{"id": "00Q000000000001AAA", "success": True, "errors": [
        {"statusCode": "X", "message": "m"}]}], "'fields' is a required property"),
    (shapes.LIMITS, {"DailyApiRequests": {"Max": 5}}, "'Remaining' is a required property"),
    (shapes.TOKEN, {"access_token": "t", "signature": "s", "instance_url": "https://x.my.salesforce.com",
                    "id": "https://login.salesforce.com/id/00D000000000001AAA/005000000000001AAA",
                    "token_type": "Bearer", "issued_at": "1700000000000", "expires_in": 7200},
     "should not be valid"),
])
def test_salesforce_shapes_bite(schema, instance, complaint):
    problems = shapes.violations(schema, instance)
    assert any(complaint in p for p in problems), problems


def test_the_spec_copies_are_the_vendors_documents():
    """The checksums in specs/README.md match the files: an edited document would loosen the contract unseen."""
    specs = Path(__file__).resolve().parent / "specs"
    listed = dict((name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$",
                                                               (specs / "README.md").read_text(), re.M))
    on_disk = {str(p.relative_to(specs)): hashlib.sha256(p.read_bytes()).hexdigest() for p in specs.rglob("*.json")}
    assert listed == on_disk
