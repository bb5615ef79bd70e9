"""The stand-ins an adapter uses when it is built without a rate budget or a write log (tests, one-off scripts):
they accept every call and do nothing, so the adapters' code never asks whether it has one."""
from __future__ import annotations

from collections.abc import Iterable


class NoBudget:
    """A RateBudget (integration/protocols.py) with no limit: never waits, never refuses, forgets what it is told."""

    def acquire(self, bucket: str = "default", cost: int = 1) -> None:
        return None

    def observe(self, bucket: str, remaining: int | None, limit: int | None = None,
                reset_after: float | None = None) -> None:
        return None

    def exhausted(self, bucket: str, until: float) -> None:
        return None

    def penalize(self, bucket: str, retry_after: float) -> int | None:
        return None


class NoWrites:
    """A WriteLog (integration/protocols.py) that remembers nothing: no webhook echo is recognised as our own."""

    def remember(self, object_type: str, object_id: str, fields: Iterable[str]) -> None:
        return None
