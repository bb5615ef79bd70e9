"""The `leadrelay` command: web, worker, sandbox, demo, route, dedup, tenants, bench."""
from __future__ import annotations

import argparse
import os
import sys

from integration.config import ConfigError
from integration.queues import UnknownQueue


def _web(args: argparse.Namespace) -> int:
    from leadrelay.web import serve

    return serve(args.host, args.port, args.workers, args.threads)


def _worker(args: argparse.Namespace) -> int:
    from integration.config import get_settings
    from leadrelay.processes import share_redis
    from worker import Supervisor, run_worker, selected_queues

    share_redis(get_settings())  # the supervisor's worker processes use the same Redis
    settings = get_settings()
    queues = selected_queues(settings, args.queues.split(",") if args.queues else None)
    if args.processes <= 1:
        return run_worker(settings, queues, burst=args.burst)
    return Supervisor(args.processes, queues, args.burst).run()


def _sandbox(args: argparse.Namespace) -> int:
    from integration.logs import configure_logging
    from sandbox.cli import run

    # LeadRelay's logging (with its redacting filter) first: the sandbox's own basicConfig then adds nothing, and
    # its request log cannot write the tokens it is sent into var/logs/sandbox.log
    configure_logging("INFO", "text")
    return run(args)


def _demo(args: argparse.Namespace) -> int:
    from leadrelay.demo import run_demo

    return run_demo(port=args.port, sandbox_port=args.sandbox_port, check=args.check, leads=args.leads,
                    seconds=args.seconds, keep_running=args.keep_running, report_file=args.report,
                    workers=args.workers)


def _tenants(args: argparse.Namespace) -> int:
    from leadrelay.tenants_cli import run_tenants

    return run_tenants(args)


def _bench(args: argparse.Namespace) -> int:
    from leadrelay.bench import run_bench

    return run_bench(args)


def worker_counts(text: str) -> list[int]:
    """`--workers 2` or a sweep `--workers 1,2,4`: positive counts."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a worker count or a list of them: {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"worker counts are 1 or more: {text!r}")
    return counts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadrelay", description="LeadRelay: routing, dedup, SLA tasks and "
                                     "lifecycle sync for HubSpot, Salesforce and Pipedrive.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    web = sub.add_parser("web", help="serve the web app (webhooks, install, console) with gunicorn")
    web.add_argument("--host", default=os.environ.get("LEADRELAY_HOST", "127.0.0.1"))
    web.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    web.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")),
                     help="gunicorn worker processes (env WEB_CONCURRENCY)")
    web.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    web.set_defaults(func=_web)

    worker = sub.add_parser("worker", help="run RQ workers (with the scheduler) on LeadRelay's queues")
    worker.add_argument("--processes", type=int, default=1, help="worker processes to run (restarted if they die)")
    worker.add_argument("--queues", default="", help="comma-separated subset of queues (default: all)")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.set_defaults(func=_worker)

    from sandbox.cli import build_parser as sandbox_parser

    sandbox = sub.add_parser("sandbox", help="run the HubSpot / Salesforce / Pipedrive emulator")
    sandbox_parser(sandbox)
    sandbox.set_defaults(func=_sandbox)

    demo = sub.add_parser("demo", help="start Redis, the sandbox, a worker and the web app, seeded")
    demo.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    demo.add_argument("--sandbox-port", type=int, default=int(os.environ.get("SANDBOX_PORT", "8700")))
    demo.add_argument("--check", action="store_true", help="start everything, verify it works, then stop")
    demo.add_argument("--leads", type=int, default=60, help="synthetic leads to send through the CRMs (0: none)")
    demo.add_argument("--seconds", type=float, default=20, help="spread the leads over this many seconds")
    demo.add_argument("--workers", type=int, default=2, help="worker processes")
    demo.add_argument("--keep-running", action="store_true", help="keep everything up after the report")
    demo.add_argument("--report", help="also write the summary as JSON to this file")
    demo.set_defaults(func=_demo)

    from leadrelay.dedup_cli import add_dedup_arguments, run_dedup
    from leadrelay.merges_cli import add_merges_arguments, run_merges
    from leadrelay.route_cli import add_route_arguments, run_route

    merges = sub.add_parser("merges", help="list LeadRelay's merges, undo one (restores both CRM records)")
    add_merges_arguments(merges)
    merges.set_defaults(func=run_merges)

    route = sub.add_parser("route", help="route a lead file through a rule set: owner, rule and reason per lead")
    add_route_arguments(route)
    route.set_defaults(func=run_route)

    dedup = sub.add_parser("dedup", help="find duplicates in a lead file (pairs to merge or review)")
    add_dedup_arguments(dedup)
    dedup.set_defaults(func=run_dedup)


    tenants = sub.add_parser("tenants", help="list, inspect and disconnect installed CRM accounts")
    tenants.add_argument("--json", action="store_true", help="machine-readable list")
    tsub = tenants.add_subparsers(dest="action", required=False)
    tsub.add_parser("list", help="one line per tenant (default)").add_argument("--json", action="store_true")
    show = tsub.add_parser("show", help="one tenant in detail")
    show.add_argument("tenant_id", type=int)
    disconnect = tsub.add_parser("disconnect", help="revoke access and erase a tenant's data")
    disconnect.add_argument("tenant_id", type=int)
    tenants.set_defaults(func=_tenants, action="list")

    bench = sub.add_parser("bench", help="measure the performance budgets (prints figures, JSON)")
    bench.add_argument("what", choices=("queue", "intake", "route", "lookup", "speed", "sla", "fleet"),
                       help="queue: web → worker → database round trip; intake: signed webhooks per second and "
                            "latency against gunicorn; route: routing decision with 40k postcode rules; lookup: "
                            "dedup candidate lookup with --records indexed; speed: speed-to-owner and CRM calls "
                            "per lead through the whole stack; fleet: many tenants, one bursting, on one Redis, one "
                            "database and --workers processes; sla: SLA checks per second")
    bench.add_argument("--jobs", type=int, default=200, help="jobs (queue), requests (intake) or SLA checks (sla)")
    bench.add_argument("--rules", type=int, default=40_000, help="route: postcode territory rules")
    bench.add_argument("--records", type=int, default=1_000_000, help="lookup: records in the dedup index")
    bench.add_argument("--leads", type=int, default=0, help="route: leads to route (20,000); speed: leads one at "
                                                            "a time (50); fleet: leads per quiet tenant (20)")
    bench.add_argument("--burst", type=int, default=1000, help="speed: leads created at once")
    bench.add_argument("--workers", type=worker_counts, default=[1],
                       help="speed: `leadrelay worker` processes; fleet: the same, or a sweep such as 1,2,4 (a round "
                            "per count, the fleet installed once)")
    bench.add_argument("--tenants", type=int, default=200, help="fleet: tenants installed, the CRMs in turn")
    bench.add_argument("--noisy", type=int, default=2000,
                       help="fleet: leads the noisy tenant creates at once while the others trickle --leads (20)")
    bench.add_argument("--noisy-platform", choices=("hubspot", "salesforce", "pipedrive"), default="hubspot",
                       dest="noisy_platform", help="fleet: the noisy tenant's CRM")
    bench.add_argument("--platform", choices=("hubspot", "salesforce", "pipedrive", "all"), default="all",
                       help="speed: the CRM to measure, or each in turn (all; the JSON is then keyed by platform)")
    bench.add_argument("--leads-from", choices=("all", "webhooks", "forms"), default="all", dest="leads_from",
                       help="speed: leads created in the CRM (webhooks), web-form submissions (forms), or both")
    bench.add_argument("--pace", type=float, default=None,
                       help="speed: seconds from one lead's creation to the next, one at a time (0: back to back); "
                            "fleet: seconds between one quiet tenant's leads (5)")
    bench.add_argument("--latency-ms", type=int, default=0, dest="latency_ms",
                       help="speed: added latency of every sandbox call in ms (real CRM calls take 100-300 ms)")
    bench.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto",
                       help="intake: the load generator; auto = wrk when installed (apt-get install wrk), else "
                            "Python threads, which share the cores with the app")
    bench.add_argument("--seconds", type=int, default=10, help="intake with wrk: seconds of load")
    bench.add_argument("--connections", type=int, default=16,
                       help="intake: connections held open at once (16 saturates 2 cores; 4 is a busy site)")
    bench.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, UnknownQueue) as exc:  # a queue from LEADRELAY_QUEUES or --queues is configuration too
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
