"""HubSpot's error JSON: {status, message, correlationId, category[, errors, context, subCategory]}.

Shape: https://developers.hubspot.com/docs/api-reference/error-handling (the SDK's `Error` model
requires correlationId, message and category).
"""
from __future__ import annotations

import uuid
from typing import Any

from flask import Response, jsonify


class HubSpotError(Exception):
    """Raised inside a handler; rendered by the blueprint's error handler."""

    def __init__(self, status: int, message: str, category: str, *, errors: list[dict] | None = None,
                 context: dict[str, list[str]] | None = None, extra: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.category = status, message, category
        self.errors, self.context, self.extra, self.headers = errors, context, extra or {}, headers or {}

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": "error", "message": self.message,
                                "correlationId": str(uuid.uuid4()), "category": self.category}
        if self.errors:
            data["errors"] = self.errors
        if self.context:
            data["context"] = self.context
        data.update(self.extra)
        return data


def render(exc: HubSpotError) -> Response:
    """Flask response for a HubSpotError."""
    resp = jsonify(exc.body())
    resp.status_code = exc.status
    for key, value in exc.headers.items():
        resp.headers[key] = value
    return resp


def not_found(object_id: str) -> HubSpotError:
    """404 for an unknown record id."""
    return HubSpotError(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND",
                        context={"id": [str(object_id)]})


def validation(message: str, errors: list[dict] | None = None) -> HubSpotError:
    """400 VALIDATION_ERROR with optional per-field errors."""
    return HubSpotError(400, message, "VALIDATION_ERROR", errors=errors)


def unknown_properties(names: list[str]) -> HubSpotError:
    """400 for properties that do not exist on the object type."""
    errors = [{"isValid": False, "message": f'Property "{n}" does not exist', "error": "PROPERTY_DOESNT_EXIST",
               "name": n, "localizedErrorMessage": f'Property "{n}" does not exist'} for n in names]
    msg = "Property values were not valid: " + str(errors).replace("'", '"')
    return HubSpotError(400, msg, "VALIDATION_ERROR", errors=[
        {"message": f'Property "{n}" does not exist', "code": "PROPERTY_DOESNT_EXIST",
         "context": {"propertyName": [n]}} for n in names])


def unauthorized(expired_for: int | None = None) -> HubSpotError:
    """401 for a missing/unknown token, or EXPIRED_AUTHENTICATION for an expired one."""
    if expired_for is not None:
        return HubSpotError(401, f"The OAuth token used to make this call expired {expired_for} second(s) ago.",
                            "EXPIRED_AUTHENTICATION")
    return HubSpotError(401, "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                        "and you can find more details at https://developers.hubspot.com/docs/methods/auth/"
                        "oauth-overview", "INVALID_AUTHENTICATION")
