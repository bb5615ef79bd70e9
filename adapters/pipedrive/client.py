"""pipedrive-python-lib's Client pointed at the tenant's API domain, with budget, 401 refresh and error mapping.

Every HTTP call of the adapter goes through `PipedriveClient.call`: acquire from the rate budget (the burst
or search window, and the daily token budget at the endpoint's cost), send through the SDK with an explicit
timeout and TLS setting, feed x-ratelimit-* back to the budget, refresh the token once on a 401, and turn
failures into integration.errors through errors.py.

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
from integration.errors import CRMAuthError, ReauthRequired
from integration.protocols import RateBudget, TokenProvider
from oauth.base import http_verify

# Token cost per call: https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting (v1) and the
# x-token-cost of each operation in Pipedrive's openapi-v2.yaml (v2 is cheaper).
COSTS: dict[str, dict[str, int]] = {
    "v1": {"get": 2, "list": 20, "create": 10, "update": 10, "delete": 6, "search": 40},
    "v2": {"get": 1, "list": 10, "create": 5, "update": 5, "delete": 3, "search": 20},
}
H_LIMIT, H_REMAINING, H_RESET = "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"

Send = Callable[..., Any]  # send(sdk, **requests_kwargs) -> the SDK's parsed answer


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
    def v2(self, kind: str, method: str, path: str, *, params: dict[str, Any] | None = None,
           json: dict[str, Any] | None = None) -> dict[str, Any]:
        """An API v2 call through the SDK's request layer (the SDK has no v2 wrappers)."""
        return self.call("v2", kind, lambda sdk, **kw: sdk._request(method, self.v2_base + path, params=params,
                                                                      json=json, **kw))

    def call(self, version: str, kind: str, send: Send) -> dict[str, Any]:
        """Run `send(sdk, **kw)` under the budget; one token refresh and retry on a 401."""
        self.sdk()  # a token the provider cannot give (ReauthRequired) is not a 401 to retry
        try:
            return self._attempt(version, kind, send)
        except ReauthRequired:
            raise
        except CRMAuthError:
            rejected = self._token or ""
            self._token = self.tokens.after_unauthorized(rejected)  # ReauthRequired propagates
            self.sdk().set_access_token(self._token)
            return self._attempt(version, kind, send)

    def _attempt(self, version: str, kind: str, send: Send) -> dict[str, Any]:
        bucket = "search" if kind == "search" else "default"
        self.budget.acquire(bucket, 1)
        self.budget.acquire("daily", COSTS[version][kind])
        seen: list[requests.Response] = []
        sdk = self.sdk()
        try:
            result = send(sdk, timeout=self.timeout, verify=http_verify(),
                          hooks={"response": lambda response, *args, **kwargs: seen.append(response)})
        except errors.SDK_ERRORS as exc:
            self._observe(bucket, getattr(exc, "response", None))
            raise errors.translate(exc) from exc
        except errors.TRANSPORT_ERRORS as exc:
            raise errors.translate(exc) from exc
        response = seen[-1] if seen else None
        self._observe(bucket, response)
        if not isinstance(result, dict):
            raise errors.for_text(response)
        return result

    def _observe(self, bucket: str, response: requests.Response | None) -> None:
        """Feed the burst window's x-ratelimit-* headers back to the shared budget."""
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
