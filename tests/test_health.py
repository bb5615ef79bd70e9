"""/healthz and the web app's JSON conventions."""
from __future__ import annotations

from integration.queues import QUEUES


def test_healthz_is_green_with_database_redis_and_queue_depths(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    body = resp.json
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["database"]["revision"] == body["database"]["head"]
    assert body["redis"]["ok"]
    assert set(body["queues"]) == set(QUEUES)
    assert body["queues"]["intake"] == {"queued": 0, "scheduled": 0, "started": 0, "failed": 0}


def test_healthz_counts_waiting_jobs(client):
    client.post("/api/v1/diagnostics/probes")
    assert client.get("/healthz").json["queues"]["maintenance"]["queued"] == 1


def test_healthz_reports_redis_down_with_503_and_a_hint(app, monkeypatch, tmp_path):
    import dataclasses

    settings = app.config["LEADRELAY_SETTINGS"]
    app.config["LEADRELAY_SETTINGS"] = dataclasses.replace(settings, redis_url=f"unix://{tmp_path}/nothing.sock")
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.json["status"] == "degraded"
    assert resp.json["redis"]["ok"] is False and "REDIS_URL" in resp.json["redis"]["hint"]
    assert resp.json["database"]["ok"] is True


def test_api_errors_are_json_and_carry_the_request_id(client):
    resp = client.get("/api/v1/diagnostics/probes/nope", headers={"X-Request-Id": "req-123"})
    assert resp.status_code == 404
    assert resp.json == {"error": "not_found", "message": "no probe 'nope'", "request_id": "req-123"}
    assert resp.headers["X-Request-Id"] == "req-123"


def test_a_forged_request_id_is_replaced(client):
    resp = client.get("/healthz", headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert resp.headers["X-Request-Id"] != "<script>alert(1)</script>" and len(resp.headers["X-Request-Id"]) == 32
