"""`leadrelay bench`: measure a budget and print the figures (tests never assert timings)."""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from integration.config import Settings
from integration.db import migrate
from leadrelay.processes import share_redis, spawn, stop, wait_until


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def bench_queue(jobs: int) -> dict:
    """Enqueue → worker → database latency of the diagnostics probe, one at a time, real worker process."""
    from integration.admin.diagnostics import probe_status, request_probe

    settings = Settings.from_env()
    share_redis(settings)
    migrate(settings.database_url)
    log_path = str(Path(tempfile.gettempdir()) / "leadrelay-bench-worker.log")
    worker = spawn(["worker", "--processes", "1"], log_path)
    latencies = []
    try:
        for i in range(jobs):
            started = time.monotonic()
            token = request_probe().token
            wait_until(lambda t=token: probe_status(t)["done"], 30, "the probe job", worker, interval=0.002,
                       log_path=log_path)
            latencies.append((time.monotonic() - started) * 1000)
            if (i + 1) % max(1, jobs // 10) == 0:
                _progress(f"  {i + 1}/{jobs}")
    finally:
        stop([worker])
    return {"jobs": jobs, "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(_percentile(latencies, 99), 1), "max_ms": round(max(latencies), 1)}


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every bench stops the processes it started."""
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def run_bench(args: argparse.Namespace) -> int:
    _stop_on_sigterm()
    if args.what == "intake":
        from leadrelay.bench_intake import bench_intake

        print(json.dumps(bench_intake(requests_total=args.jobs, seconds=args.seconds, generator=args.generator,
                                      concurrency=getattr(args, "connections", 16)), indent=2))
        return 0
    if args.what == "route":
        from leadrelay.bench_route import bench_routing

        print(json.dumps(bench_routing(n_rules=args.rules, n_leads=args.leads or 20_000), indent=2))
        return 0
    if args.what == "lookup":
        from leadrelay.bench_lookup import bench_lookup

        print(json.dumps(bench_lookup(records=args.records, log=_progress), indent=2))
        return 0
    if args.what == "fleet":
        return _fleet(args)
    if args.what == "speed":
        from leadrelay.bench_speed import TooManyLeads, bench_speed

        if len(args.workers) > 1:
            _progress("bench speed: one --workers count (a sweep such as 1,2,4 is for bench fleet)")
            return 2
        try:
            figures = bench_speed(leads=args.leads or 50, burst=args.burst, workers=args.workers[0],
                                  platform=args.platform, log=_progress,
                                  pace=0.0 if args.pace is None else args.pace,
                                  leads_from=args.leads_from, latency_ms=args.latency_ms)
        except TooManyLeads as exc:
            _progress(f"bench speed: {exc}")
            return 2
        print(json.dumps(figures, indent=2))
        return 0
    if args.what == "sla":
        from leadrelay.bench_sla import bench_sla_checks

        print(json.dumps(bench_sla_checks(args.jobs), indent=2))
        return 0
    print(json.dumps(bench_queue(args.jobs), indent=2))  # enqueue → worker → DB row, one job at a time
    return 0


def _fleet(args: argparse.Namespace) -> int:
    from leadrelay.bench_fleet import TooManyLeads, bench_fleet

    try:
        figures = bench_fleet(tenants=args.tenants, leads=args.leads or 20, noisy=args.noisy,
                              workers=tuple(args.workers), pace=5.0 if args.pace is None else args.pace,
                              noisy_platform=args.noisy_platform, log=_progress)
    except TooManyLeads as exc:
        _progress(f"bench fleet: {exc}")
        return 2
    print(json.dumps(figures, indent=2))
    return 0


def _progress(message: str) -> None:
    """Progress goes to stderr, so stdout is the JSON alone."""
    import sys

    print(message, file=sys.stderr, flush=True)
