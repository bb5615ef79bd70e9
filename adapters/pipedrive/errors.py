"""The one place where pipedrive-python-lib and requests failures become integration.errors classes.

The SDK raises a typed exception per status (pipedrive/exceptions.py, each with `.response`) only when the
error body is JSON; any other body (a proxy's HTML 502 page, a plain-text 503) comes back as `response.text`
with no exception, so the client hands us the captured response and `for_response` maps it by status.
Error bodies: https://pipedrive.readme.io/docs/core-api-concepts-responses ({success, error, error_info}).
Status codes: https://pipedrive.readme.io/docs/core-api-concepts-http-status-codes
"""
from __future__ import annotations

import datetime as dt

import requests
from pipedrive import exceptions as pd_exceptions

from integration.errors import (
    CRMAuthError,
    CRMBudgetExhausted,
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
# The daily token budget: "Once the daily budget is fully depleted, all further API requests will be rejected with
# a 429 (Too Many Requests) ... until the budget resets the following day", "at midnight at server's timezone"
# (https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting). The live API reports it in these two headers
# (not in the docs; a Pipedrive staff reply in the developer community, 2026-01-12, says they can be missing for a
# few requests after a long idle spell). A 429 whose remaining tokens cannot pay for the call is that budget, not
# the 2-second burst window: waiting x-ratelimit-reset (1-2 s) and asking again would collect 429s until midnight.
DAILY_LIMIT, DAILY_REMAINING = "x-daily-ratelimit-token-limit", "x-daily-ratelimit-token-remaining"
# The server's time zone is not named; the only day Pipedrive defines (x-daily-requests-left's) is UTC. A minute
# past midnight, so the first call after the pause does not beat the server's own reset.
RESET_TZ, RESET_MARGIN = dt.UTC, dt.timedelta(minutes=1)


def header_int(response: requests.Response | None, name: str) -> int | None:
    """An integer header, or None when absent or not a number."""
    value = (response.headers.get(name) or "").strip() if response is not None else ""
    try:
        return int(float(value)) if value else None
    except ValueError:
        return None


def next_reset(now: dt.datetime | None = None) -> dt.datetime:
    """When the daily budget is whole again: the coming midnight of the server's day, plus a margin."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(RESET_TZ)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=RESET_TZ)
    return (midnight + RESET_MARGIN).astimezone(dt.UTC)


def daily_exhausted(response: requests.Response | None, cost: int) -> CRMBudgetExhausted | None:
    """The daily budget's 429: what is left of it cannot pay for this call (cost tokens)."""
    left = header_int(response, DAILY_REMAINING)
    if left is None or left >= max(1, cost):
        return None
    limit = header_int(response, DAILY_LIMIT)
    of = f" of {limit:,}" if limit is not None else ""
    return CRMBudgetExhausted(f"Pipedrive 429: the company's daily API token budget is used up ({left:,}{of} "
                              f"tokens left, this call costs {cost})", next_reset())


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


def for_status(status: int, response: requests.Response | None, fallback: str = "", cost: int = 0) -> CRMError:
    """The project's error for a non-2xx answer to a call costing `cost` tokens."""
    if status == 429 and (exhausted := daily_exhausted(response, cost)) is not None:
        return exhausted
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


def translate(exc: BaseException, cost: int = 0) -> CRMError:
    """The project's error for an SDK or transport exception (callers `raise translate(e) from e`)."""
    if isinstance(exc, TRANSPORT_ERRORS):
        return CRMTransient(f"Pipedrive unreachable: {type(exc).__name__}: {exc}")
    response = getattr(exc, "response", None)
    status = response.status_code if response is not None else 0
    return for_status(status, response, str(exc), cost) if status else CRMTransient(f"Pipedrive: {exc}")


def for_text(response: requests.Response | None, cost: int = 0) -> CRMError:
    """A non-JSON body the SDK returned as text: an error by its status, or a broken 2xx (retry later)."""
    if response is None:
        return CRMTransient("Pipedrive answered without a response object")
    if response.status_code >= 400:
        return for_status(response.status_code, response, cost=cost)
    return CRMTransient(f"Pipedrive {response.status_code}: expected JSON, got "
                        f"{response.headers.get('Content-Type') or 'no content type'}")
