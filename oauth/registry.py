"""The explicit list of OAuth providers; it drives the install routes and the "connect" buttons."""
from __future__ import annotations

from integration.errors import UnknownPlatform
from oauth.base import OAuthProvider
from oauth.hubspot import HubSpotOAuth
from oauth.pipedrive import PipedriveOAuth
from oauth.salesforce import SalesforceOAuth

PROVIDERS: tuple[type[OAuthProvider], ...] = (HubSpotOAuth, SalesforceOAuth, PipedriveOAuth)
PLATFORMS: tuple[str, ...] = tuple(p.NAME for p in PROVIDERS)


def crm_title(platform: str) -> str:
    """The platform's name as people read it ("HubSpot"); the key itself for anything unknown."""
    return next((p.TITLE for p in PROVIDERS if p.NAME == platform), platform)


def get_provider(platform: str) -> OAuthProvider:
    """A provider configured from the settings; UnknownPlatform for anything not in PROVIDERS."""
    for provider in PROVIDERS:
        if provider.NAME == platform:
            return provider()
    raise UnknownPlatform(platform)
