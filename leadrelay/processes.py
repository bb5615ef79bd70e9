"""Start child processes of LeadRelay and wait until they answer."""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import requests

from integration.config import Settings
from integration.embedded_redis import ensure_redis_url


def local_http(verify: str | bool = True) -> requests.Session:
    """A session for our own loopback services; the machine's CA bundle variables must not override `verify`."""
    session = requests.Session()
    session.trust_env = False
    session.verify = verify
    return session


def share_redis(settings: Settings) -> str:
    """This run's Redis (REDIS_URL, else the embedded server under var/), exported as REDIS_URL so that every
    process started from here uses the same one."""
    url = ensure_redis_url(settings)
    os.environ["REDIS_URL"] = url
    return url


def spawn(args: list[str], log_path: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m leadrelay ARGS`, output to `log_path`, in its own process group (stop() signals the group), told
    by the kernel to stop when the process that spawned it dies, even by SIGKILL, so nothing outlives the demo."""
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed when it exits
    return subprocess.Popen([sys.executable, "-m", "leadrelay", *args], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, start_new_session=True,
                            preexec_fn=_terminate_with_parent if sys.platform == "linux" else None)


def _terminate_with_parent() -> None:
    # prctl(PR_SET_PDEATHSIG, SIGTERM): runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen | None = None,
               log_path: str | None = None, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}" + (f"; see {log_path}" if log_path else ""))
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(interval)
    hint = f"; see {log_path}" if log_path else ""
    raise RuntimeError(f"{what} did not become ready within {timeout:.0f} s{hint}")


def stop(procs: list[subprocess.Popen], timeout: float = 15) -> None:
    """SIGTERM each process group, then SIGKILL what is left after `timeout`."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
