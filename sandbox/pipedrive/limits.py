"""Token-based rate limiting as Pipedrive documents it, charged per endpoint.

https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting :
* daily company budget = 30,000 base tokens x plan multiplier (Lite 1, Growth 2, Premium 5, Ultimate 7) x seats;
  once it is "fully depleted, all further API requests will be rejected with a 429 (Too Many Requests)" until it
  resets "at midnight at server's timezone" (UTC here, the only day Pipedrive names: x-daily-requests-left's);
* burst limit per token on a rolling 2-second window (Growth: 40 req/2 s for api_token, 160 for OAuth apps),
  search endpoints 10 req/2 s for everyone; headers x-ratelimit-limit / -remaining / -reset describe that window
  only, on every answer (a daily-budget 429 included: its window usually still has room);
* each endpoint's cost is the `x-token-cost` of its operation in Pipedrive's OpenAPI documents (openapi-v1.yaml,
  openapi-v2.yaml); COSTS below holds the endpoints the sandbox serves, checked against copies of both documents
  by tests/contracts/test_pipedrive_token_costs.py.

The daily budget's own headers are not in Pipedrive's documentation but are what the live API sends:
x-daily-ratelimit-token-limit and x-daily-ratelimit-token-remaining (a Pipedrive staff reply in the developer
community, 2026-01-12, says they "can be missing for a few requests ... after a long period of inactivity"; client
code written against the live API reads them, e.g. a daily-budget 429 carries x-daily-ratelimit-token-remaining: 0).
A request the remaining tokens cannot pay for is refused (the documentation says only "fully depleted"; refusing
is the stricter reading, and the one a client must survive: its 429 may report a few tokens left).
Defaults model a Growth company; tests override with config.limit("pipedrive", "burst_per_2s" |
"search_burst_per_2s" | "daily_tokens").
"""
from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sandbox.config import SandboxConfig
from sandbox.pipedrive.core import NAME, PdError, users
from sandbox.state import Account

# (method, path template under the company's api_domain) -> x-token-cost, from openapi-v1.json / openapi-v2.json.
COSTS: dict[tuple[str, str], int] = {
    ("GET", "/api/v1/users"): 20, ("GET", "/api/v1/users/me"): 2, ("GET", "/api/v1/users/{id}"): 2,
    ("GET", "/api/v1/organizationFields"): 20, ("GET", "/api/v1/activityFields"): 20,
    ("GET", "/api/v1/personFields"): 20, ("POST", "/api/v1/personFields"): 10,
    ("GET", "/api/v1/webhooks"): 10, ("POST", "/api/v1/webhooks"): 10, ("DELETE", "/api/v1/webhooks/{id}"): 6,
    ("GET", "/api/v1/leads"): 20, ("POST", "/api/v1/leads"): 10, ("GET", "/api/v1/leads/{id}"): 2,
    ("PATCH", "/api/v1/leads/{id}"): 10, ("DELETE", "/api/v1/leads/{id}"): 6,
    ("PUT", "/api/v1/persons/{id}/merge"): 40, ("PUT", "/api/v1/organizations/{id}/merge"): 40,
    ("GET", "/api/v1/notes"): 20, ("POST", "/api/v1/notes"): 10, ("GET", "/api/v1/notes/{id}"): 2,
    **{(method, f"/api/v2/{obj}"): cost for obj in ("persons", "organizations", "deals", "activities")
       for method, cost in (("GET", 10), ("POST", 5))},
    **{(method, f"/api/v2/{obj}/{{id}}"): cost for obj in ("persons", "organizations", "deals", "activities")
       for method, cost in (("GET", 1), ("PATCH", 5), ("DELETE", 3))},
    ("GET", "/api/v2/persons/search"): 20, ("GET", "/api/v2/organizations/search"): 20,
    ("GET", "/api/v2/stages"): 5, ("GET", "/api/v2/pipelines"): 5,
    ("GET", "/api/v1/mailbox/mailThreads"): 20, ("GET", "/api/v1/mailbox/mailThreads/{id}/mailMessages"): 20,
}
# v1 person endpoints pipedrive-python-lib wraps: out of support since 1 Aug 2026 and gone from openapi-v1.json,
# so they cost what the rate-limiting page's table of v1 costs says (get 2, list 20, update 10, delete 6, search 40).
RETIRED_V1_COSTS: dict[tuple[str, str], int] = {
    ("GET", "/api/v1/persons"): 20, ("POST", "/api/v1/persons"): 10, ("GET", "/api/v1/persons/search"): 40,
    ("GET", "/api/v1/persons/{id}"): 2, ("PUT", "/api/v1/persons/{id}"): 10, ("DELETE", "/api/v1/persons/{id}"): 6,
}
# An endpoint missing from both tables costs the most any operation of its method costs in either document, so a
# route added without its cost is never undercharged.
DEFAULT_COSTS = {"GET": 80, "POST": 40, "PUT": 40, "PATCH": 10, "DELETE": 15}
BASE_TOKENS, GROWTH_MULTIPLIER = 30_000, 2
BURST_OAUTH, BURST_API_TOKEN, BURST_SEARCH, WINDOW = 160, 40, 10, 2.0
DAILY_LIMIT, DAILY_REMAINING = "x-daily-ratelimit-token-limit", "x-daily-ratelimit-token-remaining"


def path_template(rule: str, args: Mapping[str, Any]) -> str:
    """A Flask URL rule as the OpenAPI documents write the path: /api/v2/<any(persons,...):obj>/<int:rid> with obj
    "persons" -> /api/v2/persons/{id} (the `obj` converter is a fixed segment there, every other one an id)."""

    def placeholder(match: re.Match) -> str:
        name = match.group(1)
        return str(args[name]) if name == "obj" else "{id}"

    return re.sub(r"<(?:[^<>]*:)?(\w+)>", placeholder, rule)


def cost(method: str, template: str) -> int:
    """The tokens one request to this endpoint costs."""
    key = (method.upper(), template)
    return COSTS.get(key) or RETIRED_V1_COSTS.get(key) or DEFAULT_COSTS.get(key[0], max(DEFAULT_COSTS.values()))


class RateLimiter:
    """Burst windows per token (in memory) and the daily budget per company (in account.extra)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, bool], deque[float]] = {}

    def charge(self, config: SandboxConfig, account: Account, token: str, oauth: bool,
               method: str, template: str) -> dict[str, str]:
        """Count one request; returns the headers to send, or raises LimitExceeded(429) with them."""
        search = template.endswith("/search")
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
                headers.update(self._daily_headers(config, account))
                raise LimitExceeded(headers)
            window.append(now)  # every request counts in its window, one the daily budget refuses too
            headers["x-ratelimit-remaining"] = str(limit - len(window))
            paid = self._spend_daily(config, account, cost(method, template))
            headers.update(self._daily_headers(config, account))
            if not paid:
                raise LimitExceeded(headers, daily=True)
        return headers

    @staticmethod
    def _usage(config: SandboxConfig, account: Account) -> tuple[dict, int]:
        seats = max(1, len(users(account)))
        budget = int(config.limit(NAME, "daily_tokens", BASE_TOKENS * GROWTH_MULTIPLIER * seats))
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        usage = account.extra.setdefault("daily_usage", {"day": today, "used": 0})
        if usage["day"] != today:  # midnight UTC: the budget is whole again
            usage.update(day=today, used=0)
        return usage, budget

    def _daily_headers(self, config: SandboxConfig, account: Account) -> dict[str, str]:
        usage, budget = self._usage(config, account)
        return {DAILY_LIMIT: str(budget), DAILY_REMAINING: str(max(0, budget - usage["used"]))}

    def _spend_daily(self, config: SandboxConfig, account: Account, price: int) -> bool:
        """Take the request's price from today's budget; False (nothing taken) when what is left cannot pay it."""
        usage, budget = self._usage(config, account)
        if usage["used"] + price > budget:
            return False
        usage["used"] += price
        return True


class LimitExceeded(PdError):
    """429 'Request over limit' (message from https://pipedrive.readme.io/docs/marketplace-oauth-and-api-proxy-status-codes)."""

    def __init__(self, headers: dict[str, str], daily: bool = False) -> None:
        super().__init__(429, "Request over limit")
        self.headers, self.daily = headers, daily
