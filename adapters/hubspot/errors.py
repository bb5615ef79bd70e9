"""The one place where hubspot-api-client and urllib3 failures become integration.errors classes.

Error bodies: https://developers.hubspot.com/docs/api-reference/error-handling ({status, message,
correlationId, category, ...}). The SDK raises a per-package `ApiException` (one class per generated
package, no shared base), with `.status`, `.headers`, `.body`; 429 is a plain ApiException.
Transport failures surface as urllib3 exceptions (the SDK does not wrap them), except TLS errors,
which the SDK turns into ApiException(status=0).
"""
from __future__ import annotations

import json
from typing import Any

import hubspot.crm.companies.exceptions
import hubspot.crm.contacts.exceptions
import hubspot.crm.deals.exceptions
import hubspot.crm.objects.calls.exceptions
import hubspot.crm.objects.emails.exceptions
import hubspot.crm.objects.meetings.exceptions
import hubspot.crm.objects.notes.exceptions
import hubspot.crm.objects.tasks.exceptions
import hubspot.crm.owners.exceptions
import urllib3.exceptions

from integration.errors import (
    CRMAuthError,
    CRMConflict,
    CRMError,
    CRMNotFound,
    CRMRateLimited,
    CRMTransient,
    CRMValidationError,
)

API_EXCEPTIONS: tuple[type[Exception], ...] = tuple(module.ApiException for module in (
    hubspot.crm.contacts.exceptions, hubspot.crm.companies.exceptions, hubspot.crm.deals.exceptions,
    hubspot.crm.objects.tasks.exceptions, hubspot.crm.objects.calls.exceptions,
    hubspot.crm.objects.emails.exceptions, hubspot.crm.objects.meetings.exceptions,
    hubspot.crm.objects.notes.exceptions,
    hubspot.crm.owners.exceptions))
# timeouts, refused/reset connections, protocol errors; OSError covers sockets closed under us
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (urllib3.exceptions.HTTPError, OSError)

# 429 bodies name the policy that was hit; HubSpot sends no Retry-After, so wait out that policy's
# window (ten-second burst vs the search API's per-second limit).
# https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details
POLICY_WAIT_S = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0}
DEFAULT_WAIT_S = 10.0
# A real search 429 names no policy: {status, message, correlationId, category: "RATE_LIMITS"}, no rate-limit
# headers (a recorded POST /crm/v3/objects/COMPANY/search: grouparoo/grouparoo,
# plugins/@grouparoo/hubspot/__tests__/fixtures/export-objects/export-records-companies.js). So the search limit is
# also told by the endpoint (the caller says it called .../search) and by its message, the one HubSpot's Node SDK
# matches on (@hubspot/api-client RetryDecorator); waiting the 10-second default would idle for nine seconds.
SEARCH_WAIT_S = POLICY_WAIT_S["SECONDLY"]
SECONDLY_MESSAGE = "You have reached your secondly limit."


class MissingScopes(CRMValidationError):
    """403 MISSING_SCOPES: the portal did not grant the (optional) scope the call needs; nothing to retry."""


def _body(exc: Any) -> dict[str, Any]:
    raw = getattr(exc, "body", None)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {"message": str(raw)[:500]}
    return data if isinstance(data, dict) else {}


def _header(headers: Any, name: str) -> str | None:
    return headers.get(name) if headers is not None else None  # urllib3's HTTPHeaderDict: case-insensitive


def retry_after(exc: Any, search: bool = False) -> float:
    """Seconds to wait after a 429: Retry-After when sent, else the limit window the body names, else the search
    limit's second for a call to a search endpoint or a "secondly" message, else the 10-second burst window."""
    headers = getattr(exc, "headers", None)
    for name in ("Retry-After", "X-HubSpot-RateLimit-Interval-Milliseconds"):
        value = _header(headers, name)
        if value and value.replace(".", "", 1).isdigit():
            return float(value) / (1000.0 if name.endswith("Milliseconds") else 1.0)
    body = _body(exc)
    policy = str(body.get("policyName") or "")
    if policy in POLICY_WAIT_S:
        return POLICY_WAIT_S[policy]
    if search or body.get("message") == SECONDLY_MESSAGE:
        return SEARCH_WAIT_S
    return DEFAULT_WAIT_S


def _message(exc: Any) -> str:
    body = _body(exc)
    message = body.get("message") or getattr(exc, "reason", None) or "HubSpot refused the request"
    category = body.get("category")
    return f"HubSpot {exc.status} {category}: {message}" if category else f"HubSpot {exc.status}: {message}"


def translate(exc: BaseException, search: bool = False) -> CRMError:
    """The project's error for an SDK/transport failure (callers `raise translate(e) from e`); `search`: the call
    went to a .../search endpoint (its 429 is the per-second search limit)."""
    if isinstance(exc, TRANSPORT_ERRORS):
        return CRMTransient(f"HubSpot unreachable: {type(exc).__name__}: {exc}")
    status = int(getattr(exc, "status", 0) or 0)
    if status == 0:
        return CRMTransient(f"HubSpot connection failed: {getattr(exc, 'reason', exc)}")
    if status == 401:
        return CRMAuthError(_message(exc))
    if status == 404:
        return CRMNotFound(_message(exc))
    if status == 409:
        return CRMConflict(_message(exc))
    if status == 429:
        return CRMRateLimited(_message(exc), retry_after(exc, search))
    if status >= 500:
        return CRMTransient(_message(exc))
    if status == 403 and _body(exc).get("category") == "MISSING_SCOPES":
        return MissingScopes(_message(exc))
    return CRMValidationError(_message(exc))


def batch_errors(answer: Any) -> dict[str | None, CRMError]:
    """A 207 batch answer's errors by the record ids (update) or objectWriteTraceId (create) in their context;
    None: an error naming neither. https://developers.hubspot.com/docs/api-reference/error-handling"""
    out: dict[str | None, CRMError] = {}
    for err in getattr(answer, "errors", None) or []:
        text = f"HubSpot {err.category}: {err.message}"
        error = CRMNotFound(text) if err.category == "OBJECT_NOT_FOUND" else CRMValidationError(text)
        context = err.context or {}
        keys = context.get("ids") or context.get("id") or context.get("objectWriteTraceId") or [None]
        for key in keys:
            out.setdefault(key, error)
    return out


def missing_result(errors: dict[str | None, CRMError], what: str) -> CRMError:
    """The error for an input HubSpot's batch answer has no result for."""
    return errors.get(None) or CRMValidationError(f"HubSpot's batch answer has no result for {what}")
