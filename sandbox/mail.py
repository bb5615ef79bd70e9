"""A real SMTP server for the sandbox (aiosmtpd, in its own thread) that keeps every message it accepts.

Recipients at bounce.test are refused at RCPT TO with 550, as a real server refuses a mailbox that does not exist,
so a sender's permanent-failure path is exercised end to end. The control API lists and clears what arrived.
"""
from __future__ import annotations

import datetime as dt
import ssl
import threading
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.controller import Controller
from flask import Blueprint, jsonify, request

BOUNCE_DOMAIN = "bounce.test"


class MailHandler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options) -> str:  # noqa: N802
        if address.rpartition("@")[2].lower().rstrip(">") == BOUNCE_DOMAIN:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        parsed = message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=policy.default)
        body = parsed.get_body(preferencelist=("plain", "html"))
        entry = {"mail_from": envelope.mail_from, "rcpt_to": list(envelope.rcpt_tos),
                 "headers": {k: str(v) for k, v in parsed.items()}, "subject": str(parsed.get("Subject", "")),
                 "from": str(parsed.get("From", "")), "to": str(parsed.get("To", "")),
                 "reply_to": str(parsed.get("Reply-To", "")) or None,
                 "message_id": str(parsed.get("Message-ID", "")) or None,
                 # SMTP carries CRLF line ends; shown as a mail client shows them
                 "body": body.get_content().replace("\r\n", "\n") if body is not None else "",
                 "received_at": dt.datetime.now(dt.UTC).isoformat()}
        with self.lock:
            self.messages.append(entry)
        return "250 2.0.0 Ok: queued"

    def list(self, to: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            rows = list(self.messages)
        if to:
            rows = [m for m in rows if to.lower() in (r.lower() for r in m["rcpt_to"])]
        return rows

    def clear(self) -> int:
        with self.lock:
            n = len(self.messages)
            self.messages.clear()
        return n


class _Controller(Controller):
    """Binds port 0 to a free port and reports the one it got (aiosmtpd's Controller wants a fixed port)."""

    def _create_server(self):
        made = super()._create_server()

        async def bound():
            server = await made
            self.port = server.sockets[0].getsockname()[1]
            return server

        return bound()


class MailServer:
    def __init__(self, handler: MailHandler, host: str = "127.0.0.1", port: int = 0,
                 tls_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.host = host
        # with the sandbox's certificate the server offers STARTTLS (optional, as most relays: a client set to
        # "none" still sends in plain text), so a sender's STARTTLS path meets a real handshake
        self._controller = _Controller(self.handler, hostname=host, port=port, tls_context=tls_context)

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def url(self) -> str:
        """A LEADRELAY_SMTP_URL for this server: no TLS, no login, as a local relay."""
        return f"smtp://{self.host}:{self.port}?security=none&from=LeadRelay%20%3Cnoreply%40leadrelay.test%3E"

    def start(self) -> MailServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


def mail_blueprint(mail: MailHandler) -> Blueprint:
    bp = Blueprint("sandbox_mail", __name__, url_prefix="/_sandbox/mail")

    @bp.get("")
    def list_mail():
        return jsonify({"messages": mail.list(request.args.get("to"))})

    @bp.delete("")
    def clear_mail():
        return jsonify({"deleted": mail.clear()})

    return bp
