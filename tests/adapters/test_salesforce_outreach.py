"""SalesforceAdapter's outreach calls against the sandbox org: logged messages, do-not-contact, replies, meetings,
the emailSimple action."""
# ruff: noqa: F811 - the fixtures are test_salesforce_adapter's (imported below), taken as arguments by name
from __future__ import annotations

import datetime as dt

import pytest

from integration.errors import CRMNotFound, CRMValidationError
from integration.records import Message
from tests.adapters.test_salesforce_adapter import adapter, control, org  # noqa: F401 - fixtures


def _message(channel="email", owner=None, to="lead@example.com"):
    return Message(channel=channel, direction="outbound", subject="Thanks for your request", body="We will call.",
                   sent_at=dt.datetime.now(dt.UTC), to=to, sender="rep@example.com", owner_id=owner)


def _lead(control):
    return control.rows("Lead")[0]


def test_log_message_is_a_completed_task_that_is_not_the_reps_touch(adapter, control):
    lead = _lead(control)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    email_id = adapter.log_message("lead", lead["Id"], _message(owner=lead["OwnerId"]))
    sms_id = adapter.log_message("lead", lead["Id"], _message(channel="sms"))
    email, sms = control.row("Task", email_id), control.row("Task", sms_id)
    assert (email["Status"], email["TaskSubtype"], email["WhoId"], email["OwnerId"]) == (
        "Completed", "Email", lead["Id"], lead["OwnerId"])
    assert email["Description"] == "We will call." and email["ActivityDate"]
    assert sms["TaskSubtype"] == "Task" and "SMS" in sms["Subject"]
    assert adapter.activity_logged_since("lead", lead["Id"], before) is False
    control.simulate(action="create", object_type="Task", properties={
        "WhoId": lead["Id"], "Subject": "Call", "Status": "Completed", "TaskSubtype": "Call"})
    assert adapter.activity_logged_since("lead", lead["Id"], before) is True


def test_log_message_on_an_account_is_refused(adapter, control):
    account = control.rows("Account")[0]
    with pytest.raises(CRMValidationError):
        adapter.log_message("company", account["Id"], _message())


def test_do_not_contact_flags_read_and_set(adapter, control):
    lead = _lead(control)
    assert adapter.get_record("lead", lead["Id"]).fields.get("email_opt_out") in (None, False)
    adapter.set_do_not_contact("lead", lead["Id"])
    adapter.set_do_not_contact("lead", lead["Id"])
    record = adapter.get_record("lead", lead["Id"])
    assert record.fields["email_opt_out"] is True and record.fields["do_not_call"] is True


def test_do_not_contact_on_a_missing_lead_is_not_found(adapter):
    with pytest.raises(CRMNotFound):
        adapter.set_do_not_contact("lead", "00Q8d000000ZZZZEAA")


def test_inbound_since_returns_replies_with_their_record(adapter, control):
    lead = _lead(control)
    first = adapter.inbound_since(None)
    control.simulate(action="reply", object_type="Lead", id=lead["Id"],
                     properties={"subject": "Re: hello", "text": "Call me tomorrow", "from": "Them@Example.com"})
    page = adapter.inbound_since(first.cursor)
    assert [(m.object_type, m.record_id, m.sender, m.text) for m in page.messages] == [
        ("lead", lead["Id"], "them@example.com", "Call me tomorrow")]
    assert adapter.inbound_since(page.cursor).messages == []


def test_outbound_mail_is_not_inbound(adapter, control):
    lead = _lead(control)
    start = adapter.inbound_since(None).cursor
    adapter.send_email("lead", lead["Id"], _message(to=lead["Email"] or "x@example.com"))
    assert adapter.inbound_since(start).messages == []


def test_meetings_since(adapter, control):
    lead = _lead(control)
    start = adapter.meetings_since(None).cursor
    event = control.simulate(action="log_meeting", object_type="Lead", id=lead["Id"], properties={})
    page = adapter.meetings_since(start)
    assert [(m.id, m.object_type, m.record_id) for m in page.meetings] == [(event["id"], "lead", lead["Id"])]


def test_send_email_logs_it_on_the_record(adapter, control):
    lead = _lead(control)
    task_id = adapter.send_email("lead", lead["Id"], _message(to="lead@example.com"))
    task = control.row("Task", task_id)
    assert (task["WhoId"], task["TaskSubtype"], task["Status"]) == (lead["Id"], "Email", "Completed")
    assert any(m["Incoming"] is False and m["ActivityId"] == task_id for m in control.rows("EmailMessage"))


def test_the_email_send_email_sent_is_not_the_reps_touch(adapter, control):
    lead = _lead(control)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    task_id = adapter.send_email("lead", lead["Id"], _message(to="lead@example.com"))
    assert control.row("Task", task_id)["Subject"] == "[LeadRelay] Email: Thanks for your request"
    assert adapter.activity_logged_since("lead", lead["Id"], before) is False
    control.simulate(action="create", object_type="Task", properties={
        "WhoId": lead["Id"], "Subject": "Email: following up", "Status": "Completed", "TaskSubtype": "Email"})
    assert adapter.activity_logged_since("lead", lead["Id"], before) is True


def test_send_email_past_the_daily_single_email_limit(adapter, control):
    lead = _lead(control)
    control.stage(limits={"salesforce": {"single_email_daily": 1}})
    adapter.send_email("lead", lead["Id"], _message())
    with pytest.raises(CRMValidationError, match="SINGLE_EMAIL_LIMIT_EXCEEDED"):
        adapter.send_email("lead", lead["Id"], _message())
