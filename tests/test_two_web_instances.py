"""Two `leadrelay web` instances on one host: each answers, each keeps its own gunicorn control socket, and stopping
one leaves the other serving (issue #21)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from gunicorn.ctl.client import ControlClient, ControlClientError

from tests.conftest import ROOT, _free_port


def _start_web(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "leadrelay", "web", "--port", str(port), "--workers", "1",
                                 "--threads", "2"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()


def _healthz(port: int) -> int | None:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code
    except requests.ConnectionError:
        return None


def _wait_healthy(proc: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if _healthz(port) == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"web on {port} never answered /healthz:\n{log.read_text(errors='replace')[-3000:]}")


def _control_socket_pid(path: Path) -> int | None:
    """The arbiter pid that answers `gunicornc -s PATH -c "show stats"`, or None when nothing answers there within
    10 s (gunicorn closes its control socket around each worker fork and reopens it just after)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            with ControlClient(str(path), timeout=10) as client:
                return client.send_command("show stats")["pid"]
        except ControlClientError:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)


def test_two_web_instances_share_a_host_and_a_var_dir(env, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # gunicorn's default control socket lives in $XDG_RUNTIME_DIR or ~/.gunicorn: both pointed at this test
    child_env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    child_env.update(env, HOME=str(home), PYTHONPATH=str(ROOT))
    ports = [_free_port(), _free_port()]
    logs = [tmp_path / f"web-{port}.log" for port in ports]
    procs = [_start_web(child_env, port, log) for port, log in zip(ports, logs, strict=True)]
    try:
        for proc, port, log in zip(procs, ports, logs, strict=True):
            _wait_healthy(proc, port, log)
        sockets = [Path(env["LEADRELAY_VAR_DIR"]) / "run" / f"gunicorn-{port}.ctl" for port in ports]
        assert [_control_socket_pid(path) for path in sockets] == [procs[0].pid, procs[1].pid]
        assert not (home / ".gunicorn").exists()

        assert _stop(procs[0]) == 0
        assert _healthz(ports[0]) is None
        assert _healthz(ports[1]) == 200
        assert _control_socket_pid(sockets[1]) == procs[1].pid
    finally:
        for proc in procs:
            _stop(proc)
