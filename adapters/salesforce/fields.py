"""Neutral object types and field names <-> Salesforce sObjects and field API names.

Field names follow the standard object reference, e.g.
https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_objects_lead.htm
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from integration.errors import CRMValidationError
from integration.protocols import parse_iso
from integration.records import Record

ADDRESS = ("street", "city", "state", "postcode", "country")
DERIVED = ("domain", "deal_status")  # computed by to_record (Website's host, IsClosed/IsWon)
SYSTEM_FIELDS = ("Id", "OwnerId", "CreatedDate", "LastModifiedDate", "SystemModstamp")


def _address(prefix: str) -> dict[str, str]:
    return dict(zip(ADDRESS, (f"{prefix}Street", f"{prefix}City", f"{prefix}State", f"{prefix}PostalCode",
                              f"{prefix}Country"), strict=True))


@dataclass(frozen=True)
class SObjectMap:
    """How one neutral object type lives in Salesforce."""

    sobject: str
    writable: dict[str, str]                                 # neutral -> field we may write
    read_only: dict[str, str] = field(default_factory=dict)  # neutral -> field/relationship path, read only
    company_field: str | None = None                         # the Account lookup, when the object has one
    extra: tuple[str, ...] = ()                              # selected for derived values (deal_status)
    mergeable: bool = False                                  # merge() supports Lead, Contact, Account only
    package: dict[str, str] = field(default_factory=dict)    # neutral -> LeadRelay's managed-package field

    def select(self) -> list[str]:
        names = [*SYSTEM_FIELDS, *self.writable.values(), *self.read_only.values(), *self.extra]
        if self.company_field:
            names.append(self.company_field)
        return list(dict.fromkeys(names))

    def to_platform(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Neutral fields -> Salesforce fields; a field Salesforce can't take is a validation error."""
        names = {**self.writable, **self.package}
        unknown = sorted(set(fields) - set(names))
        if unknown:
            raise CRMValidationError(f"{self.sobject} has no writable field for {', '.join(unknown)}")
        return {names[name]: value for name, value in fields.items()}

    def for_create(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Fields for a new record: empty values and names Salesforce only reads or to_record derives left out."""
        skip = {*self.read_only, *DERIVED}
        return self.to_platform({k: v for k, v in fields.items() if v not in (None, "") and k not in skip})


PERSON = {"email": "Email", "first_name": "FirstName", "last_name": "LastName", "phone": "Phone",
          "mobile": "MobilePhone", "title": "Title", "source": "LeadSource",
          "email_opt_out": "HasOptedOutOfEmail", "do_not_call": "DoNotCall"}

# LeadRelay's managed package adds these custom fields to Lead and Contact (ensure_custom_fields checks them);
# they are selected only once the tenant's install job found them (a missing field would fail every query)
PACKAGE = {"leadrelay_score": "LeadRelay_Score__c", "leadrelay_tier": "LeadRelay_Tier__c",
           "leadrelay_rule": "LeadRelay_Rule__c", "leadrelay_reason": "LeadRelay_Reason__c",
           "leadrelay_duplicate_of": "LeadRelay_Duplicate_Of__c",
           "leadrelay_lifecycle": "LeadRelay_Lifecycle__c", "leadrelay_enriched": "LeadRelay_Enriched__c",
           "leadrelay_email_type": "LeadRelay_Email_Type__c", "leadrelay_timezone": "LeadRelay_Timezone__c"}
PACKAGE_OBJECTS = ("Lead", "Contact")
# Fields a later version of the package added: an org still on the earlier version keeps every other LeadRelay field
# (its reason, score, rule…) rather than losing them all until its admin upgrades.
PACKAGE_LATER = frozenset({"leadrelay_enriched", "leadrelay_email_type", "leadrelay_timezone"})

OBJECTS: dict[str, SObjectMap] = {
    "lead": SObjectMap("Lead", {**PERSON, **_address(""), "company": "Company", "website": "Website",
                                "lead_status": "Status"},
                       read_only={"name": "Name"}, mergeable=True, package=PACKAGE),
    # a Contact's company is its Account: read through the relationship, written as AccountId
    "contact": SObjectMap("Contact", {**PERSON, **_address("Mailing")},
                          read_only={"name": "Name", "company": "Account.Name"}, company_field="AccountId",
                          mergeable=True, package=PACKAGE),
    "company": SObjectMap("Account", {"name": "Name", "website": "Website", "phone": "Phone",
                                      **_address("Billing")}, mergeable=True),
    "deal": SObjectMap("Opportunity", {"name": "Name", "deal_stage": "StageName", "amount": "Amount",
                                       "source": "LeadSource"},
                       company_field="AccountId", extra=("IsClosed", "IsWon", "ContactId")),
    "task": SObjectMap("Task", {}, read_only={"name": "Subject"}, company_field="AccountId"),
}

# Task.WhoId points at people, WhatId at everything else.
# https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_objects_task.htm
WHO_TYPES = frozenset({"lead", "contact"})
TASK_TYPE = {"call": "Call", "email": "Email", "todo": "Other"}
TASK_PRIORITY = {"high": "High", "medium": "Normal", "low": "Low"}
TASK_FIELDS = ("Id", "Status", "IsClosed", "OwnerId", "ActivityDate", "CompletedDateTime", "Description")


def object_map(object_type: str) -> SObjectMap:
    try:
        return OBJECTS[object_type]
    except KeyError:
        raise CRMValidationError(f"Salesforce has no object for {object_type!r}") from None


def domain_of(website: str | None) -> str | None:
    """acme.com from https://www.acme.com/about (None when there is no host)."""
    if not website:
        return None
    host = urlsplit(website if "//" in website else f"//{website}").hostname or ""
    return host.removeprefix("www.") or None


def _path(row: dict[str, Any], path: str) -> Any:
    """A value from a query row, following relationship paths such as Account.Name."""
    value: Any = row
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _deal_status(row: dict[str, Any]) -> str:
    if not row.get("IsClosed"):
        return "open"
    return "won" if row.get("IsWon") else "lost"


def to_record(object_type: str, row: dict[str, Any]) -> Record:
    """A REST/SOQL row -> neutral Record."""
    mapping = object_map(object_type)
    names = {**mapping.writable, **mapping.read_only, **mapping.package}
    fields = {name: _path(row, path) for name, path in names.items() if _path(row, path) not in (None, "")}
    if "website" in fields and object_type == "company":
        fields["domain"] = domain_of(fields["website"])
    if object_type == "deal":
        fields["deal_status"] = _deal_status(row)
    return Record(object_type=object_type, id=str(row["Id"]), fields=fields, owner_id=row.get("OwnerId"),
                  created_at=parse_iso(row.get("CreatedDate")), updated_at=parse_iso(row.get("LastModifiedDate")),
                  company_id=row.get(mapping.company_field) if mapping.company_field else None,
                  contact_ids=(str(row["ContactId"]),) if object_type == "deal" and row.get("ContactId") else ())


def parse_date(value: str | None) -> dt.datetime | None:
    """A Salesforce date (ActivityDate) as midnight UTC: the field has no time of day."""
    return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.UTC) if value else None


def soql_datetime(moment: dt.datetime) -> str:
    """A SOQL dateTime literal with milliseconds (SystemModstamp keeps them; dropping them re-reads rows)."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_ID_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(value: str) -> str:
    """The case-safe 18-character form of a 15-character Salesforce id (Outbound Messages may send 15).

    https://help.salesforce.com/s/articleView?id=000385585&type=1
    """
    if len(value) != 15:
        return value
    suffix = ""
    for chunk in (value[0:5], value[5:10], value[10:15]):
        bits = sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _ID_SUFFIX[bits]
    return value + suffix
