"""Errors: JSON for API routes (and anything asking for JSON), plain pages elsewhere."""
from __future__ import annotations

import logging

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from marketplace.params import BoundedIntConverter
from marketplace.requests import logged_route

log = logging.getLogger("leadrelay.web")


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/healthz", "/webhooks/")) or request.accept_mimetypes.best == \
        "application/json"


def register_error_handlers(app: Flask) -> None:
    # before any blueprint is registered: every <int:id> then stops at SQL INTEGER's maximum (an id past it is a
    # 404, not an overflow in the database driver)
    app.url_map.converters["int"] = BoundedIntConverter

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if not wants_json():
            return exc
        body = {"error": exc.name.lower().replace(" ", "_"), "message": exc.description,
                "request_id": g.get("request_id")}
        return jsonify(body), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        # Logged with the traceback (never swallowed); the client gets an id to quote to support.
        log.exception("http.unhandled-error", extra={"route": logged_route()})
        if not wants_json():
            return InternalServerError()
        return jsonify({"error": "internal_server_error",
                        "message": "Something went wrong on our side; quote the request id to support.",
                        "request_id": g.get("request_id")}), 500
