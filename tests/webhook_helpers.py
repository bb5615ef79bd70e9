"""Signed webhook requests from stored fixtures (byte-exact), with headers derived from the file name."""
from __future__ import annotations

import json
import time
from pathlib import Path

from sandbox.hubspot.signature import signed_headers

FIXTURES = Path(__file__).parent / "fixtures"
HUBSPOT_SECRET = "lr-hubspot-secret-0123456789"  # the test app's client secret (tests/conftest.py APPS)


def fixture_bytes(platform: str, name: str) -> bytes:
    return (FIXTURES / platform / f"{name}.json").read_bytes()


def hubspot_headers(body: bytes, url: str, secret: str = HUBSPOT_SECRET, age_ms: int = 0) -> dict[str, str]:
    """Signed v3 as HubSpot signs a POST to `url`, `age_ms` ago."""
    return signed_headers(secret, url, body, str(int(time.time() * 1000) - age_ms))


def signed_webhook(client, platform: str, name: str, **options):
    """POST the fixture to our endpoint as the platform would, signed with the test secret at run time."""
    body = fixture_bytes(platform, name)
    url = "http://localhost/webhooks/hubspot"
    headers = hubspot_headers(body, url, **options)
    return client.post("/webhooks/hubspot", data=body, headers=headers)


def portal_of(platform: str, name: str) -> str:
    events = json.loads(fixture_bytes(platform, name))
    return str(events[0]["portalId"])
