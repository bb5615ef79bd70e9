"""HubSpot's OAuth v1 answers, as small JSON Schemas transcribed from HubSpot's "Auth Oauth v1" OpenAPI document.

That document (HubSpot/HubSpot-public-api-spec-collection, PublicApiSpecs/Auth/Oauth/Rollouts/155908/v1/
oauth.json) is not in the team's copied set, so its required fields and types are written out here, each with the
component it comes from, rather than the file being copied in. hubspot-api-client's models are generated from it
(hubspot/oauth/models/token_response_if.py, access_token_info_response.py).
"""
from __future__ import annotations

from typing import Any

# POST /oauth/v1/token, 200: the authorization_code and refresh_token grants answer an AccessTokenResponse
# (access_token, expires_in, refresh_token, token_type required; expires_in int64). The document's `token_use`
# discriminator is not sent by the v1 endpoint (the SDK's TokenResponseIF has no such field), so it is not required.
TOKEN: dict[str, Any] = {
    "type": "object", "required": ["access_token", "expires_in", "refresh_token", "token_type"],
    "properties": {"access_token": {"type": "string", "maxLength": 300},  # "allow for tokens up to 300 characters"
                   "refresh_token": {"type": "string"}, "token_type": {"type": "string"},
                   "expires_in": {"type": "integer", "minimum": 1}, "id_token": {"type": "string"}}}

# GET /oauth/v1/access-tokens/{token}, 200: AccessTokenInfoResponse — app_id, expires_in, hub_id, scopes, token,
# token_type, user_id required; app_id, hub_id, user_id int32; user (email) and hub_domain strings.
ACCESS_TOKEN_INFO: dict[str, Any] = {
    "type": "object", "required": ["app_id", "expires_in", "hub_id", "scopes", "token", "token_type", "user_id"],
    "properties": {"app_id": {"type": "integer"}, "expires_in": {"type": "integer"}, "hub_id": {"type": "integer"},
                   "user_id": {"type": "integer"}, "token": {"type": "string"}, "token_type": {"type": "string"},
                   "scopes": {"type": "array", "items": {"type": "string"}}, "user": {"type": "string"},
                   "hub_domain": {"type": "string"}, "is_private_distribution": {"type": "boolean"}}}

# Every operation's `default` answer: the components.schemas.Error of the same document (category, correlationId
# (uuid), message required) — the same Error the CRM documents publish.
ERROR: dict[str, Any] = {
    "type": "object", "required": ["category", "correlationId", "message"],
    "properties": {"category": {"type": "string"}, "message": {"type": "string"},
                   "correlationId": {"type": "string", "format": "uuid"}}}
