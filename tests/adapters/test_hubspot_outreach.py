"""HubSpotAdapter's outreach methods against the sandbox: logged messages, do-not-contact, inbound replies,
meetings and sequence enrollment, with HubSpot's refusals (sandbox/hubspot/outreach.py)."""
from __future__ import annotations

import datetime as dt
import json
import secrets

import pytest
import requests

from adapters.hubspot.adapter import HubSpotAdapter
from integration.errors import CRMRateLimited, CRMValidationError
from integration.records import Message
from tests.adapters.conftest import StaticTokens, tenant_for
from tests.adapters.test_hubspot_adapter import HTTP, Portal

LEAD = "olivia.grant@acmerobotics.com"


@pytest.fixture()
def portal(adapter_sandbox) -> Portal:
    return Portal(adapter_sandbox)


@pytest.fixture()
def staged(adapter_sandbox):
    """Stage sandbox limits for one test; always reset afterwards."""
    def stage(**config) -> None:
        HTTP.post(f"{adapter_sandbox.url}/_sandbox/config", json=config, timeout=10).raise_for_status()
    yield stage
    HTTP.post(f"{adapter_sandbox.url}/_sandbox/config/reset", timeout=10).raise_for_status()
APP_ID = 4242042


def _message(channel: str = "email", direction: str = "outbound", owner: str | None = None) -> Message:
    return Message(channel=channel, direction=direction, subject="Thanks for reaching out", body="We'll call today.",
                   sent_at=dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC), to=LEAD, sender="alice@acme.test",
                   owner_id=owner)


def _associated(where: Portal, object_type: str, contact_id: str) -> list[dict]:
    return [r for r in where.records(object_type)
            if contact_id in [a["id"] for a in (r.get("associations") or {}).get("contacts", {}).get("results", [])]]


def test_email_opt_out_is_read_but_never_written(portal):
    adapter = portal.adapter()
    assert "email_opt_out" not in adapter.writable_fields("contact")
    lead = portal.contact(LEAD)
    assert adapter.get_record("contact", lead["id"]).fields.get("email_opt_out") in (None, "false")


def test_set_do_not_contact_unsubscribes_the_email_and_is_idempotent(portal, writes):
    lead = portal.contact(LEAD)
    adapter = portal.adapter(writes=writes)
    adapter.set_do_not_contact("contact", lead["id"])
    adapter.set_do_not_contact("contact", lead["id"])
    assert adapter.get_record("contact", lead["id"]).fields["email_opt_out"] is True
    assert ("contact", lead["id"], ("email_opt_out",)) in writes.writes


def test_log_message_email_is_an_engagement_on_the_contact(portal):
    lead = portal.contact(LEAD)
    owner = portal.records("owners")[0]["id"]
    email_id = portal.adapter().log_message("contact", lead["id"], _message(owner=owner))
    [email] = [e for e in _associated(portal, "emails", lead["id"]) if e["id"] == email_id]
    props = email["properties"]
    assert (props["hs_email_direction"], props["hs_email_status"], props["hs_email_subject"]) == (
        "EMAIL", "SENT", "Thanks for reaching out")
    assert props["hs_email_text"] == "We'll call today." and props["hubspot_owner_id"] == owner
    assert json.loads(props["hs_email_headers"])["to"] == [{"email": LEAD}]


def test_log_message_sms_is_a_communication_on_the_contact(portal):
    lead = portal.contact(LEAD)
    comm_id = portal.adapter().log_message("contact", lead["id"], _message("sms"))
    [comm] = [c for c in _associated(portal, "communications", lead["id"]) if c["id"] == comm_id]
    assert comm["properties"]["hs_communication_channel_type"] == "SMS"
    assert comm["properties"]["hs_communication_body"] == "We'll call today."


def test_log_message_refuses_a_non_contact(portal):
    company = portal.first("companies", 1)[0]
    with pytest.raises(CRMValidationError):
        portal.adapter().log_message("company", company, _message())


def _app_portal(server, monkeypatch) -> tuple[Portal, HubSpotAdapter]:
    """A portal with LeadRelay installed as a public app (its writes carry the app as record source)."""
    from tests.sandbox.hubspot_support import install_via_oauth, register_app
    app = register_app(server, app_id=APP_ID, scopes=["oauth", "crm.objects.contacts.read",
                                                        "crm.objects.contacts.write"])
    p = Portal(server)
    token = install_via_oauth(server, app, p.account["account_id"]).access_token
    monkeypatch.setenv("HUBSPOT_APP_ID", str(APP_ID))
    return p, HubSpotAdapter(tenant_for(p.account, "hubspot"), StaticTokens(token))


def test_activity_logged_since_ignores_what_leadrelay_logged_but_counts_the_rep(adapter_sandbox, monkeypatch, staged):
    staged(limits={"hubspot": {"search_per_second": 100}})  # two checks of three searches each, within a second
    p, adapter = _app_portal(adapter_sandbox, monkeypatch)
    lead = p.contact(LEAD)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    adapter.log_message("contact", lead["id"], _message())
    assert adapter.activity_logged_since("contact", lead["id"], since) is False
    p.simulate(action="log_meeting", object_type="contacts", id=lead["id"])
    assert adapter.activity_logged_since("contact", lead["id"], since) is True


def test_activity_logged_since_ignores_the_sequence_email_but_counts_the_rep(adapter_sandbox, monkeypatch, staged):
    staged(limits={"hubspot": {"search_per_second": 100}})
    p, _ = _app_portal(adapter_sandbox, monkeypatch)
    lead = p.contact(LEAD)
    owner = p.records("owners")[0]
    adapter = _sequence_adapter(p, crm_sequence_id="1001")
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    adapter.send_email("contact", lead["id"], _message(owner=owner["id"]))
    assert [e for e in _associated(p, "emails", lead["id"]) if e["properties"].get("hs_object_source") == "SEQUENCES"]
    assert adapter.activity_logged_since("contact", lead["id"], since) is False
    p.simulate(action="log_meeting", object_type="contacts", id=lead["id"])
    assert adapter.activity_logged_since("contact", lead["id"], since) is True


def test_inbound_since_reads_the_leads_reply_with_its_contact(portal):
    lead = portal.contact(LEAD)
    reply = portal.simulate(action="reply", object_type="contacts", id=lead["id"],
                            properties={"subject": "Re: hello", "text": "How much does it cost?",
                                        "from": "Olivia.Grant@AcmeRobotics.com"})
    page = portal.adapter().inbound_since(None)
    [msg] = [m for m in page.messages if m.id == reply["id"]]
    assert (msg.record_id, msg.object_type, msg.sender, msg.subject, msg.text) == (
        lead["id"], "contact", LEAD, "Re: hello", "How much does it cost?")


def test_inbound_since_leaves_an_unlinked_reply_without_a_record(portal):
    headers = json.dumps({"from": {"email": "stranger@else.example"}, "to": [{"email": "alice@acme.test"}]})
    stray = portal.simulate(action="create", object_type="emails", properties={
        "hs_timestamp": "1764900000000", "hs_email_direction": "INCOMING_EMAIL", "hs_email_text": "hi",
        "hs_email_headers": headers})
    [msg] = [m for m in portal.adapter().inbound_since(None).messages if m.id == stray["id"]]
    assert (msg.record_id, msg.object_type, msg.sender) == ("", "", "stranger@else.example")


def test_inbound_since_skips_outbound_emails_and_older_replies(portal):
    lead = portal.contact(LEAD)
    adapter = portal.adapter()
    adapter.log_message("contact", lead["id"], _message())
    assert [m for m in adapter.inbound_since(None).messages if m.record_id == lead["id"]] == []
    later = str(int(dt.datetime.now(dt.UTC).timestamp() * 1000) + 60_000)
    portal.simulate(action="reply", object_type="contacts", id=lead["id"], properties={"text": "x"})
    assert adapter.inbound_since(later).messages == []


def test_meetings_since_reads_a_meeting_a_rep_logged(portal):
    lead = portal.contact(LEAD)
    meeting = portal.simulate(action="log_meeting", object_type="contacts", id=lead["id"])
    found = [m for m in portal.adapter().meetings_since(None).meetings if m.id == meeting["id"]]
    assert [(m.object_type, m.record_id) for m in found] == [("contact", lead["id"])]


def test_inbound_since_rate_limited_by_search(portal, staged):
    staged(limits={"hubspot": {"search_per_second": 0}})
    with pytest.raises(CRMRateLimited):
        portal.adapter().inbound_since(None)


def _sequence_adapter(where: Portal, **settings) -> HubSpotAdapter:
    return HubSpotAdapter(tenant_for(where.account, "hubspot", **settings), StaticTokens(where.account["access_token"]))


def test_send_email_needs_a_chosen_sequence(portal):
    lead = portal.contact(LEAD)
    with pytest.raises(CRMValidationError, match="settings"):
        portal.adapter().send_email("contact", lead["id"], _message(owner=portal.records("owners")[0]["id"]))


def test_send_email_enrolls_the_contact_and_the_sequence_logs_its_email(portal):
    lead = portal.contact(LEAD)
    owner = portal.records("owners")[0]
    adapter = _sequence_adapter(portal, crm_sequence_id="1001")
    enrollment = adapter.send_email("contact", lead["id"], _message(owner=owner["id"]))
    assert enrollment
    sent = [e["properties"] for e in _associated(portal, "emails", lead["id"])
            if e["properties"].get("hs_object_source") == "SEQUENCES"]
    assert [(s["hs_email_direction"], s["hubspot_owner_id"]) for s in sent] == [("EMAIL", owner["id"])]
    with pytest.raises(CRMValidationError, match="already enrolled"):
        adapter.send_email("contact", lead["id"], _message(owner=owner["id"]))


def test_send_email_refused_for_a_user_without_a_seat_and_past_the_daily_cap(adapter_sandbox):
    p = Portal(adapter_sandbox, sequence_seats=[0], daily_enrollments=1)
    owners = p.records("owners")
    leads = [r["id"] for r in p.records("contacts") if r["properties"].get("email")][:2]
    adapter = _sequence_adapter(p, crm_sequence_id="1001")
    with pytest.raises(CRMValidationError, match="seat"):
        adapter.send_email("contact", leads[0], _message(owner=owners[1]["id"]))
    adapter.send_email("contact", leads[0], _message(owner=owners[0]["id"]))
    with pytest.raises(CRMValidationError, match="daily limit"):
        adapter.send_email("contact", leads[1], _message(owner=owners[0]["id"]))


def test_send_email_with_an_unknown_sequence_says_to_choose_another(portal):
    lead = portal.contact(LEAD)
    adapter = _sequence_adapter(portal, crm_sequence_id="nope-" + secrets.token_hex(2))
    with pytest.raises(CRMValidationError, match="choose another sequence"):
        adapter.send_email("contact", lead["id"], _message(owner=portal.records("owners")[0]["id"]))


def test_set_do_not_contact_then_enrolling_is_refused(portal):
    lead = portal.contact(LEAD)
    adapter = _sequence_adapter(portal, crm_sequence_id="1001")
    adapter.set_do_not_contact("contact", lead["id"])
    with pytest.raises(CRMValidationError, match="unsubscribed"):
        adapter.send_email("contact", lead["id"], _message(owner=portal.records("owners")[0]["id"]))


def test_simulate_rejects_reply_on_a_company(portal):
    company = portal.first("companies", 1)[0]
    resp = requests.post(f"{portal.base}/simulate", json={"action": "reply", "object_type": "companies",
                                                          "id": company}, timeout=10)
    assert resp.status_code == 400


def test_inbound_since_pages_through_fresh_replies_without_skipping_one(portal):
    lead = portal.contact(LEAD)
    sent = [portal.simulate(action="reply", object_type="contacts", id=lead["id"], properties={"text": t})["id"]
            for t in ("one", "two", "three")]
    adapter, cursor, seen = portal.adapter(), None, []
    while True:
        page = adapter.inbound_since(cursor, limit=1)
        seen += [m.id for m in page.messages]
        cursor = page.cursor
        if not page.has_more:
            break
    assert [i for i in seen if i in sent] == sent


def test_unsubscribe_and_enrollment_without_their_scopes_are_refused(adapter_sandbox, monkeypatch):
    p, adapter = _app_portal(adapter_sandbox, monkeypatch)  # granted contacts read/write only
    lead = p.contact(LEAD)
    with pytest.raises(CRMValidationError, match="MISSING_SCOPES"):
        adapter.set_do_not_contact("contact", lead["id"])
    sequenced = HubSpotAdapter(tenant_for(p.account, "hubspot", crm_sequence_id="1001"), adapter.client.tokens)
    with pytest.raises(CRMValidationError, match="MISSING_SCOPES"):
        sequenced.send_email("contact", lead["id"], _message(owner=p.records("owners")[0]["id"]))
    assert p.contact(LEAD)["properties"].get("hs_email_optout") in (None, "false")
