"""`leadrelay bench …` on tiny sizes: each prints its figures as JSON (shape only; tests never assert timings)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

LATENCY = {"p50_ms", "p99_ms", "max_ms"}


def run_bench(tmp_path, *args: str, database_url: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update({"LEADRELAY_VAR_DIR": str(tmp_path / "var"), "LEADRELAY_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
                "DATABASE_URL": database_url or f"sqlite:///{tmp_path / 'bench.db'}"})
    return subprocess.run([sys.executable, "-m", "leadrelay", "bench", *args], env=env, cwd=ROOT, timeout=300,
                          capture_output=True, text=True)


def bench(tmp_path, *args: str, database_url: str | None = None) -> dict:
    done = run_bench(tmp_path, *args, database_url=database_url)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_route_reports_microseconds_per_decision(tmp_path):
    result = bench(tmp_path, "route", "--rules", "500", "--leads", "300")
    assert result["rules"] == 502 and result["leads"] == 300
    assert {"p50_us", "p99_us", "max_us", "load_s", "compile_s"} <= set(result)


def keys_of(records: int) -> int:
    """Every key `record_keys()` gives the bench's synthetic records (about 14 a record with the messy-data keys)."""
    from integration.dedup.index import record_keys
    from leadrelay.bench_lookup import synthetic_record

    return sum(len(record_keys(synthetic_record(i))) for i in range(records))


def test_lookup_indexes_the_records_and_times_hits_and_misses(tmp_path):
    result = bench(tmp_path, "lookup", "--records", "2000")
    assert (result["records"], result["keys_indexed"], result["database"]) == (2000, keys_of(2000), "sqlite")
    for kind in ("all", "hits", "misses"):
        assert LATENCY | {"probes"} <= set(result[kind])
    assert any("key_type=? AND key_value=?" in step for step in result["plan"]), result["plan"]


def test_lookup_on_postgresql_uses_copy_and_the_lookup_index(tmp_path, postgres_url):
    result = bench(tmp_path, "lookup", "--records", "2000", database_url=postgres_url)
    assert (result["keys_indexed"], result["database"]) == (keys_of(2000), "postgresql+psycopg")
    assert LATENCY <= set(result["all"])


def test_speed_owns_every_lead_on_each_crm_and_counts_its_calls(tmp_path):
    result = bench(tmp_path, "speed", "--leads", "2", "--burst", "6")
    assert result["sandbox_latency_ms"] == 0
    for platform in ("hubspot", "salesforce", "pipedrive"):
        for part, phase, leads in [(kind, phase, leads) for kind in ("crm", "submissions")
                                   for phase, leads in (("one_at_a_time", 2), ("burst", 6))]:
            # a lead created in the CRM, and a web-form submission → record created, owned and tasked
            figures = (result[platform] if part == "crm" else result[platform]["submissions"])[phase]
            assert (figures["leads"], figures["owned"], figures["undecided"]) == (leads, leads, 0), figures
            assert LATENCY | {"crm_calls", "crm_calls_per_lead", "crm_calls_by_kind", "wall_s"} <= set(figures)
            assert figures["crm_calls"] > 0


def test_speed_refuses_more_leads_than_distinct_people(tmp_path):
    done = run_bench(tmp_path, "speed", "--platform", "pipedrive", "--leads", "10", "--burst", "3990")
    assert done.returncode == 2 and "at most 3999 leads" in done.stderr, done.stderr[-3000:]


@pytest.mark.parametrize("what", ["queue", "intake"])
def test_queue_and_intake_print_json(tmp_path, what):
    result = bench(tmp_path, what, "--jobs", "20", *(("--generator", "python") if what == "intake" else ()))
    assert LATENCY - {"max_ms"} <= set(result)
    if what == "intake":  # the web-form intake endpoint too: every submission answered 202
        assert LATENCY - {"max_ms"} <= set(result["submissions"]) and result["submissions"]["errors"] == 0


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_intake_with_wrk_counts_only_accepted_deliveries(tmp_path):
    result = bench(tmp_path, "intake", "--generator", "wrk", "--seconds", "2")
    assert result["load_generator"] == "wrk" and result["errors"] == 0 and result["requests"] > 0
    submissions = result["submissions"]
    assert submissions["load_generator"] == "wrk" and submissions["errors"] == 0 and submissions["requests"] > 0


FLEET = {"tenants", "workers", "leads", "lost", "quiet_p50_ms", "quiet_p99_ms", "noisy_done_s", "calls_429"}


def test_fleet_owns_every_lead_of_every_tenant_in_each_round_of_a_sweep(tmp_path):
    result = bench(tmp_path, "fleet", "--tenants", "3", "--leads", "2", "--noisy", "10", "--pace", "0.5",
                   "--workers", "1,2")
    assert FLEET <= set(result), result
    assert result["tenants_by_platform"] == {"hubspot": 1, "salesforce": 1, "pipedrive": 1}
    assert [r["workers"] for r in result["by_workers"]] == [1, 2]
    for figures in result["by_workers"]:
        # two quiet tenants × 2 leads, the noisy one's 10: every one owned, none lost or undecided
        assert (figures["leads"], figures["quiet_leads"], figures["noisy_leads"]) == (14, 4, 10), figures
        assert (figures["owned"], figures["lost"], figures["undecided"]) == (14, 0, 0), figures
        assert FLEET - {"tenants"} <= set(figures) and figures["crm_calls"] > 0
        # the quiet tenants' leads by CRM (one quiet tenant on each of Salesforce and Pipedrive here)
        assert {p: f["leads"] for p, f in figures["quiet_by_platform"].items()} == {"salesforce": 2, "pipedrive": 2}
    assert result["lost"] == 0


@pytest.mark.parametrize("args, message", [
    (("--workers", "0"), "worker counts are 1 or more"),
    (("--workers", "two"), "not a worker count"),
    (("--tenants", "1"), "at least 2 tenants"),
    (("--noisy", "5000", "--workers", "1,2"), "leads per tenant over all rounds"),
])
def test_fleet_refuses_what_it_cannot_run(tmp_path, args, message):
    done = run_bench(tmp_path, "fleet", *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr[-3000:]
