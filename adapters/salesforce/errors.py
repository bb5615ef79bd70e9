"""The one place where simple-salesforce, SOAP and transport failures become the project's errors."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceError

from integration.errors import (
    CRMAuthError,
    CRMConflict,
    CRMError,
    CRMNotFound,
    CRMRateLimited,
    CRMRecordRefused,
    CRMTransient,
    CRMValidationError,
)

# The daily allocation is a rolling 24 h window and the 403 says nothing about when calls come back
# (no Retry-After, unlike a 429): an hour lets the window roll forward without hammering an org that other
# apps share. https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
LIMIT_RETRY_AFTER = 3600.0
LIMIT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED"})
SESSION_CODES = frozenset({"INVALID_SESSION_ID"})
# the record is gone (deleted, or merged into another)
GONE_CODES = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND"})
TRANSIENT_CODES = frozenset({"UNKNOWN_EXCEPTION", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"})
# A duplicate rule refused the save: a block, or an alert the request did not acknowledge (the adapter does, with
# Sforce-Duplicate-Rule-Header). It is about the record, not the fields written. The REST answer names the rule and
# the records matched under "duplicateResut" (sic: real orgs spell it so, e.g. the production body quoted in
# gitlab-org/customers-gitlab-com issue 7138; SOAP's type is DuplicateResult); a SaveResult only has the message.
RECORD_REFUSED_CODES = frozenset({"DUPLICATES_DETECTED"})
# A SaveResult error has no HTTP status. An id naming no record (the single-record PATCH's 404) can come back as
# INVALID_CROSS_REFERENCE_KEY naming no field (or "Id"); naming a field (OwnerId, WhoId) it is a bad value, as alone
MISSING_RECORD_CODES = GONE_CODES | {"INVALID_CROSS_REFERENCE_KEY"}


class SessionExpired(CRMAuthError):
    """401 / INVALID_SESSION_ID: the client refreshes the token once and retries."""


class SoapFault(Exception):
    """A SOAP sf:fault (the SOAP API answers HTTP 500 for every request-level error)."""

    def __init__(self, code: str, message: str, status: int = 500) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


def platform_message(content: Any) -> tuple[str, str]:
    """(errorCode, message) from a REST error body: a list of {"message", "errorCode", "fields"}; a duplicate rule's
    refusal names the rule and the records it matched after the message."""
    first = content[0] if isinstance(content, list) and content else content
    if isinstance(first, dict) and "actionName" in first and first.get("errors"):
        # an invocable action's failed result: [{"actionName", "isSuccess": false, "errors": [{"statusCode", …}]}]
        action_error = first["errors"][0]
        return str(action_error.get("statusCode", "")), str(action_error.get("message", ""))
    if isinstance(first, dict):
        return str(first.get("errorCode", "")), str(first.get("message", "")) + _duplicates(first)
    return "", str(content)[:500]


def _duplicates(error: Mapping[str, Any]) -> str:
    """The rule and the records a DUPLICATES_DETECTED body names, as " (duplicate rule R matched ids)"; else ""."""
    result = error.get("duplicateResut") or error.get("duplicateResult")
    if not isinstance(result, dict):
        return ""
    matched = [record.get("record", {}).get("Id") for group in _dicts(result.get("matchResults"))
               for record in _dicts(group.get("matchRecords")) if isinstance(record.get("record"), dict)]
    ids = ", ".join(str(i) for i in matched if i)
    return f" (duplicate rule {result.get('duplicateRule') or '?'} matched {ids or 'records you cannot see'})"


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def from_code(code: str, message: str, status: int = 400) -> CRMError:
    """The project error for a Salesforce errorCode (REST bodies, SOAP faults and per-record results)."""
    text = f"{code}: {message}" if code else message
    if code in SESSION_CODES or status == 401:
        return SessionExpired(text)
    if code in LIMIT_CODES or status == 429:
        return CRMRateLimited(text, retry_after=LIMIT_RETRY_AFTER)
    if code in TRANSIENT_CODES or status >= 500:
        return CRMTransient(text)
    if code in GONE_CODES or status == 404:
        return CRMNotFound(text)
    if status == 409:
        return CRMConflict(text)
    if code in RECORD_REFUSED_CODES:
        return CRMRecordRefused(text)
    return CRMValidationError(text)


def from_save_result(result: Mapping[str, Any]) -> CRMError | None:
    """The project error of one sObject Collections SaveResult ({id, success, errors}); None when it was saved.

    https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_update_saveresult.htm
    """
    if result.get("success"):
        return None
    first = (result.get("errors") or [{}])[0]
    code, message = str(first.get("statusCode", "")), str(first.get("message", ""))
    about_the_record = set(first.get("fields") or ()) <= {"Id"}
    return from_code(code, message, 404 if code in MISSING_RECORD_CODES and about_the_record else 400)


def translate(exc: SalesforceError | SoapFault | requests.RequestException) -> CRMError:
    """Any SDK/transport failure -> the project's class."""
    if isinstance(exc, SalesforceError):
        # simple-salesforce raises one class per status (SalesforceExpiredSession 401, SalesforceRefusedRequest
        # 403, SalesforceResourceNotFound 404, SalesforceGeneralError otherwise); each keeps status and body
        code, message = platform_message(exc.content)
        return from_code(code, message, int(exc.status or 0))
    if isinstance(exc, SoapFault):
        # every sf:fault is an HTTP 500, so the code decides; a bare 5xx without a fault is transient
        return from_code(exc.code, exc.message, 400 if exc.code else exc.status)
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return CRMTransient(f"Salesforce unreachable: {exc}")
    return CRMTransient(f"Salesforce request failed: {exc}")  # any other requests.RequestException


@contextmanager
def mapped() -> Iterator[None]:
    """Run SDK calls; whatever escapes is one of integration.errors."""
    try:
        yield
    except CRMError:
        raise
    except (SalesforceError, SoapFault, requests.RequestException) as exc:
        raise translate(exc) from exc
