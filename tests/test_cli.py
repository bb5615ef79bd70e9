"""The `leadrelay` command and its subcommands."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

SUBCOMMANDS = ["web", "worker", "sandbox", "demo", "route", "dedup", "merges", "tenants", "bench"]


def leadrelay(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "leadrelay", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, env=env)


def test_help_lists_every_subcommand():
    out = leadrelay("--help")
    assert out.returncode == 0
    for name in SUBCOMMANDS:
        assert f"    {name} " in out.stdout, name


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_help(name):
    out = leadrelay(name, "--help")
    assert out.returncode == 0 and "usage: leadrelay" in out.stdout


def test_tenants_list_on_an_empty_install(env):
    import os

    out = leadrelay("tenants", "list", env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    assert "no tenants yet" in out.stdout


def test_a_bad_setting_is_a_clear_error(env):
    import os

    out = leadrelay("tenants", env={**os.environ, **env, "LEADRELAY_WORKER_CLASS": "threads"})
    assert out.returncode == 2
    assert "LEADRELAY_WORKER_CLASS must be 'simple' or 'fork'" in out.stderr


def test_a_worker_asked_for_the_removed_pipeline_queue_says_which_queues_exist(env):
    import os

    out = leadrelay("worker", "--burst", env={**os.environ, **env, "LEADRELAY_QUEUES": "intake,pipeline"})
    assert out.returncode == 2
    assert "unknown queue 'pipeline'; queues are: intake, sla, sweep, maintenance" in out.stderr
    assert "Traceback" not in out.stderr


def test_tenants_json_lists_agency_token_expiry_and_last_event(env):
    import datetime as dt
    import json
    import os

    from integration.db import migrate, session_scope
    from integration.models import Agency, Credential, EventRecord, Tenant

    migrate(env["DATABASE_URL"])
    expires = dt.datetime(2030, 1, 2, 3, 4, tzinfo=dt.UTC)
    with session_scope(env["DATABASE_URL"]) as session:
        agency = Agency(name="Growth Co")
        session.add(agency)
        session.flush()
        tenant = Tenant(platform="pipedrive", external_id="13000001", name="Acme", agency_id=agency.id)
        session.add(tenant)
        session.flush()
        session.add(Credential(tenant_id=tenant.id, access_token_enc=b"x", expires_at=expires))
        session.add(EventRecord(tenant_id=tenant.id, dedup_key="e", platform="pipedrive", object_type="contact",
                                object_id="1", kind="created", occurred_at=expires))
    out = leadrelay("tenants", "--json", env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    [row] = json.loads(out.stdout)
    assert row["platform"] == "pipedrive" and row["account_id"] == "13000001" and row["agency"] == "Growth Co"
    assert row["token_expires_at"].startswith("2030-01-02T03:04") and row["last_event_at"] is not None
    assert row["status"] == "active"
    # its intake key is made on first need; without a public URL the CLI gives the path and says why
    assert row["intake_url"] is None and row["intake_path"].startswith("/intake/v1/")
    assert "LEADRELAY_PUBLIC_URL is unset" in row["intake_url_note"]
    again = leadrelay("tenants", "--json", env={**os.environ, **env, "LEADRELAY_PUBLIC_URL": "https://lr.example.com"})
    [row2] = json.loads(again.stdout)
    assert row2["intake_url"] == "https://lr.example.com" + row["intake_path"] and "intake_url_note" not in row2
    from marketplace.intake_keys import active_key, key_hash

    with session_scope(env["DATABASE_URL"]) as session:
        assert active_key(session, tenant.id).key_hash == key_hash(row["intake_path"].split("/")[3])


def test_tenants_disconnect_unknown_id_says_how_to_find_ids(env):
    import os

    out = leadrelay("tenants", "disconnect", "999", env={**os.environ, **env})
    assert out.returncode == 1 and "leadrelay tenants list" in out.stderr
