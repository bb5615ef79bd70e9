"""The tenant's outbound senders: SMTP for email, a Twilio-compatible API for SMS (integration.outreach.senders)."""
from __future__ import annotations

from adapters.senders.factory import build_sender, wire

__all__ = ["build_sender", "wire"]
