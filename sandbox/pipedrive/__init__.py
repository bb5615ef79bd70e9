"""Pipedrive emulator: API v2/v1, OAuth server, webhooks v2 sender, token-based rate limits.

One server hosts every company: the access token identifies the company, and `api_domain` / `api_base` is the
sandbox's public URL (real Pipedrive gives each company its own https://<company>.pipedrive.com; the company
domain still appears in /users/me and webhook `meta.host`). The OAuth server, which really lives on
https://oauth.pipedrive.com/oauth/, answers on the sandbox at the same paths /oauth/token and /oauth/revoke, at
/oauth/authorize for client_ids registered as Pipedrive apps (HubSpot's emulator owns that path otherwise), and
under `<sandbox>/pipedrive/oauth/` (set pipedrive-python-lib's `client.OAUTH_BASE_URL` to either).

Emulated
* OAuth: GET|POST /oauth/authorize (= /pipedrive/oauth/authorize; auto-approve, or a consent page with
  "Allow and install"/"Cancel" when config.consent_page; ?company_id= picks the company, default the newest;
  ?login_hint=<email> the approving user, default the company's first admin; no PKCE, as Pipedrive has none),
  POST /oauth/token (authorization_code, refresh_token; HTTP Basic client auth; same refresh token on refresh),
  POST /oauth/revoke (RFC 7009), access TTL config.oauth_setting("pipedrive", "access_ttl", 3600), scopes
  enforced (403 "Scope and URL mismatch"); uninstall via simulate {"action": "uninstall", "client_id"}: DELETE
  to the app's uninstall_url (default: first redirect URI) with Basic client_id:client_secret and JSON
  {client_id, company_id, user_id, timestamp}, then all the app's tokens, install and webhooks are removed.
* API v2 (/api/v2): persons, organizations, deals, activities — GET list (cursor/limit, updated_since/until,
  sort_by/sort_direction, ids and owner/org/person/deal/done filters), GET one, POST, PATCH, DELETE;
  GET persons/search and organizations/search (term, fields, exact_match, organization_id, cursor); stages,
  pipelines. Records in v2 shape (emails/phones lists, owner_id, ISO times, custom_fields); activity person_id
  is read-only and derived from the primary participant.
* API v1 (/api/v1): users, users/{id}, users/me (the token's user; `is_admin` 1/0 from the control API user's
  "admin" flag, by default only the first user); leads GET/POST/PATCH/DELETE (UUID ids); webhooks
  GET/POST/DELETE; PUT persons|organizations/{id}/merge (merge_with_id survives and wins conflicts, empty fields
  filled from the other, related deals/activities/leads moved); organizationFields (the "Website" custom field
  that holds an organization's domain); activityFields (its priority options, {id, label}; simulate action
  `activity_priorities` {options} changes them, [] removes the field, and an activity's priority must be one of
  them); personFields GET/POST (created fields get 40-character hash keys; POST
  answers 200, the only status Pipedrive's v1 OpenAPI document publishes for addPersonField);
  the v1 persons calls pipedrive-python-lib wraps (get, list, search,
  create, update, delete).
* Errors in Pipedrive's envelope {success: false, error, error_info, data, additional_data} (+errorCode on
  401/403/429); 401 for a missing/expired/revoked token; 404 "Entity was not found"; 400 validation errors.
* Rate limits (limits.py): per-token 2-second burst (x-ratelimit-limit/-remaining/-reset headers), search burst
  10/2 s, daily company token budget; each request costs its endpoint's `x-token-cost` from Pipedrive's OpenAPI
  documents (limits.COSTS, checked against copies of openapi-v1/-v2 by tests/contracts/test_pipedrive_token_costs.py;
  e.g. a person merge 40, GET /v1/webhooks 10); 429 "Request over limit". The used-up budget answers every call 429
  until midnight UTC ("rejected with a 429 ... until the budget resets", https://pipedrive.readme.io/docs/core-api-
  concepts-rate-limiting) with x-daily-ratelimit-token-limit / -remaining on every answer (the live API's headers:
  Pipedrive staff in the developer community, 2026-01-12) while x-ratelimit-* still describe the 2 s window; a call
  the remaining tokens cannot pay for is refused.
* Webhooks v2 to /v1/webhooks subscriptions for every API or simulated change of persons, organizations,
  deals, activities and leads; Basic auth from the subscription, sent with every request (no challenge round trip:
  "Webhooks service will send these Basic Authentication credentials in the header of every HTTP request",
  https://pipedrive.readme.io/docs/guide-for-webhooks); the meta keys, their order and types of the v2 guide's
  format example and meta table (https://pipedrive.readme.io/docs/guide-for-webhooks-v2); meta.change_source
  "api" (API writes) or "app" (simulate); retries after 3, 30, 150 s (scaled by config.webhook_retry_scale) with
  meta.attempt; ban after 10 failed first attempts for 30 minutes (scaled likewise); merge = delete(merged_to_id)
  + change(merged_from_id). The control API's /_sandbox/webhooks shows each attempt's auth scheme and the
  receiver's WWW-Authenticate answer.

Every answer LeadRelay reads is validated against Pipedrive's v1 and v2 OpenAPI documents by tests/contracts/,
which names where the documents are wrong about the real API (next_cursor null on the last page, null for a
field a record has no value for, v1's inline related objects).

Knowingly not emulated: webhooks v1 payloads (subscriptions with version "1.0" are stored but get nothing),
deletion of webhooks after 3 days without success, notes/products/files/filters/projects, lead labels and
lead->deal conversion, v1 deals/activities/organizations endpoints, contact-sync person fields, permission
sets/visibility, Cloudflare 403 blocking, x-daily-requests-left (api_token POST/PUT counter), per-company hosts,
the daily budget headers missing after a long idle spell, a server time zone other than UTC for the daily reset,
meta.timestamp as Unix seconds (some deliveries carry it so; the sandbox sends the format example's ISO time),
API token top-ups.
"""
from sandbox.pipedrive.platform import PipedrivePlatform

PLATFORM = PipedrivePlatform()

__all__ = ["PLATFORM", "PipedrivePlatform"]
