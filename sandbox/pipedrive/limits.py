"""Token-based rate limiting as Pipedrive documents it.

https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting :
* daily company budget = 30,000 base tokens x plan multiplier (Lite 1, Growth 2, Premium 5, Ultimate 7) x seats;
  exhausted -> 429 until midnight (server time zone; UTC here);
* burst limit per token on a rolling 2-second window (Growth: 40 req/2 s for api_token, 160 for OAuth apps),
  search endpoints 10 req/2 s for everyone; headers x-ratelimit-limit / -remaining / -reset;
* per-endpoint token costs: v1 get 2, list 20, update 10, delete 6, search 40 (same page); v2 costs come from
  `x-token-cost` in Pipedrive's openapi-v2.yaml: get 1, list 10, add 5, update 5, delete 3, search 20.
Defaults model a Growth company; tests override with config.limit("pipedrive", "burst_per_2s" |
"search_burst_per_2s" | "daily_tokens").
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from datetime import UTC, datetime

from sandbox.config import SandboxConfig
from sandbox.pipedrive.core import NAME, PdError, users
from sandbox.state import Account

COSTS = {
    "v1": {"get": 2, "list": 20, "create": 10, "update": 10, "delete": 6, "search": 40},
    "v2": {"get": 1, "list": 10, "create": 5, "update": 5, "delete": 3, "search": 20},
}
BASE_TOKENS, GROWTH_MULTIPLIER = 30_000, 2
BURST_OAUTH, BURST_API_TOKEN, BURST_SEARCH, WINDOW = 160, 40, 10, 2.0


class RateLimiter:
    """Burst windows per token (in memory) and the daily budget per company (in account.extra)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, bool], deque[float]] = {}

    def charge(self, config: SandboxConfig, account: Account, token: str, oauth: bool,
               version: str, kind: str) -> dict[str, str]:
        """Count one request; returns the headers to send, or raises PdError(429) with them."""
        search = kind == "search"
        if search:
            limit = int(config.limit(NAME, "search_burst_per_2s", BURST_SEARCH))
        else:
            limit = int(config.limit(NAME, "burst_per_2s", BURST_OAUTH if oauth else BURST_API_TOKEN))
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault((token, search), deque())
            while window and now - window[0] >= WINDOW:
                window.popleft()
            reset = math.ceil(WINDOW - (now - window[0])) if window else int(WINDOW)
            headers = {"x-ratelimit-limit": str(limit), "x-ratelimit-reset": str(max(reset, 1))}
            if len(window) >= limit:
                headers["x-ratelimit-remaining"] = "0"
                raise LimitExceeded(headers)
            self._spend_daily(config, account, COSTS[version][kind], headers)
            window.append(now)
            headers["x-ratelimit-remaining"] = str(limit - len(window))
        return headers

    @staticmethod
    def _spend_daily(config: SandboxConfig, account: Account, cost: int, headers: dict[str, str]) -> None:
        seats = max(1, len(users(account)))
        budget = int(config.limit(NAME, "daily_tokens", BASE_TOKENS * GROWTH_MULTIPLIER * seats))
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        usage = account.extra.setdefault("daily_usage", {"day": today, "used": 0})
        if usage["day"] != today:
            usage.update(day=today, used=0)
        if usage["used"] + cost > budget:
            headers["x-ratelimit-remaining"] = "0"
            raise LimitExceeded(headers)
        usage["used"] += cost


class LimitExceeded(PdError):
    """429 'Request over limit' (message from https://pipedrive.readme.io/docs/marketplace-oauth-and-api-proxy-status-codes)."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__(429, "Request over limit")
        self.headers = headers
