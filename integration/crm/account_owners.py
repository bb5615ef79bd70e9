"""The company a lead belongs to, and who owns it (the `account_owner` rule; the link a web-form lead is created
with), at as few CRM calls as possible.

A drain batch's email domains are looked up in one call (`find_companies`); every answer is kept for this batch
and, for every worker, in Redis for a while: companies change owners rarely, and leads of one company tend to
arrive together. A company that was not found is asked again sooner than one that was, and where the CRM's search
lags behind its writes (the adapter's SEARCH_LAG) no later than that lag after the answer: a company created a
moment before it was not yet searchable, and must not pass for "no such account" once it is.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from integration.protocols import CRMAdapter
from integration.records import Company

if TYPE_CHECKING:
    from integration.routing.normalize import Lead
    from integration.work import Work

FOUND_TTL_S = 600      # an account's new owner is followed within ten minutes
NOT_FOUND_TTL_S = 120  # a company created in the CRM is matched within two minutes (within SEARCH_LAG where it lags)
MISSING = "?"          # a "no such company" answer is stored as "?<when it was given>" (company ids never start so)
FREE_MAIL = frozenset({"gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com",
                       "icloud.com", "live.com", "msn.com", "proton.me", "protonmail.com", "gmx.de", "web.de"})
Key = tuple[str | None, str | None]  # (web domain, or company name when the lead has no business domain)
Known = tuple[str, str | None] | None  # (company id, its owner id), None: no such company


def clock() -> float:
    """Now, in epoch seconds (tests move it on instead of waiting out a CRM's search lag)."""
    return time.time()


def business_domain(email_domain: str | None) -> str | None:
    return email_domain if email_domain and email_domain not in FREE_MAIL else None


def domain_of(email: object) -> str | None:
    """The email's domain as normalize_email gives it for a valid address (others are looked up alone, if ever)."""
    local, at, domain = str(email or "").strip().lower().rpartition("@")
    return domain if local and at and "." in domain else None


class AccountOwners:
    """Companies (id and owner id) by domain (or name) for one tenant: this batch's answers, then Redis, then the
    CRM."""

    def __init__(self, adapter: CRMAdapter, redis, tenant_id: int) -> None:
        self.adapter, self.redis, self.tenant_id = adapter, redis, tenant_id
        self.known: dict[Key, Known] = {}

    def _redis_key(self, key: Key) -> str:
        domain, name = key
        return f"leadrelay:account:{self.tenant_id}:{domain or ''}|{(name or '').lower()}"

    def _remember(self, key: Key, company: Company | None) -> None:
        self.known[key] = (company.id, company.owner_id) if company else None
        if company is not None:
            self.redis.set(self._redis_key(key), f"{company.id}|{company.owner_id or ''}", ex=FOUND_TTL_S)
            return
        lag = self.adapter.SEARCH_LAG.total_seconds()
        ttl = min(NOT_FOUND_TTL_S, math.ceil(lag)) if lag > 0 else NOT_FOUND_TTL_S
        self.redis.set(self._redis_key(key), f"{MISSING}{clock():.3f}", ex=max(1, ttl))

    def _stale(self, value: str) -> bool:
        """A "not found" given before the CRM's search lag ran out (Redis expires it too; this is exact)."""
        lag = self.adapter.SEARCH_LAG.total_seconds()
        return value.startswith(MISSING) and lag > 0 and clock() - float(value[1:] or 0) >= lag

    def _recall(self, keys: list[Key]) -> list[Key]:
        """Fill `known` from Redis; returns the keys nobody knows yet."""
        values = self.redis.mget([self._redis_key(k) for k in keys]) if keys else []
        missing = []
        for key, raw in zip(keys, values, strict=True):
            value = raw.decode() if raw is not None else None
            if value is None or self._stale(value):
                missing.append(key)
            elif value.startswith(MISSING):
                self.known[key] = None
            else:
                company_id, _, owner = value.partition("|")
                self.known[key] = (company_id, owner or None)
        return missing

    def prefetch(self, emails: Iterable[object]) -> None:
        """The companies of these emails' business domains, the unknown ones in one CRM call."""
        domains = {business_domain(domain_of(e)) for e in emails}
        keys = sorted((d, None) for d in domains if d and (d, None) not in self.known)
        missing = self._recall(keys)
        if missing:
            for domain, company in self.adapter.find_companies([d for d, _ in missing]).items():
                self._remember((domain, None), company)

    def owner_id(self, email_domain: str | None, company_name: str | None) -> str | None:
        """The owner id of the company for a business domain (preferred) or a company name; None when none."""
        found = self._company(email_domain, company_name)
        return found[1] if found else None

    def company_id(self, email_domain: str | None) -> str | None:
        """The id of the company whose web domain is this business email domain; None when the CRM has none (a
        company name alone is no proof a new lead belongs to it: nothing is linked by name)."""
        found = self._company(email_domain, None) if business_domain(email_domain) else None
        return found[0] if found else None

    def _company(self, email_domain: str | None, company_name: str | None) -> Known:
        domain = business_domain(email_domain)
        if not domain and not company_name:
            return None
        key: Key = (domain, None if domain else company_name.strip().lower())
        if key not in self.known and self._recall([key]):
            self._remember(key, self.adapter.find_company(domain=domain, name=None if domain else company_name))
        return self.known[key]


def wants_account_owner(routing: Iterable) -> bool:
    return any(rule.when.account_owner for rule in routing)


__all__ = ["AccountOwners", "FREE_MAIL", "business_domain", "domain_of", "wants_account_owner"]


def account_owner(work: Work, lead: Lead) -> str | None:
    """The active owner (email) of the company/account matched by the lead's email domain (or company name)."""
    if not wants_account_owner(work.rules.routing):
        return None  # no rule asks: save the CRM call
    return work.email_of(work.accounts.owner_id(lead.email_domain, lead.company))
