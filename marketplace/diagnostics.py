"""Diagnostics API: ask a worker to complete a probe, then read whether it did."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify

from integration.diagnostics import probe_status, request_probe

diagnostics_bp = Blueprint("diagnostics", __name__, url_prefix="/api/v1/diagnostics")


@diagnostics_bp.post("/probes")
def create_probe():
    probe = request_probe()
    return jsonify({"token": probe.token, "status_url": f"/api/v1/diagnostics/probes/{probe.token}"}), 202


@diagnostics_bp.get("/probes/<token>")
def read_probe(token: str):
    status = probe_status(token)
    if status is None:
        abort(404, description=f"no probe {token!r}")
    return jsonify(status)
