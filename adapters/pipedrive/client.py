"""pipedrive-python-lib's Client pointed at the tenant's API domain, with budget, 401 refresh and error mapping.

Every HTTP call of the adapter goes through `PipedriveClient.call`, naming the endpoint it hits: acquire from
the rate budget (the burst or search window, and the daily token budget at that endpoint's cost), send through
the SDK with an explicit timeout and TLS setting, feed x-ratelimit-* and the daily budget's headers back to the
budget, refresh the token once on a 401, and turn failures into integration.errors through errors.py (a 429 of
the used-up daily budget holds every call off until its reset; a burst window's 429 lowers the limit it believes).

The SDK speaks API v1 only (BASE_URL = <domain>/api/v1/); v2 endpoints go through its own request layer
(`Client._request`) with absolute v2 URLs. It calls the module-level `requests.request`, so per-call keyword
arguments reach requests: `timeout`, `verify` (an explicit CA path beats REQUESTS_CA_BUNDLE, which only
replaces verify=True) and `hooks`, which is how we see the response headers the SDK otherwise drops.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from pipedrive.client import Client

from adapters.pipedrive import errors
from integration.errors import CRMAuthError, CRMBudgetExhausted, CRMRateLimited, ReauthRequired
from integration.protocols import RateBudget, TokenProvider
from oauth.base import http_verify

Endpoint = tuple[str, str]  # (method, path template under the company's api_domain): ("GET", "/api/v2/persons/{id}")
# Tokens each endpoint LeadRelay calls costs from the company's daily budget: the `x-token-cost` of the operation in
# Pipedrive's OpenAPI documents (openapi-v1.yaml, openapi-v2.yaml; https://pipedrive.readme.io/docs/core-api-concepts-
# rate-limiting). tests/contracts/test_pipedrive_token_costs.py checks every entry against copies of both documents,
# and that every endpoint the adapter calls is here.
_V2_OBJECTS = ("persons", "organizations", "deals", "activities")
COSTS: dict[Endpoint, int] = {
    ("GET", "/api/v1/users"): 20,
    ("GET", "/api/v1/organizationFields"): 20, ("GET", "/api/v1/activityFields"): 20,
    ("GET", "/api/v1/personFields"): 20, ("POST", "/api/v1/personFields"): 10,
    ("GET", "/api/v1/webhooks"): 10, ("POST", "/api/v1/webhooks"): 10, ("DELETE", "/api/v1/webhooks/{id}"): 6,
    ("GET", "/api/v1/leads"): 20, ("GET", "/api/v1/leads/{id}"): 2, ("PATCH", "/api/v1/leads/{id}"): 10,
    ("PUT", "/api/v1/persons/{id}/merge"): 40, ("PUT", "/api/v1/organizations/{id}/merge"): 40,
    ("POST", "/api/v1/notes"): 10,
    **{(method, f"/api/v2/{obj}"): cost for obj in _V2_OBJECTS for method, cost in (("GET", 10), ("POST", 5))},
    **{(method, f"/api/v2/{obj}/{{id}}"): cost for obj in _V2_OBJECTS for method, cost in (("GET", 1), ("PATCH", 5))},
    ("GET", "/api/v2/persons/search"): 20, ("GET", "/api/v2/organizations/search"): 20,
    ("GET", "/api/v1/mailbox/mailThreads"): 20, ("GET", "/api/v1/mailbox/mailThreads/{id}/mailMessages"): 20,
}
# An endpoint missing from COSTS is charged the most any operation of its method costs in either document: the
# budget may then hold back too much, never too little.
DEFAULT_COSTS = {"GET": 80, "POST": 40, "PUT": 40, "PATCH": 10, "DELETE": 15}
H_LIMIT, H_REMAINING, H_RESET = "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"

Send = Callable[..., Any]  # send(sdk, **requests_kwargs) -> the SDK's parsed answer


def cost_of(endpoint: Endpoint) -> int:
    """The daily-budget tokens one call to this endpoint costs."""
    method = endpoint[0].upper()
    return COSTS.get((method, endpoint[1])) or DEFAULT_COSTS.get(method, max(DEFAULT_COSTS.values()))


class PipedriveClient:
    """One tenant's SDK client; nothing touches the network until the first call."""

    def __init__(self, api_base: str, tokens: TokenProvider, budget: RateBudget,
                 timeout: tuple[float, float]) -> None:
        self.api_base = api_base.rstrip("/")
        self.v2_base = f"{self.api_base}/api/v2/"
        self.tokens, self.budget, self.timeout = tokens, budget, timeout
        self._sdk: Client | None = None
        self._token: str | None = None

    def sdk(self) -> Client:
        if self._sdk is None:
            # domain + "v1/" is the SDK's BASE_URL; Pipedrive's documented base is https://<company>.pipedrive.com/api/v1/
            self._sdk = Client(domain=f"{self.api_base}/api/")
            self._token = self.tokens.access_token()
            self._sdk.set_access_token(self._token)
        return self._sdk

    # calls ------------------------------------------------------------------------------------
    def v2(self, method: str, template: str, *, params: dict[str, Any] | None = None,
           json: dict[str, Any] | None = None, **parts: Any) -> dict[str, Any]:
        """An API v2 call through the SDK's request layer (the SDK has no v2 wrappers).

        `template` is the path under /api/v2/ with its placeholders ("{obj}/{id}"), filled from `parts`; the
        endpoint it is charged as keeps {id} (Pipedrive's documents name each operation so).
        """
        path = template.format(**parts)
        endpoint = (method, "/api/v2/" + template.format(**{**parts, "id": "{id}"}))
        return self.call(endpoint, lambda sdk, **kw: sdk._request(method, self.v2_base + path, params=params,
                                                                  json=json, **kw))

    def call(self, endpoint: Endpoint, send: Send) -> dict[str, Any]:
        """Run `send(sdk, **kw)`, a call to `endpoint`, under the budget; one token refresh and retry on a 401."""
        self.sdk()  # a token the provider cannot give (ReauthRequired) is not a 401 to retry
        try:
            return self._attempt(endpoint, send)
        except ReauthRequired:
            raise
        except CRMAuthError:
            rejected = self._token or ""
            self._token = self.tokens.after_unauthorized(rejected)  # ReauthRequired propagates
            self.sdk().set_access_token(self._token)
            return self._attempt(endpoint, send)

    def _attempt(self, endpoint: Endpoint, send: Send) -> dict[str, Any]:
        cost = cost_of(endpoint)
        bucket = "search" if endpoint[1].endswith("/search") else "default"
        self.budget.acquire(bucket, 1)
        self.budget.acquire("daily", cost)
        seen: list[requests.Response] = []
        sdk = self.sdk()
        try:
            result = send(sdk, timeout=self.timeout, verify=http_verify(),
                          hooks={"response": lambda response, *args, **kwargs: seen.append(response)})
        except errors.SDK_ERRORS as exc:
            response = getattr(exc, "response", None)
            self._observe(bucket, response)
            raise self._tell_budget(bucket, errors.translate(exc, cost)) from exc
        except errors.TRANSPORT_ERRORS as exc:
            raise errors.translate(exc) from exc
        response = seen[-1] if seen else None
        self._observe(bucket, response)
        if not isinstance(result, dict):
            raise self._tell_budget(bucket, errors.for_text(response, cost))
        return result

    def _tell_budget(self, bucket: str, error: Exception) -> Exception:
        """Tell the shared budget what a 429 says, so no worker runs into it again.

        A used-up daily budget: no call before its reset. A 429 of the burst window (`bucket`: the 2-second default
        or search window this call took from, never "daily"), although the budget let the call go: Pipedrive's limit
        is lower than believed (other apps share the company's), so hold off and assume less.
        """
        if isinstance(error, CRMBudgetExhausted):
            self.budget.exhausted(error.bucket, error.until.timestamp())
        elif isinstance(error, CRMRateLimited):
            self.budget.penalize(bucket, error.retry_after)
        return error

    def _observe(self, bucket: str, response: requests.Response | None) -> None:
        """Feed the burst window's x-ratelimit-* headers back to the shared budget.

        The daily budget's headers are not: Pipedrive's day is a fixed allowance that is whole again at midnight,
        and a token bucket believing its remaining count would spread what is left over the next 24 hours (and
        stop calls hours before Pipedrive would). Its 429 holds every call until the reset instead (`_held`).
        """
        if response is None or H_REMAINING not in response.headers:
            return
        self.budget.observe(bucket, _int(response.headers.get(H_REMAINING)), _int(response.headers.get(H_LIMIT)),
                            _float(response.headers.get(H_RESET)))


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
