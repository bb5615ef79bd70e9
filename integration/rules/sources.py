"""Lead sources mapped to a tenant's approved labels ("Web-Form", "website" → web_form)."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Used when a rule set has no `sources:` section. Synonyms cover the CRMs' stock picklists (Salesforce
# LeadSource, HubSpot original source) and what forms and imports commonly send.
DEFAULT_SOURCE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "web_form": ("web", "website", "web site", "webform", "contact form", "form", "landing page", "inbound",
                 "direct traffic", "direct"),
    "referral": ("referrals", "referred", "word of mouth", "customer referral", "employee referral"),
    "partner": ("partner referral", "partners", "reseller", "channel", "affiliate"),
    "event": ("trade show", "tradeshow", "conference", "webinar", "seminar", "meetup", "expo"),
    "paid_search": ("ppc", "cpc", "adwords", "google ads", "paid", "sem", "paid ads"),
    "organic_search": ("organic", "seo", "search"),
    "social": ("social media", "paid social", "linkedin", "facebook", "twitter", "instagram"),
    "email": ("email marketing", "newsletter", "e-mail"),
    "phone": ("phone inquiry", "inbound call", "call", "phone call"),
    "chat": ("live chat", "chatbot", "chat bot"),
    "purchased_list": ("purchased", "list", "list import", "bought list"),
    "outbound": ("cold call", "cold email", "prospecting", "sdr"),
    "import": ("csv", "csv import", "offline", "offline sources", "manual"),
    "other": ("other campaigns", "misc"),
}


def label_key(text: str) -> str:
    """Case, spacing and separators don't matter: "Web-Form", "web_form" and "web  form" are one label."""
    return re.sub(r"[\s_\-./]+", " ", text).strip().casefold()


@dataclass(frozen=True)
class SourceLabels:
    """The approved source labels and the spellings that map to each."""

    lookup: Mapping[str, str]  # label_key(spelling) → approved label
    labels: tuple[str, ...]

    @classmethod
    def from_synonyms(cls, synonyms: Mapping[str, Sequence[str]]) -> SourceLabels:
        lookup: dict[str, str] = {}
        for label, spellings in synonyms.items():
            for spelling in (label, *spellings):
                lookup.setdefault(label_key(spelling), label)
        return cls(lookup, tuple(synonyms))

    def label_for(self, text: str) -> str | None:
        """The approved label a spelling maps to, or None."""
        return self.lookup.get(label_key(text))

    def map(self, value: str | None) -> tuple[str | None, str | None]:
        """(approved label, or the spelling lower-cased when it maps to none; problem or None)."""
        if not value or not value.strip():
            return None, None
        label = self.label_for(value)
        if label:
            return label, None
        return label_key(value), f"{value!r} is not an approved source label"


DEFAULT_SOURCES = SourceLabels.from_synonyms(DEFAULT_SOURCE_SYNONYMS)
