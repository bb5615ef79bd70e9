"""The running sandbox: state, config, webhook outbox, the platforms, the public URLs."""
from __future__ import annotations

import importlib
import time
from typing import Any

from flask import Response, abort, g, jsonify, request

from sandbox.config import SandboxConfig
from sandbox.mail import MailHandler
from sandbox.outbox import Outbox
from sandbox.platform import Platform
from sandbox.state import Store
from sandbox.twilio import TwilioState

# Explicit list, no package scanning: a platform is one dotted path to its PLATFORM object.
PLATFORM_PATHS = {
    "hubspot": "sandbox.hubspot:PLATFORM",
    "salesforce": "sandbox.salesforce:PLATFORM",
    "pipedrive": "sandbox.pipedrive:PLATFORM",
}


def load_platform(name: str) -> Platform:
    module, _, attr = PLATFORM_PATHS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


class Sandbox:
    """Everything a request handler needs. One instance per server."""

    def __init__(self, config: SandboxConfig | None = None, base_url: str = "http://127.0.0.1:0",
                 tls_url: str | None = None, ca_file: str | None = None,
                 platforms: list[str] | None = None) -> None:
        self.config = config or SandboxConfig()
        self.store = Store()
        self.base_url = base_url.rstrip("/")       # plain HTTP listener
        self.tls_url = (tls_url or "").rstrip("/") or None  # HTTPS listener, if any
        self.ca_file = ca_file
        # webhooks go to our own app on loopback; verify against the default trust store
        self.outbox = Outbox(self.config)
        names = platforms if platforms is not None else list(PLATFORM_PATHS)
        self.platforms: dict[str, Platform] = {name: load_platform(name) for name in names}
        # the senders' counterparts: what the SMTP server accepted, the Twilio-compatible API's accounts and texts
        self.mail = MailHandler()
        self.twilio = TwilioState()
        self.smtp_url: str | None = None  # set when the server runs its SMTP listener

    @property
    def public_url(self) -> str:
        """The URL handed out as API base / instance URL / api_domain: HTTPS when served."""
        return self.tls_url or self.base_url

    def platform(self, name: str) -> Platform:
        if name not in self.platforms:
            abort(jsonify({"error": f"unknown platform {name!r}", "platforms": sorted(self.platforms)}), 404)
        return self.platforms[name]

    # helpers shared by the platform modules ---------------------------------------------
    @staticmethod
    def bearer_token() -> str | None:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip()
        return None

    def authenticate(self, platform: str, token_value: str | None) -> Any:
        """The account behind an access token, or None. Marks the request for call logging."""
        if not token_value:
            return None
        tok = self.store.token(token_value, "access")
        if tok is None:
            return None
        account = self.store.account(tok.account_id)
        if account is None or account.platform != platform:
            return None
        g.sandbox_account = account
        g.sandbox_platform = platform
        return account

    def log_call(self, response: Response) -> Response:
        account = getattr(g, "sandbox_account", None)
        if account is not None:
            from sandbox.state import Call
            self.store.record_call(account.id, Call(at=time.time(), method=request.method,
                                                    path=request.full_path.rstrip("?"),
                                                    status=response.status_code,
                                                    platform=g.sandbox_platform))
        return response
