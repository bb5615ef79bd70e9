"""Where a vendor's OpenAPI document is wrong about its own API: one named, narrow allowance per known case.

An allowance excuses a schema error only when all of these hold: the error's JSON path is one of `paths`
(`*` stands for an array index, never for a field name), its keyword is `keyword` ("type"), and the offending
value is what the real API sends there (`accepts`: null, or Pipedrive v1's related-object dict). Nothing else
at that path and nothing at any other path is excused: a number where the document says string is still a
violation, and so is a missing property. Each allowance is pinned by the test named in `test`, which asserts
both halves: the sandbox answers like the real API, and the document says otherwise.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError

ANY = "*"  # an array index


def is_null(value: Any) -> bool:
    return value is None


def is_related_object(value: Any) -> bool:
    """Pipedrive v1's inline related object: {"value": <id>, "name": …} where the document says integer."""
    return isinstance(value, dict) and isinstance(value.get("value"), int)


@dataclass(frozen=True)
class Allowance:
    name: str
    paths: tuple[tuple[str, ...], ...]  # JSON paths of the answer; ANY matches one array index
    accepts: Callable[[Any], bool]
    test: str
    why: str
    keyword: str = "type"

    def excuses(self, error: ValidationError) -> bool:
        if error.validator != self.keyword or not self.accepts(error.instance):
            return False
        actual = tuple(ANY if isinstance(p, int) else p for p in error.absolute_path)
        return actual in self.paths


def under_data(*fields: str, prefix: tuple[str, ...] = ()) -> tuple[tuple[str, ...], ...]:
    """The paths of these fields in a Pipedrive answer: one record (`data.x`) or a list of them (`data[*].x`)."""
    return tuple(p for f in fields for p in (("data", *prefix, f), ("data", ANY, *prefix, f)))


# HubSpot: `properties` is `additionalProperties: {type: string}` in every CRM object document (and the SDKs are
# generated from it: `dict[str, str]`), but a property that is requested and has no value comes back as JSON
# null: "we got a crash ... one of the properties returned was null, so not a string", confirmed as a type bug by
# the SDK's maintainer (https://github.com/HubSpot/hubspot-api-nodejs/issues/323).
@dataclass(frozen=True)
class PropertyValues(Allowance):
    """HubSpot's null property values: any property name under `properties`, of one record or of `results`."""

    def excuses(self, error: ValidationError) -> bool:
        if error.validator != self.keyword or not self.accepts(error.instance):
            return False
        path = tuple(error.absolute_path)
        return (len(path) == 2 and path[0] == "properties") or (
            len(path) == 4 and path[0] == "results" and isinstance(path[1], int) and path[2] == "properties")


# The property *name* is the one free part: HubSpot objects carry arbitrary (custom) properties, and every one of
# them is typed the same `additionalProperties: {type: string}`. The value must be null; the place must be a
# property value; nothing else is excused.
HUBSPOT_NULL_PROPERTIES = PropertyValues(
    name="hubspot-null-property-value", paths=(), accepts=is_null,
    test="test_hubspot_property_values_null_where_spec_says_string",
    why="a requested property with no value is null on the real API; the document says string")

# Pipedrive: v2 list and search answers type `additional_data.next_cursor` as a plain string, but the last page
# answers null, which is how a client knows it is the last page
# (https://pipedrive.readme.io/docs/core-api-concepts-pagination, cursor-based pagination).
PIPEDRIVE_NULL_NEXT_CURSOR = Allowance(
    name="pipedrive-null-next-cursor", paths=(("additional_data", "next_cursor"),), accepts=is_null,
    test="test_pipedrive_next_cursor_null_on_last_page_where_spec_says_string",
    why="the last page's next_cursor is null on the real API; the document says string")

# Pipedrive: a field the record has no value for is answered null, while the v2 (and parts of the v1) document
# gives it a plain type without `nullable`. The vendor's own documents disagree with themselves here (the v1
# document marks e.g. picture_id, org_id, deal_id, lead_id, cc_email and expected_close_date nullable in most
# operations), and client libraries generated from them break on the nulls ("Response elements that are now
# being sent back as null need to be defined as nullable", https://github.com/DavidRouyer/pipedrive-dotnet/pull/143;
# https://github.com/DavidRouyer/pipedrive-dotnet/issues/141). Named field by field, per entity.
_UNSET = "a field the record has no value for is null on the real API; the document gives it no `nullable`"
_UNSET_TEST = "test_pipedrive_unset_fields_null_where_spec_says_value"
PIPEDRIVE_UNSET_PERSON = Allowance(
    name="pipedrive-unset-person-fields", paths=under_data("picture_id", "org_id"), accepts=is_null,
    test=_UNSET_TEST, why=_UNSET)
PIPEDRIVE_UNSET_ORGANIZATION = Allowance(
    name="pipedrive-unset-organization-address-parts",
    paths=under_data("country", "admin_area_level_1", "admin_area_level_2", "locality", "sublocality", "route",
                     "street_number", "postal_code", prefix=("address",)),
    accepts=is_null, test=_UNSET_TEST, why=_UNSET)
PIPEDRIVE_UNSET_DEAL = Allowance(
    name="pipedrive-unset-deal-fields",
    paths=under_data("expected_close_date", "stage_change_time", "won_time", "lost_time"), accepts=is_null,
    test=_UNSET_TEST, why=_UNSET)
PIPEDRIVE_UNSET_ACTIVITY = Allowance(
    name="pipedrive-unset-activity-fields",
    paths=under_data("deal_id", "lead_id", "org_id", "project_id", "due_time", "duration", "location", "attendees",
                     "conference_meeting_client", "conference_meeting_id", "conference_meeting_url",
                     "public_description", "priority", "note", "marked_as_done_time"),
    accepts=is_null, test=_UNSET_TEST, why=_UNSET)
# Pipedrive Mailbox: a mail party whose address belongs to no person (the user's own address, a stranger) is linked
# to none; the v1 document types linked_person_id/linked_person_name as plain integer/string, while its own example
# answers linked_organization_id null beside them. Only those two fields of a from/to party.
_PARTY_FIELDS = ("linked_person_id", "linked_person_name")
PIPEDRIVE_UNLINKED_MAIL_PARTY = Allowance(
    name="pipedrive-unlinked-mail-party",
    paths=tuple(path for side in ("from", "to") for f in _PARTY_FIELDS
                for path in (("data", ANY, "parties", side, ANY, f), ("data", ANY, side, ANY, f))),
    accepts=is_null, test="test_pipedrive_unlinked_mail_party_null_where_spec_says_value",
    why="a party whose address is no person's links to no person on the real API; the document gives no nullable")
PIPEDRIVE_UNSET_V1 = Allowance(  # v1 leads' cc_email, users/me's company_industry, a webhook created without a name
    name="pipedrive-unset-v1-fields", paths=under_data("cc_email", "company_industry", "name"), accepts=is_null,
    test=_UNSET_TEST, why=_UNSET)

# Pipedrive v1: persons carry their organization and owner as inline related objects ({"value": id, "name": …});
# the merge operation's document says integer. API v2 removed them ("Related objects have been removed from API
# responses", https://pipedrive.readme.io/docs/pipedrive-api-v2-migration-guide), which is how we know v1 has them.
PIPEDRIVE_V1_RELATED_OBJECTS = Allowance(
    name="pipedrive-v1-related-objects", paths=(("data", "org_id"), ("data", "owner_id")),
    accepts=is_related_object, test="test_pipedrive_v1_merge_related_objects_where_spec_says_integer",
    why="v1 person answers inline the organization and owner objects; the document says integer ids")
