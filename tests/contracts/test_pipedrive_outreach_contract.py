"""The Pipedrive sandbox's outreach answers against Pipedrive's OpenAPI documents.

| LeadRelay call (adapters/pipedrive) | operation | doc | answers checked |
|---|---|---|---|
| inbound_since | GET /api/v1/mailbox/mailThreads?folder=inbox | v1 | 200 |
| inbound_since | GET /api/v1/mailbox/mailThreads/{id}/mailMessages | v1 | 200 |
| set_do_not_contact | PATCH /api/v2/persons/{id} marketing_status | v2 | 200, 400 |
| get_record (email_opt_out) | GET /api/v2/persons/{id}?include_fields=marketing_status | v2 | 200 |
| log_message, meetings_since | POST, GET /api/v2/activities | v2 | in test_pipedrive_contract |
"""
from __future__ import annotations

import pytest

from tests.contracts.conftest import control
from tests.contracts.deviations import PIPEDRIVE_UNLINKED_MAIL_PARTY
from tests.contracts.openapi import check
from tests.contracts.test_pipedrive_contract import ENVELOPE, UNSET, V1, V2, _spec_says, first, v1, v2

MAIL = (PIPEDRIVE_UNLINKED_MAIL_PARTY,)


def _reply(sandbox, account, person, **properties):
    control(sandbox).post(f"{sandbox.url}/_sandbox/accounts/{account['account_id']}/simulate", json={
        "action": "reply", "object_type": "person", "id": person,
        "properties": {"subject": "Re: hello", "text": "Call me", **properties}}, timeout=10).raise_for_status()


def test_mailbox_threads_and_messages(sandbox, pipedrive_sdk, pipedrive_account):
    person = first(pipedrive_sdk, "persons")[0]["id"]
    _reply(sandbox, pipedrive_account, person)
    threads = v1(pipedrive_sdk, "get", "mailbox/mailThreads", params={"folder": "inbox", "start": 0, "limit": 50})
    check(threads, V1, "GET", "/mailbox/mailThreads", allow=MAIL, expect=200)
    thread = threads.body["data"][0]
    assert thread["parties"]["from"][0]["linked_person_id"] == person
    messages = v1(pipedrive_sdk, "get", f"mailbox/mailThreads/{thread['id']}/mailMessages")
    check(messages, V1, "GET", "/mailbox/mailThreads/{id}/mailMessages", allow=MAIL, expect=200)
    assert messages.body["data"][0]["snippet"] == "Call me"


def test_marketing_status_write_and_read(pipedrive_sdk):
    person = first(pipedrive_sdk, "persons")[0]["id"]
    written = v2(pipedrive_sdk, "patch", f"persons/{person}", json={"marketing_status": "unsubscribed"})
    check(written, V2, "PATCH", "/persons/{id}", allow=UNSET, expect=200)
    assert written.body["data"]["marketing_status"] == "unsubscribed"
    read = v2(pipedrive_sdk, "get", f"persons/{person}", params={"include_fields": "marketing_status"})
    check(read, V2, "GET", "/persons/{id}", allow=UNSET, expect=200)
    assert read.body["data"]["marketing_status"] == "unsubscribed"
    assert "marketing_status" not in v2(pipedrive_sdk, "get", f"persons/{person}").body["data"]
    bad = v2(pipedrive_sdk, "patch", f"persons/{person}", json={"marketing_status": "gone"})
    check(bad, V2, "PATCH", "/persons/{id}", fallback=ENVELOPE[V2], expect=400)


def test_mailbox_refuses_a_thread_list_without_folder(pipedrive_sdk):
    answer = v1(pipedrive_sdk, "get", "mailbox/mailThreads", params={"folder": "spam"})
    check(answer, V1, "GET", "/mailbox/mailThreads", fallback=ENVELOPE[V1], expect=400)


def test_pipedrive_unlinked_mail_party_null_where_spec_says_value(sandbox, pipedrive_sdk, pipedrive_account):
    """A reply from an address no person has: its from party links to no person (null); the document says integer."""
    _reply(sandbox, pipedrive_account, first(pipedrive_sdk, "persons")[0]["id"], **{"from": "who@nowhere.example"})
    threads = v1(pipedrive_sdk, "get", "mailbox/mailThreads", params={"folder": "inbox"})
    assert threads.body["data"][0]["parties"]["from"][0]["linked_person_id"] is None
    documented = _spec_says(V1, "/paths/~1mailbox~1mailThreads/get/responses/200/content/application~1json/schema/"
                                "allOf/1/properties/data/items/allOf/1/properties/parties/properties/from/items/"
                                "properties/linked_person_id")
    assert documented["type"] == "integer" and not documented.get("nullable")
    assert check(threads, V1, "GET", "/mailbox/mailThreads", allow=MAIL).excused == {
        "pipedrive-unlinked-mail-party": 8}
    with pytest.raises(AssertionError, match=r"linked_person_id"):
        check(threads, V1, "GET", "/mailbox/mailThreads")
