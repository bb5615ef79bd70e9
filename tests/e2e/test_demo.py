"""`make demo` runs `leadrelay demo`: it starts everything, installs into each CRM, routes the leads it sends."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, _free_port

pytestmark = pytest.mark.e2e


def test_demo_installs_routes_every_lead_and_reports(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(LEADRELAY_VAR_DIR=str(tmp_path / "var"), LEADRELAY_LOG_FORMAT="text")
    web, sandbox = _free_port(), _free_port()
    report = tmp_path / "report.json"
    out = subprocess.run([sys.executable, "-m", "leadrelay", "demo", "--check", "--port", str(web),
                          "--sandbox-port", str(sandbox), "--leads", "12", "--seconds", "3", "--report", str(report)],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=240)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"LeadRelay web app listening on http://127.0.0.1:{web}" in out.stdout
    assert "/healthz → ok" in out.stdout
    summary = json.loads(report.read_text())
    assert summary["leads"] == 12 and summary["undecided"] == 0
    assert summary["owned"] + summary["merged"] + summary["review"] == 12
    assert summary["owned"] >= 8 and summary["speed_to_owner_ms"]["p50"] is not None
