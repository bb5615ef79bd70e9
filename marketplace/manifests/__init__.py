"""The marketplace listings' settings, generated from the code's own scopes, routes and webhook tables.

`python -m marketplace.manifests [PUBLIC_URL]` rewrites the files beside this module; a test fails when
the committed files differ from what the code says, so the listings cannot drift.
"""
from __future__ import annotations

import json
from pathlib import Path

from oauth.hubspot import HubSpotOAuth
from oauth.salesforce import SalesforceOAuth

HERE = Path(__file__).parent
DEFAULT_PUBLIC_URL = "https://leadrelay.example.com"
SUPPORT_EMAIL = "support@leadrelay.example.com"
# OAuth scope → Salesforce connected-app metadata scope name
SALESFORCE_SCOPE_NAMES = {"api": "Api", "refresh_token": "RefreshToken", "id": "Basic"}
# properties whose change LeadRelay must hear about (routing and dedup inputs, owners, stages)
HUBSPOT_WATCHED_PROPERTIES = {
    "contact": ("email", "phone", "hubspot_owner_id", "lifecyclestage", "country", "state", "zip", "company",
                "hs_lead_status"),
    "company": ("domain", "name", "hubspot_owner_id", "lifecyclestage"),
    "deal": ("dealstage", "hubspot_owner_id", "pipeline"),
}


def _hubspot_subscriptions() -> dict[str, list[dict]]:
    """Legacy per-object subscriptions, plus generic object.* ones (tasks) keyed "type:objectType"."""
    from adapters.hubspot.webhooks import HubSpotWebhooks

    legacy, generic = [], []
    for name in sorted(HubSpotWebhooks.EVENT_KINDS):
        if name.startswith("object."):
            kind, _, object_type = name.partition(":")
            generic.append({"subscriptionType": kind, "objectType": object_type, "active": True})
        elif name.endswith(".propertyChange"):
            watched = HUBSPOT_WATCHED_PROPERTIES[name.split(".")[0]]
            legacy += [{"subscriptionType": name, "propertyName": p, "active": True} for p in watched]
        else:
            legacy.append({"subscriptionType": name, "active": True})
    return {"crmObjects": generic, "legacyCrmObjects": legacy}


def hubspot(public_url: str) -> dict[str, str]:
    app = {"uid": "leadrelay", "type": "app", "config": {
        "name": "LeadRelay", "distribution": "marketplace",
        "description": "Routes every new lead to the right owner, merges duplicates, creates SLA tasks and keeps "
                       "lifecycle stages consistent.",
        "auth": {"type": "oauth", "redirectUrls": [f"{public_url}/oauth/hubspot/callback"],
                 "requiredScopes": list(HubSpotOAuth.SCOPES),
                 "optionalScopes": list(HubSpotOAuth.OPTIONAL_SCOPES),
                 "conditionallyRequiredScopes": []},
        "permittedUrls": {"fetch": [public_url], "iframe": [], "img": []},
        "support": {"supportEmail": SUPPORT_EMAIL, "documentationUrl": f"{public_url}/docs",
                    "supportUrl": f"{public_url}/support"}}}
    webhooks = {"uid": "leadrelay_webhooks", "type": "webhooks", "config": {
        "settings": {"targetUrl": f"{public_url}/webhooks/hubspot", "maxConcurrentRequests": 10},
        "subscriptions": _hubspot_subscriptions()}}
    return {"hubspot/app-hsmeta.json": _json(app), "hubspot/webhooks-hsmeta.json": _json(webhooks)}


def salesforce(public_url: str) -> dict[str, str]:
    scopes = "".join(f"        <scopes>{SALESFORCE_SCOPE_NAMES[s]}</scopes>\n" for s in SalesforceOAuth.SCOPES)
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ConnectedApp xmlns="http://soap.sforce.com/2006/04/metadata">\n'
        f"    <contactEmail>{SUPPORT_EMAIL}</contactEmail>\n"
        "    <label>LeadRelay</label>\n"
        "    <oauthConfig>\n"
        f"        <callbackUrl>{public_url}/oauth/salesforce/callback</callbackUrl>\n"
        f"        <isPkceRequired>{str(SalesforceOAuth.PKCE).lower()}</isPkceRequired>\n"
        "        <isSecretRequiredForRefreshToken>true</isSecretRequiredForRefreshToken>\n"
        f"{scopes}"
        "    </oauthConfig>\n"
        "</ConnectedApp>\n")
    return {"salesforce/LeadRelay.connectedApp-meta.xml": xml,
            "salesforce/outbound-messages.json": _outbound(public_url)}


def _outbound(public_url: str) -> str:
    """What the org's admin sets up in Setup: one Outbound Message per object, with these fields (README)."""
    from adapters.salesforce.webhooks import SalesforceWebhooks as Parser

    sheet = {"what": "one Outbound Message per object, sent by a flow (or workflow rule) that runs when a record is "
                     "created and every time it is edited",
             "endpoint_url": f"{public_url}/webhooks/salesforce/<key>/<secret> (the tenant's key and secret)",
             "send_session_id": False,
             "objects": {name: {"fields": list(Parser.OUTBOUND_FIELDS)} for name in Parser.OUTBOUND_OBJECTS}}
    return _json(sheet)


def pipedrive(public_url: str) -> dict[str, str]:
    # Pipedrive keeps these in the Developer Hub form; this file is what to enter there.
    settings = {"app_name": "LeadRelay", "callback_url": f"{public_url}/oauth/pipedrive/callback",
                "uninstall": "Pipedrive sends DELETE to the callback URL with Basic client_id:client_secret",
                "scopes": ["base", "deals:full", "contacts:full", "activities:full", "users:read", "leads:full",
                           "mail:read", "search:read", "admin"],
                "webhooks": "created per company by LeadRelay through POST /v1/webhooks (version 2.0, Basic auth)",
                "support_email": SUPPORT_EMAIL}
    return {"pipedrive/app.json": _json(settings)}


def _json(data: dict) -> str:
    return json.dumps(data, indent=2) + "\n"


def build(public_url: str = DEFAULT_PUBLIC_URL) -> dict[str, str]:
    return {**hubspot(public_url), **salesforce(public_url), **pipedrive(public_url)}


def write(public_url: str = DEFAULT_PUBLIC_URL) -> list[Path]:
    paths = []
    for name, text in build(public_url).items():
        path = HERE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(path)
    return paths

