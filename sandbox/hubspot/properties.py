"""Properties API v3: GET/POST /crm/v3/properties/{objectType}, GET .../{propertyName}, GET/POST .../groups.

Built-in properties are listed from the object type's known set (as HubSpot-defined "string" properties);
created ones are kept per portal in account.extra["property_definitions"] and their names in
account.extra["custom_properties"], which records.py accepts on writes.
Shapes: https://developers.hubspot.com/docs/api/crm/properties (hubspot-api-client 12 `ModelProperty`,
`PropertyGroup`). A name already taken answers 409 OBJECT_ALREADY_EXISTS; an unknown group 400.
"""
from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from flask import Blueprint, g, jsonify, request

from sandbox.hubspot.errors import HubSpotError, validation
from sandbox.hubspot.hubstate import iso
from sandbox.hubspot.schema import ObjectType, object_type

if TYPE_CHECKING:
    from sandbox.context import Sandbox
    from sandbox.state import Account

TYPES = {"string": ("text", "textarea", "select", "radio", "phonenumber", "html"), "number": ("number",),
         "enumeration": ("select", "radio", "checkbox", "booleancheckbox"), "bool": ("booleancheckbox",),
         "date": ("date",), "datetime": ("date",)}
DEFAULT_GROUPS = {"contacts": "contactinformation", "companies": "companyinformation", "deals": "dealinformation"}
NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


def _otype(name: str) -> ObjectType:
    otype = object_type(name)
    if otype is None:
        raise HubSpotError(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")
    return otype


def _definitions(account: Account, otype: ObjectType) -> dict[str, dict[str, Any]]:
    """Created properties, plus names declared directly in custom_properties (control API / seeds)."""
    defs = account.extra.setdefault("property_definitions", {}).setdefault(otype.name, {})
    for name in account.extra.get("custom_properties", {}).get(otype.name, []):
        defs.setdefault(name, _property(name, name, "string", "text", DEFAULT_GROUPS.get(otype.name, "custom"),
                                        hubspot_defined=False))
    return defs


def _groups(account: Account, otype: ObjectType) -> dict[str, dict[str, Any]]:
    groups = account.extra.setdefault("property_groups", {}).setdefault(otype.name, {})
    default = DEFAULT_GROUPS.get(otype.name, f"{otype.singular}information")
    groups.setdefault(default, {"name": default, "label": f"{otype.singular.title()} information",
                                "displayOrder": 0, "archived": False})
    return groups


def _property(name: str, label: str, kind: str, field_type: str, group: str, hubspot_defined: bool,
              **extra: Any) -> dict[str, Any]:
    stamp = iso(int(time.time() * 1000))
    return {"name": name, "label": label, "type": kind, "fieldType": field_type, "groupName": group,
            "description": extra.get("description") or "", "options": extra.get("options") or [],
            "displayOrder": extra.get("displayOrder", -1), "hidden": bool(extra.get("hidden", False)),
            "formField": bool(extra.get("formField", False)), "hasUniqueValue": False, "calculated": False,
            "externalOptions": False, "hubspotDefined": hubspot_defined, "archived": False,
            "createdAt": stamp, "updatedAt": stamp,
            "modificationMetadata": {"archivable": not hubspot_defined, "readOnlyDefinition": hubspot_defined,
                                     "readOnlyValue": False}}


def _all(account: Account, otype: ObjectType) -> list[dict[str, Any]]:
    builtin = [_property(n, n, "string", "text", DEFAULT_GROUPS.get(otype.name, "custom"), True)
               for n in sorted(otype.known)]
    return builtin + list(_definitions(account, otype).values())


def _create(account: Account, otype: ObjectType, data: dict[str, Any]) -> dict[str, Any]:
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not data.get(k)]
    if missing:
        raise validation(f"Invalid input JSON: missing required fields {', '.join(missing)}")
    name, kind, field_type = str(data["name"]), str(data["type"]), str(data["fieldType"])
    if not NAME.match(name):
        raise validation(f"Property name {name!r} must be lowercase letters, digits and underscores")
    if field_type not in TYPES.get(kind, ()):
        raise validation(f"Property type {kind!r} with fieldType {field_type!r} is not a valid combination")
    if kind == "enumeration" and not data.get("options"):
        raise validation("Enumeration properties need options")
    if data["groupName"] not in _groups(account, otype):
        raise validation(f"Property group {data['groupName']!r} does not exist")
    defs = _definitions(account, otype)
    if name in otype.known or name in defs:
        raise HubSpotError(409, f"A property named '{name}' already exists.", "OBJECT_ALREADY_EXISTS")
    extra = {k: data[k] for k in ("description", "options", "displayOrder", "hidden", "formField") if k in data}
    defs[name] = _property(name, str(data["label"]), kind, field_type, str(data["groupName"]), False, **extra)
    names = account.extra.setdefault("custom_properties", {}).setdefault(otype.name, [])
    if name not in names:
        names.append(name)
    return defs[name]


def routes(bp: Blueprint, sandbox: Sandbox) -> None:
    @bp.get("/crm/v3/properties/<type_name>")
    def list_properties(type_name: str):
        otype = _otype(type_name)
        archived = request.args.get("archived", "false").lower() == "true"
        with sandbox.store.lock:
            rows = [] if archived else _all(g.hs_account, otype)
        return jsonify({"results": rows})

    @bp.post("/crm/v3/properties/<type_name>")
    def create_property(type_name: str):
        otype = _otype(type_name)
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise validation("Invalid input JSON on line 1, column 1: Cannot build request body")
        with sandbox.store.lock:
            created = _create(g.hs_account, otype, data)
        return jsonify(created), 201

    @bp.get("/crm/v3/properties/<type_name>/groups")
    def list_groups(type_name: str):
        otype = _otype(type_name)
        with sandbox.store.lock:
            return jsonify({"results": list(_groups(g.hs_account, otype).values())})

    @bp.post("/crm/v3/properties/<type_name>/groups")
    def create_group(type_name: str):
        otype = _otype(type_name)
        data = request.get_json(silent=True) or {}
        if not data.get("name") or not data.get("label"):
            raise validation("Invalid input JSON: a property group needs name and label")
        with sandbox.store.lock:
            groups = _groups(g.hs_account, otype)
            if data["name"] in groups:
                raise HubSpotError(409, f"A property group named '{data['name']}' already exists.",
                                   "OBJECT_ALREADY_EXISTS")
            groups[data["name"]] = {"name": str(data["name"]), "label": str(data["label"]),
                                    "displayOrder": int(data.get("displayOrder", -1)), "archived": False}
            return jsonify(groups[data["name"]]), 201

    @bp.get("/crm/v3/properties/<type_name>/<name>")
    def get_property(type_name: str, name: str):
        otype = _otype(type_name)
        with sandbox.store.lock:
            found = next((p for p in _all(g.hs_account, otype) if p["name"] == name), None)
        if found is None:
            raise HubSpotError(404, f"Unable to find property {name}", "OBJECT_NOT_FOUND")
        return jsonify(found)
