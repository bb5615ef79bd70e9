"""The SMTP and Twilio senders against the sandbox's SMTP server and Twilio-compatible API (real sockets)."""
from __future__ import annotations

import socket
import threading

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from adapters.senders.factory import default_smtp
from adapters.senders.sms import TwilioSmsSender, verify_twilio_signature
from adapters.senders.smtp import SmtpSender
from integration.outreach.senders import Outgoing, SendFailed, SendRefused
from sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def sandbox():
    server = SandboxServer(platforms=[]).start()
    yield server
    server.stop()


@pytest.fixture()
def http(sandbox):
    session = requests.Session()
    session.trust_env = False
    session.delete(f"{sandbox.url}/_sandbox/mail", timeout=5)
    sandbox.sandbox.config.reset()
    return session


@pytest.fixture()
def twilio(sandbox, http) -> dict:
    return http.post(f"{sandbox.url}/_sandbox/twilio/accounts", json={}, timeout=5).json()


def sms_sender(account: dict, token: str | None = None) -> TwilioSmsSender:
    return TwilioSmsSender(account["account_sid"], token or account["auth_token"], account["from_number"],
                           api_base=account["api_base"])


def email(to: str, key: str = "lead-1:first") -> Outgoing:
    return Outgoing(channel="email", to=to, subject="Thanks for asking — Ünïcode", body="Hello Zoë,\nwe'll call. ✓",
                    reply_to="owner@acme.test", from_name="Ada at Acme", key=key)


def test_smtp_delivers_with_headers_and_a_message_id_from_the_key(sandbox, http):
    sender = default_smtp(sandbox.smtp_url)
    first = sender.send(email("lead@example.test"))
    again = sender.send(email("lead@example.test"))
    other = sender.send(email("lead@example.test", key="lead-2:first"))
    assert first.provider_id == again.provider_id != other.provider_id
    assert first.sender == "noreply@leadrelay.test"
    mails = http.get(f"{sandbox.url}/_sandbox/mail", params={"to": "lead@example.test"}, timeout=5).json()["messages"]
    assert len(mails) == 3
    mail = mails[0]
    assert mail["message_id"] == first.provider_id
    assert mail["rcpt_to"] == ["lead@example.test"] and mail["mail_from"] == "noreply@leadrelay.test"
    assert mail["subject"] == "Thanks for asking — Ünïcode"
    assert mail["reply_to"] == "owner@acme.test"
    assert mail["from"] == "Ada at Acme <noreply@leadrelay.test>"
    assert mail["body"].strip() == "Hello Zoë,\nwe'll call. ✓"
    assert mail["headers"]["Date"]
    assert http.get(f"{sandbox.url}/_sandbox/mail", params={"to": "nobody@x.test"}, timeout=5).json()["messages"] == []
    assert http.delete(f"{sandbox.url}/_sandbox/mail", timeout=5).json() == {"deleted": 3}


def test_smtp_refused_recipient_is_a_refusal_not_a_retry(sandbox, http):
    with pytest.raises(SendRefused) as refused:
        default_smtp(sandbox.smtp_url).send(email("gone@bounce.test"))
    assert refused.value.reason == "invalid_recipient"
    assert "550" in str(refused.value)
    assert http.get(f"{sandbox.url}/_sandbox/mail", timeout=5).json()["messages"] == []


def test_smtp_server_down_is_a_failure_to_retry():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed on leaving: nothing listens there
    sender = SmtpSender("127.0.0.1", port, security="none", from_address="a@acme.test", timeout=3)
    with pytest.raises(SendFailed, match="could not reach the SMTP server"):
        sender.send(email("lead@example.test"))


def test_smtp_starttls_to_a_server_without_it_is_refused_in_words(sandbox):
    # the sandbox's relay offers no STARTTLS: a sender set to require it must not fall back to plain text
    plain = default_smtp(sandbox.smtp_url)
    sender = SmtpSender(plain.host, plain.port, security="starttls", from_address="a@acme.test", timeout=5)
    with pytest.raises(SendRefused, match="security setting"):
        sender.send(email("lead@example.test"))


def test_sms_sent_and_listed(sandbox, http, twilio):
    sms = Outgoing(channel="sms", to="+14155550100", subject="", body="Hi Zoë, thanks — Ada", key="k")
    accepted = sms_sender(twilio).send(sms)
    assert accepted.provider_id.startswith("SM") and accepted.sender == twilio["from_number"]
    listed = http.get(f"{sandbox.url}/_sandbox/twilio/messages", params={"to": "+14155550100"},
                      timeout=5).json()["messages"]
    assert [(m["sid"], m["body"], m["from"], m["status"]) for m in listed if m["sid"] == accepted.provider_id] == [
        (accepted.provider_id, "Hi Zoë, thanks — Ada", twilio["from_number"], "queued")]
    one = http.get(f"{sandbox.url}/2010-04-01/Accounts/{twilio['account_sid']}/Messages/{accepted.provider_id}.json",
                   auth=(twilio["account_sid"], twilio["auth_token"]), timeout=5)
    assert one.status_code == 200 and one.json()["to"] == "+14155550100"


@pytest.mark.parametrize(("to", "reason"), [("+15005550009", "invalid_recipient"), ("555-0100", "invalid_recipient"),
                                            ("+15005550004", "opted_out")])
def test_sms_refusals(twilio, to, reason):
    with pytest.raises(SendRefused) as refused:
        sms_sender(twilio).send(Outgoing(channel="sms", to=to, subject="", body="hi"))
    assert refused.value.reason == reason


def test_sms_bad_auth_says_fix_the_credentials(twilio):
    with pytest.raises(SendRefused) as refused:
        sms_sender(twilio, token="0" * 32).send(Outgoing(channel="sms", to="+14155550100", subject="", body="hi"))
    assert refused.value.reason == "auth"
    assert "20003" in str(refused.value) and "credentials" in str(refused.value)


def test_sms_too_many_requests_is_retried(sandbox, http, twilio):
    http.post(f"{sandbox.url}/_sandbox/config", json={"limits": {"twilio": {"per_second": 0}}}, timeout=5)
    with pytest.raises(SendFailed, match="20429"):
        sms_sender(twilio).send(Outgoing(channel="sms", to="+14155550100", subject="", body="hi"))


@pytest.fixture()
def receiver():
    """A webhook endpoint on loopback that keeps what it was sent."""
    got: list[dict] = []

    @Request.application
    def endpoint(request):
        got.append({"url": request.url, "form": request.form.to_dict(),
                    "signature": request.headers.get("X-Twilio-Signature", "")})
        return Response("<Response/>", content_type="text/xml")

    server = make_server("127.0.0.1", 0, endpoint, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/webhooks/sms/1/key", got
    server.shutdown()


def test_an_inbound_stop_is_signed_and_opts_the_number_out(sandbox, http, twilio, receiver):
    url, got = receiver
    lead = "+14155550142"
    sender = sms_sender(twilio)
    sender.send(Outgoing(channel="sms", to=lead, subject="", body="Hi"))
    answer = http.post(f"{sandbox.url}/_sandbox/twilio/inbound", timeout=10, json={
        "from": lead, "to": twilio["from_number"], "body": "STOP", "url": url}).json()
    assert answer["status"] == 200 and answer["opted_out"] is True
    (hit,) = got
    assert hit["form"]["Body"] == "STOP" and hit["form"]["From"] == lead
    assert hit["form"]["AccountSid"] == twilio["account_sid"] and hit["form"]["MessageSid"] == answer["message_sid"]
    assert verify_twilio_signature(twilio["auth_token"], url, hit["form"], hit["signature"])
    tampered = {**hit["form"], "Body": "START"}
    assert not verify_twilio_signature(twilio["auth_token"], url, tampered, hit["signature"])
    assert not verify_twilio_signature("f" * 32, url, hit["form"], hit["signature"])
    assert not verify_twilio_signature(twilio["auth_token"], url, hit["form"], "")
    with pytest.raises(SendRefused) as refused:
        sender.send(Outgoing(channel="sms", to=lead, subject="", body="Hi again"))
    assert refused.value.reason == "opted_out"
    http.post(f"{sandbox.url}/_sandbox/twilio/inbound", timeout=10, json={
        "from": lead, "to": twilio["from_number"], "body": "start", "url": url})
    assert sender.send(Outgoing(channel="sms", to=lead, subject="", body="Welcome back")).provider_id


def test_the_sandbox_answers_a_bad_inbound_request_with_400(sandbox, http):
    assert http.post(f"{sandbox.url}/_sandbox/twilio/inbound", json={"from": "+1"}, timeout=5).status_code == 400
    assert http.post(f"{sandbox.url}/_sandbox/twilio/inbound", timeout=5, json={
        "from": "+14155550100", "to": "+19999999999", "body": "x", "url": "http://127.0.0.1:1/"}).status_code == 404


def test_smtp_starttls_with_the_sandbox_certificate(tmp_path):
    import ssl

    server = SandboxServer(platforms=[], tls_port=0, cert_dir=str(tmp_path / "tls")).start()
    try:
        trust = ssl.create_default_context(cafile=server.sandbox.ca_file)
        sender = SmtpSender("127.0.0.1", server.mail_server.port, security="starttls", from_address="a@acme.test",
                            ssl_context=trust, timeout=5)
        accepted = sender.send(email("tls@example.test"))
        assert [m["message_id"] for m in server.sandbox.mail.list("tls@example.test")] == [accepted.provider_id]
        # a certificate the sender does not trust is not a mail sent in clear: a failure said in words
        untrusting = SmtpSender("127.0.0.1", server.mail_server.port, security="starttls",
                                from_address="a@acme.test", timeout=5)
        with pytest.raises(SendFailed, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            untrusting.send(email("tls@example.test"))
    finally:
        server.stop()


def test_a_status_callback_is_posted_signed_as_twilio_does(sandbox, http, twilio, receiver):
    url, got = receiver
    auth = (twilio["account_sid"], twilio["auth_token"])
    made = http.post(f"{sandbox.url}/2010-04-01/Accounts/{twilio['account_sid']}/Messages.json", auth=auth, timeout=5,
                     data={"To": "+14155550177", "From": twilio["from_number"], "Body": "hi", "StatusCallback": url})
    assert made.status_code == 201
    assert sandbox.sandbox.outbox.wait_idle(10)
    statuses = [hit["form"]["MessageStatus"] for hit in got if hit["form"].get("MessageSid") == made.json()["sid"]]
    assert statuses == ["sent", "delivered"]
    assert all(verify_twilio_signature(twilio["auth_token"], url, hit["form"], hit["signature"]) for hit in got)
    other = http.post(f"{sandbox.url}/_sandbox/twilio/accounts", json={}, timeout=5).json()
    foreign = http.get(f"{sandbox.url}/2010-04-01/Accounts/{other['account_sid']}/Messages/{made.json()['sid']}.json",
                       auth=(other["account_sid"], other["auth_token"]), timeout=5)
    assert foreign.status_code == 404 and foreign.json()["code"] == 20404
