"""The one place where pipedrive-python-lib and requests failures become integration.errors classes.

The SDK raises a typed exception per status (pipedrive/exceptions.py, each with `.response`) only when the
error body is JSON; any other body (a proxy's HTML 502 page, a plain-text 503) comes back as `response.text`
with no exception, so the client hands us the captured response and `for_response` maps it by status.
Error bodies: https://pipedrive.readme.io/docs/core-api-concepts-responses ({success, error, error_info}).
Status codes: https://pipedrive.readme.io/docs/core-api-concepts-http-status-codes
"""
from __future__ import annotations

import requests
from pipedrive import exceptions as pd_exceptions

from integration.errors import (
    CRMAuthError,
    CRMConflict,
    CRMError,
    CRMNotFound,
    CRMRateLimited,
    CRMTransient,
    CRMValidationError,
)

SDK_ERRORS: tuple[type[Exception], ...] = (pd_exceptions.BaseError,)
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (requests.RequestException,)
# Pipedrive answers 429 with x-ratelimit-reset (seconds until the 2-second window frees up); Retry-After
# is honoured when a proxy sends it. https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting
DEFAULT_WAIT_S = 2.0


def retry_after(response: requests.Response | None) -> float:
    """Seconds to wait after a 429."""
    headers = response.headers if response is not None else {}
    for name in ("Retry-After", "x-ratelimit-reset"):
        value = (headers.get(name) or "").strip()
        try:
            return max(float(value), 0.0)
        except ValueError:
            continue
    return DEFAULT_WAIT_S


def _message(status: int, response: requests.Response | None, fallback: str = "") -> str:
    text = fallback
    if response is not None:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("error"):
            text = str(body["error"])
        elif not text:
            text = (response.text or response.reason or "")[:300]
    return f"Pipedrive {status}: {text or 'request failed'}"


def for_status(status: int, response: requests.Response | None, fallback: str = "") -> CRMError:
    """The project's error for a non-2xx answer."""
    message = _message(status, response, fallback)
    if status == 401:
        return CRMAuthError(message)
    if status in (404, 410):  # 410 Gone: permanently deleted
        return CRMNotFound(message)
    if status == 409:
        return CRMConflict(message)
    if status == 429:
        return CRMRateLimited(message, retry_after(response))
    if status >= 500:
        return CRMTransient(message)
    return CRMValidationError(message)


def translate(exc: BaseException) -> CRMError:
    """The project's error for an SDK or transport exception (callers `raise translate(e) from e`)."""
    if isinstance(exc, TRANSPORT_ERRORS):
        return CRMTransient(f"Pipedrive unreachable: {type(exc).__name__}: {exc}")
    response = getattr(exc, "response", None)
    status = response.status_code if response is not None else 0
    return for_status(status, response, str(exc)) if status else CRMTransient(f"Pipedrive: {exc}")


def for_text(response: requests.Response | None) -> CRMError:
    """A non-JSON body the SDK returned as text: an error by its status, or a broken 2xx (retry later)."""
    if response is None:
        return CRMTransient("Pipedrive answered without a response object")
    if response.status_code >= 400:
        return for_status(response.status_code, response)
    return CRMTransient(f"Pipedrive {response.status_code}: expected JSON, got "
                        f"{response.headers.get('Content-Type') or 'no content type'}")
