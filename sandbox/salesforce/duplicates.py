"""Duplicate rules: an org's active rules check each save of a Lead, Contact or Account against its other records.

What a rule does with a save that matches (Metadata API DuplicateRule, actionOnInsert / actionOnUpdate,
https://developer.salesforce.com/docs/platform/api-metadata/references/meta-types/metadata-duplicaterule.html):
  * "block": "the DuplicateRule API returns an error, and the record isn't inserted" (or updated).
  * "alert" (Allow with the Alert operation): "The DuplicateRule API returns an error code and a message. To complete
    the insertion, the code must set the allowSave field of DuplicateRuleHeader to true and reissue the request". On
    REST that is `Sforce-Duplicate-Rule-Header: allowSave=true` (API 52.0+, "Applicable if an alert is enabled for
    the action", https://developer.salesforce.com/docs/platform/api-rest/guide/headers-duplicaterules.html); it
    does nothing for a block.
  * "report" (Allow without Alert): the record is saved, no error.
A new org has the Standard Lead / Contact / Account Duplicate Rules active: on create "Allow: The user is alerted but
allowed to create the record", on edit "Allow: You can generate a report of duplicates created when this rule runs",
alert text "Use one of these records?" (help.salesforce.com sales.duplicate_rules_standard_lead_rule.htm,
..._standard_contact_rule.htm, ..._standard_account_rule.htm): STANDARD_RULES, config `duplicate_rules: "standard"`.
Their matching rules (help.salesforce.com matching_rules_standard_contact_rule.htm: (First Name AND Last Name AND
Title AND Company) OR (First Name AND Last Name AND Email) OR (First Name AND Last Name AND Phone AND Company) OR …;
accounts need Account Name and City or ZIP, help article 000386375) are kept as exact-match terms.

The answer to a refused save: HTTP 400 with [{"duplicateResut": {allowSave, duplicateRule, duplicateRuleEntityType,
errorMessage, matchResults: [{entityType, errors, matchEngine, matchRecords: [{additionalInformation, fieldDiffs,
matchConfidence, record: {attributes, Id}}], rule, size, success}]}, "errorCode": "DUPLICATES_DETECTED", "message"}];
"duplicateResut" is how real answers spell it (a production org's body quoted in gitlab-org/customers-gitlab-com
issue 7138, Restforce::ErrorCode::DuplicatesDetected; the SOAP type is DuplicateResult). In sObject Collections the
SaveResult's error is only {"statusCode": "DUPLICATES_DETECTED", "message", "fields": []} (REST API Developer Guide,
Composite, the allOrNone example).

Simplified: a term matches when each of its fields is non-blank and equal after trimming and case-folding (real
matching rules are fuzzy and use match keys); rules compare records of their own object only (no leads-vs-contacts
rule); no sharing, record-type filters, "Bypass" permissions or duplicate record sets for "report".
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.salesforce.values import SFError

ALERT_TEXT = "Use one of these records?"
HEADER = "Sforce-Duplicate-Rule-Header"
STANDARD_RULES: list[dict[str, Any]] = [
    {"sobject": "Lead", "name": "Standard_Lead_Duplicate_Rule", "on_create": "alert", "on_edit": "report",
     "match": ["FirstName+LastName+Email", "FirstName+LastName+Title+Company", "FirstName+LastName+Phone+Company",
               "FirstName+LastName+Phone"]},
    {"sobject": "Contact", "name": "Standard_Contact_Duplicate_Rule", "on_create": "alert", "on_edit": "report",
     "match": ["FirstName+LastName+Email", "FirstName+LastName+Title+AccountId", "FirstName+LastName+Phone"]},
    {"sobject": "Account", "name": "Standard_Account_Duplicate_Rule", "on_create": "alert", "on_edit": "report",
     "match": ["Name+BillingCity", "Name+BillingPostalCode"]},
]
MATCHING_RULES = {"Lead": "Standard_Lead_Match_Rule_v1_0", "Contact": "Standard_Contact_Match_Rule_v1_1",
                  "Account": "Standard_Account_Match_Rule_v1_0"}


def allows_save(header: str | None) -> bool:
    """True when `Sforce-Duplicate-Rule-Header` says allowSave=true (fields are "; "-separated name=value pairs)."""
    pairs = (part.split("=", 1) for part in (header or "").split(";") if "=" in part)
    return any(name.strip().lower() == "allowsave" and value.strip().lower() == "true" for name, value in pairs)


def active_rules(config: Any, object_type: str) -> list[dict[str, Any]]:
    rules = STANDARD_RULES if config.duplicate_rules == "standard" else config.duplicate_rules or []
    return [rule for rule in rules if rule.get("sobject") == object_type]


def guard(sandbox: Any, account: Any, allow_save: bool, version: str = "59.0") -> Callable[..., None]:
    """The check records.create / records.update run before they store a save (they hold the store lock)."""
    def check(object_type: str, values: dict[str, Any], record_id: str | None) -> None:
        operation = "on_edit" if record_id else "on_create"
        for rule in active_rules(sandbox.config, object_type):
            action = rule.get(operation)
            if action not in ("block", "alert") or (action == "alert" and allow_save):
                continue
            found = matches(account.table(object_type), rule["match"], values, record_id)
            if found:
                raise refusal(rule, object_type, found, allow=action == "alert", version=version)
    return check


def _key(value: Any) -> str:
    return str(value).strip().casefold() if value is not None else ""


def matches(table: dict[str, dict[str, Any]], terms: list[str], values: dict[str, Any],
            record_id: str | None) -> list[str]:
    """Ids of the live records that match `values` on every field of at least one term."""
    found = []
    for term in terms:
        names = term.split("+")
        wanted = [_key(values.get(n)) for n in names]
        if not all(wanted):
            continue
        found += [r["Id"] for r in table.values() if r["Id"] != record_id and not r.get("IsDeleted")
                  and r["Id"] not in found and [_key(r.get(n)) for n in names] == wanted]
    return found


def refusal(rule: dict[str, Any], object_type: str, ids: list[str], allow: bool, version: str) -> SFError:
    """DUPLICATES_DETECTED with the REST API's duplicate details (see the module docstring)."""
    message = rule.get("message") or ALERT_TEXT
    records = [{"additionalInformation": [], "fieldDiffs": [], "matchConfidence": 100.0,
                "record": {"attributes": {"type": object_type,
                                          "url": f"/services/data/v{version}/sobjects/{object_type}/{i}"}, "Id": i}}
               for i in ids]
    result = {"allowSave": allow, "duplicateRule": rule.get("name") or f"{object_type}_Duplicate_Rule",
              "duplicateRuleEntityType": object_type, "errorMessage": message,
              "matchResults": [{"entityType": object_type, "errors": [], "matchEngine": "ExactMatchEngine",
                                "matchRecords": records,
                                "rule": MATCHING_RULES.get(object_type, f"{object_type}_Match_Rule"),
                                "size": len(records), "success": True}]}
    return SFError("DUPLICATES_DETECTED", message, extra={"duplicateResut": result})
