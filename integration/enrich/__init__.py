"""Offline enrichment of a lead's fields (issue #19).

# placeholder until the enrichment work merges: the capture job is written against this contract; the real
# module (email type, registrable domain, phone/ZIP → place and time zone) replaces this file as a whole.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Enrichment:
    filled: dict[str, Any] = field(default_factory=dict)  # neutral field → value, for fields that were blank
    sources: dict[str, str] = field(default_factory=dict)  # neutral field → where its value came from
    email_type: str | None = None  # business | free | disposable | role
    timezone: str | None = None  # IANA
    domain: str | None = None

    def crm_fields(self) -> dict[str, Any]:
        """LeadRelay's own enrichment fields, for the CRM record (only those with a value)."""
        summary = ", ".join(f"{name} from {self.sources.get(name, 'enrichment')}" for name in self.filled)
        fields = {"leadrelay_enriched": summary, "leadrelay_email_type": self.email_type,
                  "leadrelay_timezone": self.timezone}
        return {k: v for k, v in fields.items() if v}


def enrich(fields: Mapping[str, Any]) -> Enrichment:
    """Nothing filled until the enrichment work merges."""
    return Enrichment()
