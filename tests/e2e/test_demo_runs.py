"""`leadrelay demo --keep-running` stopped as docker, systemd and CI stop it: SIGTERM. (Two runs in a row in one
clone: tests/e2e/test_demo.py.)"""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
import requests

from tests.conftest import ROOT, _free_port
from tests.e2e.conftest import demo_env

pytestmark = pytest.mark.e2e


def _demo(*args: str, web: int | None = None, sandbox: int | None = None) -> list[str]:
    return [sys.executable, "-m", "leadrelay", "demo", "--port", str(web or _free_port()),
            "--sandbox-port", str(sandbox or _free_port()), *args]


@pytest.mark.timeout(240)
def test_sigterm_stops_every_process_the_demo_started(tmp_path):
    web, sandbox = _free_port(), _free_port()
    demo = subprocess.Popen(_demo("--keep-running", "--leads", "0", web=web, sandbox=sandbox), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=demo_env(tmp_path / "var"))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(demo.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180
        while not any("The demo stays up until" in line for line in lines):
            assert demo.poll() is None and time.monotonic() < deadline, "".join(lines)[-3000:]
            time.sleep(0.2)
        # signing in sends the browser to the sandbox's plain-HTTP port: no certificate warning
        start = requests.get(f"http://127.0.0.1:{web}/install/hubspot", allow_redirects=False, timeout=10)
        assert start.headers["Location"].startswith(f"http://127.0.0.1:{sandbox}/oauth/authorize?")

        family = psutil.Process(demo.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in family)
        for part in ("redis-server", "sandbox", "worker", "web"):
            assert part in names, names

        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=30) == 0, "".join(lines)[-3000:]  # the (empty) story had completed
        _, alive = psutil.wait_procs(family, timeout=15)
        assert not alive, [" ".join(p.cmdline()) for p in alive]
    finally:
        if demo.poll() is None:
            demo.kill()
    reader.join(timeout=5)
    output = "".join(lines)
    assert "SIGTERM received." in output and "stopped." in output
