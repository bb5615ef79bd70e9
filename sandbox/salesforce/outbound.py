"""Outbound Messages: SOAP notifications for Lead/Contact changes, retried until the endpoint Acks.

Format: https://developer.salesforce.com/docs/platform/api/guide/sforce-api-om-outboundmessaging-wsdl.html
(notifications: OrganizationId, ActionId, SessionId (nillable), EnterpriseUrl, PartnerUrl, ≤100 Notification).
Delivery: queued, retried with exponential backoff up to 2 h between tries, dropped after 24 h; may arrive
twice or out of order; a reply without <Ack>true</Ack> counts as a failure (the endpoint must answer a
notificationsResponse). Salesforce does not sign the body: receivers check OrganizationId (and may pin
Salesforce's client certificate), so that is the "authentication" the sandbox offers.
"""
from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

import requests
from requests.adapters import HTTPAdapter

from sandbox.outbox import Delivery
from sandbox.salesforce import ids
from sandbox.salesforce.org import NAME
from sandbox.state import Account

OM_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
API_VERSION = "59.0"


def _schedule() -> tuple[float, ...]:
    """Growing intervals (15 s doubling, capped at 2 h) adding up to just under 24 h."""
    delays, delay, total = [], 15.0, 0.0
    while total + delay < 24 * 3600:
        delays.append(delay)
        total += delay
        delay = min(delay * 2, 7200.0)
    return tuple(delays)


RETRY_SCHEDULE = _schedule()


def configure(account: Account, settings: dict[str, Any], serial: int) -> dict[str, Any]:
    """Set (or clear, with endpoint_url None) the org's outbound message action. Caller holds the lock."""
    url = settings.get("endpoint_url") or settings.get("url")
    if not url:
        account.extra["outbound"] = {}
        return {}
    config = {
        "endpoint_url": url,
        "objects": list(settings.get("objects") or ["Lead", "Contact"]),
        "send_session_id": bool(settings.get("send_session_id", False)),
        "action_id": account.extra.get("outbound", {}).get("action_id")
        or ids.make_id("WorkflowOutboundMessage", serial),
    }
    account.extra["outbound"] = config
    return config


def _value_xml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return escape(str(value))


def message(account: Account, public_url: str, object_type: str, record: dict[str, Any],
            notification_id: str, session_id: str | None) -> bytes:
    """The SOAP envelope of one notifications() call carrying one Notification."""
    org15 = account.id[:15]
    fields = "".join(f"<sf:{name}>{_value_xml(value)}</sf:{name}>"
                     for name, value in record.items() if value is not None)
    session = f"<SessionId>{escape(session_id)}</SessionId>" if session_id else '<SessionId xsi:nil="true"/>'
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<soapenv:Body><notifications xmlns="{OM_NS}">'
        f"<OrganizationId>{account.id}</OrganizationId>"
        f"<ActionId>{account.extra['outbound']['action_id']}</ActionId>{session}"
        f"<EnterpriseUrl>{public_url}/services/Soap/c/{API_VERSION}/{org15}</EnterpriseUrl>"
        f"<PartnerUrl>{public_url}/services/Soap/u/{API_VERSION}/{org15}</PartnerUrl>"
        f"<Notification><Id>{notification_id}</Id>"
        f'<sObject xsi:type="sf:{object_type}" xmlns:sf="{SOBJECT_NS}">{fields}</sObject>'
        "</Notification></notifications></soapenv:Body></soapenv:Envelope>"
    )
    return body.encode("utf-8")


def notify(sandbox: Any, account: Account, object_type: str, record: dict[str, Any]) -> None:
    """Queue an outbound message for a created/updated record if the org has one configured."""
    config = account.extra.get("outbound") or {}
    if not config or object_type not in config.get("objects", ()):
        return
    session_id = None
    if config.get("send_session_id"):
        # a session of the user whose change fired the rule, usable for calling back into the API
        token = sandbox.store.issue_token(account.id, "access", ttl=7200, prefix=account.id[:15] + "!")
        account.extra.setdefault("token_users", {})[token.value] = record.get("LastModifiedById")
        session_id = token.value
    notification_id = ids.make_id("OutboundNotification", sandbox.store.next_int())
    snapshot = {k: v for k, v in record.items() if v is not None}
    body = message(account, sandbox.public_url, object_type, snapshot, notification_id, session_id)
    sandbox.outbox.send(Delivery(platform=NAME, account_id=account.id, url=config["endpoint_url"], body=body,
                                 headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                                 retry_schedule=RETRY_SCHEDULE))


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
