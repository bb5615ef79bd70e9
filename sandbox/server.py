"""The sandbox's Flask app and its HTTP/HTTPS listeners."""
from __future__ import annotations

import logging
import ssl
import threading
import time

from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

from sandbox.config import SandboxConfig
from sandbox.context import Sandbox
from sandbox.control import control_blueprint
from sandbox.mail import MailServer, mail_blueprint
from sandbox.twilio import twilio_blueprints

log = logging.getLogger("sandbox")


def create_app(sandbox: Sandbox) -> Flask:
    """Flask app serving the control API and every platform's native paths.

    Platform blueprints are named "<platform>_api" (faults and latency apply) or
    "<platform>_oauth" / "<platform>_ui" (latency only).
    """
    app = Flask("sandbox")
    app.config["SANDBOX"] = sandbox
    # the control API, the senders' counterparts (SMTP mailbox, Twilio API), then each CRM
    blueprints = [control_blueprint(sandbox), mail_blueprint(sandbox.mail), *twilio_blueprints(sandbox),
                  *(bp for platform in sandbox.platforms.values() for bp in platform.blueprints(sandbox))]
    for bp in blueprints:
        app.register_blueprint(bp)

    @app.before_request
    def inject_faults():
        bp = request.blueprint or ""
        if bp.startswith("sandbox_"):
            return None
        cfg = sandbox.config
        if cfg.latency_ms:
            time.sleep(cfg.latency_ms / 1000.0)
        if not bp.endswith("_api"):
            return None
        if cfg.chance(cfg.timeout_rate):
            time.sleep(cfg.timeout_s)
        if cfg.chance(cfg.error_rate):
            platform = sandbox.platforms.get(bp.split("_", 1)[0])
            hook = getattr(platform, "fault_response", None)
            if hook is not None:
                return hook(500)
            return jsonify({"status": "error", "message": "internal error (sandbox fault injection)"}), 500
        return None

    @app.after_request
    def log_call(response: Response) -> Response:
        return sandbox.log_call(response)

    return app


class SandboxServer:
    """Runs the app on a plain HTTP port and, optionally, an HTTPS port, in background threads."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tls_port: int | None = None,
                 cert_dir: str | None = None, config: SandboxConfig | None = None,
                 platforms: list[str] | None = None, smtp_port: int | None = 0) -> None:
        self.host = host
        self.sandbox = Sandbox(config=config, platforms=platforms)
        self.app = create_app(self.sandbox)
        self._servers: list[BaseWSGIServer] = []
        self._smtp_tls: ssl.SSLContext | None = None
        self._threads: list[threading.Thread] = []
        http = make_server(host, port, self.app, threaded=True)
        self._servers.append(http)
        self.sandbox.base_url = f"http://{host}:{http.server_port}"
        if tls_port is not None:
            from sandbox.tls import ensure_certificates
            ca, cert, key = ensure_certificates(cert_dir or "var/sandbox-tls")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            https = make_server(host, tls_port, self.app, threaded=True, ssl_context=ctx)
            self._smtp_tls = ctx
            self._servers.append(https)
            self.sandbox.tls_url = f"https://{host}:{https.server_port}"
            self.sandbox.ca_file = ca
        # the SMTP listener (None: none): its own port, 0 a free one, known once started (smtp_url)
        self.mail_server = (MailServer(self.sandbox.mail, host, smtp_port, tls_context=self._smtp_tls)
                            if smtp_port is not None else None)

    @property
    def url(self) -> str:
        return self.sandbox.base_url

    @property
    def tls_url(self) -> str | None:
        return self.sandbox.tls_url

    @property
    def smtp_url(self) -> str | None:
        """A LEADRELAY_SMTP_URL pointing at the sandbox's SMTP server (None before start or without one)."""
        return self.sandbox.smtp_url

    def start(self) -> SandboxServer:
        if self.mail_server is not None:
            self.mail_server.start()
            self.sandbox.smtp_url = self.mail_server.url
        for srv in self._servers:
            t = threading.Thread(target=srv.serve_forever, name=f"sandbox-{srv.server_port}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        if self.mail_server is not None:
            self.mail_server.stop()
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        self.sandbox.outbox.close()
