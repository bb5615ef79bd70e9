"""The inbound SMS webhook: each check with its status and one log event, no session needed, nothing secret logged;
a valid text is stored once and handled (a STOP marks the lead do-not-contact)."""
from __future__ import annotations

import logging

import pytest
from redis import Redis
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from integration.db import session_scope
from integration.dedup.index import index_record
from integration.models import InboundMessageRow, RuleSetVersion, Tenant
from oauth.crypto import TokenCipher
from tests.fakes import FakeFollowUpCRM
from tests.test_handoff import RULES
from tests.workers import BurstWorker

TOKEN, KEY = "twilio-auth-token-0123456789abcdef", "inbound-key-abcdefghijklmnop"
FORM = {"MessageSid": "SM0123456789abcdef0123456789abcdef", "AccountSid": "AC123", "From": "+14155550100",
        "To": "+14155550199", "Body": "STOP"}


@pytest.fixture()
def tenant(app, env, wire_adapters):
    fake = FakeFollowUpCRM()
    lead = fake.put("contact", "c2", email="linus@example.org", phone="+1 415 555 0100", owner_id="u1")
    with app.app_context():
        token_enc = TokenCipher.from_settings().encrypt(TOKEN).decode()
    with session_scope(env["DATABASE_URL"]) as s:
        row = Tenant(platform="fake", external_id="A", name="A",
                     settings={"senders": {"sms": {"inbound_key": KEY, "auth_token_enc": token_enc,
                                                   "account_sid": "AC123", "from_number": "+14155550199"}}})
        s.add(row)
        s.flush()
        s.add(RuleSetVersion(tenant_id=row.id, version=1, status="published", body=RULES))
        index_record(s, row.id, lead)
        fake.tenant_id = row.id
    wire_adapters(lambda _tenant_id: fake)
    return fake


def post(client, tenant_id: int, form: dict, key: str = KEY, token: str = TOKEN, signature: str | None = None):
    url = f"http://localhost/webhooks/sms/{tenant_id}/{key}"
    headers = {} if signature == "" else {"X-Twilio-Signature": signature or RequestValidator(token)
                                          .compute_signature(url, form)}
    return client.post(url, data=form, headers=headers)


def stored(env) -> list[InboundMessageRow]:
    with session_scope(env["DATABASE_URL"]) as s:
        return list(s.scalars(select(InboundMessageRow)))


def test_a_signed_text_is_stored_once_and_a_stop_marks_the_lead_do_not_contact(client, tenant, env, caplog):
    caplog.set_level(logging.INFO, "leadrelay.sms")
    resp = post(client, tenant.tenant_id, FORM)
    assert (resp.status_code, resp.mimetype) == (200, "text/xml")
    assert resp.get_data(as_text=True).endswith("<Response/>")
    assert post(client, tenant.tenant_id, FORM).status_code == 200  # the provider retried
    assert [(r.key, r.sender, r.text) for r in stored(env)] == [(f"sms:{FORM['MessageSid']}", "+14155550100", "STOP")]
    BurstWorker(["sweep"], connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)
    assert tenant.do_not_contact == {("contact", "c2")}
    assert [r.message for r in caplog.records if r.name == "leadrelay.sms"] == ["sms.webhook.received",
                                                                            "sms.webhook.duplicate"]
    assert TOKEN not in caplog.text and KEY not in caplog.text and "+1415" not in caplog.text


def test_a_tampered_text_is_401(client, tenant, env):
    signature = RequestValidator(TOKEN).compute_signature(
        f"http://localhost/webhooks/sms/{tenant.tenant_id}/{KEY}", FORM)
    assert post(client, tenant.tenant_id, {**FORM, "Body": "hello"}, signature=signature).status_code == 401
    assert post(client, tenant.tenant_id, FORM, token="another-accounts-token").status_code == 401
    assert stored(env) == []


def test_a_missing_signature_is_400(client, tenant, env):
    assert post(client, tenant.tenant_id, FORM, signature="").status_code == 400


def test_a_wrong_key_or_unknown_tenant_is_404(client, tenant, env):
    assert post(client, tenant.tenant_id, FORM, key="not-the-key-at-all-xxxxxx").status_code == 404
    assert post(client, tenant.tenant_id + 99, FORM).status_code == 404
    assert stored(env) == []


def test_a_signed_post_without_a_sender_is_400(client, tenant, env):
    form = {k: v for k, v in FORM.items() if k != "From"}
    assert post(client, tenant.tenant_id, form).status_code == 400


def test_a_tenant_whose_token_is_not_readable_is_401_and_logged_as_an_error(client, tenant, env, caplog):
    with session_scope(env["DATABASE_URL"]) as s:
        row = s.get(Tenant, tenant.tenant_id)
        row.settings = {"senders": {"sms": {"inbound_key": KEY, "auth_token_enc": "not-a-fernet-token"}}}
    assert post(client, tenant.tenant_id, FORM).status_code == 401
    assert [r.levelname for r in caplog.records if r.message == "sms.webhook.secret-not-configured"] == ["ERROR"]


@pytest.mark.parametrize(("path", "kwargs"), [
    ("/webhooks/sms/1/%FF%FE", {"data": FORM}),
    ("/webhooks/sms/99999999999999999999999/key", {"data": FORM}),
    ("/webhooks/sms/1/" + KEY, {"json": FORM, "headers": {"X-Twilio-Signature": "x"}}),
    ("/webhooks/sms/1/" + KEY, {"data": b"\xff\xfe=\xff", "content_type": "application/x-www-form-urlencoded",
                                "headers": {"X-Twilio-Signature": "x"}}),
])
def test_bad_input_is_a_clear_4xx(client, tenant, path, kwargs):
    assert 400 <= client.post(path, **kwargs).status_code < 500
