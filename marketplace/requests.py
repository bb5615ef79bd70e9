"""Per-request context: a request id (taken from X-Request-Id or made), logged and echoed back."""
from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from integration.logs import request_id_var

log = logging.getLogger("leadrelay.web")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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
        if request.path != "/healthz":
            log.info("http.request", extra={"method": request.method, "path": request.path,
                                            "status": response.status_code,
                                            "ms": round((time.monotonic() - g.get("request_started", 0)) * 1000, 1)})
        return response

    @app.teardown_request
    def reset_context(_exc: BaseException | None) -> None:
        token = g.pop("request_token", None)
        if token is not None:
            request_id_var.reset(token)
