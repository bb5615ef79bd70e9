"""The sObjects the sandbox serves: fields, types, required/read-only flags, picklists, relationships.

Field names and picklist defaults follow the object reference, e.g.
https://developer.salesforce.com/docs/atlas.en-us.248.0.api.meta/api/sforce_api_objects_task.htm
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.state import Account


@dataclass(frozen=True)
class Field:
    name: str
    type: str = "string"  # string, email, phone, url, picklist, boolean, date, datetime, int, double, reference, id
    createable: bool = True
    updateable: bool = True
    required: bool = False  # REQUIRED_FIELD_MISSING on insert when absent
    default: object = None
    picklist: tuple[str, ...] = ()
    restricted: bool = False  # restricted picklist: other values are rejected
    reference_to: tuple[str, ...] = ()
    relationship: str | None = None  # e.g. "Owner" for OwnerId
    package: bool = False  # brought by LeadRelay's managed package: an org without the package lacks it
    since: str = "1.0"  # the package version that added it (package fields only): an org on an earlier one lacks it


@dataclass
class SObject:
    name: str
    label: str
    fields: dict[str, Field] = field(default_factory=dict)
    mergeable: bool = False
    notifies: bool = False  # Outbound Messages may be configured on it (Lead, Contact)

    def field(self, name: str) -> Field | None:
        """Case-insensitive field lookup, as SOQL and the REST API accept any case."""
        if name in self.fields:
            return self.fields[name]
        lowered = name.lower()
        for fname, spec in self.fields.items():
            if fname.lower() == lowered:
                return spec
        return None

    def relationship(self, name: str) -> Field | None:
        lowered = name.lower()
        for spec in self.fields.values():
            if spec.relationship and spec.relationship.lower() == lowered:
                return spec
        return None

    def without_package(self) -> SObject:
        """The object as an org without LeadRelay's managed package has it."""
        return replace(self, fields={name: spec for name, spec in self.fields.items() if not spec.package})

    def with_package(self, version: str) -> SObject:
        """The object as an org on this version of the package has it (fields added later are absent)."""
        return replace(self, fields={name: spec for name, spec in self.fields.items()
                                     if not spec.package or _version(spec.since) <= _version(version)})


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _ro(name: str, type_: str = "string", **kw) -> Field:
    return Field(name, type_, createable=False, updateable=False, **kw)


def _ref(name: str, to: tuple[str, ...], rel: str, **kw) -> Field:
    return Field(name, "reference", reference_to=to, relationship=rel, **kw)


SYSTEM_FIELDS = (
    _ro("Id", "id"),
    _ro("IsDeleted", "boolean"),
    _ro("CreatedDate", "datetime"),
    _ro("CreatedById", "reference", reference_to=("User",), relationship="CreatedBy"),
    _ro("LastModifiedDate", "datetime"),
    _ro("LastModifiedById", "reference", reference_to=("User",), relationship="LastModifiedBy"),
    _ro("SystemModstamp", "datetime"),
)
OWNER = _ref("OwnerId", ("User",), "Owner")
ADDRESS = ("Street", "City", "State", "PostalCode", "Country")

LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
CLOSED_TASK_STATUSES = ("Completed",)
OPP_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
              "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost")
TIME_ZONES = ("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Berlin", "Asia/Tokyo",
              "Australia/Sydney", "America/Chicago", "America/Denver", "Asia/Kolkata", "GMT")


def _obj(name: str, label: str, fields: list[Field], system: bool = True, **kw) -> SObject:
    specs = list(SYSTEM_FIELDS) + fields if system else fields
    return SObject(name, label, {f.name: f for f in specs}, **kw)


def _person_fields(prefix: str = "") -> list[Field]:
    return [Field("Salutation", "picklist", picklist=("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
            Field("FirstName"), Field("LastName", required=True), _ro("Name"), Field("Title"),
            *[Field(prefix + part) for part in ADDRESS],
            Field("Phone", "phone"), Field("MobilePhone", "phone"), Field("Email", "email"),
            Field("Description", "textarea"), Field("LeadSource", "picklist", picklist=LEAD_SOURCES),
            _ro("LastActivityDate", "date"),
            # compliance flags: https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_lead.htm
            Field("HasOptedOutOfEmail", "boolean", default=False), Field("DoNotCall", "boolean", default=False)]


# The permissions an install check reads: on Profile, and on PermissionSet (every profile owns one, so
# PermissionSetAssignment covers profile and permission-set grants alike).
# https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_objects_permissionset.htm
PERMISSION_FIELDS = ("PermissionsModifyAllData", "PermissionsCustomizeApplication", "PermissionsViewSetup",
                     "PermissionsManageUsers", "PermissionsAssignPermissionSets")
_STAMPS = (_ro("CreatedDate", "datetime"), _ro("CreatedById", "reference", reference_to=("User",)),
           _ro("LastModifiedDate", "datetime"), _ro("LastModifiedById", "reference", reference_to=("User",)),
           _ro("SystemModstamp", "datetime"))
PERMISSION_OBJECTS: dict[str, SObject] = {
    # profiles are set up in Setup, not through the data API
    "Profile": _obj("Profile", "Profile", [
        _ro("Id", "id"), _ro("Name"), _ro("UserType", default="Standard"), _ro("Description", "textarea"),
        *(_ro(name, "boolean", default=False) for name in PERMISSION_FIELDS), *_STAMPS,
    ], system=False),
    "PermissionSet": _obj("PermissionSet", "Permission Set", [
        _ro("Id", "id"), Field("Name", required=True), Field("Label", required=True),
        Field("Description", "textarea"), _ro("IsOwnedByProfile", "boolean", default=False),
        _ro("IsCustom", "boolean", default=True), _ro("ProfileId", "reference", reference_to=("Profile",),
                                                       relationship="Profile"),
        _ro("NamespacePrefix"), *(Field(name, "boolean", default=False) for name in PERMISSION_FIELDS), *_STAMPS,
    ], system=False),
    "PermissionSetAssignment": _obj("PermissionSetAssignment", "Permission Set Assignment", [
        _ro("Id", "id"), _ref("AssigneeId", ("User",), "Assignee", required=True),
        _ref("PermissionSetId", ("PermissionSet",), "PermissionSet", required=True),
        _ro("PermissionSetGroupId", "reference"), _ro("IsActive", "boolean", default=True),
        Field("ExpirationDate", "datetime"), _ro("SystemModstamp", "datetime"),
    ], system=False),
}


PACKAGE_VERSION = "1.1"  # the package's current version: 1.1 added the enrichment fields


def _package_fields() -> list[Field]:
    """LeadRelay's managed package: its custom fields on Lead and Contact (what the adapter writes back)."""
    return [Field("LeadRelay_Score__c", "double", package=True), Field("LeadRelay_Tier__c", package=True),
            Field("LeadRelay_Rule__c", package=True), Field("LeadRelay_Reason__c", package=True),
            Field("LeadRelay_Duplicate_Of__c", package=True), Field("LeadRelay_Lifecycle__c", package=True),
            Field("LeadRelay_Enriched__c", package=True, since=PACKAGE_VERSION),
            Field("LeadRelay_Email_Type__c", package=True, since=PACKAGE_VERSION),
            Field("LeadRelay_Timezone__c", package=True, since=PACKAGE_VERSION)]


SOBJECTS: dict[str, SObject] = {
    "User": _obj("User", "User", [
        _ro("Id", "id"), Field("Username", required=True), Field("FirstName"), Field("LastName", required=True),
        _ro("Name"), Field("Alias"), Field("Email", "email", required=True), Field("Title"),
        Field("Department"), Field("Phone", "phone"), Field("IsActive", "boolean", default=True),
        Field("TimeZoneSidKey", "picklist", picklist=TIME_ZONES, default="America/Los_Angeles"),
        Field("LocaleSidKey", default="en_US"), Field("LanguageLocaleKey", default="en_US"),
        _ref("ManagerId", ("User",), "Manager"), _ref("ProfileId", ("Profile",), "Profile"),
        _ro("UserType", default="Standard"),
        _ro("CreatedDate", "datetime"), _ro("CreatedById", "reference", reference_to=("User",)),
        _ro("LastModifiedDate", "datetime"), _ro("LastModifiedById", "reference", reference_to=("User",)),
        _ro("SystemModstamp", "datetime"),
    ], system=False),
    "Lead": _obj("Lead", "Lead", [
        _ro("MasterRecordId", "reference", reference_to=("Lead",)), *_person_fields(),
        Field("Company", required=True), Field("Website", "url"), Field("Industry", "picklist"),
        Field("NumberOfEmployees", "int"), Field("Rating", "picklist", picklist=("Hot", "Warm", "Cold")),
        Field("Status", "picklist", picklist=LEAD_STATUSES, restricted=True, default="Open - Not Contacted"),
        OWNER, _ro("IsConverted", "boolean", default=False), _ro("ConvertedDate", "date"),
        _ro("ConvertedAccountId", "reference", reference_to=("Account",)),
        _ro("ConvertedContactId", "reference", reference_to=("Contact",)),
        Field("IsUnreadByOwner", "boolean", default=True), *_package_fields(),
    ], mergeable=True, notifies=True),
    "Contact": _obj("Contact", "Contact", [
        _ro("MasterRecordId", "reference", reference_to=("Contact",)),
        _ref("AccountId", ("Account",), "Account"), *_person_fields("Mailing"), Field("Department"),
        OWNER, *_package_fields(),
    ], mergeable=True, notifies=True),
    "Account": _obj("Account", "Account", [
        _ro("MasterRecordId", "reference", reference_to=("Account",)), Field("Name", required=True),
        Field("Type", "picklist", picklist=("Prospect", "Customer - Direct", "Customer - Channel", "Partner")),
        _ref("ParentId", ("Account",), "Parent"), *[Field("Billing" + part) for part in ADDRESS],
        Field("Phone", "phone"), Field("Website", "url"), Field("Industry", "picklist"),
        Field("NumberOfEmployees", "int"), Field("Description", "textarea"), OWNER,
        _ro("LastActivityDate", "date"),
    ], mergeable=True),
    "Opportunity": _obj("Opportunity", "Opportunity", [
        _ref("AccountId", ("Account",), "Account"), _ref("ContactId", ("Contact",), "Contact"),
        Field("Name", required=True), Field("StageName", "picklist", picklist=OPP_STAGES, required=True),
        Field("CloseDate", "date", required=True), Field("Amount", "currency"), Field("Probability", "percent"),
        Field("Type", "picklist"), Field("LeadSource", "picklist", picklist=LEAD_SOURCES),
        _ro("IsClosed", "boolean", default=False), _ro("IsWon", "boolean", default=False), OWNER,
    ]),
    "Task": _obj("Task", "Task", [
        _ref("WhoId", ("Contact", "Lead"), "Who"),
        _ref("WhatId", ("Account", "Opportunity"), "What"), Field("Subject", "combobox"),
        Field("ActivityDate", "date"),
        Field("Status", "picklist", picklist=TASK_STATUSES, required=True, default="Not Started"),
        Field("Priority", "picklist", picklist=("High", "Normal", "Low"), required=True, default="Normal"),
        OWNER, Field("Description", "textarea"),
        Field("Type", "picklist", picklist=("Call", "Email", "Meeting", "Other")),
        # createable but not updateable: https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_objects_task.htm
        Field("TaskSubtype", "picklist", picklist=("Task", "Email", "Call", "ListEmail", "Cadence"),
              updateable=False, default="Task"),
        _ro("IsClosed", "boolean", default=False), _ro("IsHighPriority", "boolean", default=False),
        Field("CallType", "picklist", picklist=("Internal", "Inbound", "Outbound")),
        Field("CallDurationInSeconds", "int"), Field("CallDisposition"), _ro("CompletedDateTime", "datetime"),
        _ro("AccountId", "reference", reference_to=("Account",)),
    ]),
    # classic notes: https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_note.htm
    "Note": _obj("Note", "Note", [
        _ref("ParentId", ("Account", "Contact", "Lead", "Opportunity"), "Parent", required=True,
             updateable=False),
        Field("Title", required=True), Field("Body", "textarea"), Field("IsPrivate", "boolean", default=False),
        OWNER,
    ]),
    "Event": _obj("Event", "Event", [
        _ref("WhoId", ("Contact", "Lead"), "Who"), _ref("WhatId", ("Account", "Opportunity"), "What"),
        Field("Subject", "combobox"), Field("StartDateTime", "datetime"), Field("EndDateTime", "datetime"),
        Field("ActivityDateTime", "datetime"), _ro("ActivityDate", "date"),
        Field("DurationInMinutes", "int"), Field("Location"), Field("Description", "textarea"),
        Field("Type", "picklist", picklist=("Call", "Email", "Meeting", "Other")),
        Field("EventSubtype", "picklist", picklist=("Event",), updateable=False, default="Event"), OWNER,
        _ro("AccountId", "reference", reference_to=("Account",)),
    ]),
    # Enhanced Email: what Email-to-Salesforce, Einstein Activity Capture and logEmailOnSend log; who sent it and
    # to whom is in EmailMessageRelation, not on the message. Status "0" New … "3" Sent, "5" Draft.
    # https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_emailmessage.htm
    "EmailMessage": _obj("EmailMessage", "Email Message", [
        Field("Subject"), Field("TextBody", "textarea"), Field("HtmlBody", "textarea"),
        Field("FromAddress", "email"), Field("FromName"), Field("ToAddress"), Field("CcAddress"),
        Field("MessageDate", "datetime"), Field("Incoming", "boolean", default=False),
        Field("Status", "picklist", picklist=("0", "1", "2", "3", "4", "5"), restricted=True, required=True),
        _ref("RelatedToId", ("Account", "Opportunity"), "RelatedTo"), _ref("ActivityId", ("Task",), "Activity"),
        Field("MessageIdentifier"), Field("ThreadIdentifier"),
    ]),
    # https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_emailmessagerelation.htm
    "EmailMessageRelation": _obj("EmailMessageRelation", "Email Message Relation", [
        _ref("EmailMessageId", ("EmailMessage",), "EmailMessage", required=True, updateable=False),
        _ref("RelationId", ("Contact", "Lead", "User"), "Relation"), Field("RelationAddress", "email"),
        Field("RelationType", "picklist", picklist=("FromAddress", "ToAddress", "CcAddress", "BccAddress"),
              restricted=True, required=True),
        _ro("RelationObjectType"),
    ]),
    **PERMISSION_OBJECTS,
}

# An org's admin may install LeadRelay without its managed package, or uninstall the package later (control API:
# simulate {"action": "uninstall_package"}): that org's describe lacks the package's fields, and a write or query
# naming one answers INVALID_FIELD, as any unknown field does. Kept in account.extra under this key; absent: the
# package is installed, as in every org the sandbox creates; a version string: that version is installed.
PACKAGE_INSTALLED = "leadrelay_package_installed"
_WITHOUT_PACKAGE = {name: obj.without_package() for name, obj in SOBJECTS.items()}

# relationships that can point to several object types come back with attributes.type "Name"
POLYMORPHIC = {("Lead", "Owner"), ("Task", "Owner"), ("Event", "Owner"), ("Task", "Who"), ("Task", "What"),
               ("Event", "Who"), ("Event", "What"), ("Note", "Parent"), ("EmailMessageRelation", "Relation")}


def sobject(name: str) -> SObject | None:
    """Case-insensitive lookup of an sObject by API name."""
    if name in SOBJECTS:
        return SOBJECTS[name]
    for key, value in SOBJECTS.items():
        if key.lower() == (name or "").lower():
            return value
    return None


def org_sobject(account: Account, name: str) -> SObject | None:
    """`sobject(name)` as this org has it: without the managed package's fields where the package is not installed,
    without a later version's fields where the org is on an earlier one (simulate {"action": "install_package",
    "version": "1.0"})."""
    obj = sobject(name)
    installed = account.extra.get(PACKAGE_INSTALLED, True)
    if obj is None or installed is True:
        return obj
    return obj.with_package(installed) if isinstance(installed, str) else _WITHOUT_PACKAGE[obj.name]


def describe(obj: SObject) -> dict:
    """A minimal sObject Describe result: the object's flags and its fields."""
    from sandbox.salesforce.ids import KEY_PREFIXES

    fields = []
    for spec in obj.fields.values():
        fields.append({
            "name": spec.name, "label": spec.name, "type": spec.type, "custom": spec.name.endswith("__c"),
            "createable": spec.createable, "updateable": spec.updateable,
            "nillable": not spec.required and spec.type != "boolean",
            "defaultedOnCreate": spec.default is not None, "referenceTo": list(spec.reference_to),
            "relationshipName": spec.relationship, "restrictedPicklist": spec.restricted,
            "picklistValues": [{"active": True, "defaultValue": value == spec.default, "label": value,
                                "value": value} for value in spec.picklist],
        })
    return {"name": obj.name, "label": obj.label, "labelPlural": obj.label + "s",
            "keyPrefix": KEY_PREFIXES.get(obj.name), "createable": True, "updateable": True,
            "deletable": obj.name != "User", "queryable": True, "mergeable": obj.mergeable,
            "custom": False, "fields": fields,
            "urls": {"sobject": f"/services/data/v59.0/sobjects/{obj.name}",
                     "describe": f"/services/data/v59.0/sobjects/{obj.name}/describe"}}
