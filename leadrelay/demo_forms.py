"""The demo's web-form chapter: a person fills in a form on each CRM's account (a signed post to the real intake
endpoint, as a customer's server sends one), then fills it in again written differently; the report says what
became of each submission, read back through the endpoint's own status API, and how long it took."""
from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select

from integration.config import get_settings
from integration.db import session_scope
from integration.models import Decision
from leadrelay.processes import local_http
from marketplace import intake_keys

WAIT_S = 60  # a submission is worked within a second; a slow machine gets a minute before the report says so
PERSON = {"first_name": "Margaret", "last_name": "Hamilton", "company": "Apollo Guidance", "country": "US",
          "phone": "+1 214 555 0188", "postcode": "75201", "source": "Web form", "utm_source": "demo",
          "utm_campaign": "launch", "page_url": "https://demo.example/contact", "consent": "yes"}


def send_forms(web_url: str, tenants: dict[str, int]) -> dict[str, Any]:
    """Per CRM: a new person, then the same person again (email in other case, the phone written differently)."""
    out = {}
    for platform, tenant_id in tenants.items():
        url, secret = _intake(web_url, tenant_id)
        email = f"margaret.hamilton.{platform}@apollo.example"
        first = _submit(url, secret, {**PERSON, "email": email, "message": "Please call me about a demo"})
        again = _submit(url, secret, {**PERSON, "email": email.upper(), "phone": "(214) 555-0188",
                                      "message": "Second message: is there a price list?"})
        out[platform] = {"new": first, "again": again}
    return out


def _intake(web_url: str, tenant_id: int) -> tuple[str, str]:
    with session_scope(get_settings().database_url) as s:
        revealed = intake_keys.reveal(intake_keys.ensure_key(s, tenant_id))
    return intake_keys.intake_url(web_url, revealed.key), revealed.secret


def _submit(url: str, secret: str, fields: dict) -> dict[str, Any]:
    """Post signed, wait until the capture job is done with it, read its status back (signed as well)."""
    http = local_http()
    body = json.dumps(fields).encode()
    started = time.monotonic()
    answer = http.post(url, data=body, timeout=10, headers={
        "Content-Type": "application/json", "X-LeadRelay-Signature": _sign(secret, body)})
    if answer.status_code != 202:
        return {"status": f"refused: {answer.status_code} {answer.text[:200]}"}
    submission = answer.json()["submission_id"]
    status: dict[str, Any] = {"status": "accepted"}
    while time.monotonic() - started < WAIT_S:
        status = http.get(f"{url}/{submission}", timeout=10,
                          headers={"X-LeadRelay-Signature": _sign(secret, b"")}).json()
        if status.get("status") != "accepted":
            break
        time.sleep(0.1)
    seconds = round(time.monotonic() - started, 2)
    return {"status": status.get("status"), "seconds": seconds, "record_url": status.get("record_url"),
            "what_happened": _reason(status.get("record_id")), **({"error": status["error"]} if status.get("error")
                                                                  else {})}


def _sign(secret: str, body: bytes) -> str:
    return intake_keys.signature_header(secret, body, int(time.time()))


def _reason(record_id: str | None) -> str | None:
    """The capture decision's sentence, as the audit log shows it."""
    if not record_id:
        return None
    with session_scope(get_settings().database_url) as s:
        return s.scalar(select(Decision.reason).where(Decision.kind == "capture", Decision.object_id == record_id)
                        .order_by(Decision.id.desc()).limit(1))


def problems(forms: dict[str, Any]) -> list[str]:
    """What the report must call incomplete: a first submission not created, a second not matched to it."""
    found = []
    for platform, sent in forms.items():
        if sent["new"].get("status") not in ("created", "review"):
            found.append(f"the web-form submission on {platform} was not created ({sent['new'].get('status')})")
        if sent["again"].get("status") != "updated":
            found.append(f"the second web-form submission on {platform} did not update the first one's record "
                         f"({sent['again'].get('status')})")
    return found
