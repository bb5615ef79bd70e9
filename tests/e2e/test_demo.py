"""`make demo` runs `leadrelay demo`: everything starts, /healthz is green, installs reach the CRM consent page."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, _free_port

pytestmark = pytest.mark.e2e


def test_demo_starts_checks_and_stops(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(LEADRELAY_VAR_DIR=str(tmp_path / "var"), LEADRELAY_LOG_FORMAT="text")
    web, sandbox = _free_port(), _free_port()
    out = subprocess.run([sys.executable, "-m", "leadrelay", "demo", "--check", "--port", str(web),
                          "--sandbox-port", str(sandbox)], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=180)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"LeadRelay web app listening on http://127.0.0.1:{web}" in out.stdout
    assert "/healthz → ok" in out.stdout
    summary = json.loads(out.stdout.strip().splitlines()[-2])
    assert summary["demo"] == "ok"
    assert summary["install_consent_pages"] == {"hubspot": True, "salesforce": True, "pipedrive": True}
