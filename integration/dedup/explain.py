"""Human reasons for a match score, one short phrase per field finding (shown in review items and audit)."""
from __future__ import annotations

from integration.dedup.features import Levels
from integration.dedup.prepare import Prepared

_FIRST = {"exact": "same first name", "nickname": "first names are nickname forms ({a}/{b})",
          "typo": "first name typo ({a}/{b})", "initial": "first initial matches ({a}/{b})",
          "fuzzy": "first names alike ({a}/{b})", "conflict": "different first names ({a}/{b})",
          "different": "different first names ({a}/{b})"}
_LAST = {"exact": "same last name", "typo": "last name typo ({a}/{b})",
         "partial": "last name contained in the other ({a}/{b})", "fuzzy": "last names alike ({a}/{b})",
         "different": "different last names ({a}/{b})"}
_OTHER = {
    "email": {"equal": "same email", "same_domain": "different mailboxes at the same company domain",
              "different": "different emails"},
    "phone": {"equal": "same phone", "near": "phones one digit apart", "different": "different phones"},
    "company": {"exact": "same company", "core": "same company apart from descriptors ({a}/{b})",
                "similar": "similar company names ({a}/{b})", "different": "different companies ({a}/{b})"},
    "street": {"equal": "same street address", "similar": "similar street address",
               "same_street": "same street, another house number", "different": "different street"},
    "postcode": {"equal": "same postcode", "near": "postcodes one digit apart", "different": "different postcodes"},
    "city": {"equal": "same city", "different": "different cities"},
}


def _pair(level_text: str, a: str, b: str) -> str:
    return level_text.format(a=a or "-", b=b or "-")


def explain(levels: Levels, a: Prepared, b: Prepared) -> list[str]:
    """Phrases for every field that both records fill, plus role mailboxes that were ignored."""
    b_first, b_last = (b.last, b.first) if levels.transposed else (b.first, b.last)
    reasons = ["first/last names transposed"] if levels.transposed else []
    if levels.first != "missing":
        reasons.append(_pair(_FIRST[levels.first], a.first, b_first))
    if levels.last != "missing":
        reasons.append(_pair(_LAST[levels.last], a.last, b_last))
    values = {"company": (a.company, b.company)}
    for name, table in _OTHER.items():
        level = getattr(levels, name)
        if level != "missing":
            reasons.append(_pair(table[level], *values.get(name, ("", ""))))
    if a.role_emails & b.role_emails:
        reasons.append("shared role mailbox ignored (" + min(a.role_emails & b.role_emails) + ")")
    return reasons
