"""The raw answer of one SDK call, as it came over the wire, for validating against the published schema.

Each helper drives the official SDK the way LeadRelay's adapter does and keeps what the SDK would otherwise
turn into models or exceptions: the status, the headers and the JSON body.
- hubspot-api-client (urllib3): the generated `*_with_http_info` methods with `_preload_content=False` hand
  back the urllib3 response; a non-2xx still raises `ApiException`, which carries status, headers and body.
  The request path is read from the sandbox's own call log (the urllib3 answer does not keep it).
- pipedrive-python-lib and simple-salesforce (requests): a `response` hook sees every requests.Response,
  also the ones the SDK then raises on.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from tests.contracts.openapi import Answer


def _json(raw: bytes | str | None) -> Any:
    if raw in (None, b"", ""):
        return None
    return json.loads(raw)


def from_requests(response: requests.Response) -> Answer:
    parts = urlsplit(response.request.url or "")
    return Answer(method=response.request.method or "", path=parts.path, status=response.status_code,
                  headers=CaseInsensitiveDict(response.headers), body=_json(response.content))


class Recorder:
    """A requests `response` hook that keeps every response (pass `hooks=recorder.hooks`)."""

    def __init__(self) -> None:
        self.responses: list[requests.Response] = []

    @property
    def hooks(self) -> dict[str, Callable[..., Any]]:
        return {"response": self.keep}

    def keep(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.responses.append(response)

    def last(self) -> Answer:
        assert self.responses, "no HTTP answer was recorded"
        return from_requests(self.responses[-1])


def pipedrive(sdk: Any, method: str, url: str, **kwargs: Any) -> Answer:
    """One call through pipedrive-python-lib's request layer (as PipedriveClient sends v1 and v2 calls)."""
    from pipedrive import exceptions

    recorder = Recorder()
    try:
        # verify: the sandbox CA, as PipedriveClient passes http_verify() on every call
        sdk._request(method, url, hooks=recorder.hooks, timeout=10, verify=sdk.verify, **kwargs)
    except exceptions.BaseError:
        pass  # the status and body are what is under test
    return recorder.last()


class HubSpotCalls:
    """Runs hubspot-api-client calls and returns their raw answers; `calls_url` is the sandbox's call log."""

    def __init__(self, calls_url: str) -> None:
        self.calls_url = calls_url
        self.http = requests.Session()
        self.http.trust_env = False

    def __call__(self, api: Any, method: str, *args: Any, **kwargs: Any) -> Answer:
        """`api.<method>(*args, **kwargs)` (an SDK method name, e.g. "get_by_id"), answered raw."""
        fn = getattr(api, f"{method}_with_http_info")
        return self._logged(*_sent(lambda: fn(*args, _preload_content=False, _request_timeout=10, **kwargs)))

    def raw(self, api_client: Any, http_method: str, path: str, body: Any = None) -> Answer:
        """A path the SDK has no API class for, sent as HubSpotClient.call_path sends it (a package's ApiClient)."""
        headers = {"Accept": "application/json", **({"Content-Type": "application/json"} if body is not None else {})}
        return self._logged(*_sent(lambda: api_client.call_api(
            path, http_method, header_params=headers, body=body, auth_settings=["oauth2"],
            _return_http_data_only=True, _preload_content=False, _request_timeout=10)))

    def unlogged(self, api: Any, method: str, *args: Any, http_method: str, path: str, **kwargs: Any) -> Answer:
        """A call the sandbox cannot put in an account's log (no valid token): method and path as sent."""
        fn = getattr(api, f"{method}_with_http_info")
        status, headers, body = _sent(lambda: fn(*args, _preload_content=False, _request_timeout=10, **kwargs))
        return Answer(method=http_method, path=path, status=status, headers=headers, body=body)

    def _logged(self, status: int, headers: CaseInsensitiveDict, body: Any) -> Answer:
        calls = self.http.get(self.calls_url, timeout=10).json()["calls"]
        assert calls, "the sandbox logged no call"
        last = calls[-1]
        assert last["status"] == status, f"the call log says {last['status']}, the SDK saw {status}"
        return Answer(method=last["method"], path=urlsplit(last["path"]).path, status=status, headers=headers,
                      body=body)


def _sent(send: Callable[[], Any]) -> tuple[int, CaseInsensitiveDict, Any]:
    """(status, headers, JSON body) of a hubspot-api-client call made with _preload_content=False."""
    try:
        raw = send()
    except Exception as exc:  # each generated package (hubspot.crm.contacts, …) has its own ApiException
        if not type(exc).__module__.startswith("hubspot.") or not hasattr(exc, "status"):
            raise
        return exc.status, CaseInsensitiveDict(exc.headers or {}), _json(exc.body)
    return raw.status, CaseInsensitiveDict(raw.headers), _json(raw.data)
