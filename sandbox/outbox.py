"""Webhook delivery: a background thread that posts, retries, drops, duplicates and delays."""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field

import requests

from sandbox.config import SandboxConfig

log = logging.getLogger("sandbox.webhooks")


@dataclass
class Delivery:
    """One webhook POST. `retry_schedule` is the platform's delays (seconds) between attempts."""

    platform: str
    account_id: str
    url: str
    body: bytes
    headers: dict[str, str]
    retry_schedule: tuple[float, ...] = ()
    attempt: int = 0
    # called just before each attempt, so signatures carrying a timestamp are fresh
    sign: object = None
    log: list[dict] = field(default_factory=list)


class Outbox:
    """Delivers webhooks in the background; `delivered` keeps what happened for the control API."""

    def __init__(self, config: SandboxConfig, verify: str | bool = True) -> None:
        self.config = config
        self.verify = verify
        self._heap: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._stop = False
        self.history: list[dict] = []
        self._session = requests.Session()
        self._session.trust_env = False  # the machine's CA bundle variables must not override `verify`
        self._thread = threading.Thread(target=self._run, name="sandbox-outbox", daemon=True)
        self._thread.start()

    def send(self, delivery: Delivery) -> None:
        """Queue a delivery, applying the configured drop / duplicate / delay rates."""
        if self.config.chance(self.config.webhook_drop_rate):
            self._remember(delivery, status="dropped")
            return
        delay = self.config.webhook_delay_ms / 1000.0
        self._push(time.time() + delay, delivery)
        if self.config.chance(self.config.webhook_duplicate_rate):
            dup = Delivery(**{**delivery.__dict__, "log": []})
            self._push(time.time() + delay, dup)

    def pending(self) -> int:
        with self._cv:
            return len(self._heap)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self._cv:
                if not self._heap and not getattr(self, "_busy", False):
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()

    # internals -------------------------------------------------------------------------
    def _push(self, at: float, delivery: Delivery) -> None:
        with self._cv:
            heapq.heappush(self._heap, (at, next(self._seq), delivery))
            self._cv.notify_all()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stop and (not self._heap or self._heap[0][0] > time.time()):
                    timeout = None if not self._heap else max(0.0, self._heap[0][0] - time.time())
                    self._cv.wait(timeout)
                if self._stop:
                    return
                _, _, delivery = heapq.heappop(self._heap)
                self._busy = True
            try:
                self._attempt(delivery)
            finally:
                with self._cv:
                    self._busy = False

    def _attempt(self, delivery: Delivery) -> None:
        headers = dict(delivery.headers)
        if callable(delivery.sign):
            headers.update(delivery.sign(delivery))
        status: int | str
        challenge = None
        try:
            resp = self._session.post(delivery.url, data=delivery.body, headers=headers,
                                      timeout=10, verify=self.verify)
            status, challenge = resp.status_code, resp.headers.get("WWW-Authenticate")
            ok = 200 <= resp.status_code < 300
        except requests.RequestException as exc:
            status, ok = f"error: {type(exc).__name__}", False
        # what a receiver's auth saw: the scheme sent (never the credentials) and the challenge it answered with
        scheme = (headers.get("Authorization") or "").split(" ", 1)[0] or None
        self._remember(delivery, status=status, auth_scheme=scheme, challenge=challenge)
        if ok or delivery.attempt >= len(delivery.retry_schedule):
            return
        wait = delivery.retry_schedule[delivery.attempt] * self.config.webhook_retry_scale
        delivery.attempt += 1
        self._push(time.time() + wait, delivery)

    def _remember(self, delivery: Delivery, status: int | str, **seen: str | None) -> None:
        entry = {"at": time.time(), "platform": delivery.platform, "account_id": delivery.account_id,
                 "url": delivery.url, "attempt": delivery.attempt, "status": status,
                 "body": delivery.body.decode("utf-8", "replace"), **seen}
        log.info("sandbox.webhook.%s", "sent" if isinstance(status, int) else status,
                 extra={"platform": delivery.platform, "status": status})
        with self._cv:
            self.history.append(entry)
