"""Outbound Messages: SOAP notifications() for record changes, carrying the admin's fields, batched, Ack-checked.

Format: https://developer.salesforce.com/docs/platform/api/guide/sforce-api-om-outboundmessaging-wsdl.html
(notifications: OrganizationId, ActionId, SessionId (nillable), EnterpriseUrl, PartnerUrl, ≤100 Notification; each
Notification an Id and an sObject of the one object the outbound message is defined on, e.g.
tns:OpportunityNotification). The sObject carries "the fields specified when you created the outbound message"
(https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_understanding.htm),
Id always. A real org's message (aspnet/WebHooks, test/Microsoft.AspNetCore.WebHooks.FunctionalTest/Resources/
RequestBodies/Salesforce.xml: two Contact notifications in one message from na73, API 41.0, fields Id, CreatedDate,
Email, FirstName, LastName, Title selected) lists sf:Id first, then the selected fields alphabetically, and leaves
out a selected field that has no value (the first contact has no sf:Email); the sandbox does the same.

Each configured object is its own outbound message definition with its own ActionId (04k…) and field list
(`configure`: {"endpoint_url", "objects", "fields": {sObject: [names] | "*"} or one list for every object,
"send_session_id"}). The default field list is DOCUMENTED_FIELDS, the list LeadRelay's install guide asks admins to
select (README "Salesforce: the Outbound Message"); `"fields": ["Id"]` makes Id-only messages.

Batching: "A single SOAP message can include up to 100 notifications ... If you issue multiple discrete calls, the
calls are sometimes batched together into one or more SOAP messages", and "if the information in the object changes
after the notification is queued but before it's sent, only the latest data is delivered"
(https://developer.salesforce.com/docs/atlas.en-us.246.0.api.meta/api/sforce_api_om_outboundmessaging_notifications.htm).
Notifications are queued per org; the queue goes out `config.outbound_batch_ms` after its first notification (0: at
the end of the API call or simulated change that queued them), up to 100 per message and one message per outbound
message definition, each record's values read when the message is built. A record deleted before that goes out with
its Id alone (the help page says such a notification "won't contain any data", help.salesforce.com
workflow_om_considerations; whether the Id stays is not documented).

Delivery: queued, retried with exponential backoff up to 2 h between tries, dropped after 24 h; may arrive twice or
out of order; a reply without <Ack>true</Ack> counts as a failure (the endpoint must answer a notificationsResponse).
A retry re-sends the first attempt's bytes. Salesforce does not sign the body: receivers check OrganizationId (and
may pin Salesforce's client certificate), so that is the "authentication" the sandbox offers.
"""
from __future__ import annotations

import threading
import weakref
from typing import Any
from xml.sax.saxutils import escape

import requests
from requests.adapters import HTTPAdapter

from sandbox.outbox import Delivery
from sandbox.salesforce import ids
from sandbox.salesforce.org import NAME
from sandbox.salesforce.schema import org_sobject
from sandbox.salesforce.values import SFError
from sandbox.state import Account

OM_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
API_VERSION = "59.0"
MAX_NOTIFICATIONS = 100  # maxOccurs of Notification in the WSDL
DEFAULT_OBJECTS = ("Lead", "Contact")
# What LeadRelay's install guide asks the admin to select (adapters/salesforce/webhooks.py OUTBOUND_FIELDS; a
# test keeps the two equal, the sandbox imports nothing of the app)
DOCUMENTED_FIELDS = ("Id", "CreatedDate", "LastModifiedById", "LastModifiedDate")


def _schedule() -> tuple[float, ...]:
    """Growing intervals (15 s doubling, capped at 2 h) adding up to just under 24 h."""
    delays, delay, total = [], 15.0, 0.0
    while total + delay < 24 * 3600:
        delays.append(delay)
        total += delay
        delay = min(delay * 2, 7200.0)
    return tuple(delays)


RETRY_SCHEDULE = _schedule()


# configuration -------------------------------------------------------------------------------------------
def configure(account: Account, settings: dict[str, Any], serial: int) -> dict[str, Any]:
    """Set (or clear, with endpoint_url None) the org's outbound messages, one per object. Caller holds the lock."""
    url = settings.get("endpoint_url") or settings.get("url")
    if not url:
        account.extra["outbound"] = {}
        account.extra["outbound_queue"] = []
        return {}
    before = (account.extra.get("outbound") or {}).get("actions") or {}
    chosen = settings.get("fields")
    actions = {}
    for n, name in enumerate(settings.get("objects") or DEFAULT_OBJECTS):
        obj = org_sobject(account, str(name))
        if obj is None:
            raise SFError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
        wanted = chosen.get(obj.name) if isinstance(chosen, dict) else chosen
        action_id = (before.get(obj.name) or {}).get("action_id") or ids.make_id("WorkflowOutboundMessage",
                                                                                 serial * 10 + n)
        actions[obj.name] = {"action_id": action_id, "fields": _field_list(obj, wanted)}
    config = {"endpoint_url": url, "actions": actions, "send_session_id": bool(settings.get("send_session_id"))}
    account.extra["outbound"] = config
    return config


def _field_list(obj: Any, wanted: Any) -> list[str]:
    """Id, then the selected fields in alphabetical order (as a real message lists them); "*" selects all."""
    if wanted is None:
        wanted = DOCUMENTED_FIELDS
    names = list(obj.fields) if wanted == "*" else list(wanted)
    unknown = [n for n in names if obj.field(str(n)) is None]
    if unknown:
        raise SFError("INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {obj.name}",
                      fields=[str(unknown[0])])
    canonical = {obj.field(str(n)).name for n in names} - {"Id"}
    return ["Id", *sorted(canonical)]


def _action(account: Account, object_type: str) -> dict[str, Any] | None:
    return ((account.extra.get("outbound") or {}).get("actions") or {}).get(object_type)


# the message ---------------------------------------------------------------------------------------------
def _value_xml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return escape(str(value))


def _sobject_xml(object_type: str, record: dict[str, Any], fields: list[str]) -> str:
    names = ["Id"] if record.get("IsDeleted") else fields
    values = "".join(f"<sf:{name}>{_value_xml(record[name])}</sf:{name}>" for name in names
                     if record.get(name) is not None)
    return f'<sObject xsi:type="sf:{object_type}" xmlns:sf="{SOBJECT_NS}">{values}</sObject>'


def message(account: Account, public_url: str, object_type: str, notifications: list[tuple[str, dict[str, Any]]],
            session_id: str | None) -> bytes:
    """The SOAP envelope of one notifications() call: (notification id, record) pairs of one outbound message."""
    action = _action(account, object_type) or {"action_id": "", "fields": list(DOCUMENTED_FIELDS)}
    org15 = account.id[:15]
    items = "".join(f"<Notification><Id>{nid}</Id>{_sobject_xml(object_type, record, action['fields'])}"
                    "</Notification>" for nid, record in notifications)
    session = f"<SessionId>{escape(session_id)}</SessionId>" if session_id else '<SessionId xsi:nil="true"/>'
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<soapenv:Body><notifications xmlns="{OM_NS}">'
        f"<OrganizationId>{account.id}</OrganizationId>"
        f"<ActionId>{action['action_id']}</ActionId>{session}"
        f"<EnterpriseUrl>{public_url}/services/Soap/c/{API_VERSION}/{org15}</EnterpriseUrl>"
        f"<PartnerUrl>{public_url}/services/Soap/u/{API_VERSION}/{org15}</PartnerUrl>"
        f"{items}</notifications></soapenv:Body></soapenv:Envelope>"
    )
    return body.encode("utf-8")


# the queue -----------------------------------------------------------------------------------------------
_PLANNED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()  # sandbox -> orgs with a flush due
_PLANNED_LOCK = threading.Lock()


def notify(sandbox: Any, account: Account, object_type: str, record: dict[str, Any]) -> None:
    """Queue a notification for a created/updated record if the org sends outbound messages for its object."""
    notify_many(sandbox, account, [(object_type, record)])


def notify_many(sandbox: Any, account: Account, changes: list[tuple[str, dict[str, Any]]]) -> None:
    """Queue the notifications of one API call or change; the caller holds the store lock."""
    queue = account.extra.setdefault("outbound_queue", [])
    for object_type, record in changes:
        if _action(account, object_type) is not None:
            queue.append({"object_type": object_type, "record_id": record["Id"],
                          "notification_id": ids.make_id("OutboundNotification", sandbox.store.next_int())})
    if not queue:
        return
    window = max(float(sandbox.config.outbound_batch_ms), 0.0) / 1000.0
    if window == 0:
        flush(sandbox, account)
        return
    with _PLANNED_LOCK:
        planned = _PLANNED.setdefault(sandbox, set())
        if account.id in planned:
            return
        planned.add(account.id)
    timer = threading.Timer(window, _flush_later, args=(sandbox, account))
    timer.daemon = True
    timer.start()


def _flush_later(sandbox: Any, account: Account) -> None:
    with _PLANNED_LOCK:
        _PLANNED.get(sandbox, set()).discard(account.id)
    with sandbox.store.lock:
        flush(sandbox, account)


def flush(sandbox: Any, account: Account) -> int:
    """Send every queued notification: per outbound message, in messages of up to 100. Returns messages sent."""
    queue, account.extra["outbound_queue"] = account.extra.get("outbound_queue") or [], []
    config = account.extra.get("outbound") or {}
    by_object: dict[str, list[dict[str, Any]]] = {}
    for item in queue:
        if _action(account, item["object_type"]) is not None:  # an unconfigured object's queue is dropped
            by_object.setdefault(item["object_type"], []).append(item)
    sent = 0
    for object_type, items in by_object.items():
        table = account.table(object_type)
        for start in range(0, len(items), MAX_NOTIFICATIONS):
            chunk = [(i["notification_id"], table.get(i["record_id"]) or {"Id": i["record_id"], "IsDeleted": True})
                     for i in items[start:start + MAX_NOTIFICATIONS]]
            body = message(account, sandbox.public_url, object_type, chunk, _session(sandbox, account, config))
            sandbox.outbox.send(Delivery(platform=NAME, account_id=account.id, url=config["endpoint_url"], body=body,
                                         headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                                         retry_schedule=RETRY_SCHEDULE))
            sent += 1
    return sent


def _session(sandbox: Any, account: Account, config: dict[str, Any]) -> str | None:
    """A session of the org's admin (the message's "user to send as"), usable for calling back into the API."""
    if not config.get("send_session_id"):
        return None
    token = sandbox.store.issue_token(account.id, "access", ttl=7200, prefix=account.id[:15] + "!")
    account.extra.setdefault("token_users", {})[token.value] = account.extra.get("admin_user_id")
    return token.value


# the Ack ---------------------------------------------------------------------------------------------------
class AckCheckingAdapter(HTTPAdapter):
    """Makes an outbound message whose 2xx reply lacks <Ack>true</Ack> count as failed (so it is retried).

    The core Outbox treats any 2xx as delivered; Salesforce does not, so the sandbox turns such a reply
    into a 500 for the outbox. Only requests carrying an outbound-messaging envelope are touched.
    """

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        if OM_NS.encode() in body and 200 <= response.status_code < 300 and not acked(response.content):
            response.status_code = 500
            response.reason = "No <Ack>true</Ack> in the notificationsResponse"
        return response


def acked(content: bytes) -> bool:
    """True when a reply is a notificationsResponse with Ack true."""
    from lxml import etree

    try:
        root = etree.fromstring(content)
    except etree.XMLSyntaxError:
        return False
    acks = root.xpath("//*[local-name()='notificationsResponse']/*[local-name()='Ack']/text()")
    return bool(acks) and acks[0].strip().lower() == "true"


def install_ack_check(sandbox: Any) -> None:
    """Mount the Ack check on the outbox's HTTP session (once per sandbox)."""
    session = getattr(sandbox.outbox, "_session", None)
    if session is None or getattr(session, "_salesforce_ack_check", False):
        return
    adapter = AckCheckingAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session._salesforce_ack_check = True
