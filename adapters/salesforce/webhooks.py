"""Outbound Messages: the SOAP notifications() call an org's workflow/flow action sends us.

Format: https://developer.salesforce.com/docs/platform/api/guide/sforce-api-om-outboundmessaging-wsdl.html
Salesforce does not sign Outbound Messages. The defence is the tenant's endpoint URL,
.../webhooks/salesforce/<key>/<secret> (checked by the web layer against the stored key and secret hash),
plus OrganizationId, which must be the tenant's org (the web layer drops any other). HTTPS keeps the URL
secret in transit; an org may additionally pin Salesforce's client certificate at the TLS terminator.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from lxml import etree

from adapters.salesforce.fields import id18
from integration.errors import PayloadError
from integration.protocols import ParsedDelivery, WebhookRequest, parse_iso
from integration.records import Event, EventKind, ObjectType

OM_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
ACK = ('<?xml version="1.0" encoding="UTF-8"?>'
       '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
       f'<notificationsResponse xmlns="{OM_NS}"><Ack>true</Ack></notificationsResponse>'
       "</soapenv:Body></soapenv:Envelope>")
# Salesforce ids are 15 or 18 letters and digits (https://help.salesforce.com/s/articleView?id=000385585&type=1);
# times fall within this century. Past these, a PayloadError rather than an overflow in datetime or the database.
_SF_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
EARLIEST, LATEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _child(element: Any, name: str) -> Any:
    return element.find(f"{{{OM_NS}}}{name}")


def _text(element: Any, name: str, path: str) -> str:
    """The text of a required child in the outbound-messaging namespace, or PayloadError naming its path."""
    found = _child(element, name)
    if found is None or not (found.text or "").strip():
        raise PayloadError(f"{path}.{name}", "missing")
    return found.text.strip()


def _field(sobject: Any, name: str, path: str) -> str:
    """An sObject field (any namespace prefix) that the Outbound Message must be configured to send."""
    for child in sobject:
        if isinstance(child.tag, str) and etree.QName(child).localname == name and (child.text or "").strip():
            return child.text.strip()
    raise PayloadError(f"{path}.{name}", "missing (add it to the Outbound Message's fields)")


def _sf_id(value: str, path: str) -> str:
    """A Salesforce id, in its 18-character form."""
    if not _SF_ID.fullmatch(value):
        raise PayloadError(path, "not a Salesforce id")
    return id18(value)


def _moment(value: str, path: str) -> dt.datetime:
    try:
        moment = parse_iso(value)
        # an offset can push a moment near year 1 or 9999 out of range once taken to UTC
        moment = moment.astimezone(dt.UTC) if moment is not None else None
    except (ValueError, OverflowError, OSError):
        moment = None
    if moment is None:
        raise PayloadError(path, f"not a dateTime: {value[:40]!r}")
    if not EARLIEST <= moment < LATEST:
        raise PayloadError(path, "out of range (2000 to 2100)")
    return moment


class SalesforceWebhooks:
    """Parses Outbound Message deliveries into neutral events."""

    PLATFORM: ClassVar[str] = "salesforce"
    SECRET_SCOPE: ClassVar[str] = "tenant"
    BODY_FORMAT: ClassVar[str] = "xml"  # lxml refuses nesting past 256 levels (huge_tree=False)
    PATH_PREFIX: ClassVar[tuple[str, str]] = ("webhooks", "salesforce")
    MISSING_CREDENTIAL: ClassVar[str] = "url-credentials"
    # "<sObject>.<created|updated>": an Outbound Message fires on create and on update (and on a merge's
    # master, as an update); deletes send nothing. The sObject comes from the xsi:type of <sObject>.
    EVENT_KINDS: ClassVar[Mapping[str, tuple[str, str]]] = {
        "Lead.created": (ObjectType.LEAD, EventKind.CREATED),
        "Lead.updated": (ObjectType.LEAD, EventKind.UPDATED),
        "Contact.created": (ObjectType.CONTACT, EventKind.CREATED),
        "Contact.updated": (ObjectType.CONTACT, EventKind.UPDATED),
        "Account.created": (ObjectType.COMPANY, EventKind.CREATED),
        "Account.updated": (ObjectType.COMPANY, EventKind.UPDATED),
        "Opportunity.created": (ObjectType.DEAL, EventKind.CREATED),
        "Opportunity.updated": (ObjectType.DEAL, EventKind.UPDATED),
    }
    # Calendar events come along when an admin adds them to the rule; LeadRelay reads them on demand
    # (activity_logged_since), so a notification about one needs no job.
    IGNORED_EVENTS: ClassVar[frozenset[str]] = frozenset({"Event.created", "Event.updated"})
    SUPPORTED_EVENTS: ClassVar[tuple[str, ...]] = tuple(EVENT_KINDS)

    # checks ----------------------------------------------------------------------------------------
    def missing_signature(self, request: WebhookRequest) -> str | None:
        """Outbound Messages carry no signature: the key and secret must be in the URL path."""
        return None if self.credentials(request) else self.MISSING_CREDENTIAL

    def verify(self, request: WebhookRequest, secret: str, now: dt.datetime) -> bool:
        """Never true: Salesforce signs nothing, so there is no app-scoped check (SECRET_SCOPE is "tenant")."""
        return False

    def credentials(self, request: WebhookRequest) -> tuple[str, str] | None:
        """(key, secret) from .../webhooks/salesforce/<key>/<secret>."""
        try:
            path = urlsplit(request.url).path
        except ValueError:  # an unparseable Host makes an unparseable URL
            return None
        parts = [unquote(p) for p in path.split("/") if p]
        for index in range(len(parts) - 1):
            if tuple(parts[index:index + 2]) == self.PATH_PREFIX:
                rest = parts[index + 2:]
                return (rest[0], rest[1]) if len(rest) == 2 and all(rest) else None
        return None

    # parsing -----------------------------------------------------------------------------------------
    def parse(self, request: WebhookRequest) -> ParsedDelivery:
        """Every <Notification> of the envelope -> one Event (or an ignored/unsupported name)."""
        try:
            root = etree.fromstring(request.body, _PARSER)  # noqa: S320 - entities and network disabled
        except etree.XMLSyntaxError as exc:
            raise PayloadError("body", f"not XML: {exc}") from None
        found = root.xpath("/*[local-name()='Envelope']/*[local-name()='Body']/o:notifications",
                           namespaces={"o": OM_NS})
        if not found:
            raise PayloadError("Envelope.Body.notifications", "missing")
        notifications = found[0]
        org_id = _sf_id(_text(notifications, "OrganizationId", "notifications"), "notifications.OrganizationId")
        delivery = ParsedDelivery()
        for index, item in enumerate(notifications.findall(f"{{{OM_NS}}}Notification")):
            self._add(delivery, org_id, item, f"notifications.Notification[{index}]")
        if not delivery.events and not delivery.ignored and not delivery.unsupported:
            raise PayloadError("notifications.Notification", "missing")
        return delivery

    def _add(self, delivery: ParsedDelivery, org_id: str, item: Any, path: str) -> None:
        notification_id = _sf_id(_text(item, "Id", path), f"{path}.Id")
        sobject = _child(item, "sObject")
        if sobject is None:
            raise PayloadError(f"{path}.sObject", "missing")
        name = f"{self._sobject_type(sobject, path)}.{self._kind(sobject, path + '.sObject')}"
        if name in self.IGNORED_EVENTS:
            delivery.ignored.append(name)
            return
        if name not in self.EVENT_KINDS:
            delivery.unsupported.append(name)
            return
        object_type, kind = self.EVENT_KINDS[name]
        spath = path + ".sObject"
        delivery.events.append(Event(
            platform=self.PLATFORM, account_id=org_id, object_type=str(object_type),
            object_id=_sf_id(_field(sobject, "Id", spath), f"{spath}.Id"), kind=str(kind),
            occurred_at=_moment(_field(sobject, "LastModifiedDate", spath), spath + ".LastModifiedDate"),
            event_id=notification_id,
            # the user whose save fired the rule; the web layer compares it with the tenant's integration user
            source=_sf_id(_field(sobject, "LastModifiedById", spath), f"{spath}.LastModifiedById")))

    @staticmethod
    def _sobject_type(sobject: Any, path: str) -> str:
        xsi_type = sobject.get(XSI_TYPE) or ""
        if not xsi_type:
            raise PayloadError(f"{path}.sObject@xsi:type", "missing")
        return xsi_type.rpartition(":")[2]

    @staticmethod
    def _kind(sobject: Any, path: str) -> str:
        """created or updated. The message doesn't say which: it carries the record's current values, so a
        record whose LastModifiedDate still equals its CreatedDate has not been saved since it was created."""
        created = _moment(_field(sobject, "CreatedDate", path), path + ".CreatedDate")
        modified = _moment(_field(sobject, "LastModifiedDate", path), path + ".LastModifiedDate")
        return "created" if created == modified else "updated"

    def acknowledge(self, delivery: ParsedDelivery) -> tuple[int, str, str]:
        """Salesforce retries (for 24 h) any reply that is not a notificationsResponse with Ack true."""
        return 200, ACK, "text/xml"
