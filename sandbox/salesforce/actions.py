"""The emailSimple standard invocable action, and the mail and meetings a user's email sync or calendar logs.

POST /services/data/vXX.X/actions/standard/emailSimple {"inputs": [{...}]}: emailAddresses (comma-delimited, at most
five), emailSubject and emailBody (required without a template), senderType (CurrentUser, DefaultWorkflowUser,
OrgWideEmailAddress + senderAddress), relatedRecordId and logEmailOnSend. With logEmailOnSend the org's daily
single email limit applies (5,000 external addresses a day; config limit "single_email_daily").
https://developer.salesforce.com/docs/atlas.en-us.api_action.meta/api_action/actions_obj_email_simple.htm
The answer is a list, one result per input, each {"actionName", "errors", "isSuccess", "outputValues"}; a failed
input makes the request answer 400.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request

from sandbox.salesforce import org, records
from sandbox.salesforce.responses import sf_json
from sandbox.salesforce.values import SFError, stamp
from sandbox.state import Account

SENDER_TYPES = ("CurrentUser", "DefaultWorkflowUser", "OrgWideEmailAddress")
MAX_RECIPIENTS = 5
SINGLE_EMAIL_DAILY = 5000


def _sent_today(account: Account) -> dict[str, Any]:
    day = stamp(account.extra)[:10]
    counter = account.extra.setdefault("single_email", {"day": day, "count": 0})
    if counter["day"] != day:
        counter.update(day=day, count=0)
    return counter


def _log(account: Account, actor: str, serial: Any, who: str, subject: str, body: str, to: str,
         incoming: bool, sender: str, when: str | None = None) -> dict[str, Any]:
    """An EmailMessage with its relations (and, sent, the completed Task subtype Email that Enhanced Email makes)."""
    task = None
    if not incoming:
        task = records.create(account, "Task", {"WhoId": who, "Subject": f"Email: {subject}", "Description": body,
                                                "Status": "Completed", "TaskSubtype": "Email", "Type": "Email",
                                                "ActivityDate": stamp(account.extra)[:10]}, actor, serial())
    message = records.create(account, "EmailMessage", {
        "Subject": subject, "TextBody": body, "FromAddress": sender, "ToAddress": to, "Incoming": incoming,
        "Status": "0" if incoming else "3", "MessageDate": when or stamp(account.extra),
        "ActivityId": task["Id"] if task else None}, actor, serial())
    relations = [("FromAddress", who if incoming else actor, sender), ("ToAddress", actor if incoming else who, to)]
    for kind, relation, address in relations:
        records.create(account, "EmailMessageRelation", {"EmailMessageId": message["Id"], "RelationId": relation,
                                                         "RelationType": kind, "RelationAddress": address},
                       actor, serial())
    return message


def _send(sandbox: Any, account: Account, actor: str, inputs: dict[str, Any]) -> None:
    addresses = [a.strip() for a in str(inputs.get("emailAddresses") or "").split(",") if a.strip()]
    addresses += [str(a) for a in inputs.get("emailAddressesArray") or []]
    if not addresses:
        raise SFError("REQUIRED_FIELD_MISSING", "Missing required input parameter: emailAddresses")
    if len(addresses) > MAX_RECIPIENTS:
        raise SFError("INVALID_API_INPUT", f"You can send an email to up to {MAX_RECIPIENTS} recipients.")
    for name in ("emailSubject", "emailBody"):
        if not inputs.get(name):
            raise SFError("REQUIRED_FIELD_MISSING", f"Missing required input parameter: {name}")
    sender_type = inputs.get("senderType") or "CurrentUser"
    if sender_type not in SENDER_TYPES:
        raise SFError("INVALID_API_INPUT", f"Invalid senderType: {sender_type}")
    if sender_type == "OrgWideEmailAddress" and not inputs.get("senderAddress"):
        raise SFError("REQUIRED_FIELD_MISSING", "Missing required input parameter: senderAddress")
    related = str(inputs.get("relatedRecordId") or "")
    log = bool(inputs.get("logEmailOnSend"))
    target = records.find(account, related, include_deleted=False) if related else None
    if related and target is None:
        raise SFError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
    if log:
        counter = _sent_today(account)
        cap = int(sandbox.config.limit(org.NAME, "single_email_daily", SINGLE_EMAIL_DAILY))
        if counter["count"] + len(addresses) > cap:
            raise SFError("SINGLE_EMAIL_LIMIT_EXCEEDED",
                          "Failed to send email: the organization's daily single email limit has been reached.")
        counter["count"] += len(addresses)
    outbox = account.extra.setdefault("sent_email", [])
    user = account.table("User").get(actor) or {}
    sender = inputs.get("senderAddress") if sender_type == "OrgWideEmailAddress" else user.get("Email")
    outbox.append({"to": addresses, "from": sender, "subject": inputs["emailSubject"], "body": inputs["emailBody"],
                   "related": related})
    if log and target is not None and target[0] in ("Lead", "Contact"):
        _log(account, actor, sandbox.store.next_int, target[1]["Id"], str(inputs["emailSubject"]),
             str(inputs["emailBody"]), ",".join(addresses), False, str(sender or ""))


def action_routes(bp: Blueprint, sandbox: Any) -> None:
    def email_simple(version: str):
        body = request.get_json(silent=True)
        if request.method == "GET":
            return sf_json({"name": "emailSimple", "type": "EMAILSIMPLE", "label": "Send Email"})
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
            raise SFError("JSON_PARSER_ERROR", "The request body is either invalid or incorrect.")
        results, failed = [], False
        for inputs in body["inputs"]:
            try:
                with sandbox.store.lock:
                    _send(sandbox, g.sf_account, g.sf_actor, inputs if isinstance(inputs, dict) else {})
                results.append({"actionName": "emailSimple", "errors": None, "isSuccess": True,
                                "outputValues": None})
            except SFError as err:
                failed = True
                results.append({"actionName": "emailSimple", "isSuccess": False, "outputValues": None,
                                "errors": [{"statusCode": err.code, "message": err.message, "fields": []}]})
        return sf_json(results, 400 if failed else 200)

    bp.add_url_rule("/<version>/actions/standard/emailSimple", view_func=email_simple, methods=["GET", "POST"],
                    strict_slashes=False)


def simulate(sandbox: Any, account: Account, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """reply: the lead's answer as Email to Salesforce / Einstein Activity Capture logs it (an incoming
    EmailMessage, FromAddress relation to the record); log_meeting: an Event on the record."""
    name = str(payload.get("object_type") or "")
    if name.lower() not in ("lead", "contact"):
        raise SFError("INVALID_TYPE", f"{action} needs object_type Lead or Contact")
    found = records.find(account, str(payload.get("id") or ""), include_deleted=False)
    if found is None or found[0].lower() != name.lower():
        raise SFError("NOT_FOUND", "The requested resource does not exist", status=404)
    record = found[1]
    props = payload.get("properties") or {}
    actor = org.ui_user(account, payload.get("user_id"))
    if action == "reply":
        user = account.table("User").get(record.get("OwnerId") or "") or {}
        message = _log(account, actor, sandbox.store.next_int, record["Id"], str(props.get("subject") or ""),
                       str(props.get("text") or ""), str(user.get("Email") or ""), True,
                       str(props.get("from") or record.get("Email") or ""))
        return {"id": message["Id"], "object_type": "EmailMessage"}
    start = props.get("start") or stamp(account.extra)
    event = records.create(account, "Event", {"WhoId": record["Id"], "Subject": props.get("subject") or "Meeting",
                                              "StartDateTime": start, "DurationInMinutes": 30, "Type": "Meeting",
                                              "OwnerId": record.get("OwnerId") or actor},
                           actor, sandbox.store.next_int())
    return {"id": event["Id"], "object_type": "Event"}
