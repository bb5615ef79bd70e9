"""In-memory, thread-safe state of every emulated CRM account."""
from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Token:
    value: str
    account_id: str
    kind: str  # "access" | "refresh"
    expires_at: float | None  # epoch seconds; None = never
    client_id: str = ""
    scopes: list[str] = field(default_factory=list)
    revoked: bool = False
    user_id: str = ""  # the CRM user who authorized it ("" for control-API tokens: the account's admin)

    def valid(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return not self.revoked and (self.expires_at is None or self.expires_at > now)


@dataclass
class Call:
    """One API request the sandbox received, for counting calls per lead."""

    at: float
    method: str
    path: str
    status: int
    platform: str


@dataclass
class Account:
    """One CRM account (HubSpot portal, Salesforce org, Pipedrive company)."""

    id: str
    platform: str
    name: str
    api_base: str = ""
    # object_type -> record id -> record (platform-native shape, owned by the platform module)
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    # platform-specific extras: webhook subscriptions, counters, limits, merges …
    extra: dict[str, Any] = field(default_factory=dict)

    def table(self, object_type: str) -> dict[str, dict[str, Any]]:
        return self.records.setdefault(object_type, {})


class Store:
    """All accounts and tokens. Every mutation happens under `lock` (an RLock)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, Token] = {}
        self.codes: dict[str, dict[str, Any]] = {}  # OAuth authorization codes
        self._seq = itertools.count(1)

    # ids ---------------------------------------------------------------------------
    def next_int(self) -> int:
        with self.lock:
            return next(self._seq)

    # accounts ------------------------------------------------------------------------
    def add_account(self, account: Account) -> Account:
        with self.lock:
            self.accounts[account.id] = account
            return account

    def account(self, account_id: str) -> Account | None:
        with self.lock:
            return self.accounts.get(str(account_id))

    def accounts_for(self, platform: str) -> list[Account]:
        with self.lock:
            return [a for a in self.accounts.values() if a.platform == platform]

    # tokens --------------------------------------------------------------------------
    def issue_token(self, account_id: str, kind: str, ttl: float | None, prefix: str = "",
                    client_id: str = "", scopes: list[str] | None = None, user_id: str = "") -> Token:
        token = Token(value=prefix + secrets.token_urlsafe(24), account_id=account_id, kind=kind,
                      expires_at=None if ttl is None else time.time() + ttl,
                      client_id=client_id, scopes=list(scopes or []), user_id=str(user_id or ""))
        with self.lock:
            self.tokens[token.value] = token
        return token

    def token(self, value: str, kind: str = "access") -> Token | None:
        with self.lock:
            tok = self.tokens.get(value)
        if tok is None or tok.kind != kind or not tok.valid():
            return None
        return tok

    def expire_access_tokens(self, account_id: str) -> int:
        """Expire every access token of the account still valid now; returns how many (refresh tokens live on)."""
        now = time.time()
        with self.lock:
            live = [t for t in self.tokens.values()
                    if t.account_id == account_id and t.kind == "access" and t.valid(now)]
            for tok in live:
                tok.expires_at = now
        return len(live)

    def revoke(self, value: str) -> bool:
        with self.lock:
            tok = self.tokens.get(value)
            if tok is None:
                return False
            tok.revoked = True
            return True

    def record_call(self, account_id: str, call: Call) -> None:
        with self.lock:
            acc = self.accounts.get(account_id)
            if acc is not None:
                acc.calls.append(call)

    # persistence ---------------------------------------------------------------------
    def dump(self, path: str) -> None:
        with self.lock:
            data = {
                "accounts": [asdict(a) for a in self.accounts.values()],
                "tokens": [asdict(t) for t in self.tokens.values()],
            }
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh)

    def load(self, path: str) -> None:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        with self.lock:
            for raw in data.get("accounts", []):
                raw["calls"] = [Call(**c) for c in raw.get("calls", [])]
                acc = Account(**raw)
                self.accounts[acc.id] = acc
            for raw in data.get("tokens", []):
                tok = Token(**raw)
                self.tokens[tok.value] = tok
