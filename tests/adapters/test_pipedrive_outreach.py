"""PipedriveAdapter's outreach calls against the sandbox company: logged messages, marketing consent, mailbox
replies, meetings, and the email it can't send."""
from __future__ import annotations

import datetime as dt

import pytest

from integration.errors import CRMNotFound, CRMValidationError
from integration.records import Message
from tests.adapters.conftest import StaticTokens
from tests.adapters.test_pipedrive_adapter import company  # noqa: F401 - the fixture

UTC = dt.UTC


def _message(channel="email", owner=None):
    return Message(channel=channel, direction="outbound", subject="Thanks for your request", body="We will call.",
                   sent_at=dt.datetime.now(UTC), to="lead@example.com", sender="rep@example.com", owner_id=owner)


def test_log_message_is_a_done_activity_that_is_not_the_reps_touch(company):  # noqa: F811
    adapter = company.adapter()
    person = company.record("persons", 1)
    before = dt.datetime.now(UTC) - dt.timedelta(minutes=5)
    email_id = adapter.log_message("contact", "1", _message(owner=str(person["owner_id"])))
    sms_id = adapter.log_message("contact", "1", _message(channel="sms"))
    email, sms = company.record("activities", email_id), company.record("activities", sms_id)
    assert (email["type"], email["done"], email["person_id"], email["owner_id"]) == (
        "email", True, 1, person["owner_id"])
    assert "We will call." in email["note"]
    assert sms["type"] == "task" and "SMS" in sms["subject"]
    assert adapter.activity_logged_since("contact", "1", before) is False
    company.simulate(action="create", object_type="activity", properties={
        "subject": "Called", "type": "call", "done": True, "participants": [{"person_id": 1, "primary": True}]})
    assert adapter.activity_logged_since("contact", "1", before) is True


def test_log_message_on_an_organization_is_refused(company):  # noqa: F811
    with pytest.raises(CRMValidationError):
        company.adapter().log_message("company", "1", _message())


def test_set_do_not_contact_unsubscribes_and_reads_back(company):  # noqa: F811
    adapter = company.adapter()
    assert adapter.get_record("contact", "2").fields["email_opt_out"] is False
    adapter.set_do_not_contact("contact", "2")
    adapter.set_do_not_contact("contact", "2")  # idempotent
    assert adapter.get_record("contact", "2").fields["email_opt_out"] is True
    assert adapter.get_records("contact", ["2"])[0].fields["email_opt_out"] is True


def test_set_do_not_contact_without_campaigns_says_so(company):  # noqa: F811
    company.simulate(action="campaigns", enabled=False)
    adapter = company.adapter()
    assert "email_opt_out" not in adapter.get_record("contact", "3").fields
    with pytest.raises(CRMValidationError, match="Campaigns"):
        adapter.set_do_not_contact("contact", "3")


def test_set_do_not_contact_after_a_change_already_made_is_refused(company):  # noqa: F811
    company.simulate(action="update", object_type="person", id=4, properties={"marketing_status": "subscribed"})
    with pytest.raises(CRMValidationError, match="once"):
        company.adapter().set_do_not_contact("contact", "4")


def test_set_do_not_contact_of_a_missing_person(company):  # noqa: F811
    with pytest.raises(CRMNotFound):
        company.adapter().set_do_not_contact("contact", "9999")


def test_inbound_since_reads_replies_from_the_mailbox(company):  # noqa: F811
    adapter = company.adapter()
    start = adapter.inbound_since(None)
    person = company.record("persons", 5)
    address = person["emails"][0]["value"]
    company.simulate(action="reply", object_type="person", id=5,
                     properties={"subject": "Re: hi", "text": "Tomorrow works " * 20})
    company.simulate(action="reply", object_type="person", id=5,
                     properties={"subject": "Re: hi", "text": "From elsewhere", "from": "other@example.net"})
    page = adapter.inbound_since(start.cursor)
    assert [(m.object_type, m.record_id, m.sender) for m in page.messages] == [
        ("contact", "5", address.lower()), ("", "", "other@example.net")]
    assert page.messages[0].text.startswith("Tomorrow works") and page.has_more is False
    assert adapter.inbound_since(page.cursor).messages == []
    limited = adapter.inbound_since(start.cursor, limit=1)
    assert len(limited.messages) == 1 and limited.has_more
    assert [m.sender for m in adapter.inbound_since(limited.cursor).messages] == ["other@example.net"]


def test_meetings_since(company):  # noqa: F811
    adapter = company.adapter()
    start = adapter.meetings_since(None)
    made = company.simulate(action="log_meeting", object_type="person", id=6, properties={})
    adapter.log_message("contact", "6", _message())  # not a meeting
    page = adapter.meetings_since(start.cursor)
    assert [(m.id, m.object_type, m.record_id) for m in page.meetings] == [(str(made["id"]), "contact", "6")]
    assert adapter.meetings_since(page.cursor).meetings == []


def test_send_email_is_not_pipedrives(company):  # noqa: F811
    adapter = company.adapter()
    assert adapter.EMAIL_SENDER is None
    with pytest.raises(CRMValidationError, match="SMTP"):
        adapter.send_email("contact", "1", _message())


def test_inbound_since_without_the_mail_scope_is_refused(company, adapter_sandbox):  # noqa: F811
    # an install from before LeadRelay asked for mail:read: its token lacks the scope
    token = adapter_sandbox.sandbox.store.issue_token(
        company.account["account_id"], "access", None, client_id="old-install",
        scopes=["base", "contacts:full", "activities:full"])
    adapter = company.adapter(tokens=StaticTokens(token.value))
    with pytest.raises(CRMValidationError, match="Scope"):
        adapter.inbound_since(None)
