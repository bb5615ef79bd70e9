"""Per-request context: a request id (taken from X-Request-Id or made), logged and echoed back; the proxies we
trust for the client's address and scheme; session cookies `Secure` whenever the request came over https."""
from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from integration.logs import redact, request_id_var

log = logging.getLogger("leadrelay.web")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# a path segment an unmatched request may keep in the log: a word or a number, never a key or a token
_PLAIN_SEGMENT = re.compile(r"^(?:[a-z][a-z0-9_.-]{0,31}|\d{1,20})$")


def logged_route() -> str:
    """What the request log records: the route's pattern (/webhooks/<platform>/<path:_rest>), never the path a
    secret may travel in; for a request no route matched, the path with every segment that is not a plain word
    or number replaced."""
    if request.url_rule is not None:
        return request.url_rule.rule
    return redact("/".join(s if not s or _PLAIN_SEGMENT.match(s) else "[redacted]" for s in request.path.split("/")))


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, `Secure` when configured so (LEADRELAY_PUBLIC_URL is https) or when this
    request came over https, directly or as a trusted proxy says; plain-http local use keeps working."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or (has_request_context() and request.is_secure))


def trust_proxies(app: Flask, hops: int) -> None:
    """Believe X-Forwarded-For/-Proto/-Host/-Port from `hops` proxies in front of us, and nobody else's."""
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]
    app.session_interface = HttpsAwareSessionInterface()


def register_request_context(app: Flask) -> None:
    @app.before_request
    def start_request() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        g.request_token = request_id_var.set(g.request_id)
        g.request_started = time.monotonic()

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # OAuth callbacks carry a code, invitation pages a token: never hand either to another site in a Referer
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.path != "/healthz":
            log.info("http.request", extra={"method": request.method, "route": logged_route(),
                                            "status": response.status_code,
                                            "ms": round((time.monotonic() - g.get("request_started", 0)) * 1000, 1)})
        return response

    @app.teardown_request
    def reset_context(_exc: BaseException | None) -> None:
        token = g.pop("request_token", None)
        if token is not None:
            request_id_var.reset(token)
