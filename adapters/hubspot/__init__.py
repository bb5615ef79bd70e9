"""HubSpot: HubSpotAdapter (adapter.py) and HubSpotWebhooks (webhooks.py), see adapters/registry.py."""
