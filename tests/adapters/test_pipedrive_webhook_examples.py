"""Every Pipedrive webhook example found, as published, through adapters/pipedrive/webhooks.py.

Each example is quoted as its source prints it, with its URL. Where the source is not JSON as printed (comments,
placeholders such as `xxx` or `( the object data ... )`, a JavaScript module), `as_json` makes the few named edits
that turn it into a body a delivery could carry, and nothing else. What LeadRelay must do with each: a v2 event it
routes becomes one neutral Event; anything it does not understand (a v1 body, an object it does not subscribe to)
is acknowledged and reported as unsupported with the reason, never a 400 for the whole delivery (Pipedrive would
retry it three times and count it towards banning the webhook: https://pipedrive.readme.io/docs/guide-for-webhooks-v2).
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field

import pytest

from adapters.pipedrive.webhooks import PipedriveWebhooks

PARSER = PipedriveWebhooks()


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    method: str = "POST"
    url: str = "https://leadrelay.test/webhooks/pipedrive"


def as_json(text: str, **placeholders: str) -> bytes:
    """The printed example as a body: JS comments and trailing commas dropped, `export default` and `(...)`
    placeholders replaced by the JSON given for them (by the placeholder's words)."""
    text = re.sub(r"^\s*export default\s*", "", text)
    text = re.sub(r"//[^\n]*", "", text)
    for words, value in placeholders.items():
        text = text.replace(f"( {words.replace('_', ' ')} )", value).replace(f"({words.replace('_', ' ')})", value)
    text = re.sub(r",(\s*[}\]])", r"\1", text)
    return json.dumps(json.loads(text)).encode()


def parsed(body: bytes):
    return PARSER.parse(Delivery(body))


# https://pipedrive.readme.io/docs/guide-for-webhooks-v2 — "Webhook format"
GUIDE_V2_FORMAT = """
{
    "meta": {
        "action": "create",
        "entity": "deal",
        "company_id": "xxxxx",
        "correlation_id": "xxxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
        "entity_id": "xxx",
        "id": "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
        "is_bulk_edit": false,
        "timestamp": "2023-01-01T00:00:00.000Z",
        "type": "general",
        "user_id": "xxxxx",
        "version": "2.0",
        "webhook_id": "xxx",
        "webhook_owner_id": "xxxxxx",
        "change_source": "app",
        "attempt": 1,
        "host": "company.pipedrive.com",
        "permitted_user_ids": ["123", "456", "789"], // present for entities other than 'user'
    },
    "data": ( the object data as of this update ),
    "previous": ( the previous data of the object fields that have been changed )
 }
"""


def test_the_guides_format_example_is_one_created_deal():
    # a create: data is the current state, previous null (the guide's "Data and previous" table)
    (event,) = parsed(as_json(GUIDE_V2_FORMAT, the_object_data_as_of_this_update='{"id": 1, "title": "Deal"}',
                              the_previous_data_of_the_object_fields_that_have_been_changed="null")).events
    assert (event.account_id, event.object_type, event.object_id, event.kind) == ("xxxxx", "deal", "xxx", "created")
    assert (event.event_id, event.source) == ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", "app:xxxxx")
    assert event.occurred_at == dt.datetime(2023, 1, 1, tzinfo=dt.UTC)


# https://pipedrive.readme.io/docs/webhooks-v2-migration-guide — "Critical things to note": "The merged event action
# from v1 is unavailable in v2 ... you'll receive two webhooks – one for the deleted object and another for the
# updated object. The deleted object event meta block will contain a merged_to_id: string"; and the v2 guide's meta
# table: "merged_to_id: A string value that is only present for delete events that were done as part of a merge
# action", "merged_from_id: ... only present for change events that were done as part of a merge action".
# The guide's format example as those two deliveries of person 12 merged into person 7:
def merge_pair() -> tuple[bytes, bytes]:
    base = json.loads(as_json(GUIDE_V2_FORMAT, the_object_data_as_of_this_update="null",
                              the_previous_data_of_the_object_fields_that_have_been_changed="null"))
    deleted = {"meta": {**base["meta"], "action": "delete", "entity": "person", "entity_id": "12",
                        "merged_to_id": "7"}, "data": None, "previous": {"id": 12, "name": "Kim K"}}
    changed = {"meta": {**base["meta"], "action": "change", "entity": "person", "entity_id": "7",
                        "id": "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", "merged_from_id": "12"},
               "data": {"id": 7, "name": "Kim Keep"}, "previous": {"phones": []}}
    return json.dumps(deleted).encode(), json.dumps(changed).encode()


def test_the_migration_guides_merge_is_a_merge_into_the_survivor_and_a_change_of_it():
    deleted, changed = merge_pair()
    (merge,) = parsed(deleted).events
    assert (merge.object_type, merge.object_id, merge.kind, merge.merged_ids) == ("contact", "7", "merged", ("12",))
    (update,) = parsed(changed).events
    assert (update.object_id, update.kind, update.merged_ids) == ("7", "updated", ("12",))
    assert update.changed_fields == ("phone",)  # the merge filled the survivor's empty phones


# https://prismatic.io/docs/example-payloads/pipedrive/triggers/pipedriveTrigger.json — a captured v2 delivery's
# body ("body.data"): ids as numbers, and the meta timestamp as the "10 character timestamp" the v2 meta table
# documents (Unix seconds), not the format example's ISO string.
PRISMATIC_V2_DEAL = """
{
  "meta": {
    "action": "change",
    "entity": "deal",
    "version": "2.0",
    "company_id": 12882925,
    "user_id": 18487521,
    "id": 1,
    "entity_id": 1,
    "webhook_id": 99,
    "webhook_owner_id": 18487521,
    "permitted_user_ids": [
      18487521
    ],
    "attempt": 1,
    "host": "company.pipedrive.com",
    "timestamp": 1727447128,
    "change_source": "app"
  },
  "data": {
    "id": 1,
    "title": "test deal",
    "value": 2,
    "currency": "USD",
    "status": "open",
    "stage_id": 1,
    "pipeline_id": 1,
    "owner_id": 18487521,
    "person_id": 3,
    "org_id": 2,
    "add_time": "2024-09-27T14:25:27Z",
    "update_time": "2024-09-27T14:25:28Z"
  },
  "previous": null
}
"""


def test_a_delivery_with_numeric_ids_and_a_unix_timestamp_is_read():
    (event,) = parsed(as_json(PRISMATIC_V2_DEAL)).events
    assert (event.account_id, event.object_type, event.object_id, event.kind) == ("12882925", "deal", "1", "updated")
    assert (event.event_id, event.source) == ("1", "app:18487521")
    assert event.occurred_at == dt.datetime(2024, 9, 27, 14, 25, 28, tzinfo=dt.UTC)


# https://app.unpkg.com/@pipedream/pipedrive@0.10.3/files/sources/updated-deal-instant/test-event.mjs — Pipedream's
# test event for Pipedrive's v2 deal webhook: numeric ids, no change_source, a JavaScript module.
PIPEDREAM_V2_DEAL = """
export default {
"meta": {
"action": "create",
"entity": "deal",
"company_id": 123123,
"correlation_id": "123456789-1234-1234-1234-123456789012",
"entity_id": 123,
"id": "123456789-1234-1234-1234-123456789012",
"is_bulk_edit": false,
"timestamp": "2023-01-01T00:00:00.000Z",
"type": "general",
"user_id": 123123,
"version": "2.0",
"webhook_id": 123,
"webhook_owner_id": 123123,
"attempt": 1,
"host": "company.pipedrive.com"
},
"data": {
"add_time":"2025-04-15T14:57:34Z",
"channel":null,
"channel_id":null,
"close_time":null,
"creator_user_id":123123,
"currency":"BRL",
"custom_fields":{},
"expected_close_date":null,
"first_won_time":null,
"id":1,
"label_ids":[],
"lost_reason":null,
"lost_time":null,
"org_id":1,
"origin":"ManuallyCreated",
"origin_id":null,
"owner_id":123123,
"person_id":1,
"pipeline_id":1,
"probability":null,
"stage_change_time":"2025-04-15T15:39:01Z",
"stage_id":2,
"status":"open",
"title":"Deal 01",
"update_time":"2025-04-15T15:39:01Z",
"value":1,
"visible_to":"3",
"won_time":null,
"is_archived":false,
"archive_time":null
},
"previous": {
"stage_id": 1
},
}
"""


def test_a_delivery_without_change_source_is_read_with_an_unknown_source():
    (event,) = parsed(as_json(PIPEDREAM_V2_DEAL)).events
    assert (event.account_id, event.object_type, event.object_id, event.kind) == ("123123", "deal", "123", "created")
    assert event.source == ":123123"  # not "api": never taken for LeadRelay's own write


# https://pipedrive.readme.io/docs/guide-for-webhooks — "Webhook format" of webhooks v1 (LeadRelay subscribes to
# v2 only; a v1 body reaching it is someone else's subscription pointed at its URL).
GUIDE_V1_FORMAT = """
{
    "v": 1,
    "matches_filters": {
      "current": [],
      "previous": []
    },
    "meta": {
      "v": 1,
      "action": "added",
      "object": "deal",
      "change_source": "app",
      "id": xxx,
      "company_id": xxxxx,
      "user_id": xxxxx,
      "host": "company.pipedrive.com",
      "timestamp": 1523440213,
      "timestamp_micro": 1523440213384700,
      "permitted_user_ids": [],
      "trans_pending": false,
      "is_bulk_update": false,
      "pipedrive_service_name": false,
      "matches_filters": {
        "current": [],
        "previous": []
      },
      "webhook_id": xxx
    },
    "retry": 0,
    "current": (the object data as of this update),
    "previous": (the object data prior to this update),
    "event": "event name"
  }
"""

# https://app.dissertation-editor.com/docs/api-reference/webhook-api — a v1 deal update as an integrator received it
DISSERTATION_V1_DEAL = """
{
"v": 1,
"matches_filters": null,
"meta": {
"action": "updated",
"object": "deal",
"id": 123,
"company_id": 12345678,
"user_id": 98765,
"host": "phd-advantage.pipedrive.com",
"timestamp": 1709913600,
"change_source": "app",
"is_bulk_update": false
},
"current": {
"id": 123,
"title": "Jane Doe - Dissertation Editing",
"stage_id": 1,
"status": "open",
"value": 2786.08,
"currency": "USD"
},
"previous": {
"stage_id": 0,
"status": "open"
},
"event": "updated.deal"
}
"""


@pytest.mark.parametrize(("body", "name"), [
    (as_json(re.sub(r"\bx{3,5}\b", "1", GUIDE_V1_FORMAT), the_object_data_as_of_this_update='{"id": 1}',
             the_object_data_prior_to_this_update="null"), "v1:added.deal"),
    (as_json(DISSERTATION_V1_DEAL), "v1:updated.deal"),
])
def test_a_v1_body_is_acknowledged_as_unsupported_with_the_reason(body, name):
    delivery = parsed(body)
    assert (delivery.events, delivery.ignored, delivery.unsupported) == ([], [], [name])
    assert "webhooks v1" in delivery.notes[name] and "sweep" in delivery.notes[name]


def test_an_object_leadrelay_does_not_subscribe_to_is_unsupported_with_the_reason():
    # the v2 guide lists lead, deal_installment, deal_product, board, phase, project and task objects besides ours
    body = json.loads(as_json(GUIDE_V2_FORMAT, the_object_data_as_of_this_update="{}",
                              the_previous_data_of_the_object_fields_that_have_been_changed="null"))
    body["meta"]["entity"] = "deal_product"
    delivery = parsed(json.dumps(body).encode())
    assert (delivery.events, delivery.unsupported) == ([], ["create.deal_product"])
    assert delivery.notes["create.deal_product"] == "not an event LeadRelay subscribes to"
