"""Finding 5: secrets in logs. The request log recorded the Salesforce webhook URL (its last segment is the
tenant's secret) and urllib3 at DEBUG logged `GET /oauth/v1/access-tokens/hs-at-…`. A full demo at DEBUG now
leaves none of the run's secrets in var/demo/logs/; the filter behind that is also tested alone."""
from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from integration.logs import build_handler
from tests.conftest import ROOT, _free_port

# one of each: what a log line may quote → what must be gone from it
SECRETS = {
    "hubspot token info": ("GET /oauth/v1/access-tokens/hs-at-6WkQ0a8bTz_Yx HTTP/1.1", "hs-at-6WkQ0a8bTz_Yx"),
    "hubspot refresh delete": ("DELETE /oauth/v1/refresh-tokens/6f18f21e-a743-4509 HTTP/1.1", "6f18f21e-a743-4509"),
    "hubspot oauth token": ("token CJSP5qf1KhICAQEYs" + "x" * 60, "CJSP5qf1KhICAQEYs"),
    "hubspot private app": ("using pat-na1-0a1b2c3d-4e5f-6789-abcd-ef0123456789", "0a1b2c3d-4e5f"),
    "salesforce webhook url": ("POST /webhooks/salesforce/k3yK3yK3y/s3cr3tS3cr3t HTTP/1.1", "s3cr3tS3cr3t"),
    "salesforce session id": ("sid 00D5e000000AbCd!AQ4AQFnU.rx_5QP0", "AQ4AQFnU.rx_5QP0"),
    "salesforce refresh": ("refresh 5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJ", "TSESvWeug_xvFHRBTTbf"),
    "pipedrive access": ("v1u:AQIBAHj+LzTNK2yuuuaaAGfJLYvj3Q==", "AQIBAHj+LzTNK2yuuuaaAGfJ"),
    "oauth callback": ("GET /oauth/hubspot/callback?code=c0de-9f8e7d&state=st4te-1a2b3c", "c0de-9f8e7d"),
    "oauth state": ("GET /oauth/hubspot/callback?code=c0de-9f8e7d&state=st4te-1a2b3c", "st4te-1a2b3c"),
    "form body": ("grant_type=refresh_token&refresh_token=rt-abc123&client_secret=cs-xyz789", "cs-xyz789"),
    "access token param": ("GET /x?access_token=at-qwe456", "at-qwe456"),
    "invite param": ("GET /install/hubspot?invite=inv-9876zyx", "inv-9876zyx"),
    "invitation link": ("GET /invitations/Zk3mQ9xT2vLp8wRb HTTP/1.1", "Zk3mQ9xT2vLp8wRb"),
    "pipedrive panel jwt": ("GET /cards/pipedrive?userId=1&token=eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOjF9.sig-x",
                            "eyJ1c2VySWQiOjF9"),
    "bearer header": ("{'Authorization': 'Bearer at-zzz999'}", "at-zzz999"),
    "bearer value": ("sent Bearer 9f8e7d6c5b4a3210", "9f8e7d6c5b4a3210"),
    "basic header": ("Authorization: Basic bGVhZHJlbGF5OnMzY3IzdA==", "bGVhZHJlbGF5OnMzY3IzdA=="),
    "json body": ('{"access_token": "at-json-1", "refresh_token": "rt-json-2"}', "rt-json-2"),
    "fernet ciphertext": ("stored gAAAAABlZ3xQ0123456789abcdefghijKLMNOP", "gAAAAABlZ3xQ0123456789"),
}


@pytest.fixture()
def captured():
    """A logger writing LeadRelay's JSON lines to a buffer, through the same handler configure_logging installs."""
    stream = io.StringIO()
    logger = logging.getLogger("tests.redaction")
    handler = build_handler("json", stream)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]  # still one JSON object per line


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_a_secret_in_a_formatted_message_is_redacted(captured, name):
    logger, stream = captured
    text, secret = SECRETS[name]
    logger.debug("%s", text)
    [line] = lines(stream)
    assert secret not in line["message"] and "[redacted]" in line["message"]


def test_extra_fields_and_exception_text_are_redacted(captured):
    logger, stream = captured
    try:
        raise RuntimeError("refresh failed for hs-rt-Qm9vYmFy: client_secret=cs-in-exc")
    except RuntimeError:
        logger.exception("oauth.refresh-failed", extra={
            "url": "https://app.example/webhooks/salesforce/key1/secret-in-extra", "token": "tok-plain",
            "payload": {"refresh_token": "rt-nested", "items": ["Bearer at-in-list"]}, "code": 503})
    [line] = lines(stream)
    text = json.dumps(line)
    for secret in ("hs-rt-Qm9vYmFy", "cs-in-exc", "secret-in-extra", "tok-plain", "rt-nested", "at-in-list"):
        assert secret not in text
    assert "RuntimeError" in line["exc_info"] and line["code"] == 503  # the rest of the record is intact


def test_ordinary_lines_are_left_alone(captured):
    logger, stream = captured
    logger.info("route.decided %s → %s", "lead 42", "ana@example.com", extra={"rule": "Germany", "score": 70})
    [line] = lines(stream)
    assert line["message"] == "route.decided lead 42 → ana@example.com" and line["rule"] == "Germany"


def test_the_request_log_names_the_route_not_the_secret_path(client, caplog):
    """The INFO request line for a Salesforce Outbound Message (/webhooks/salesforce/<key>/<secret>)."""
    with caplog.at_level(logging.INFO, logger="leadrelay.web"):
        client.post("/webhooks/salesforce/k3yK3yK3y/s3cr3tS3cr3t", data=b"<x/>")
        client.get("/invitatons-typo/Zk3mQ9xT2vLp8wRb")  # no route: the path's token-like segments go
    requests = [r for r in caplog.records if r.getMessage() == "http.request"]
    assert [r.route for r in requests] == ["/webhooks/<platform>/<path:_rest>", "/invitatons-typo/[redacted]"]
    assert not any("s3cr3t" in str(r.__dict__) or "Zk3mQ9xT2vLp8wRb" in str(r.__dict__) for r in caplog.records)


# the whole demo at DEBUG --------------------------------------------------------------------------
OPERATOR_TOKEN = "operator-token-for-the-redaction-test"


def _run_demo_at_debug(var: Path) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """`leadrelay demo --check` at DEBUG with JSON logs; returns its result and the secrets it was given."""
    from leadrelay.demo import DEMO_APPS

    given = {"LEADRELAY_SECRET_KEY": Fernet.generate_key().decode(),
             "LEADRELAY_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "LEADRELAY_OPERATOR_TOKEN": OPERATOR_TOKEN}
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DATABASE_URL", *given) and not k.endswith("_CLIENT_SECRET")}
    env.update(given, LEADRELAY_VAR_DIR=str(var), LEADRELAY_LOG_LEVEL="DEBUG", LEADRELAY_LOG_FORMAT="json")
    out = subprocess.run([sys.executable, "-m", "leadrelay", "demo", "--check", "--port", str(_free_port()),
                          "--sandbox-port", str(_free_port()), "--leads", "6", "--seconds", "2"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=180)
    return out, {**given, **{f"{p} client secret": app["client_secret"] for p, app in DEMO_APPS.items()}}


def _stored_secrets(var: Path, key: str) -> dict[str, str]:
    """Every tenant's tokens and webhook credentials, read back from the run's database."""
    from integration.db import session_scope
    from integration.models import Credential, Tenant, WebhookKey
    from integration.models.capture import IntakeKey
    from oauth.crypto import TokenCipher

    cipher, found = TokenCipher([key]), {}
    with session_scope(f"sqlite:///{var / 'leadrelay.db'}") as s:
        for cred, platform in s.execute(select(Credential, Tenant.platform).join(Tenant)):
            found[f"{platform} access token"] = cipher.decrypt(cred.access_token_enc)
            if cred.refresh_token_enc:
                found[f"{platform} refresh token"] = cipher.decrypt(cred.refresh_token_enc)
        for intake, platform in s.execute(select(IntakeKey, Tenant.platform).join(Tenant)):
            found[f"{platform} intake key"] = cipher.decrypt(intake.key_enc)
            found[f"{platform} intake signing secret"] = cipher.decrypt(intake.secret_enc)
        for hook, platform in s.execute(select(WebhookKey, Tenant.platform).join(Tenant)):
            found[f"{platform} webhook key"] = hook.key
            if hook.secret_enc:
                found[f"{platform} webhook secret"] = cipher.decrypt(hook.secret_enc)
    return found


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_a_full_demo_at_debug_leaves_no_secret_in_the_logs(tmp_path):
    out, given = _run_demo_at_debug(tmp_path / "var")
    var = tmp_path / "var" / "demo"  # where a demo run keeps its database and logs (leadrelay.demo_state)
    # six leads tell part of the story (exit 1 and "incomplete" say so); every process ran and logged all the same
    assert out.returncode in (0, 1) and '"undecided": 0' in out.stdout, out.stdout[-3000:] + out.stderr[-3000:]
    secrets = {**given, **_stored_secrets(var, given["LEADRELAY_ENCRYPTION_KEYS"])}
    platforms = ("hubspot", "salesforce", "pipedrive")
    assert {f"{p} access token" for p in platforms} | {"salesforce webhook secret"} <= set(secrets)
    assert {f"{p} intake key" for p in platforms} <= set(secrets)  # the demo's web forms posted to each

    logs = {path.name: path.read_text(errors="replace") for path in (var / "logs").rglob("*") if path.is_file()}
    assert {"web.log", "worker.log", "sandbox.log"} <= set(logs)
    leaks = [f"{name}: {what}" for name, text in logs.items() for what, value in secrets.items() if value in text]
    assert leaks == []
    # the run did log at DEBUG, including the lines that used to carry secrets
    assert '"level": "DEBUG"' in logs["web.log"] and '"level": "DEBUG"' in logs["worker.log"]
    assert "/oauth/v1/access-tokens/[redacted]" in logs["web.log"]
    assert '"route": "/webhooks/<platform>/<path:_rest>"' in logs["web.log"]
    for name in ("web.log", "worker.log"):  # and the JSON lines are still JSON
        for line in logs[name].splitlines():
            if line.startswith("{"):
                json.loads(line)
