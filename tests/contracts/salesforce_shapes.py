"""The shapes of the Salesforce answers LeadRelay reads, as small JSON Schemas (Salesforce publishes no OpenAPI).

Each schema names its source: the REST API Developer Guide page that documents the answer (its example and
its property table), or the OAuth / identity help pages. Only what the guide states is required; what it
types is typed; nothing is closed (`additionalProperties` stays open, as Salesforce adds fields by version).
simple-salesforce's own tests stub these answers with empty bodies (`body='{}'`, simple_salesforce/tests/
test_api.py), so they are no shape source; what the SDK reads from them is: `query_more` follows
`nextRecordsUrl` while `done` is false, and `Sforce-Limit-Info: api-usage=<used>/<max>` fills `api_usage`
(simple_salesforce/api.py, `parse_api_usage`).
"""
from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

ID18 = {"type": "string", "pattern": "^[a-zA-Z0-9]{18}$"}  # REST answers carry 18-character ids
API_PATH = {"type": "string", "pattern": r"^/services/data/v\d+\.\d+/"}

# An error answer of the REST API: a JSON array of {message, errorCode[, fields]}.
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm ("Status Codes and
# Error Responses": "[{"fields": [...], "message": "...", "errorCode": "..."}]"), and the create example's
# "[{"message":"The Id field should not be specified in the sobject data.", "errorCode":"INVALID_FIELD"}]"
# (dome_sobject_create.htm).
REST_ERRORS: dict[str, Any] = {
    "type": "array", "minItems": 1,
    "items": {"type": "object", "required": ["message", "errorCode"],
              "properties": {"message": {"type": "string"}, "errorCode": {"type": "string", "pattern": "^[A-Z_]+$"},
                             "fields": {"type": "array", "items": {"type": "string"}}}}}

# POST sobjects/<SObject>: {"id": "001D000000IqhSLIAZ", "errors": [], "success": true}.
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_sobject_create.htm
CREATED: dict[str, Any] = {
    "type": "object", "required": ["id", "success", "errors"],
    "properties": {"id": ID18, "success": {"const": True}, "errors": {"type": "array", "maxItems": 0}}}

# One record as REST returns it (sObject Rows, query records): an `attributes` map with type and url, then fields.
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_get_field_values.htm
RECORD: dict[str, Any] = {
    "type": "object", "required": ["attributes"],
    "properties": {"attributes": {"type": "object", "required": ["type", "url"],
                                  "properties": {"type": {"type": "string"}, "url": API_PATH}},
                   "Id": ID18}}

# GET query?q= / queryAll: {"totalSize", "done", "records": [...], "nextRecordsUrl" while not done}.
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_query.htm (example response:
# "totalSize": 3222, "done": false, "nextRecordsUrl": "/services/data/v62.0/query/01gRO0000016PIAYA2-500").
QUERY_PAGE: dict[str, Any] = {
    "type": "object", "required": ["totalSize", "done", "records"],
    "properties": {"totalSize": {"type": "integer", "minimum": 0}, "done": {"type": "boolean"},
                   "records": {"type": "array", "items": RECORD},
                   "nextRecordsUrl": {"type": "string", "pattern": r"^/services/data/v\d+\.\d+/query(All)?/"}},
    "if": {"properties": {"done": {"const": False}}},
    "then": {"required": ["nextRecordsUrl"]},
    "else": {"not": {"required": ["nextRecordsUrl"]}}}
# SELECT COUNT() FROM …: totalSize carries the count, records is empty
# (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_count.htm)

# sObject Collections (POST / PATCH composite/sobjects): a list of SaveResults in request order; a failed one has
# success false and errors of {statusCode, message, fields}.
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_update.htm
# The SaveResult table: id is the saved record's; "If this field is empty, then the object wasn't updated"
# (https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_update_saveresult.htm), so a
# refused record's id may be absent or null, never another id.
SAVE_RESULT: dict[str, Any] = {
    "type": "object", "required": ["success", "errors"],
    "properties": {"id": {"anyOf": [ID18, {"type": "null"}]}, "success": {"type": "boolean"},
                   "errors": {"type": "array", "items": {
                       "type": "object", "required": ["statusCode", "message", "fields"],
                       "properties": {"statusCode": {"type": "string", "pattern": "^[A-Z_]+$"},
                                      "message": {"type": "string"},
                                      "fields": {"type": "array", "items": {"type": "string"}}}}}},
    "if": {"properties": {"success": {"const": True}}},
    "then": {"required": ["id"], "properties": {"id": ID18, "errors": {"maxItems": 0}}},
    "else": {"properties": {"id": {"type": "null"}, "errors": {"minItems": 1}}}}
COLLECTION_RESULTS: dict[str, Any] = {"type": "array", "items": SAVE_RESULT}

# GET limits: {"DailyApiRequests": {"Max": 15000, "Remaining": 14998}, …}.
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_limits.htm
_LIMIT = {"type": "object", "required": ["Max", "Remaining"],
          "properties": {"Max": {"type": "integer"}, "Remaining": {"type": "integer"}}}
LIMITS: dict[str, Any] = {"type": "object", "required": ["DailyApiRequests"],
                          "properties": {"DailyApiRequests": _LIMIT}, "additionalProperties": _LIMIT}

# GET sobjects/<SObject>/describe: name, fields[{name, type, …}], … (ensure_custom_fields reads fields[].name).
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm
DESCRIBE: dict[str, Any] = {
    "type": "object", "required": ["name", "fields", "urls"],
    "properties": {"name": {"type": "string"}, "urls": {"type": "object"},
                   "fields": {"type": "array", "minItems": 1, "items": {
                       "type": "object", "required": ["name", "type", "label"],
                       "properties": {"name": {"type": "string"}, "type": {"type": "string"},
                                      "label": {"type": "string"}}}}}}

# The web-server flow's token answer: access_token, signature, scope, instance_url, id, token_type, issued_at
# (+ refresh_token with the refresh_token scope); no expires_in.
# https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm
TOKEN: dict[str, Any] = {
    "type": "object",
    "required": ["access_token", "signature", "instance_url", "id", "token_type", "issued_at"],
    "properties": {"access_token": {"type": "string"}, "refresh_token": {"type": "string"},
                   "signature": {"type": "string"}, "scope": {"type": "string"},
                   "instance_url": {"type": "string", "format": "uri"},
                   "id": {"type": "string", "pattern": r"/id/00D[a-zA-Z0-9]{12,15}/005[a-zA-Z0-9]{12,15}$"},
                   "token_type": {"const": "Bearer"}, "issued_at": {"type": "string", "pattern": r"^\d{13}$"}},
    "not": {"required": ["expires_in"]}}

# The identity URL's answer (the `id` of the token answer): organization_id, user_id, username, display_name,
# email, urls, active, … https://help.salesforce.com/s/articleView?id=sf.remoteaccess_using_openid.htm
IDENTITY: dict[str, Any] = {
    "type": "object",
    "required": ["id", "user_id", "organization_id", "username", "display_name", "email", "urls", "active"],
    "properties": {"id": {"type": "string", "format": "uri"}, "user_id": ID18, "organization_id": ID18,
                   "username": {"type": "string"}, "display_name": {"type": "string"}, "email": {"type": "string"},
                   "active": {"type": "boolean"},
                   "urls": {"type": "object", "required": ["rest", "sobjects", "query"],
                            "additionalProperties": {"type": "string"}}}}

# Sforce-Limit-Info on every REST answer: "api-usage=18/5000".
# https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm
LIMIT_INFO = r"^api-usage=\d+/\d+(; per-app-api-usage=\d+/\d+\(appName=[^)]*\))?$"


def violations(schema: dict[str, Any], instance: Any) -> list[str]:
    """Every way `instance` breaks `schema` (empty when it conforms)."""
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in validator.iter_errors(instance)]
