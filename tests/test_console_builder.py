"""The rule builder's endpoints (validate, one working draft, YAML parse) and the loader reporting every issue."""
from __future__ import annotations

import html
import json
import re

import pytest

from integration.admin.simulate import read_progress
from integration.db import session_scope
from integration.models import RuleSetVersion, Tenant
from integration.rules import RulesError, validate_rules
from tests.console_helpers import add_members, go_live, sign_in, simulate
from tests.fakes import FakeCRMAdapter

RULES = {"version": 1, "owners": [{"email": "alice@acme.test", "hours": "Mon-Fri 09:00-17:00"},
                                  {"email": "bob@acme.test"}],
         "pools": {"west": {"strategy": "weighted", "members": [{"owner": "alice@acme.test", "weight": 2},
                                                                {"owner": "bob@acme.test"}]}},
         "routing": [{"name": "Bay Area", "when": {"postcode": ["940-951"]}, "assign": {"pool": "west"}}],
         "fallback": {"review": True},
         "lifecycle": {"forward_only": False, "stages": ["lead", "customer"]}}


@pytest.fixture()
def world(app, env, wire_adapters):
    """Tenants T (live v1, admin alice, viewer victor) and U (another company's, with its own admin)."""
    app.config["WTF_CSRF_ENABLED"] = False
    wire_adapters(lambda tenant_id: FakeCRMAdapter())
    ids = {}
    with session_scope(env["DATABASE_URL"]) as s:
        for key, name in (("T", "Tenant T"), ("U", "Tenant U")):
            tenant = Tenant(platform="hubspot", external_id=key, name=name)
            s.add(tenant)
            s.flush()
            ids[key] = tenant.id
            s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=RULES, created_by="seed"))
        ids.update(add_members(s, ids["T"], {"alice": "admin", "victor": "viewer"}))
        ids.update(add_members(s, ids["U"], {"ursula": "admin"}))
    return ids


def client(app, world, who: str = "alice"):
    return sign_in(app, world[who])


def url(world, what: str, tenant: str = "T") -> str:
    return f"/console/tenants/{world[tenant]}/rules/{what}"


def send(client, path: str, payload: dict, **headers):
    """POST JSON as a browser's JSON.stringify does, keys in their order (the test client's json= sorts them)."""
    return client.post(path, data=json.dumps(payload), content_type="application/json", headers=headers)


def stored(env, tenant_id: int) -> dict[int, RuleSetVersion]:
    with session_scope(env["DATABASE_URL"]) as s:
        rows = s.scalars(RuleSetVersion.for_tenant(tenant_id)).all()
        s.expunge_all()
        return {row.version: row for row in rows}


def with_(**changes) -> dict:
    return json.loads(json.dumps({**RULES, **changes}))


# The loader: every issue at once --------------------------------------------------------------------------

def test_a_wrong_type_no_longer_hides_broken_references_elsewhere():
    doc = with_(owners=[{"email": "alice@acme.test", "hours": 5}, {"email": "not-an-email"},
                        {"email": "bob@acme.test"}],
                pools={"west": {"members": [{"owner": "alice@acme.test", "weight": "two"}]},
                       "east": {"members": [{"owner": "zed@acme.test"}]}},
                routing=[{"name": "Bad", "when": {"postcode": ["9a1"]}, "assign": {"pool": "west"}},
                         {"name": "Lost", "when": {"country": ["US"]}, "assign": {"owner": "nobody@acme.test"}},
                         {"name": "Lost", "when": {"country": ["DE"]}, "assign": {"pool": "north"}}],
                fallback={"owner": "not-an-email"})
    with pytest.raises(RulesError) as info:
        validate_rules(doc)
    issues = dict(info.value.issues)
    # the type and format errors, as before
    assert issues["owners[0].hours"].startswith("5 is not working hours")
    assert "not-an-email" in issues["owners[1].email"]
    assert "integer" in issues["pools.west.members[0].weight"]
    assert issues["routing[0].when.postcode"] == '"9a1" is not a postcode or range'
    # and, in the same answer, what the cross-section checks find in the valid rest, at the admin's own indexes
    # (routing[0] was left out to check the rest, yet the later rules keep their numbers)
    assert issues["pools.east.members[0].owner"] == '"zed@acme.test" is not an owner'
    assert issues["routing[1].assign.owner"] == '"nobody@acme.test" is not an owner'
    assert issues["routing[2].assign.pool"] == '"north" is not a pool'
    assert issues["routing[2].name"] == '"Lost" is listed twice (first at routing[1].name)'
    # a reference to something whose own definition was invalid is not reported twice: the owner with the bad
    # hours (alice) is still an owner, and the pool with the bad weight (west) is still a pool
    assert "routing[0].assign.pool" not in issues and "fallback.owner" in issues
    assert not any("alice@acme.test" in message and "not an owner" in message for message in issues.values())


def test_a_valid_document_still_loads_and_a_reference_only_error_is_reported_alone():
    assert validate_rules(RULES).pools["west"].strategy == "weighted"
    with pytest.raises(RulesError) as info:
        validate_rules(with_(fallback={"pool": "nowhere"}))
    assert info.value.issues == [("fallback.pool", '"nowhere" is not a pool')]


# Validate as you type ---------------------------------------------------------------------------------------

def test_validate_names_the_path_of_a_bad_postcode_range_and_several_issues_at_once(app, world):
    doc = with_(routing=[{"name": "Bay Area", "when": {"postcode": ["951-940"]}, "assign": {"pool": "west"}},
                         {"name": "Big", "when": {"employees_gte": 500, "employees_lt": 100},
                          "assign": {"owner": "carol@acme.test"}}],
                sla={"hot": {"first_touch": "soon"}})
    resp = client(app, world).post(url(world, "validate"), json={"body": doc})
    assert resp.status_code == 200
    data = resp.get_json()
    by_path = {i["path"]: i["message"] for i in data["issues"]}
    assert data["ok"] is False
    assert "equal length, low first" in by_path["routing[0].when.postcode"]
    assert "can never match" in by_path["routing[1].when"]
    assert "not a duration" in by_path["sla.hot.first_touch"]
    assert by_path["routing[1].assign.owner"] == '"carol@acme.test" is not an owner'
    ok = client(app, world).post(url(world, "validate"), json={"body": RULES}).get_json()
    assert ok == {"ok": True, "issues": []}


# One working draft ------------------------------------------------------------------------------------------

def test_edits_go_into_one_draft_until_it_is_published(app, env, world):
    alice = client(app, world)
    first = alice.post(url(world, "draft"), json={"body": with_(timezone="Europe/Berlin")})
    assert first.status_code == 200 and first.get_json()["version"] == 2
    second = alice.post(url(world, "draft"), json={"body": with_(timezone="America/New_York")})
    assert second.status_code == 200 and second.get_json()["version"] == 2  # in place: one new version, not two
    rows = stored(env, world["T"])
    assert sorted(rows) == [1, 2] and rows[2].status == "draft"
    assert rows[2].body["timezone"] == "America/New_York" and rows[2].body["lifecycle"] == RULES["lifecycle"]
    assert rows[2].updated_by == "alice@example.com" and rows[2].updated_at is not None
    assert rows[1].body == RULES  # the live version is untouched

    # the YAML form and a quick edit land in the same draft
    assert alice.post(f"/console/tenants/{world['T']}/rules", data={"body": "version: 1\ntimezone: Asia/Tokyo\n"
                      "owners: [{email: alice@acme.test}]\n"}).status_code == 303
    assert alice.post(f"/console/tenants/{world['T']}/rules/helpers/hours",
                      data={"owner": "alice@acme.test", "hours": "Mon-Thu 08:00-16:00"}).status_code == 303
    rows = stored(env, world["T"])
    assert sorted(rows) == [1, 2]
    assert rows[2].body == {"version": 1, "timezone": "Asia/Tokyo",
                            "owners": [{"email": "alice@acme.test", "hours": "Mon-Thu 08:00-16:00"}]}

    assert go_live(alice, env["REDIS_URL"], world["T"], 2).status_code == 303
    after = alice.post(url(world, "draft"), json={"body": RULES})
    assert after.get_json()["version"] == 3  # publishing froze v2: the next edit starts a new draft
    rows = stored(env, world["T"])
    assert [rows[v].status for v in sorted(rows)] == ["archived", "published", "draft"]


def test_a_change_to_a_simulated_draft_needs_a_new_simulation_before_it_goes_live(app, env, world):
    alice = client(app, world)
    assert alice.post(url(world, "draft"), json={"body": with_(timezone="Europe/Berlin")}).status_code == 200
    simulate(alice, env["REDIS_URL"], world["T"], 2)
    assert alice.post(url(world, "draft"), json={"body": with_(timezone="Europe/Berlin")}).status_code == 200
    assert read_progress(world["T"], 2)["state"] == "done"  # saving the same rules again changes nothing
    assert alice.post(url(world, "draft"), json={"body": with_(timezone="Asia/Tokyo")}).status_code == 200
    assert read_progress(world["T"], 2) is None  # the simulation was of other rules
    refused = alice.post(f"/console/tenants/{world['T']}/rules/2/publish", data={"confirm": "yes"})
    assert refused.status_code == 303 and [r.status for r in stored(env, world["T"]).values()] == ["published", "draft"]


def test_a_simulation_that_ran_while_the_draft_was_edited_does_not_clear_it_for_going_live(app, env, world):
    from redis import Redis

    from tests.workers import BurstWorker

    alice = client(app, world)
    assert alice.post(url(world, "draft"), json={"body": with_(timezone="Europe/Berlin")}).status_code == 200
    assert alice.post(f"/console/tenants/{world['T']}/simulate", data={"version": "2"}).status_code == 303
    # the edit lands while the job waits in the queue; the job then reads (and simulates) the edited rules
    assert alice.post(url(world, "draft"), json={"body": with_(timezone="Asia/Tokyo")}).status_code == 200
    with session_scope(env["DATABASE_URL"]) as s:  # an edit between the job reading the rules and finishing
        row = s.scalar(RuleSetVersion.for_tenant(world["T"]).where(RuleSetVersion.version == 2))
        simulated = dict(row.body)
    BurstWorker(["maintenance"], connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)
    assert read_progress(world["T"], 2)["state"] == "done"
    with session_scope(env["DATABASE_URL"]) as s:
        row = s.scalar(RuleSetVersion.for_tenant(world["T"]).where(RuleSetVersion.version == 2))
        row.body = {**simulated, "timezone": "America/Chicago"}  # changed after the job read it
    page = alice.get(f"/console/tenants/{world['T']}/rules/2/publish").get_data(as_text=True)
    assert "the rules changed after it was simulated" in page
    refused = alice.post(f"/console/tenants/{world['T']}/rules/2/publish", data={"confirm": "yes"})
    assert refused.status_code == 303 and [r.status for r in stored(env, world["T"]).values()] == ["published", "draft"]
    # simulated again, as they are now: it may go live
    simulate(alice, env["REDIS_URL"], world["T"], 2)
    live = alice.post(f"/console/tenants/{world['T']}/rules/2/publish", data={"confirm": "yes"})
    assert live.status_code == 303 and [r.status for r in stored(env, world["T"]).values()] == ["archived", "published"]


def test_an_invalid_document_is_not_saved(app, env, world):
    resp = client(app, world).post(url(world, "draft"), json={"body": with_(fallback={"pool": "nowhere"})})
    assert resp.status_code == 422
    assert resp.get_json()["issues"] == [{"path": "fallback.pool", "message": '"nowhere" is not a pool'}]
    assert sorted(stored(env, world["T"])) == [1]


def test_a_viewer_sees_the_builder_read_only_and_cannot_save(app, env, world):
    victor = client(app, world, "victor")
    page = victor.get(url(world, "builder"))
    assert page.status_code == 200 and 'data-role="viewer"' in page.text and "Read-only" in page.text
    assert victor.post(url(world, "draft"), json={"body": RULES}).status_code == 403
    for what, payload in (("validate", {"body": RULES}), ("parse", {"text": "version: 1"}), ("yaml", {"body": RULES})):
        assert victor.post(url(world, what), json=payload).status_code == 403, what  # only editors check edits
    assert "940-951" in page.text.split('id="yaml-text"')[1]  # the YAML view is drawn by the server for a viewer
    assert sorted(stored(env, world["T"])) == [1]


def test_another_tenants_rules_are_not_found(app, env, world):
    ursula = client(app, world, "ursula")
    assert ursula.get(url(world, "builder")).status_code == 404
    for what, payload in (("validate", {"body": RULES}), ("draft", {"body": RULES}), ("parse", {"text": "version: 1"}),
                          ("yaml", {"body": RULES})):
        assert ursula.post(url(world, what), json=payload).status_code == 404, what
    assert sorted(stored(env, world["T"])) == [1]
    assert ursula.get(url(world, "builder", "U")).status_code == 200  # her own tenant's builder works


def test_the_page_embeds_the_working_draft_escaped(app, env, world):
    alice = client(app, world)
    doc = with_(routing=[{"name": "</script><script>alert(1)</script>", "when": {"country": ["US"]},
                          "assign": {"pool": "west"}}])
    assert send(alice, url(world, "draft"), {"body": doc}).status_code == 200
    page = alice.get(url(world, "builder")).text
    embedded = re.search(r'<script type="application/json" id="rules-doc">(.*?)</script>', page, re.S).group(1)
    assert "<script>" not in embedded and json.loads(embedded) == doc  # escaped as |tojson does: <, > and &
    assert list(json.loads(embedded)) == list(doc)  # in the author's order (version first), not sorted
    assert "editing draft version 2" in page and "version 1 is live" in page
    fresh = client(app, world, "ursula").get(url(world, "builder", "U")).text
    assert "editing draft" not in fresh and "version 1 is live" in fresh


def test_json_posts_need_the_csrf_header(app, world):
    app.config["WTF_CSRF_ENABLED"] = True
    alice = client(app, world)
    page = alice.get(url(world, "builder")).text
    token = html.unescape(re.search(r'data-csrf="([^"]+)"', page).group(1))
    assert alice.post(url(world, "draft"), json={"body": RULES}).status_code == 400
    saved = alice.post(url(world, "draft"), json={"body": RULES}, headers={"X-CSRFToken": token})
    assert saved.status_code == 200 and saved.get_json()["ok"] is True


# The YAML view ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "line", "words"), [
    ("version: 1\nowners\n  - email: alice@acme.test\n", 2, "a colon is missing after 'owners'"),
    ("version: 1\nowners:\n  - email: alice@acme.test\n   name: Alice\n", 4, "the indentation does not line up"),
    ("version: 1\nowners:\n\t- email: alice@acme.test\n", 3, "a tab is used to indent"),
    ('version: 1\nrouting:\n  - name: "West\n', 3, "a quote is opened but never closed"),
    ("version: 1\nowners: [{email: a@acme.test}\nrouting: []\n", 3, "is not closed with ] or is missing a comma"),
])
def test_parse_explains_yaml_syntax_errors_in_plain_words_with_their_line(app, world, text, line, words):
    data = client(app, world).post(url(world, "parse"), json={"text": text}).get_json()
    assert data["ok"] is False and data["body"] is None
    [issue] = data["issues"]
    assert issue["line"] == line and words in issue["message"], issue
    assert "while scanning" not in issue["message"] and "expected <block end>" not in issue["message"]


def test_parse_returns_the_body_with_line_located_rule_issues_and_yaml_round_trips(app, world):
    alice = client(app, world)
    text = send(alice, url(world, "yaml"), {"body": RULES}).get_json()["text"]
    assert text.startswith("version: 1\nowners:\n")
    parsed = alice.post(url(world, "parse"), json={"text": text})
    assert parsed.get_json() == {"ok": True, "body": RULES, "issues": []}
    assert list(json.loads(parsed.data)["body"]) == list(RULES)  # switching views keeps the sections' order
    broken = text.replace("940-951", "951-940")
    data = alice.post(url(world, "parse"), json={"text": broken}).get_json()
    assert data["ok"] is False and data["body"]["routing"][0]["when"]["postcode"] == ["951-940"]
    [issue] = data["issues"]
    assert issue["path"] == "routing[0].when.postcode"
    assert broken.splitlines()[issue["line"] - 1].strip().startswith("postcode")


def test_the_rules_page_lists_syntax_errors_in_plain_words_and_links_to_the_builder(app, world):
    alice = client(app, world)
    page = alice.post(f"/console/tenants/{world['T']}/rules", data={"body": "version: 1\nowners\n  - a: 1\n"})
    assert page.status_code == 400
    assert "line 2: not valid YAML: a colon is missing after &#39;owners&#39;" in page.text
    assert 'data-jump-line="2"' in page.text and "data-yaml-editor" in page.text
    assert "Edit in builder" in alice.get(f"/console/tenants/{world['T']}/rules").text
