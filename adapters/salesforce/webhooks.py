"""Outbound Messages: the SOAP notifications() call an org's workflow/flow action sends us.

Format: https://developer.salesforce.com/docs/platform/api/guide/sforce-api-om-outboundmessaging-wsdl.html
(notifications: OrganizationId, ActionId, SessionId (nillable), EnterpriseUrl, PartnerUrl, 1 to 100 Notification;
each Notification an Id and an sObject of the message's object, xsi:type="sf:<SObject>", carrying sf:Id and only
"the fields specified when you created the outbound message",
https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_understanding.htm).
So the parser requires OrganizationId, each notification's Id and its sObject's xsi:type and sf:Id, and nothing
else. The fields LeadRelay asks the admin to select (OUTBOUND_FIELDS, README "Salesforce: the Outbound Message")
refine the event when present:
  * CreatedDate and LastModifiedDate: created (equal) or updated. Without both the kind is CHANGED and the pipeline
    decides from the record it reads anyway (integration.pipeline.new_leads.created_by_webhook).
  * LastModifiedDate: occurred_at. Without it, None: intake stamps the moment the message arrived.
  * LastModifiedById: the source, which the web layer compares with the integration user to drop echoes of our
    own writes. Without it no echo is dropped at intake: the drain reads the record and the pipeline finds its
    route decision already made and written (every write is keyed), so an echo costs one batched read, no write.
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


def _field(sobject: Any, name: str) -> str | None:
    """An sObject field (any namespace prefix), or None when the admin did not select it (or it has no value)."""
    for child in sobject:
        if isinstance(child.tag, str) and etree.QName(child).localname == name and (child.text or "").strip():
            return child.text.strip()
    return None


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
    # The notifications element's maxOccurs: https://developer.salesforce.com/docs/platform/api/guide/
    # sforce-api-om-outboundmessaging-wsdl.html ("A single SOAP message can include up to 100 notifications").
    MAX_NOTIFICATIONS: ClassVar[int] = 100
    # "<sObject>.<created|updated|changed>": an Outbound Message fires on create and on update (and on a merge's
    # master, as an update); deletes send nothing. The sObject comes from the xsi:type of <sObject>; "changed" is a
    # message without the date fields, which can't tell a creation from an update.
    EVENT_KINDS: ClassVar[Mapping[str, tuple[str, str]]] = {
        f"{sobject}.{kind}": (object_type, kind)
        for sobject, object_type in (("Lead", ObjectType.LEAD), ("Contact", ObjectType.CONTACT),
                                     ("Account", ObjectType.COMPANY), ("Opportunity", ObjectType.DEAL))
        for kind in (EventKind.CREATED, EventKind.UPDATED, EventKind.CHANGED)
    }
    # Calendar events come along when an admin adds them to the rule; LeadRelay reads them on demand
    # (activity_logged_since), so a notification about one needs no job.
    IGNORED_EVENTS: ClassVar[frozenset[str]] = frozenset({"Event.created", "Event.updated", "Event.changed"})
    SUPPORTED_EVENTS: ClassVar[tuple[str, ...]] = tuple(EVENT_KINDS)
    # The sObjects to send Outbound Messages for, and the fields to select in each: the install guide (README) and
    # the generated setup sheet (marketplace/manifests/salesforce/) list these. Id is always sent.
    OUTBOUND_OBJECTS: ClassVar[tuple[str, ...]] = tuple(dict.fromkeys(n.split(".")[0] for n in EVENT_KINDS))
    OUTBOUND_FIELDS: ClassVar[tuple[str, ...]] = ("Id", "CreatedDate", "LastModifiedById", "LastModifiedDate")

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
        """Every <Notification> of the envelope (1 to 100) -> one Event (or an ignored/unsupported name)."""
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
        items = notifications.findall(f"{{{OM_NS}}}Notification")
        if not 1 <= len(items) <= self.MAX_NOTIFICATIONS:
            raise PayloadError("notifications.Notification", f"{len(items)} notifications: an Outbound Message "
                               f"carries 1 to {self.MAX_NOTIFICATIONS}")
        delivery = ParsedDelivery()
        for index, item in enumerate(items):
            # One notification LeadRelay cannot read (Salesforce documents a record deleted before delivery as a
            # notification "without data") is set aside with its reason; refusing the message would have
            # Salesforce retry, then drop, every other notification in it too.
            try:
                self._add(delivery, org_id, item, f"notifications.Notification[{index}]")
            except PayloadError as exc:
                delivery.unreadable.append((exc.path, exc.problem))
        return delivery

    def _add(self, delivery: ParsedDelivery, org_id: str, item: Any, path: str) -> None:
        notification_id = _sf_id(_text(item, "Id", path), f"{path}.Id")
        sobject = _child(item, "sObject")
        spath = path + ".sObject"
        if sobject is None:
            raise PayloadError(spath, "missing")
        record_id = _field(sobject, "Id")
        if record_id is None:
            raise PayloadError(f"{spath}.Id", "missing")
        created, modified = (self._date_field(sobject, name, spath) for name in ("CreatedDate", "LastModifiedDate"))
        name = f"{self._sobject_type(sobject, path)}.{self._kind(created, modified)}"
        if name in self.IGNORED_EVENTS:
            delivery.ignored.append(name)
            return
        if name not in self.EVENT_KINDS:
            delivery.unsupported.append(name)
            return
        object_type, kind = self.EVENT_KINDS[name]
        modified_by = _field(sobject, "LastModifiedById")
        delivery.events.append(Event(
            platform=self.PLATFORM, account_id=org_id, object_type=str(object_type),
            object_id=_sf_id(record_id, f"{spath}.Id"), kind=str(kind), occurred_at=modified,
            event_id=notification_id,
            # the user whose save fired the rule; the web layer compares it with the tenant's integration user
            source=_sf_id(modified_by, f"{spath}.LastModifiedById") if modified_by else ""))

    @staticmethod
    def _date_field(sobject: Any, name: str, path: str) -> dt.datetime | None:
        """A dateTime field when the admin selected it (checked), else None."""
        value = _field(sobject, name)
        return _moment(value, f"{path}.{name}") if value is not None else None

    @staticmethod
    def _sobject_type(sobject: Any, path: str) -> str:
        xsi_type = sobject.get(XSI_TYPE) or ""
        if not xsi_type:
            raise PayloadError(f"{path}.sObject@xsi:type", "missing")
        return xsi_type.rpartition(":")[2]

    @staticmethod
    def _kind(created: dt.datetime | None, modified: dt.datetime | None) -> str:
        """created, updated, or changed when the message lacks a date. The message doesn't say which: it carries
        the record's current values, so a record whose LastModifiedDate still equals its CreatedDate has not been
        saved since it was created."""
        if created is None or modified is None:
            return EventKind.CHANGED
        return EventKind.CREATED if created == modified else EventKind.UPDATED

    def acknowledge(self, delivery: ParsedDelivery) -> tuple[int, str, str]:
        """One Ack for the whole message acknowledges every notification in it; Salesforce retries (for 24 h)
        any reply that is not a notificationsResponse with Ack true."""
        return 200, ACK, "text/xml"
