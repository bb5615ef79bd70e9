"""Per-app-per-account burst limit and the per-token search limit.

OAuth apps: burst-only, per app per installed account; 110 / 10 s is the commonly quoted public-app
figure (UNCONFIRMED, https://developers.hubspot.com/changelog/increasing-our-api-limits). Headers
X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds, no -Daily pair for OAuth calls
(https://developers.hubspot.com/changelog/rate-limit-headers-will-now-appear-for-oauth-authenticated-calls).
Search has its own per-token limit and is excluded from the burst count; 4/s per
https://developers.hubspot.com/changelog/crm-search-api-rate-limit-increase, later 5/s (UNCONFIRMED).
The burst 429 body carries errorType RATE_LIMIT and policyName TEN_SECONDLY_ROLLING. The search 429 is answered
with the body a real search 429 had: {status, message, correlationId, category: "RATE_LIMITS"} and no errorType,
no policyName, no rate-limit headers (a recorded POST /crm/v3/objects/COMPANY/search of 17 Feb 2022:
grouparoo/grouparoo, plugins/@grouparoo/hubspot/__tests__/fixtures/export-objects/export-records-companies.js).
Its message is the one HubSpot's Node SDK matches on ("You have reached your secondly limit.",
@hubspot/api-client RetryDecorator), so a client can tell it only by that message or by the endpoint.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sandbox.hubspot.errors import HubSpotError
from sandbox.hubspot.hubstate import hub

if TYPE_CHECKING:
    from sandbox.context import Sandbox

BURST_WINDOW_S = 10.0
SEARCH_WINDOW_S = 1.0


def _hit(sandbox: Sandbox, key: tuple, window: float, limit: int) -> tuple[bool, int]:
    """Count a request in a rolling window; returns (allowed, remaining)."""
    state = hub(sandbox)
    now = time.monotonic()
    with state.lock:
        hits = [t for t in state.windows.get(key, []) if now - t < window]
        allowed = len(hits) < limit
        if allowed:
            hits.append(now)
        state.windows[key] = hits
        return allowed, max(0, limit - len(hits))


def check_burst(sandbox: Sandbox, account_id: str, app_key: str) -> dict[str, str]:
    """Count one API call; returns the rate-limit headers or raises the 429."""
    limit = int(sandbox.config.limit("hubspot", "burst_per_10s", 110))
    allowed, remaining = _hit(sandbox, ("burst", account_id, app_key), BURST_WINDOW_S, limit)
    headers = {"X-HubSpot-RateLimit-Max": str(limit), "X-HubSpot-RateLimit-Remaining": str(remaining),
               "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(BURST_WINDOW_S * 1000))}
    if not allowed:
        raise HubSpotError(429, "You have reached your ten_secondly_rolling limit.", "RATE_LIMITS",
                           extra={"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING",
                                  "groupName": f"publicapp:{app_key}"}, headers=headers)
    return headers


def check_search(sandbox: Sandbox, token: str) -> None:
    """Count one search call against the token's per-second limit (raises the 429)."""
    limit = int(sandbox.config.limit("hubspot", "search_per_second", 5))
    allowed, _ = _hit(sandbox, ("search", token), SEARCH_WINDOW_S, limit)
    if not allowed:
        raise HubSpotError(429, "You have reached your secondly limit.", "RATE_LIMITS")
