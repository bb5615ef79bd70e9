"""Runtime knobs of the sandbox: latency, faults, webhook misbehaviour, limits."""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, fields
from typing import Any

# Presets of the switches below. "kind" is the dataclass defaults: deterministic, what unit tests need.
# "realistic" turns on what the real CRMs do that the kind defaults hide (search that lags behind writes,
# Outbound Messages with only the selected fields, batched, duplicate rules as a new org has them): the demo,
# the e2e stack and `leadrelay bench speed` run with it. A test opts in with SandboxConfig.for_profile("realistic")
# or POST /_sandbox/config {"profile": "realistic"}.
PROFILES: dict[str, dict[str, Any]] = {
    "kind": {},
    "realistic": {"search_lag_ms": 3000},
}


@dataclass
class SandboxConfig:
    latency_ms: int = 0
    # fraction of API requests answered 500 / held past the client's timeout
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_s: float = 30.0
    # webhook delivery misbehaviour
    webhook_drop_rate: float = 0.0
    webhook_duplicate_rate: float = 0.0
    webhook_delay_ms: int = 0
    # multiplies every platform's webhook retry schedule (tests use tiny values)
    webhook_retry_scale: float = 1.0
    # the OAuth authorize page: auto-approve (tests) or show a consent page (demo)
    consent_page: bool = False
    # per platform overrides of API limits, e.g. {"hubspot": {"burst_per_10s": 5}}
    limits: dict[str, dict[str, Any]] = field(default_factory=dict)
    # per platform overrides of token lifetimes / rotation, e.g. {"salesforce": {"rotate_refresh": True}}
    oauth: dict[str, dict[str, Any]] = field(default_factory=dict)
    # HubSpot's CRM search is eventually consistent ("It may take a few moments for newly created or updated CRM
    # objects to appear in search results", https://developers.hubspot.com/docs/api/crm/search#limitations): for
    # this long a created or changed record is matched by POST .../search as it was before (sandbox/hubspot/search.py).
    # 0 keeps unit tests deterministic; the realistic profile (demo, e2e, bench) sets a few seconds, e.g. 3000.
    search_lag_ms: int = 0
    seed: int | None = None
    # the preset last applied (see PROFILES); reset() goes back to the one the server started with
    profile: str = "kind"

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.rng = random.Random(self.seed)
        self._started_profile = self.profile

    @classmethod
    def for_profile(cls, name: str, **overrides: Any) -> SandboxConfig:
        """A config with the preset `name` applied, then `overrides` (ValueError for an unknown profile)."""
        if name not in PROFILES:
            raise ValueError(f"unknown sandbox profile {name!r}; one of {', '.join(PROFILES)}")
        return cls(**{**_preset(name), **overrides, "profile": name})

    def update(self, changes: dict[str, Any]) -> list[str]:
        """Apply a partial update; returns the names of unknown keys and of invalid values (all rejected)."""
        known = {f.name: f for f in fields(self)}
        unknown = [k for k in changes if k not in known or not _valid(k, changes[k])]
        if "profile" in changes and changes["profile"] not in PROFILES:
            unknown.append(f"profile={changes['profile']}")
        if unknown:
            return unknown
        if "profile" in changes:  # the preset first, then whatever else the same call sets
            changes = {**_preset(changes["profile"]), **changes}
        with self._lock:
            for key, value in changes.items():
                if key in ("limits", "oauth"):
                    merged = dict(getattr(self, key))
                    for platform, sub in (value or {}).items():
                        merged[platform] = {**merged.get(platform, {}), **sub}
                    setattr(self, key, merged)
                else:
                    setattr(self, key, value)
            if "seed" in changes:
                self.rng = random.Random(self.seed)
        return []

    def reset(self) -> None:
        """Back to the profile the sandbox started with (keeps the seed), e.g. between tests."""
        defaults = SandboxConfig.for_profile(self._started_profile, seed=self.seed)
        with self._lock:
            for f in fields(self):
                setattr(self, f.name, getattr(defaults, f.name))
            self.rng = random.Random(self.seed)

    def limit(self, platform: str, name: str, default: Any) -> Any:
        return self.limits.get(platform, {}).get(name, default)

    def oauth_setting(self, platform: str, name: str, default: Any) -> Any:
        return self.oauth.get(platform, {}).get(name, default)

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self.rng.random() < rate

    def public(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _preset(name: str) -> dict[str, Any]:
    """Profile `name` as a full set of the switches any profile touches, so switching profiles undoes the last."""
    touched = {key for preset in PROFILES.values() for key in preset}
    defaults = SandboxConfig()
    return {**{key: getattr(defaults, key) for key in touched}, **PROFILES[name]}


def _valid(name: str, value: Any) -> bool:
    """A value the sandbox can act on (a lag that is not a whole number of milliseconds would fail every search)."""
    if name == "search_lag_ms":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return True
