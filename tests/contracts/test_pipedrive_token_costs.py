"""Pipedrive's token costs, per endpoint, checked against the vendor's own OpenAPI documents.

Each operation of Pipedrive's openapi-v1 / openapi-v2 carries `x-token-cost`: what one call takes from the
company's daily budget (https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting). Both the sandbox
(sandbox/pipedrive/limits.py, what it charges) and LeadRelay (adapters/pipedrive/client.py, what its budget takes
before each call) keep a table of the endpoints they use; the copies under specs/pipedrive/ are the judge.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import requests

from adapters.pipedrive import client as leadrelay
from adapters.pipedrive.adapter import PipedriveAdapter
from integration.records import Message, TaskSpec
from sandbox.pipedrive import limits as sandbox
from sandbox.server import create_app
from tests.adapters.conftest import RecordingBudget, StaticTokens, tenant_for

SPECS = Path(__file__).resolve().parent / "specs" / "pipedrive"
METHODS = ("get", "post", "put", "patch", "delete")


def _spec(version: str) -> dict:
    return json.loads((SPECS / f"openapi-{version}.json").read_text())


SPEC = {"v1": _spec("v1"), "v2": _spec("v2")}


def spec_cost(method: str, template: str) -> int | None:
    """x-token-cost of the operation behind /api/vN/<path>, or None when the document has no such operation."""
    version, path = re.fullmatch(r"/api/(v[12])(/.*)", template).groups()
    operation = SPEC[version]["paths"].get(path, {}).get(method.lower())
    return None if operation is None else operation["x-token-cost"]


def highest_cost(method: str) -> int:
    return max(op["x-token-cost"] for spec in SPEC.values() for ops in spec["paths"].values()
               for name, op in ops.items() if name == method.lower())


@pytest.mark.parametrize("table", [sandbox.COSTS, leadrelay.COSTS], ids=["sandbox", "leadrelay"])
def test_every_cost_in_the_table_is_the_documented_x_token_cost(table):
    wrong = {endpoint: (cost, spec_cost(*endpoint)) for endpoint, cost in table.items()
             if spec_cost(*endpoint) != cost}
    assert wrong == {}  # endpoint: (ours, the spec's)


def test_the_documents_price_what_the_old_guesses_got_wrong():
    # a merge is dearer than "an update", and v1 webhooks cheaper than "a list"
    assert spec_cost("PUT", "/api/v1/persons/{id}/merge") == leadrelay.cost_of(
        ("PUT", "/api/v1/persons/{id}/merge")) == 40
    assert spec_cost("GET", "/api/v1/webhooks") == leadrelay.cost_of(("GET", "/api/v1/webhooks")) == 10


def test_the_retired_v1_person_endpoints_are_still_gone_from_the_document():
    # priced from the rate-limiting page's v1 table instead: if Pipedrive documents them again, use its costs
    assert {endpoint: spec_cost(*endpoint) for endpoint in sandbox.RETIRED_V1_COSTS} == {
        endpoint: None for endpoint in sandbox.RETIRED_V1_COSTS}


@pytest.mark.parametrize("defaults", [sandbox.DEFAULT_COSTS, leadrelay.DEFAULT_COSTS], ids=["sandbox", "leadrelay"])
def test_an_unknown_endpoint_costs_the_most_its_method_costs_anywhere(defaults):
    assert defaults == {method: highest_cost(method) for method in ("GET", "POST", "PUT", "PATCH", "DELETE")}


def _sandbox_routes() -> set[tuple[str, str]]:
    """Every (method, template) the sandbox's Pipedrive API blueprints serve."""
    from sandbox.context import Sandbox

    app = create_app(Sandbox(platforms=["pipedrive"]))
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(("pipedrive_api.", "pipedrive_v1_api.")):
            continue
        options = re.search(r"<any\(([^)]*)\):obj>", rule.rule)
        for obj in options.group(1).split(",") if options else [None]:
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((method, sandbox.path_template(rule.rule, {"obj": obj})))
    return routes


def test_every_endpoint_the_sandbox_serves_has_its_cost():
    routes = _sandbox_routes()
    assert routes == set(sandbox.COSTS) | set(sandbox.RETIRED_V1_COSTS)


# LeadRelay: every endpoint the adapter calls is priced, and priced as the sandbox charges it ----------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from sandbox.config import SandboxConfig
    from sandbox.server import SandboxServer

    srv = SandboxServer(port=0, tls_port=0, cert_dir=str(tmp_path_factory.mktemp("costs-tls")),
                        config=SandboxConfig(seed=5)).start()
    yield srv
    srv.stop()


class Company:
    def __init__(self, server) -> None:
        self.http = requests.Session()
        self.http.trust_env = False
        self.server = server
        self.account = self.http.post(f"{server.url}/_sandbox/accounts", json={
            "platform": "pipedrive", "name": "Costs", "users": [], "seed": "demo"}, timeout=10).json()
        self.base = f"{server.url}/_sandbox/accounts/{self.account['account_id']}"

    def ids(self, object_type: str) -> list[str]:
        return [str(r["id"]) for r in self.http.get(f"{self.base}/{object_type}", timeout=10).json()["results"]]

    def endpoints_called(self) -> list[tuple[str, str]]:
        """Each API call the sandbox received, as the (method, template) its router matched."""
        router = self.server.app.url_map.bind("sandbox")
        called = []
        for call in self.http.get(f"{self.base}/calls", timeout=10).json()["calls"]:
            rule, args = router.match(call["path"].split("?")[0], method=call["method"], return_rule=True)
            called.append((call["method"], sandbox.path_template(rule.rule, args)))
        return called


def _every_adapter_call(adapter: PipedriveAdapter, company: Company) -> None:
    """One of each thing the pipeline, the install and the console ask of the adapter."""
    users, persons, orgs = company.ids("users"), company.ids("persons"), company.ids("organizations")
    deals, leads = company.ids("deals"), company.ids("leads")
    adapter.list_users()
    adapter.ensure_custom_fields()
    for object_type, rid in (("contact", persons[0]), ("company", orgs[0]), ("deal", deals[0]), ("lead", leads[0])):
        adapter.get_record(object_type, rid)
    adapter.get_records("deal", deals[:2])
    adapter.find_duplicate_candidates("contact", emails=["alice.johnson@northwind.example"])
    adapter.find_duplicate_candidates("company", name="Acme Robotics")
    adapter.find_company(domain="acme-robotics.example")
    adapter.set_owner("contact", persons[0], users[1], {"leadrelay_rule": "Everyone"})
    adapter.set_owner("lead", leads[0], users[1])
    adapter.set_fields("company", orgs[0], {"name": "Northwind Traders Ltd"})
    adapter.set_fields("deal", deals[0], {"amount": 1200})
    made = {t: adapter.create_record(t, fields, users[0]) for t, fields in (
        ("contact", {"first_name": "Hedy", "last_name": "Lamarr", "email": "hedy@lamarr.example"}),
        ("company", {"name": "Lamarr Labs"}), ("deal", {"name": "Lamarr pilot"}))}
    task = adapter.create_task(TaskSpec(subject="Call Hedy", body="New lead", due_at=dt.datetime.now(dt.UTC),
                                        owner_id=users[0], record_type="contact", record_id=made["contact"]))
    adapter.add_note("contact", made["contact"], "Web form submission\n\nMessage: call me")
    adapter.update_task(task, owner_id=users[1])
    adapter.complete_task(task, note="done")
    adapter.get_task(task)
    adapter.activity_logged_since("contact", made["contact"], dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    adapter.log_message("contact", made["contact"], Message(
        channel="email", direction="outbound", subject="Thanks", body="We will call", sent_at=dt.datetime.now(dt.UTC),
        to="hedy@lamarr.example", sender="rep@example.com"))
    adapter.set_do_not_contact("contact", made["contact"])
    company.http.post(f"{company.base}/simulate", json={"action": "reply", "object_type": "person",
                                                        "id": made["contact"], "properties": {"text": "Yes"}},
                      timeout=10).raise_for_status()
    adapter.inbound_since(None)
    adapter.meetings_since(None)
    adapter.merge("contact", persons[0], persons[1])
    adapter.merge("company", orgs[0], orgs[1])
    adapter.changed_since("contact", None)
    adapter.changed_since("lead", None)
    adapter.subscribe_webhooks("https://leadrelay.test/webhooks/pipedrive", "key", "secret")
    adapter.unsubscribe_webhooks()


def test_every_endpoint_leadrelay_calls_is_priced_and_costs_what_the_sandbox_charges(server, monkeypatch):
    monkeypatch.setenv("LEADRELAY_SANDBOX_CA", server.sandbox.ca_file)
    company, budget = Company(server), RecordingBudget()
    adapter = PipedriveAdapter(tenant_for(company.account, "pipedrive"), StaticTokens(company.account["access_token"]),
                               budget)
    server.sandbox.config.update({"limits": {"pipedrive": {"burst_per_2s": 1000, "search_burst_per_2s": 1000}}})
    try:
        _every_adapter_call(adapter, company)
    finally:
        server.sandbox.config.reset()
    called = company.endpoints_called()
    assert set(called) == set(leadrelay.COSTS)  # every endpoint it calls is priced, and the table holds no other
    charged_by_leadrelay = sum(cost for bucket, cost in budget.acquired if bucket == "daily")
    assert charged_by_leadrelay == sum(sandbox.cost(*endpoint) for endpoint in called)
