"""simple-salesforce pointed at the tenant's instance, behind the one call wrapper (budget, 401 retry, errors)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import requests
from simple_salesforce import Salesforce

from adapters.salesforce.errors import SessionExpired, mapped
from integration.errors import CRMAuthError, CRMRateLimited
from integration.protocols import RateBudget, TenantRef, TokenProvider
from oauth.base import http_verify

T = TypeVar("T")
API_VERSION = "59.0"
TIMEOUT = (5.0, 30.0)  # (connect, read) seconds; Salesforce's own REST timeout is 10 minutes
DAILY = "daily"


def build_session() -> requests.Session:
    """A requests session that trusts the sandbox CA when configured.

    trust_env is off: REQUESTS_CA_BUNDLE in the environment would otherwise override `verify`.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = http_verify()
    return session


def build_salesforce(api_base: str, access_token: str, session: requests.Session) -> Salesforce:
    """The SDK client for an OAuth access token (no login call: the token is the session id)."""
    return Salesforce(instance_url=api_base, session_id=access_token, session=session, version=API_VERSION)


class SalesforceClient:
    """Runs SDK operations for one tenant: acquires budget, maps errors, refreshes once on 401."""

    def __init__(self, tenant: TenantRef, tokens: TokenProvider, budget: RateBudget) -> None:
        self.tenant, self.tokens, self.budget = tenant, tokens, budget
        self._session: requests.Session | None = None
        self._sf: Salesforce | None = None

    def sf(self) -> Salesforce:
        if self._sf is None:
            self._session = self._session or build_session()
            self._sf = build_salesforce(self.tenant.api_base, self.tokens.access_token(), self._session)
        return self._sf

    def call(self, operation: Callable[[Salesforce], T], cost: int = 1) -> T:
        """operation(sf) with the budget taken first and usage observed after; one refresh on 401."""
        try:
            return self._attempt(operation, cost)
        except SessionExpired:
            rejected = self.sf().session_id
            fresh = self.tokens.after_unauthorized(rejected)  # ReauthRequired propagates
            self._sf = build_salesforce(self.tenant.api_base, fresh, self._session or build_session())
        try:
            return self._attempt(operation, cost)
        except SessionExpired as exc:
            raise CRMAuthError(f"Salesforce refused the refreshed token: {exc}") from exc

    def _attempt(self, operation: Callable[[Salesforce], T], cost: int) -> T:
        self.budget.acquire(DAILY, cost)
        sf = self.sf()
        try:
            with mapped():
                result = operation(sf)
        except CRMRateLimited as exc:
            # REQUEST_LIMIT_EXCEEDED: the org's rolling 24 h allocation, its only limit, is used up although the
            # budget let the call go (other apps share it). It has no reset time to hold calls until (`exhausted`),
            # so every worker holds off for the error's wait and assumes a smaller allocation for a while.
            self.budget.penalize(DAILY, exc.retry_after)
            raise
        self._observe(sf)
        return result

    def _observe(self, sf: Salesforce) -> None:
        """Feed the org's rolling 24 h allocation (Sforce-Limit-Info: api-usage=used/limit) to the budget.

        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm
        """
        usage = sf.api_usage.get("api-usage")
        if usage is not None:
            self.budget.observe(DAILY, max(usage.total - usage.used, 0), usage.total)
