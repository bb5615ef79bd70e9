"""Emulated HubSpot: CRM v3 API, associations v4, owners, OAuth v1, webhooks, rate limits.

Emulated (paths exactly as hubspot-api-client 12 calls them):
- OAuth: GET/POST /oauth/authorize (auto-approve, or a consent page when config.consent_page; sandbox
  extensions: `account=<portal id>` picks the portal, `login_hint=<email>` the approving user, default its
  first active super admin; the tokens act as that user),
  POST /oauth/v1/token (authorization_code with optional PKCE, refresh_token; client credentials in
  the form body; 30-min access tokens, config.oauth_setting("hubspot", "access_ttl")), GET
  /oauth/v1/access-tokens/{t}, GET/DELETE /oauth/v1/refresh-tokens/{t}, DELETE
  /appinstalls/v3/external-install (uninstall: revokes the app's tokens, stops its webhooks).
- CRM objects contacts, companies, deals, tasks, calls, emails, meetings, notes, leads:
  GET/POST /crm/v3/objects/{type}, GET/PATCH/DELETE /crm/v3/objects/{type}/{id} (properties,
  propertiesWithHistory, associations, archived, idProperty), batch read/create/update/archive (a read
  with unknown ids answers 207 with one StandardError: category, context.ids, errors, links, message, status),
  POST .../search (filterGroups with every SDK operator, associations.<type> filters, sorts, query,
  paging and HubSpot's filter-count limits), POST .../merge. hs_additional_emails is read-only
  there: PUT/DELETE /contacts/v1/secondary-email/{vid}/email/{email} add and remove secondary emails.
- Merges (contacts, companies, deals, leads) create the merged record under a NEW id, different from both
  (developer changelog "Updated merge functionality for contacts and companies",
  https://developers.hubspot.com/changelog/updated-merge-functionality-for-contacts-and-companies; deals:
  "Announcement: Deals now support merging", https://developers.hubspot.com/changelog/announcement-deals-now-support-merging;
  leads: that changelog's "consistent with merges for other object types", UNCONFIRMED for leads themselves).
  The primary's values win and the other's fill its empty ones; the older create date stays; hs_merged_object_ids
  lists both old ids; both records' associations move to the new id (a second "primary" label is dropped). The
  merge answers the new record. GET and batch read on an old id answer the merged record under its new id (status
  200); PATCH and batch update on an old id write to the merged record (UNCONFIRMED: no vendor statement found);
  v4 association reads on an old id answer no associations (the deals announcement); DELETE on an old id is a
  204 that changes nothing, like any unknown id; search and lists show only the new id. contact./company./
  deal.merge webhooks carry objectId (= primaryObjectId, UNCONFIRMED), primaryObjectId, mergedObjectIds,
  newObjectId and numberOfPropertiesMoved (fields: https://developers.hubspot.com/changelog/new-subscription-types-for-webhooks);
  no creation or deletion events for the records involved (UNCONFIRMED).
- Associations v4: PUT default / labeled, GET list, DELETE, POST /crm/v4/associations/{from}/{to}/batch/read.
- Outreach (sandbox/hubspot/outreach.py): communications (SMS logged on a contact), "Record source"
  (hs_object_source / hs_object_source_id: INTEGRATION + app id, CRM_UI + user id, API, SEQUENCES) on every new
  object, POST /communication-preferences/v4/statuses/{email}/unsubscribe-all (hs_email_optout true after; read-only
  otherwise), POST /automation/v4/sequences/enrollments?userId= with its refusals (no seat, already enrolled, daily
  cap, unsubscribed) logging the first step's email, GET /automation/v4/sequences/?userId= (the list, paged);
  control: account body `sequences` ({id: {name, subject, body}}; {} for none), `withheld_scopes` (optional
  scopes the portal lacks the features for, never granted), `sequence_seats` (user indexes) and
  `daily_enrollments`; simulate actions `reply` (the lead's INCOMING_EMAIL on the contact) and `log_meeting`.
- Properties: GET/POST /crm/v3/properties/{type} (+ /{name}, /groups): created properties are then
  accepted on records (sandbox/hubspot/properties.py).
- Owners: GET /crm/v3/owners/ (email, after, limit, archived) and /crm/v3/owners/{id}; inactive users are
  archived owners. GET /account-info/v3/details gives the portal time zone.
- Users (user provisioning): GET /settings/v3/users/{userId} (idProperty=USER_ID|EMAIL) with `superAdmin`,
  needing a settings.users / crm.objects.users scope (403 MISSING_SCOPES otherwise, 404 for an unknown user).
  Control API users take `"admin": true|false`; default: only the first user is a super admin.
- Webhooks: app-level subscriptions (legacy contact./company./deal.* and object.* for the other types),
  batched arrays of <=100 events per POST, signature v3 + v1 headers, ~24 h retry schedule without
  retries on 400/401/403/404/405. API writes with an app token carry changeSource INTEGRATION and the
  app id as sourceId (UNCONFIRMED pairing); UI simulations carry CRM_UI and userId:<id>.
- Rate limits: per app per portal 10-second burst window (config.limit("hubspot", "burst_per_10s"), 110)
  with X-HubSpot-RateLimit-* headers, and a per-token search limit (config.limit("hubspot",
  "search_per_second"), 5) answered with HubSpot's 429 bodies; the search one as a real search 429 was recorded,
  without policyName (sandbox/hubspot/ratelimit.py).
- Search eventual consistency (config.search_lag_ms, default 0): for that long a created or updated record is
  matched by POST .../search as it was indexed before the change (a new one not at all); GET and batch read see it
  at once. Source: "It may take a few moments for newly created or updated CRM objects to appear in search
  results", https://developers.hubspot.com/docs/api/crm/search#limitations (details in sandbox/hubspot/search.py).

Every answer LeadRelay reads is validated against HubSpot's own OpenAPI documents (CRM objects v3, owners,
properties, account-info; HubSpot/HubSpot-public-api-spec-collection) by tests/contracts/, which names where
the documents are wrong about the real API (property values null where they say string).

Knowingly not emulated: date-versioned paths (/crm/objects/2026-03/...), OAuth v3 endpoints, the
schemas/pipelines APIs and property updates/archiving (properties are checked against a built-in list plus
the created ones; custom ones can also be declared in account.extra["custom_properties"]), upsert, GDPR
delete, restore events, associationChange events, per-user
time zones (HubSpot exposes none), daily limits (OAuth apps have none), a deleted or merged-away record
lingering in search results during the search lag, webhook concurrency limits and randomized retry delays.
App registry and rate-limit windows live in memory, not in Store.dump().
"""
from sandbox.hubspot.platform import HubSpotPlatform

PLATFORM = HubSpotPlatform()

__all__ = ["PLATFORM", "HubSpotPlatform"]
