"""The explicit list of CRM adapters (no package scanning). It drives webhooks routes and jobs."""
from __future__ import annotations

import importlib
from typing import Any

from integration.errors import UnknownPlatform

# platform -> (adapter class path, webhook parser class path)
ADAPTERS: dict[str, tuple[str, str]] = {
    "hubspot": ("adapters.hubspot.adapter:HubSpotAdapter", "adapters.hubspot.webhooks:HubSpotWebhooks"),
    "salesforce": ("adapters.salesforce.adapter:SalesforceAdapter",
                   "adapters.salesforce.webhooks:SalesforceWebhooks"),
    "pipedrive": ("adapters.pipedrive.adapter:PipedriveAdapter", "adapters.pipedrive.webhooks:PipedriveWebhooks"),
}


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def get_adapter_class(platform: str) -> type:
    if platform not in ADAPTERS:
        raise UnknownPlatform(platform)
    return _load(ADAPTERS[platform][0])


def get_webhook_parser(platform: str) -> Any:
    if platform not in ADAPTERS:
        raise UnknownPlatform(platform)
    return _load(ADAPTERS[platform][1])()
