"""Salesforce emulator: REST, SOAP merge, OAuth web-server flow and Outbound Messages for simple-salesforce.

Emulated (the org is identified by the access token; instance_url = the sandbox's HTTPS URL):
  * REST /services/data/vXX.X/: versions, resources, limits, sobjects (describe global),
    sobjects/{Lead|Contact|Account|Opportunity|Task|Event|User}[/describe] GET, POST create (201),
    sobjects/{type}/{id} GET (?fields=), PATCH (204), DELETE (204, soft delete / recycle bin),
    sobjects/{type}/updated|deleted, query and queryAll (SOQL subset, see soql.py) with nextRecordsUrl paging
    (2000 per batch; Sforce-Query-Options batchSize; config limit "query_batch_size"), composite/sobjects
    GET/POST/PATCH/DELETE and composite/sobjects/{type} retrieve, with allOrNone.
  * System fields CreatedDate, CreatedById, LastModifiedDate, LastModifiedById, SystemModstamp, IsDeleted,
    OwnerId, MasterRecordId; derived Name, Task.IsClosed/CompletedDateTime, Opportunity.IsClosed/IsWon,
    LastActivityDate on the Who/What of closed tasks and events; 18-char ids with real key prefixes.
  * Errors as [{"message","errorCode","fields"}]: INVALID_SESSION_ID 401, NOT_FOUND / ENTITY_IS_DELETED 404,
    MALFORMED_QUERY / INVALID_FIELD / INVALID_TYPE / REQUIRED_FIELD_MISSING / INVALID_FIELD_FOR_INSERT_UPDATE /
    INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST / MALFORMED_ID / INVALID_CROSS_REFERENCE_KEY /
    INACTIVE_OWNER_OR_USER / INVALID_EMAIL_ADDRESS / JSON_PARSER_ERROR 400, REQUEST_LIMIT_EXCEEDED 403.
  * Daily API request allocation per org (config limit "daily_api_requests", default 100000) reported in
    Sforce-Limit-Info on every REST answer, in /limits and in the SOAP LimitInfoHeader.
  * SOAP merge() on /services/Soap/u|c/XX.X[/orgId]: Lead, Contact, Account; master + up to 2 losers; field
    overrides and fieldsToNull; losers soft-deleted with MasterRecordId; Tasks/Events/Contacts/Opportunities
    re-parented; sf: faults INVALID_SESSION_ID, INVALID_ID_FIELD, REQUEST_LIMIT_EXCEEDED, INVALID_OPERATION.
  * OAuth: /services/oauth2/authorize (auto-approve, or a consent page; PKCE S256/plain; login_hint (username
    or email) picks the approving active user, default the org's admin; `account=<org id>` picks the org, a
    sandbox extension), /services/oauth2/token (authorization_code, refresh_token; client_secret_post or Basic),
    optional refresh-token rotation, access-token TTL, /services/oauth2/revoke, /id/{org}/{user},
    /services/oauth2/userinfo; the tokens act as the approving user.
  * Permissions (permissions.py): Profile (System Administrator, Standard User, Minimum Access - Salesforce with
    PermissionsModifyAllData / CustomizeApplication / ViewSetup / ManageUsers / AssignPermissionSets), profile-owned
    PermissionSets (IsOwnedByProfile) and PermissionSetAssignment, queryable with relationship paths such as
    PermissionSet.PermissionsModifyAllData; User.ProfileId. Control API users take `"admin": true|false` (System
    Administrator or Standard User; default: only the first user is an admin) or `"profile": <name>`. Reading
    PermissionSet(Assignment) needs View Setup / Manage Users / Assign Permission Sets (INVALID_TYPE otherwise).
  * Outbound Messages for create/update/merge of the configured objects (default Lead and Contact), configured per
    org through the control API (simulate {"action": "configure_outbound", "endpoint_url", "objects", "fields",
    "send_session_id"}) or by an app's `outbound_message_url` when it is installed (outbound.py). One outbound
    message per object, with its own ActionId. Each carries only the fields the admin selected, Id always
    ("The message contains the fields specified when you created the outbound message", Understanding Outbound
    Messaging, https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_understanding.htm):
    default the list LeadRelay's install guide asks for (Id, CreatedDate, LastModifiedById, LastModifiedDate),
    `"fields": ["Id"]` for Id alone, `"*"` for all; sf:Id first, then the fields alphabetically, empty ones left
    out, as in a real org's message (aspnet/WebHooks test resource RequestBodies/Salesforce.xml). Notifications are
    batched, up to 100 a message ("A single SOAP message can include up to 100 notifications ... calls are sometimes
    batched together", Understanding Notifications,
    https://developer.salesforce.com/docs/atlas.en-us.246.0.api.meta/api/sforce_api_om_outboundmessaging_notifications.htm):
    those of one API call go together, and with config `outbound_batch_ms` those of every change within the window,
    each with the record's values when the message is built. Retried with growing intervals for ~24 h until the
    endpoint answers a notificationsResponse with <Ack>true</Ack>. The app's own writes carry LastModifiedById =
    the user who authorized it; simulated UI changes are made by another user.
  * LeadRelay's managed package: its LeadRelay_*__c fields on Lead and Contact are there in every org until the
    admin uninstalls it (simulate {"action": "uninstall_package"}, schema.py PACKAGE_INSTALLED): from then on the
    org's describe lacks them, their values are gone, and a write naming one answers 400 INVALID_FIELD "No such
    column 'LeadRelay_Score__c' on sobject of type Lead" (a per-record error in Collections), a query naming one
    "No such column ... on entity 'Lead'", as for any field an org does not have.
  * Duplicate rules (duplicates.py), config `duplicate_rules`: none by default, "standard" for the Standard Lead /
    Contact / Account Duplicate Rules a new org has active (create: allow with alert; edit: allow with report;
    help.salesforce.com sales.duplicate_rules_standard_lead_rule.htm and its siblings), or rules of your own (block
    / alert / report on create and on edit, exact-match terms such as "Email" or "LastName+Company"). A matching
    save through REST or sObject Collections is refused with DUPLICATES_DETECTED (HTTP 400 with the details under
    "duplicateResut", as real orgs spell it; a per-record error in Collections) unless every matching rule is an
    alert and the request sends `Sforce-Duplicate-Rule-Header: allowSave=true` (REST API Developer Guide, Duplicate
    Rule Header; Metadata API DuplicateRule). Simulated UI saves pass alerts and stop at blocks.

The JSON answers LeadRelay reads are checked against the shapes the REST API Developer Guide documents
(tests/contracts/salesforce_shapes.py; Salesforce publishes no OpenAPI document).

Knowingly not emulated: SOSL search, Bulk API, Apex REST, Composite/batch/tree resources, lead conversion,
record types, custom fields/objects, sharing and field-level security, fuzzy and cross-object (lead vs contact)
duplicate matching, duplicate record sets, CDC / Pub/Sub API and
Platform Events, the concurrent long-running request limit, SOQL aggregates other than COUNT(), GROUP BY,
semi-joins and relationship sub-queries, time zones of date literals (the org is treated as UTC), and
username-password / JWT logins.
"""
from sandbox.salesforce.platform import SalesforcePlatform

PLATFORM = SalesforcePlatform()

__all__ = ["PLATFORM", "SalesforcePlatform"]
