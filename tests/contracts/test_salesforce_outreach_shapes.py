"""The Salesforce sandbox's outreach answers against the shapes Salesforce documents (no OpenAPI exists).

| LeadRelay call (adapters/salesforce) | request | shape | answers checked |
|---|---|---|---|
| send_email | POST actions/standard/emailSimple | ACTION_RESULTS | 200, 400 (daily limit) |
| inbound_since | GET query (EmailMessage, EmailMessageRelation) | QUERY_PAGE | 200 |
| meetings_since | GET query (Event) | QUERY_PAGE | 200 |
| log_message | POST sobjects/Task | CREATED | 201 |
"""
from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import format_soql
from simple_salesforce.exceptions import SalesforceError

from tests.contracts import salesforce_shapes as shapes
from tests.contracts.answers import Recorder
from tests.contracts.conftest import control

# An invocable action's answer: one result per input, {actionName, errors, isSuccess, outputValues}; a failed
# input carries errors [{statusCode, message, fields}].
# https://developer.salesforce.com/docs/atlas.en-us.api_action.meta/api_action/actions_intro_invoking.htm
# (the "Example response" of invoking an action through REST)
ERROR = {"type": "object", "required": ["statusCode", "message"],
         "properties": {"statusCode": {"type": "string", "pattern": "^[A-Z_]+$"}, "message": {"type": "string"}}}
ACTION_RESULTS: dict[str, Any] = {
    "type": "array", "minItems": 1,
    "items": {"type": "object", "required": ["actionName", "errors", "isSuccess", "outputValues"],
              "properties": {"actionName": {"type": "string"}, "isSuccess": {"type": "boolean"},
                             "errors": {"anyOf": [{"type": "null"}, {"type": "array", "items": ERROR}]},
                             "outputValues": {"type": ["object", "null"]}}}}


@pytest.fixture()
def recorded(sf_session) -> Recorder:
    recorder = Recorder()
    sf_session.hooks["response"].append(recorder.keep)
    return recorder


def conforms(schema: dict, body) -> None:
    problems = shapes.violations(schema, body)
    assert not problems, "\n".join(problems)


def _lead(sdk) -> str:
    return sdk.Lead.create({"LastName": "Outreach", "Company": "Acme", "Email": "o@outreach.example"})["id"]


def test_email_simple_and_its_daily_limit(sandbox, salesforce_sdk, recorded):
    lead = _lead(salesforce_sdk)
    inputs = {"emailAddresses": "o@outreach.example", "emailSubject": "Thanks", "emailBody": "We will call",
              "senderType": "CurrentUser", "relatedRecordId": lead, "logEmailOnSend": True}
    salesforce_sdk.restful("actions/standard/emailSimple", method="POST", json={"inputs": [inputs]})
    assert recorded.last().status == 200
    conforms(ACTION_RESULTS, recorded.last().body)
    assert recorded.last().body[0]["isSuccess"] is True
    control(sandbox).post(f"{sandbox.url}/_sandbox/config", json={
        "limits": {"salesforce": {"single_email_daily": 1}}}, timeout=10).raise_for_status()
    try:
        with pytest.raises(SalesforceError):
            salesforce_sdk.restful("actions/standard/emailSimple", method="POST", json={"inputs": [inputs]})
    finally:
        control(sandbox).post(f"{sandbox.url}/_sandbox/config/reset", timeout=10)
    assert recorded.last().status == 400
    conforms(ACTION_RESULTS, recorded.last().body)
    assert recorded.last().body[0]["errors"][0]["statusCode"] == "SINGLE_EMAIL_LIMIT_EXCEEDED"


def test_email_message_relation_and_event_queries(salesforce_sdk, recorded):
    lead = _lead(salesforce_sdk)
    salesforce_sdk.Event.create({"WhoId": lead, "Subject": "Demo", "StartDateTime": "2030-01-02T10:00:00.000Z",
                                 "DurationInMinutes": 30})
    for soql in ("SELECT Id, Subject, TextBody, FromAddress, MessageDate, CreatedDate FROM EmailMessage "
                 "WHERE Incoming = true ORDER BY CreatedDate, Id LIMIT 10",
                 "SELECT EmailMessageId, RelationId, RelationObjectType FROM EmailMessageRelation "
                 "WHERE RelationType = 'FromAddress' LIMIT 10",
                 format_soql("SELECT Id, WhoId, CreatedDate FROM Event WHERE WhoId = {}", lead)):
        salesforce_sdk.query(soql)
        assert recorded.last().status == 200
        conforms(shapes.QUERY_PAGE, recorded.last().body)
