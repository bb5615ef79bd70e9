"""Sandbox profiles: "kind" for unit tests, "realistic" for the demo, the e2e stack and `bench speed`."""
from __future__ import annotations

import pytest

from sandbox.config import PROFILES, SandboxConfig


def test_switching_profiles_applies_and_undoes_each_preset():
    config = SandboxConfig(seed=1)
    kind = config.public()
    assert config.update({"profile": "realistic"}) == []
    assert config.profile == "realistic"
    assert {k: config.public()[k] for k in PROFILES["realistic"]} == PROFILES["realistic"]
    assert config.update({"profile": "kind"}) == []
    assert config.public() == kind


def test_a_switch_in_the_same_call_overrides_the_preset():
    config = SandboxConfig()
    config.update({"profile": "realistic", "latency_ms": 7})
    assert config.latency_ms == 7 and config.profile == "realistic"


def test_reset_returns_to_the_profile_the_sandbox_started_with():
    started_realistic = SandboxConfig.for_profile("realistic", seed=2)
    started_realistic.update({"profile": "kind", "latency_ms": 9})
    started_realistic.reset()
    assert started_realistic.public() == SandboxConfig.for_profile("realistic", seed=2).public()

    started_kind = SandboxConfig(seed=2)
    started_kind.update({"profile": "realistic"})
    started_kind.reset()
    assert started_kind.public() == SandboxConfig(seed=2).public()


def test_an_unknown_profile_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="kind, realistic"):
        SandboxConfig.for_profile("gentle")
    config = SandboxConfig()
    assert config.update({"profile": "gentle"}) == ["profile=gentle"]
    assert config.profile == "kind"


def test_the_control_api_refuses_an_unknown_profile(sandbox, http):
    answer = http.post(f"{sandbox.url}/_sandbox/config", json={"profile": "gentle"}, timeout=10)
    assert answer.status_code == 400
    assert "profile=gentle" in answer.json()["error"]
    assert http.get(f"{sandbox.url}/_sandbox/config", timeout=10).json()["profile"] == "kind"
