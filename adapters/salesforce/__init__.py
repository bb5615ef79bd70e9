"""Salesforce: SalesforceAdapter (adapter.py) and SalesforceWebhooks (webhooks.py), see adapters/registry.py."""
