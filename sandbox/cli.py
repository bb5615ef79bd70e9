"""Command line of the sandbox: `leadrelay sandbox --port P [--tls] [--latency-ms N] [--seed demo|empty]`."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading

from sandbox.config import PROFILES, SandboxConfig
from sandbox.server import SandboxServer


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="leadrelay sandbox")
    parser.description = ("Run the CRM sandbox: HubSpot, Salesforce and Pipedrive APIs, OAuth servers and "
                          "webhook senders on their native paths, with state in memory.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SANDBOX_PORT", "8700")),
                        help="plain HTTP port (default 8700, env SANDBOX_PORT)")
    parser.add_argument("--smtp-port", type=int, default=int(os.environ.get("SANDBOX_SMTP_PORT", "0")),
                        help="the SMTP server's port (0: a free one, printed at start; -1: no SMTP server)")
    parser.add_argument("--tls", action="store_true", help="also serve HTTPS with a generated certificate")
    parser.add_argument("--tls-port", type=int, default=None, help="HTTPS port (default: --port + 1)")
    parser.add_argument("--cert-dir", default="var/sandbox-tls", help="where the CA and certificate are kept")
    parser.add_argument("--latency-ms", type=int, default=0, help="added latency per request")
    parser.add_argument("--seed", choices=("demo", "empty"), default="empty",
                        help="demo: one seeded account per platform; empty: none")
    parser.add_argument("--consent-page", action="store_true",
                        help="show a consent page on OAuth authorize instead of auto-approving")
    parser.add_argument("--profile", choices=tuple(PROFILES), default="kind",
                        help="kind: deterministic defaults (tests); realistic: search lag, Outbound Messages with "
                             "the selected fields only, batched, duplicate rules — as the real CRMs behave")
    parser.add_argument("--state-file", default=None,
                        help="load state from this JSON file at start and save it on exit")
    return parser


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = SandboxConfig.for_profile(args.profile, latency_ms=args.latency_ms, consent_page=args.consent_page)
    tls_port = (args.tls_port if args.tls_port is not None else args.port + 1) if args.tls else None
    server = SandboxServer(host=args.host, port=args.port, tls_port=tls_port, cert_dir=args.cert_dir,
                           config=config, smtp_port=None if args.smtp_port < 0 else args.smtp_port)
    sandbox = server.sandbox
    if args.state_file and os.path.exists(args.state_file):
        sandbox.store.load(args.state_file)
    server.start()
    urls = " and ".join(u for u in (server.url, server.tls_url) if u)
    print(f"sandbox listening on {urls} (profile: {config.profile})", flush=True)
    if server.smtp_url:
        print(f"SMTP server: {server.smtp_url}", flush=True)
    if sandbox.ca_file:
        print(f"CA certificate: {os.path.abspath(sandbox.ca_file)}", flush=True)
    if args.seed == "demo":
        for name, platform in sandbox.platforms.items():
            account = platform.create_account(sandbox, f"Demo {name}", [])
            platform.seed_demo(sandbox, account)
            token = sandbox.store.issue_token(account.id, "access", ttl=None, prefix=f"{name[:2]}-")
            print(json.dumps({"platform": name, "account_id": account.id, "api_base": account.api_base,
                              "access_token": token.value}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    if args.state_file:
        sandbox.store.dump(args.state_file)
    server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
