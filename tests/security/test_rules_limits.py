"""Issue 12, finding 6: a rule set is held to size, nesting and value-count limits and may not use YAML aliases,
on every path that saves or loads one, before any parser builds or walks the document (else 381 bytes of aliases
cost seconds of CPU per request, ×10 per level)."""
from __future__ import annotations

import json
import re

import pytest
from redis import Redis
from sqlalchemy import func, select

from integration.db import session_scope
from integration.models import Agency, AgencyTemplate, ConsoleUser, RuleSetVersion, Tenant
from integration.rules import RulesError, load_rules
from tests.console_helpers import add_members, sign_in
from tests.fakes import FakeCRMAdapter

RULES = {"version": 1, "owners": [{"email": "a@acme.com"}],
         "pools": {"team": {"strategy": "round_robin", "members": [{"owner": "a@acme.com"}]}},
         "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"pool": "team"}}],
         "fallback": {"review": True}}
# Valid, and past 512 KB as stored: a version saved before the limits existed (the territory helper made 7 MB ones).
OVERSIZED = {**RULES, "lifecycle": {"stages": [f"stage-{i:05d}" for i in range(60_000)]}}
LIMIT_MESSAGE = re.compile(r"the rule set as stored is [\d,]+ KB; the limit is 512 KB")


def bomb(levels: int) -> str:
    """Billion laughs: each level lists the one before ten times (10**levels strings once expanded)."""
    lines = ["version: 1", 'lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.fixture()
def world(app, env, wire_adapters):
    """Agency X; its portal P1 (live RULES v1, alice admin) and P2 (empty); agnes agency admin."""
    app.config["WTF_CSRF_ENABLED"] = False
    wire_adapters(lambda tenant_id: FakeCRMAdapter())
    ids = {}
    with session_scope(env["DATABASE_URL"]) as s:
        agency = Agency(name="X")
        s.add(agency)
        s.flush()
        for key in ("P1", "P2"):
            tenant = Tenant(platform="hubspot", external_id=key, name=f"Portal {key}", agency_id=agency.id,
                            agency_grant="admin")
            s.add(tenant)
            s.flush()
            ids[key] = tenant.id
        s.add(RuleSetVersion(tenant_id=ids["P1"], version=1, status="published", body=RULES, created_by="seed"))
        ids.update(add_members(s, ids["P1"], {"alice": "admin"}))
        agnes = ConsoleUser(platform="hubspot", external_user_id="agnes", email="agnes@example.com", name="agnes",
                            agency_id=agency.id, agency_role="admin")
        s.add(agnes)
        s.flush()
        ids["agnes"] = agnes.id
    return ids


def versions(env, tenant_id: int) -> dict[int, int]:
    """version → size of the stored body (compact JSON bytes)."""
    with session_scope(env["DATABASE_URL"]) as s:
        return {v.version: len(json.dumps(v.body, separators=(",", ":")).encode())
                for v in s.scalars(RuleSetVersion.for_tenant(tenant_id))}


def seed_version(env, tenant_id: int, body: dict, version: int = 2) -> None:
    with session_scope(env["DATABASE_URL"]) as s:
        s.add(RuleSetVersion(tenant_id=tenant_id, version=version, status="draft", body=body, created_by="seed"))


def save(app, world, text: str):
    return sign_in(app, world["alice"], "alice").post(f"/console/tenants/{world['P1']}/rules", data={"body": text})


def page(resp) -> str:
    return resp.get_data(as_text=True).replace("&amp;", "&").replace("&#39;", "'")


# The editor ------------------------------------------------------------------------------------------------

@pytest.mark.timeout(30)
@pytest.mark.parametrize("levels", [1, 4, 9])
def test_a_yaml_alias_bomb_is_refused_before_it_expands(app, env, world, levels):
    resp = save(app, world, bomb(levels))
    assert resp.status_code == 400
    assert "line 2: YAML anchors and aliases (&name, *name) are not allowed in a rule set" in page(resp)
    assert list(versions(env, world["P1"])) == [1]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("text", [
    "version: 1\nrouting: " + "[" * 5_000 + "]" * 5_000 + "\n",
    "version: 1\nrouting:\n" + "".join("  " * i + "- \n" for i in range(30)),
    '{"version": 1, "routing": ' + "[" * 100_000 + "]" * 100_000 + "}",
])
def test_deep_nesting_is_refused_with_the_limit(app, env, world, text):
    resp = save(app, world, text)
    assert resp.status_code == 400
    assert "the rule set nests more than 20 levels deep; the limit is 20 levels" in page(resp)
    assert list(versions(env, world["P1"])) == [1]


def test_a_document_of_too_many_values_is_refused(app, env, world):
    resp = save(app, world, "version: 1\nlifecycle: {stages: [" + "a," * 150_000 + "]}\n")
    assert resp.status_code == 400
    assert "the rule set has more than 100,000 keys and values; the limit is 100,000" in page(resp)


def test_a_huge_text_is_refused_and_so_is_one_that_only_grows_past_the_cap_when_stored(app, env, world):
    huge = save(app, world, "version: 1\n# " + "x" * 600_000 + "\n")
    assert huge.status_code == 400 and "the rule set is 586 KB; the limit is 512 KB" in page(huge)
    # 450 KB of YAML, 600 KB of JSON: bare words gain quotes when stored
    stages = ", ".join(f"s{i:05d}" for i in range(60_000))
    text = f"version: 1\nlifecycle: {{stages: [{stages}]}}\n"
    assert len(text.encode()) < 512 * 1024
    grown = save(app, world, text)
    assert grown.status_code == 400 and LIMIT_MESSAGE.search(page(grown)), page(grown)[:2000]
    assert list(versions(env, world["P1"])) == [1]


def test_a_date_read_as_a_key_is_an_error_at_its_line_not_a_crash(app, env, world):
    resp = save(app, world, "version: 1\n2026-12-24: closed\n")
    assert resp.status_code == 400 and "line 2: 2026-12-24: unknown key" in page(resp)


# The quick-edit helpers ------------------------------------------------------------------------------------

def territory(app, world, name: str, postcodes: list[str]):
    return sign_in(app, world["alice"], "alice").post(
        f"/console/tenants/{world['P1']}/rules/helpers/territory",
        data={"name": name, "postcode": ",".join(postcodes), "target": "owner", "target_name": "a@acme.com"})


def test_the_territory_helper_cannot_store_more_than_the_cap(app, env, world):
    first = territory(app, world, "North", [f"{i:05d}" for i in range(10_000, 50_000)])
    assert first.status_code == 303  # ~330 KB stored
    second = territory(app, world, "South", [f"{i:05d}" for i in range(50_000, 90_000)])
    assert second.status_code == 400 and LIMIT_MESSAGE.search(page(second))
    one_huge_list = territory(app, world, "West", ["1"] * 400_000)  # 800 KB of form, 2.4 MB as stored
    assert one_huge_list.status_code == 400
    assert "longer than the rule set's limit (512 KB)" in page(one_huge_list)
    stored = versions(env, world["P1"])
    assert list(stored) == [1, 2] and max(stored.values()) <= 512 * 1024


def test_helpers_refuse_to_build_on_a_version_stored_past_the_cap(app, env, world):
    seed_version(env, world["P1"], OVERSIZED)
    resp = territory(app, world, "North", ["10"])
    assert resp.status_code == 400 and LIMIT_MESSAGE.search(page(resp))
    assert list(versions(env, world["P1"])) == [1, 2]


def test_rollback_and_simulation_of_a_version_stored_past_the_cap_are_refused(app, env, world):
    seed_version(env, world["P1"], OVERSIZED)
    alice = sign_in(app, world["alice"], "alice")
    rollback = alice.post(f"/console/tenants/{world['P1']}/rules/2/rollback")
    assert rollback.status_code == 400 and LIMIT_MESSAGE.search(page(rollback))
    simulate = alice.post(f"/console/tenants/{world['P1']}/simulate", data={"version": "2", "limit": "10"})
    assert simulate.status_code == 400 and LIMIT_MESSAGE.search(page(simulate))
    assert list(versions(env, world["P1"])) == [1, 2]
    assert Redis.from_url(env["REDIS_URL"]).llen("rq:queue:maintenance") == 0


# Agency templates ------------------------------------------------------------------------------------------

def templates(env) -> int:
    with session_scope(env["DATABASE_URL"]) as s:
        return s.scalar(select(func.count()).select_from(AgencyTemplate))


def test_a_template_cannot_be_made_from_a_version_past_the_cap(app, env, world):
    seed_version(env, world["P2"], OVERSIZED, version=1)
    agnes = sign_in(app, world["agnes"], "agnes")
    resp = agnes.post("/console/agency/templates", data={"name": "Big", "tenant_id": world["P2"]})
    assert resp.status_code == 400 and LIMIT_MESSAGE.search(page(resp))
    assert templates(env) == 0


@pytest.mark.parametrize("body", [OVERSIZED, {**RULES, "sources": json.loads("{\"x\": " * 100 + "1" + "}" * 100)}])
def test_a_template_past_the_limits_is_not_rolled_out(app, env, world, body):
    with session_scope(env["DATABASE_URL"]) as s:
        template = AgencyTemplate(agency_id=s.get(Tenant, world["P1"]).agency_id, name="Old", body=body,
                                  rollouts={}, created_by="seed")
        s.add(template)
        s.flush()
        template_id = template.id
    resp = sign_in(app, world["agnes"], "agnes").post("/console/agency/templates/rollout",
                                             data={"template_id": template_id, "tenant_id": world["P2"]})
    assert resp.status_code == 400
    assert re.search(r"the limit is (512 KB|20 levels)", page(resp))
    assert versions(env, world["P2"]) == {}


# Every reader: text, file, mapping -------------------------------------------------------------------------

def nested(depth: int) -> dict:
    data: dict = {"version": 1}
    for _ in range(depth):
        data = {"sources": data}
    return data


@pytest.mark.parametrize("source", [
    pytest.param(lambda tmp: bomb(9), id="alias bomb text"),
    pytest.param(lambda tmp: nested(10_000), id="deep mapping"),
    pytest.param(lambda tmp: {**RULES, "lifecycle": {"stages": ["x"] * 200_000}}, id="many values"),
    pytest.param(lambda tmp: '{"version": 1, "timezone": ' + "9" * 5_000 + "}", id="JSON integer of 5000 digits"),
    pytest.param(lambda tmp: (tmp / "big.yaml").write_text("version: 1\n#" + "x" * 600_000) and tmp / "big.yaml",
                 id="big file"),
])
@pytest.mark.timeout(30)
def test_load_rules_refuses_with_a_rules_error(tmp_path, source):
    with pytest.raises(RulesError, match=r"the limit is|not valid JSON|anchors and aliases"):
        load_rules(source(tmp_path))
