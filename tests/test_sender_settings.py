"""A tenant's senders: saved validated, secrets encrypted and never shown, built into working senders."""
from __future__ import annotations

import logging

import pytest
import requests

from adapters.senders.factory import build_sender
from adapters.senders.settings import (
    clear_sender,
    save_sms,
    save_smtp,
    sender_summary,
    sms_auth_token,
    sms_inbound_key,
)
from adapters.senders.sms import TwilioSmsSender
from adapters.senders.smtp import SmtpSender
from integration.config import ConfigError, get_settings
from integration.db import session_scope
from integration.models import Tenant
from integration.outreach.senders import Outgoing, SenderNotConfigured, sender_for, set_sender_factory
from sandbox.server import SandboxServer

PASSWORD = "pa55-word-never-shown"


@pytest.fixture(scope="module")
def sandbox():
    server = SandboxServer(platforms=[]).start()
    yield server
    server.stop()


@pytest.fixture()
def tenant_id(app, env) -> int:
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="71", name="Acme Corp", settings={"keep": 1})
        s.add(tenant)
        s.flush()
        return tenant.id


def smtp_fields(**changes):
    return {"host": "smtp.acme.test", "port": "587", "security": "starttls", "username": "ada",
            "password": PASSWORD, "from_address": "sales@acme.test", "from_name": "Acme Sales", **changes}


def test_smtp_saved_with_the_password_encrypted_and_masked(env, tenant_id, caplog):
    caplog.set_level(logging.DEBUG)
    with session_scope(env["DATABASE_URL"]) as s:
        summary = save_smtp(s, tenant_id, **smtp_fields())
    assert summary["smtp"] == {"host": "smtp.acme.test", "port": 587, "security": "starttls", "username": "ada",
                               "from_address": "sales@acme.test", "from_name": "Acme Sales", "password_set": True}
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = s.get(Tenant, tenant_id)
        assert tenant.settings["keep"] == 1  # the other settings stay
        assert PASSWORD not in repr(tenant.settings)
        assert PASSWORD not in repr(sender_summary(tenant))
        # a save without a password keeps the stored one
        save_smtp(s, tenant_id, **smtp_fields(password=None, host="mail.acme.test"))
    sender = build_sender(tenant_id, "email")
    assert isinstance(sender, SmtpSender) and sender.password == PASSWORD and sender.host == "mail.acme.test"
    assert PASSWORD not in repr(sender)
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize(("changes", "words"), [
    ({"host": "smtp acme"}, "SMTP host"), ({"port": "0"}, "SMTP port"), ({"port": "smtp"}, "SMTP port"),
    ({"security": "ssl"}, "SMTP security"), ({"from_address": "sales at acme"}, "From address"),
    ({"password": None}, "SMTP password")])
def test_smtp_validation_names_the_field(env, tenant_id, changes, words):
    with session_scope(env["DATABASE_URL"]) as s, pytest.raises(ValueError, match=words):
        save_smtp(s, tenant_id, **smtp_fields(**changes))


def sms_fields(**changes):
    return {"account_sid": "AC" + "a" * 32, "auth_token": "t" * 32, "from_number": "+1 (415) 555-0100",
            "api_base": None, **changes}


def test_sms_saved_masked_with_an_inbound_key_kept_across_saves(env, tenant_id):
    with session_scope(env["DATABASE_URL"]) as s:
        first = save_sms(s, tenant_id, **sms_fields())["sms"]
        key = sms_inbound_key(s.get(Tenant, tenant_id))
        again = save_sms(s, tenant_id, **sms_fields(auth_token=None, from_number="+14155550199"))["sms"]
    assert first["from_number"] == "+14155550100" and first["api_base"] == "https://api.twilio.com"
    assert first["auth_token_set"] and "t" * 32 not in repr(first)
    assert "inbound_key" not in first and again["from_number"] == "+14155550199"
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = s.get(Tenant, tenant_id)
        assert len(key) >= 24 and sms_inbound_key(tenant) == key  # kept across saves
        assert sms_auth_token(tenant) == "t" * 32
        assert "t" * 32 not in repr(tenant.settings)


@pytest.mark.parametrize(("changes", "words"), [
    ({"account_sid": "AB123"}, "Account SID"), ({"from_number": "4155550100"}, "E.164"),
    ({"api_base": "http://api.twilio.example"}, "https"), ({"api_base": "ftp://127.0.0.1"}, "https"),
    ({"auth_token": ""}, "Auth token")])
def test_sms_validation_names_the_field(env, tenant_id, changes, words):
    with session_scope(env["DATABASE_URL"]) as s, pytest.raises(ValueError, match=words):
        save_sms(s, tenant_id, **sms_fields(**changes))


def test_a_new_sid_needs_its_token(env, tenant_id):
    with session_scope(env["DATABASE_URL"]) as s:
        save_sms(s, tenant_id, **sms_fields())
        with pytest.raises(ValueError, match="Auth token"):
            save_sms(s, tenant_id, **sms_fields(account_sid="AC" + "b" * 32, auth_token=None))


def test_saved_senders_send_through_the_sandbox_and_clearing_forgets_them(env, tenant_id, sandbox, monkeypatch):
    http = requests.Session()
    http.trust_env = False
    account = http.post(f"{sandbox.url}/_sandbox/twilio/accounts", json={}, timeout=5).json()
    mail = sandbox.sandbox.mail
    with session_scope(env["DATABASE_URL"]) as s:
        save_sms(s, tenant_id, account_sid=account["account_sid"], auth_token=account["auth_token"],
                 from_number=account["from_number"], api_base=account["api_base"])
        save_smtp(s, tenant_id, **smtp_fields(host="127.0.0.1", port=sandbox.mail_server.port, security="none",
                                              username="", password=None))
    replaced = set_sender_factory(build_sender)
    try:
        sms = sender_for(tenant_id, "sms")
        assert isinstance(sms, TwilioSmsSender)
        assert sms.send(Outgoing(channel="sms", to="+14155550123", subject="", body="hi")).provider_id.startswith("SM")
        accepted = sender_for(tenant_id, "email").send(Outgoing(channel="email", to="zoe@example.test",
                                                                subject="Hi", body="Hello", key="t1"))
        assert [m["message_id"] for m in mail.list("zoe@example.test")] == [accepted.provider_id]
        with session_scope(env["DATABASE_URL"]) as s:
            assert clear_sender(s, tenant_id, "sms") is True
            assert clear_sender(s, tenant_id, "email") is True
            assert clear_sender(s, tenant_id, "sms") is False
        with pytest.raises(SenderNotConfigured, match="Settings"):
            sender_for(tenant_id, "sms")
        with pytest.raises(SenderNotConfigured, match="LEADRELAY_SMTP_URL"):
            sender_for(tenant_id, "email")
        # the operator's default server stands in for a tenant without its own
        monkeypatch.setenv("LEADRELAY_SMTP_URL", sandbox.smtp_url)
        fallback = sender_for(tenant_id, "email")
        assert fallback.from_address == "noreply@leadrelay.test" and fallback.port == sandbox.mail_server.port
    finally:
        set_sender_factory(replaced)


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://mail.example.com:x?from=a@b.test",
                                 "smtp://mail.example.com:587", "smtp://h:25?security=ssl&from=a@b.test"])
def test_a_wrong_default_smtp_url_stops_the_process_at_start(env, monkeypatch, url):
    monkeypatch.setenv("LEADRELAY_SMTP_URL", url)
    with pytest.raises(ConfigError, match="LEADRELAY_SMTP_URL"):
        get_settings()
