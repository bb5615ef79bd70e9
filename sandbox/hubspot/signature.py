"""HubSpot's request signature v3, the one signer of this repository: the sandbox's webhooks send it, and the app's
tests and `leadrelay bench intake` sign the deliveries they post with it.

It lives in the sandbox because the sandbox imports nothing of the app, while the app's CLI and tests may import
the sandbox. The app verifies signatures with the HubSpot SDK's own code (adapters/hubspot/webhooks.py), so signer
and verifier stay two independent implementations of HubSpot's rule.
https://developers.hubspot.com/docs/api/webhooks/validating-requests
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: str) -> str:
    """base64(HMAC-SHA256(client secret, method + URI + body + timestamp)), the timestamp in epoch milliseconds."""
    message = method.encode() + uri.encode() + body + timestamp_ms.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def signed_headers(secret: str, uri: str, body: bytes, timestamp_ms: str | None = None,
                   method: str = "POST") -> dict[str, str]:
    """The v3 headers of a JSON request as HubSpot sends it, stamped now unless `timestamp_ms` is given."""
    stamp = timestamp_ms if timestamp_ms is not None else str(int(time.time() * 1000))
    return {SIGNATURE_HEADER: signature_v3(secret, method, uri, body, stamp), TIMESTAMP_HEADER: stamp,
            "Content-Type": "application/json"}
