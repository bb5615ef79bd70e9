"""Pipedrive: PipedriveAdapter (adapter.py) and PipedriveWebhooks (webhooks.py)."""
