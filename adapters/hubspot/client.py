"""The official SDK client, pointed at the tenant's API base, with budget, 401-refresh and error mapping.

Every HTTP call of the adapter goes through `HubSpotClient.call` (or `get_path`): acquire from the rate
budget, send with an explicit timeout, feed X-HubSpot-RateLimit-* back to the budget (and a 429, which lowers
the limit it believes), refresh the token once on a 401, and turn failures into integration.errors via
errors.translate.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hubspot import HubSpot

from adapters.hubspot.errors import API_EXCEPTIONS, TRANSPORT_ERRORS, translate
from adapters.hubspot.fields import SDK_PATHS
from integration.errors import CRMError, CRMRateLimited
from integration.protocols import RateBudget, TokenProvider
from oauth.base import http_verify

# Rate-limit headers on OAuth calls (no -Daily pair for OAuth apps):
# https://developers.hubspot.com/changelog/rate-limit-headers-will-now-appear-for-oauth-authenticated-calls
H_MAX, H_REMAINING, H_INTERVAL = ("X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining",
                                  "X-HubSpot-RateLimit-Interval-Milliseconds")
SEARCH_API = "search_api"  # the SDK's API class for POST /crm/v3/objects/{type}/search, whatever the object


class HubSpotClient:
    """One tenant's SDK client. Builds nothing on the network until the first call."""

    def __init__(self, api_base: str, tokens: TokenProvider, budget: RateBudget,
                 timeout: tuple[float, float]) -> None:
        self.api_base = api_base.rstrip("/")  # the SDK's paths start with "/crm/..."
        self.tokens, self.budget, self.timeout = tokens, budget, timeout
        self._token: str | None = None
        self._sdk: HubSpot | None = None
        self._apis: dict[tuple[str, str], Any] = {}

    # SDK objects --------------------------------------------------------------------------
    def _client(self) -> HubSpot:
        if self._sdk is None:
            if self._token is None:
                self._token = self.tokens.access_token()
            verify = http_verify()
            # retry=False: one HTTP attempt per call; jobs retry by error class (STYLE rule 12).
            # ssl_ca_cert is set on every package's Configuration (the SDK setattr's extra keywords).
            self._sdk = HubSpot(access_token=self._token, host=self.api_base, retry=False,
                                ssl_ca_cert=verify if isinstance(verify, str) else None)
        return self._sdk

    def api(self, target: str, name: str) -> Any:
        """e.g. api("contacts", "search_api"); cached, since each SDK lookup builds a new urllib3 pool."""
        key = (target, name)
        if key not in self._apis:
            node: Any = self._client()
            for attr in (*SDK_PATHS[target], name):
                node = getattr(node, attr)
            self._apis[key] = node
        return self._apis[key]

    def _reset(self, token: str) -> None:
        self._token, self._sdk = token, None
        self._apis.clear()

    # calls --------------------------------------------------------------------------------
    def call(self, bucket: str, target: str, api_name: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """SDK method `method` of api(target, api_name), through the `*_with_http_info` variant (headers)."""
        def send() -> tuple[Any, int, Any]:
            fn = getattr(self.api(target, api_name), f"{method}_with_http_info")
            return fn(*args, _request_timeout=self.timeout, **kwargs)
        return self._run(bucket, send, search=api_name == SEARCH_API)

    def get_path(self, bucket: str, path: str) -> Any:
        """GET a path the SDK has no API class for (e.g. /account-info/v3/details), as a dict."""
        return self.call_path(bucket, "GET", path)

    def call_path(self, bucket: str, method: str, path: str, body: Any = None,
                  query: list[tuple[str, str]] | None = None) -> Any:
        """Send `method` to a path the SDK has no API class for (e.g. the v1 secondary-email API); the JSON answer.

        Sent through the owners package's generated ApiClient, so it shares the urllib3 stack, the CA,
        the timeout and the error classes of every other call (client.api_request would use bare
        `requests` with no timeout and no CA setting).
        """
        def send() -> tuple[Any, int, Any]:
            api_client = self.api("owners", "owners_api").api_client
            headers = {"Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            return api_client.call_api(path, method, query_params=query or [], header_params=headers, body=body,
                                       response_types_map={200: "object", 201: "object", 207: "object"},
                                       auth_settings=["oauth2"],
                                       _return_http_data_only=False, _request_timeout=self.timeout)
        return self._run(bucket, send)

    def _run(self, bucket: str, send: Callable[[], tuple[Any, int, Any]], search: bool = False) -> Any:
        for attempt in (1, 2):
            self._client()
            token = self._token or ""
            self.budget.acquire(bucket, 1)  # HubSpot counts requests, whatever a batch holds
            try:
                data, _status, headers = send()
            except API_EXCEPTIONS as exc:
                self._observe(bucket, getattr(exc, "headers", None))
                if getattr(exc, "status", None) == 401 and attempt == 1:
                    # one refresh and one retry; ReauthRequired from the provider propagates
                    self._reset(self.tokens.after_unauthorized(token))
                    continue
                raise self._tell_budget(bucket, translate(exc, search)) from exc
            except TRANSPORT_ERRORS as exc:
                raise translate(exc) from exc
            self._observe(bucket, headers)
            return data
        raise AssertionError("unreachable")  # pragma: no cover

    def _tell_budget(self, bucket: str, error: CRMError) -> CRMError:
        """A 429 although the budget let the call go: the portal's limit is lower than believed (other apps share
        it), so every worker holds off and assumes less. HubSpot has no daily limit for OAuth apps: every 429 is
        the bucket's own window (the 10-second burst, or search's second)."""
        if isinstance(error, CRMRateLimited):
            self.budget.penalize(bucket, error.retry_after)
        return error

    def _observe(self, bucket: str, headers: Any) -> None:
        if not headers or headers.get(H_REMAINING) is None:
            return  # the search API sends no rate-limit headers
        interval = headers.get(H_INTERVAL)
        self.budget.observe(bucket, _int(headers.get(H_REMAINING)), _int(headers.get(H_MAX)),
                            int(interval) / 1000.0 if interval and interval.isdigit() else None)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
