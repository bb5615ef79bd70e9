"""PipedriveWebhooks: Basic credentials and the v2 {meta, data, previous} bodies captured from the sandbox.

Fixtures: tests/fixtures/pipedrive/<action>.<entity>__<variant>.json, captured byte-exact by capture.py in
that folder (re-capturing changes ids and timestamps: update EXPECTED with the files).
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import pathlib
from dataclasses import dataclass, field

import pytest

from adapters.pipedrive.webhooks import PipedriveWebhooks
from integration.errors import PayloadError

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "pipedrive"
COMPANY = "13000001"
PARSER = PipedriveWebhooks()
CAPTURED_WITH = ("capture-key", "capture-secret")  # the Basic credentials capture.py subscribed with


@dataclass
class Delivery:
    """A WebhookRequest as the web layer builds it."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    url: str = "https://leadrelay.test/webhooks/pipedrive"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def delivery(name: str, credentials: tuple[str, str] = CAPTURED_WITH) -> Delivery:
    """The fixture's raw bytes with the headers Pipedrive sends for a subscription with these credentials."""
    return Delivery((FIXTURES / f"{name}.json").read_bytes(), {
        "Content-Type": "application/json", "User-Agent": "Pipedrive Webhooks", "Authorization": basic(*credentials)})


def mutated(name: str, change) -> Delivery:
    body = json.loads((FIXTURES / f"{name}.json").read_bytes())
    change(body)
    return Delivery(json.dumps(body).encode(), delivery(name).headers)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# fixture -> (object_type, object_id, kind, occurred_at, event_id, source, changed_fields, merged_ids)
EXPECTED = {
    "create.person__ui": ("contact", "31", "created", "2026-11-24T05:00:05.353+00:00",
                          "7b5af4c9-c1bc-4c32-8845-193aeb802410", "app:20000002", (), ()),
    "change.person__owner_ui": ("contact", "1", "updated", "2026-11-24T05:00:05.408+00:00",
                                "9237c770-8708-4d38-b9eb-d86ff694e122", "app:20000002", ("owner",), ()),
    "change.person__own_write_api": ("contact", "3", "updated", "2026-11-24T05:00:05.462+00:00",
                                     "638b4c05-e8cd-4c55-9833-88d6e8c0f1eb", "api:20000002", ("owner",), ()),
    "delete.person__ui": ("contact", "27", "deleted", "2026-11-24T05:00:05.520+00:00",
                          "523d3207-d7e3-4279-ab77-5814e79f11c4", "app:20000002", (), ()),
    "delete.person__merged": ("contact", "1", "merged", "2026-11-24T05:00:05.584+00:00",
                              "5d29ebc2-4ce5-49ab-b90f-9694f90a3d9e", "app:20000002", (), ("2",)),
    "change.person__merge_survivor": ("contact", "21", "updated", "2026-11-24T05:00:05.652+00:00",
                                      "a8370812-289f-45b6-a347-5ab4014c1cd8", "app:20000002", (), ("22",)),
    "create.organization__ui": ("company", "9", "created", "2026-11-24T05:00:05.718+00:00",
                                "68d879b7-5826-4f3c-80ab-a3482404b884", "app:20000002", (), ()),
    "change.organization__owner_ui": ("company", "2", "updated", "2026-11-24T05:00:05.782+00:00",
                                      "fc9324b7-1bda-4a3f-907f-ac525c1381ce", "app:20000002", ("owner",), ()),
    "delete.organization__ui": ("company", "8", "deleted", "2026-11-24T05:00:05.836+00:00",
                                "823dd70e-2cbc-4e6c-84e3-4ee7909dd353", "app:20000002", (), ()),
    "create.deal__ui": ("deal", "5", "created", "2026-11-24T05:00:05.901+00:00",
                        "f9e140bf-94dd-46d7-a029-62c21cf81487", "app:20000002", (), ()),
    "change.deal__stage_ui": ("deal", "2", "updated", "2026-11-24T05:00:05.966+00:00",
                              "6e0ea992-4fa5-44de-9b3d-90a98db9e2e2", "app:20000002", ("deal_stage",), ()),
    "change.deal__won_ui": ("deal", "3", "updated", "2026-11-24T05:00:06.030+00:00",
                            "5050d283-4526-4d11-a870-2465a495a815", "app:20000002", ("deal_status",), ()),
    "delete.deal__ui": ("deal", "4", "deleted", "2026-11-24T05:00:06.093+00:00",
                        "c4e5553e-e0c9-4976-b6cc-db67273da897", "app:20000002", (), ()),
    "create.lead__ui": ("lead", "42e66be8-917a-5665-958b-20b6ad4ef490", "created", "2026-11-24T05:00:06.158+00:00",
                        "08bc0816-1be2-49ce-aa00-be9bb83b48bf", "app:20000002", (), ()),
    "change.lead__owner_ui": ("lead", "42e66be8-917a-5665-958b-20b6ad4ef490", "updated",
                              "2026-11-24T05:00:06.221+00:00", "87b55c20-0d6b-4312-83b4-4e6da957eabc",
                              "app:20000002", ("owner",), ()),
    "delete.lead__ui": ("lead", "42e66be8-917a-5665-958b-20b6ad4ef490", "deleted", "2026-11-24T05:00:06.288+00:00",
                        "4034f611-251f-408c-82bb-7c2cfbbd86ea", "app:20000002", (), ()),
    "change.activity__done_ui": ("task", "2", "updated", "2026-11-24T05:00:06.420+00:00",
                                 "59d4d824-f47c-4a9e-bd81-2cdca963ddf0", "app:20000002", (), ()),
    "delete.activity__ui": ("task", "4", "deleted", "2026-11-24T05:00:06.488+00:00",
                            "9c384e4e-90b0-4d54-ae27-2d161070b07f", "app:20000002", (), ()),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_one_neutral_event(name):
    (event,) = PARSER.parse(delivery(name)).events
    object_type, object_id, kind, occurred_at, event_id, source, changed, merged = EXPECTED[name]
    assert (event.platform, event.account_id, event.object_type, event.object_id, event.kind) == (
        "pipedrive", COMPANY, object_type, object_id, kind)
    assert (event.occurred_at, event.event_id, event.source) == (at(occurred_at), event_id, source)
    assert (event.changed_fields, event.merged_ids, event.source_is_app) == (changed, merged, False)


def test_every_event_kind_has_a_fixture_and_the_tables_are_consistent():
    captured = {p.name.split("__")[0] for p in FIXTURES.glob("*.json")}
    assert set(PipedriveWebhooks.EVENT_KINDS) <= captured
    assert PipedriveWebhooks.SUPPORTED_EVENTS == tuple(PipedriveWebhooks.EVENT_KINDS)
    assert not set(PipedriveWebhooks.IGNORED_EVENTS) & set(PipedriveWebhooks.EVENT_KINDS)


def test_own_write_carries_the_api_source_and_user_for_the_web_layer_to_compare():
    (event,) = PARSER.parse(delivery("change.person__own_write_api")).events
    integration_user_id = "20000002"  # tenant settings "integration_user_id" (the installing user)
    assert event.source == "api:20000002" and integration_user_id in event.source.split(":")
    assert event.source_is_app is False


def test_ignored_event_gives_no_event():
    parsed = PARSER.parse(delivery("create.activity__call_logged_ui"))
    assert (parsed.events, parsed.ignored, parsed.unsupported) == ([], ["create.activity"], [])


def test_unsupported_event_is_reported_not_raised():
    parsed = PARSER.parse(mutated("change.deal__won_ui", lambda b: b["meta"].update(entity="project")))
    assert (parsed.events, parsed.ignored, parsed.unsupported) == ([], [], ["change.project"])


# credentials (tenant-scoped: Basic user/password chosen at subscription; no signature) -------------------
def test_credentials_are_the_basic_user_and_password():
    assert PARSER.credentials(delivery("create.person__ui")) == ("capture-key", "capture-secret")
    assert PARSER.credentials(delivery("create.person__ui", ("k", "pass:with:colons"))) == ("k", "pass:with:colons")
    assert PARSER.missing_signature(delivery("create.person__ui")) is None


def test_missing_authorization_header_is_named():
    request = Delivery(delivery("create.person__ui").body, {"Content-Type": "application/json"})
    assert PARSER.missing_signature(request) == "Authorization"
    assert PARSER.credentials(request) is None


@pytest.mark.parametrize("header", ["Bearer abc", "Basic", "Basic !!not-base64!!",
                                    "Basic " + base64.b64encode(b"no-colon").decode()])
def test_unusable_authorization_gives_no_credentials(header):
    request = Delivery(delivery("create.person__ui").body, {"authorization": header})
    assert PARSER.missing_signature(request) is None
    assert PARSER.credentials(request) is None  # the web layer answers 401


def test_nothing_is_signed_so_verify_never_passes():
    assert PARSER.SECRET_SCOPE == "tenant"
    assert PARSER.verify(delivery("create.person__ui"), "capture-secret", dt.datetime.now(dt.UTC)) is False


def test_acknowledge_is_a_plain_200():
    assert PARSER.acknowledge(PARSER.parse(delivery("create.person__ui"))) == (200, "", "text/plain")


# malformed bodies -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "path"), [
    (b"{not json", "$"),
    (b"[]", "$"),
    (b'{"data": {}}', "meta"),
    (b'{"meta": []}', "meta"),
])
def test_malformed_body_is_a_payload_error_with_the_path(body, path):
    with pytest.raises(PayloadError) as caught:
        PARSER.parse(Delivery(body))
    assert caught.value.path == path


@pytest.mark.parametrize(("change", "path"), [
    (lambda b: b["meta"].pop("entity"), "meta.entity"),
    (lambda b: b["meta"].update(entity_id=None), "meta.entity_id"),
    (lambda b: b["meta"].update(company_id=True), "meta.company_id"),
    (lambda b: b["meta"].update(timestamp="yesterday"), "meta.timestamp"),
    (lambda b: b["meta"].pop("id"), "meta.id"),
    (lambda b: b.update(previous=["owner_id"]), "previous"),
])
def test_wrong_field_is_a_payload_error_naming_it(change, path):
    with pytest.raises(PayloadError) as caught:
        PARSER.parse(mutated("change.person__owner_ui", change))
    assert caught.value.path == path


@pytest.mark.parametrize(("change", "path"), [
    (lambda b: b["meta"].update(timestamp=str(10**20)), "meta.timestamp"),
    (lambda b: b["meta"].update(timestamp="9" * 40), "meta.timestamp"),
    (lambda b: b["meta"].update(timestamp="9999-12-31T23:59:59-23:59"), "meta.timestamp"),
    (lambda b: b["meta"].update(timestamp="1970-01-01T00:00:00Z"), "meta.timestamp"),
    (lambda b: b["meta"].update(entity_id=10**30), "meta.entity_id"),
    (lambda b: b["meta"].update(company_id="1\u00003"), "meta.company_id"),
    (lambda b: b["meta"].update(id="x" * 65), "meta.id"),
    (lambda b: b["meta"].update(change_source="app\u0000"), "meta.change_source"),
])
def test_out_of_range_field_is_a_payload_error_not_an_overflow(change, path):
    with pytest.raises(PayloadError) as caught:
        PARSER.parse(mutated("change.person__owner_ui", change))
    assert caught.value.path == path


def test_a_time_with_an_offset_is_taken_to_utc():
    event = PARSER.parse(mutated("create.person__ui", lambda b: b["meta"].update(
        timestamp="2026-11-24T07:00:05+02:00"))).events[0]
    assert event.occurred_at == at("2026-11-24T05:00:05+00:00") and event.occurred_at.tzinfo == dt.UTC


def test_absurdly_deep_json_is_a_payload_error():
    with pytest.raises(PayloadError) as caught:
        PARSER.parse(Delivery(b'{"meta": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"))
    assert (caught.value.path, caught.value.problem) == ("$", "not JSON: nested too deeply")


def test_non_ascii_basic_credentials_give_none():
    assert PARSER.credentials(Delivery(b"{}", {"Authorization": "Basic \u00e9\u00e9"})) is None
