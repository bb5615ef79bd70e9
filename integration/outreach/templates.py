"""The acknowledgment's text: a tier's template (rules.outreach.Template) filled with the lead's and the owner's
merge fields. Shared by the first-response job and the console's preview, so what an admin previews is what a
lead gets.

A merge field the lead or owner has no value for gets a neutral fallback (FALLBACKS) rather than an empty gap:
"Hi there," reads better than "Hi ,". Values are plain text; nothing a lead typed is interpreted (no format
spec, no attribute access: only the names rules.outreach.MERGE_FIELDS lets a template contain).
"""
from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from integration.rules.outreach import MERGE_FIELDS, FirstResponse, Template

FALLBACKS = {"first_name": "there", "last_name": "", "name": "there", "company": "your company",
             "source": "our website", "owner_name": "our team", "owner_first_name": "our team",
             "owner_email": "", "booking_link": "", "tenant_name": "us"}


@dataclass(frozen=True)
class Rendered:
    language: str
    subject: str | None  # None: the template has no email
    body: str | None
    sms: str | None  # None: the template has no SMS
    fallbacks: tuple[str, ...] = ()  # the merge fields that had no value (the preview names them)


def merge_values(lead: Mapping[str, Any], owner_name: str | None = None, owner_email: str | None = None,
                 booking_link: str | None = None, tenant_name: str | None = None) -> dict[str, str]:
    """The merge fields' values for a lead (neutral fields) and its owner; blanks stay blank (render falls back)."""
    first, last = _text(lead.get("first_name")), _text(lead.get("last_name"))
    owner = _text(owner_name)
    return {"first_name": first, "last_name": last, "name": " ".join(p for p in (first, last) if p),
            "company": _text(lead.get("company")), "source": _text(lead.get("source")),
            "owner_name": owner, "owner_first_name": owner.split(" ")[0] if owner else "",
            "owner_email": _text(owner_email), "booking_link": _text(booking_link),
            "tenant_name": _text(tenant_name)}


def pick_language(policy: FirstResponse, template_name: str, lead_language: str | None) -> str:
    """The lead's language when the template has it (`de`, also from `de-AT`), else the default language."""
    by_language = policy.templates[template_name]
    code = (lead_language or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in by_language else policy.default_language


def render(policy: FirstResponse, template_name: str, values: Mapping[str, str],
           lead_language: str | None = None) -> Rendered:
    """The template in the lead's language, filled; raises KeyError for a template the rules do not have."""
    language = pick_language(policy, template_name, lead_language)
    template: Template = policy.templates[template_name][language]
    missing = tuple(name for name in MERGE_FIELDS if not values.get(name))
    filled = {name: values.get(name) or FALLBACKS[name] for name in MERGE_FIELDS}
    subject = _fill(template.subject, filled)
    return Rendered(language=language, subject=" ".join(subject.split()) if subject is not None else None,
                    body=_tidy(_fill(template.body, filled)), sms=_tidy(_fill(template.sms, filled)),
                    fallbacks=tuple(n for n in missing if n in _used(template)))


def _fill(text: str | None, values: Mapping[str, str]) -> str | None:
    if text is None:
        return None
    # only plain {name} fields exist (the rule set refused anything else); format_map would also honour
    # {name.attr} and {name:spec}, so fill field by field
    out = []
    for literal, name, _spec, _conversion in string.Formatter().parse(text):
        out.append(literal)
        if name is not None:
            out.append(values.get(name, ""))
    return "".join(out)


def _tidy(text: str | None) -> str | None:
    """Trailing spaces and runs of blank lines a fallback left (an empty booking link's line) removed."""
    if text is None:
        return None
    lines = [line.rstrip() for line in text.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line or (tidy and tidy[-1]):
            tidy.append(line)
    return "\n".join(tidy)


def _used(template: Template) -> set[str]:
    names: set[str] = set()
    for text in (template.subject, template.body, template.sms):
        if text:
            names |= {n for _, n, _, _ in string.Formatter().parse(text) if n}
    return names


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value not in (None, "") else ""
