"""Runs parsed SOQL against an org's records and shapes rows as the REST API returns them."""
from __future__ import annotations

import datetime as dt
import re
from functools import partial
from typing import Any

from sandbox.salesforce import ids, permissions, soql
from sandbox.salesforce.records import find
from sandbox.salesforce.schema import POLYMORPHIC, Field, SObject, org_sobject, sobject
from sandbox.salesforce.values import SFError, parse_date, parse_datetime
from sandbox.state import Account

_NUMERIC = ("int", "double", "currency", "percent")
_EXPECTED = {"datetime": ("datetime", "daterange"), "date": ("date", "daterange"), "boolean": ("boolean",)}


def _no_column(obj: SObject, name: str) -> SFError:
    return SFError("INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'. If you are attempting to "
                   "use a custom field, be sure to append the '__c' after the custom field name. Please reference "
                   "your WSDL or the describe call for the appropriate names.")


def resolve(obj: SObject, path: str) -> str:
    """Canonical spelling of a field path; raises INVALID_FIELD like the real parser."""
    parts = path.split(".")
    if parts[0].lower() == obj.name.lower() and len(parts) > 1:
        parts = parts[1:]  # SELECT Lead.Email FROM Lead is legal
    if len(parts) == 1:
        spec = obj.field(parts[0])
        if spec is None:
            raise _no_column(obj, parts[0])
        return spec.name
    if len(parts) != 2:
        raise SFError("INVALID_FIELD", f"Didn't understand relationship '{'.'.join(parts[:-1])}' in field path.")
    rel = obj.relationship(parts[0])
    if rel is None:
        raise SFError("INVALID_FIELD", f"Didn't understand relationship '{parts[0]}' in field path. If you are "
                      "attempting to use a custom relationship, be sure to append the '__r' after the custom "
                      "relationship name. Please reference your WSDL or the describe call for the appropriate names.")
    target = sobject(rel.reference_to[0])
    if (obj.name, rel.relationship) in POLYMORPHIC:
        # polymorphic lookups only expose the Name object's few fields
        name_field = parts[1].lower()
        if name_field not in ("name", "id", "email", "type", "isactive", "firstname", "lastname"):
            raise _no_column(sobject("User"), parts[1])
    spec = target.field(parts[1]) or (target.field("Name") if parts[1].lower() == "type" else None)
    if spec is None:
        raise _no_column(target, parts[1])
    return f"{rel.relationship}.{spec.name if parts[1].lower() != 'type' else 'Type'}"


def _resolve_in_org(account: Account, obj: SObject, path: str) -> str:
    """`resolve` against the object as this org has it (no managed-package field where the package is missing)."""
    return resolve(org_sobject(account, obj.name), path)


def _spec(obj: SObject, path: str) -> tuple[Field | None, str]:
    if "." not in path:
        return obj.fields[path], obj.name
    rel_name, field_name = path.split(".")
    rel = obj.relationship(rel_name)
    target = sobject(rel.reference_to[0])
    return target.fields.get(field_name), target.name


def value_of(account: Account, obj: SObject, record: dict, path: str) -> Any:
    if "." not in path:
        return record.get(path)
    rel_name, field_name = path.split(".")
    ref = record.get(obj.relationship(rel_name).name)
    found = find(account, ref or "")
    if found is None:
        return None
    return found[0] if field_name == "Type" else found[1].get(field_name)


def _check_type(obj: SObject, path: str, value: tuple[str, Any]) -> None:
    spec, _ = _spec(obj, path)
    kind = spec.type if spec else "string"
    vtype = value[0]
    if vtype == "null":
        return
    expected = _EXPECTED.get(kind) or (("number",) if kind in _NUMERIC else ("string",))
    if vtype not in expected:
        quoted = "should be enclosed in quotes" if expected == ("string",) else "should not be enclosed in quotes"
        name = {"datetime": "dateTime"}.get(kind, "string" if expected == ("string",) else kind)
        raise SFError("INVALID_FIELD", f"value of filter criterion for field '{path.split('.')[-1]}' must be of "
                      f"type {name} and {quoted}")


def _normalise(spec: Field | None, raw: Any) -> Any:
    if raw is None:
        return None
    kind = spec.type if spec else "string"
    if kind == "datetime":
        return parse_datetime(raw)
    if kind == "date":
        return parse_date(raw)
    if kind in _NUMERIC or kind == "boolean":
        return raw
    return str(raw).lower()


def _literal(spec: Field | None, value: tuple[str, Any]) -> Any:
    vtype, raw = value
    if vtype == "string":
        text = ids.to_18(raw) if spec and spec.type in ("id", "reference") and len(raw) == 15 else raw
        return text.lower()
    if vtype == "date" and spec and spec.type == "datetime":
        return dt.datetime.combine(raw, dt.time(), dt.UTC)
    return raw


def _range_compare(op: str, actual: Any, offsets: tuple[int, int], is_date: bool) -> bool:
    start, end = soql.day_range(offsets)
    if is_date:
        start, end = start.date(), end.date()
    return {"=": start <= actual < end, "!=": not start <= actual < end, ">": actual >= end,
            ">=": actual >= start, "<": actual < start, "<=": actual < end}.get(op, False)


def _compare(op: str, spec: Field | None, actual: Any, value: tuple[str, Any]) -> bool:
    if value[0] == "null":
        return (actual is None) == (op == "=") if op in ("=", "!=") else False
    if actual is None:
        return op == "!="
    if value[0] == "daterange":
        return _range_compare(op, actual, value[1], spec is not None and spec.type == "date")
    expected = _literal(spec, value)
    if op == "like":
        pattern = re.escape(str(expected)).replace("%", ".*").replace("_", ".")
        return re.fullmatch(pattern, str(actual), re.DOTALL) is not None
    return {"=": actual == expected, "!=": actual != expected, "<": actual < expected,
            ">": actual > expected, "<=": actual <= expected, ">=": actual >= expected}[op]


def matches(account: Account, obj: SObject, record: dict, node: Any) -> bool:
    """Evaluate a WHERE tree against one record."""
    if node is None:
        return True
    head = node[0]
    if head == "and":
        return matches(account, obj, record, node[1]) and matches(account, obj, record, node[2])
    if head == "or":
        return matches(account, obj, record, node[1]) or matches(account, obj, record, node[2])
    if head == "not":
        return not matches(account, obj, record, node[1])
    path = node[1]
    spec, _ = _spec(obj, path)
    actual = _normalise(spec, value_of(account, obj, record, path))
    if head in ("in", "nin"):
        found = any(_compare("=", spec, actual, v) for v in node[2])
        return found if head == "in" else not found
    return _compare(head, spec, actual, node[2])


def _validate(query: soql.Query, node: Any) -> None:
    if node is None:
        return
    if node[0] in ("and", "or"):
        _validate(query, node[1])
        _validate(query, node[2])
    elif node[0] == "not":
        _validate(query, node[1])
    else:
        for value in node[2] if node[0] in ("in", "nin") else [node[2]]:
            _check_type(query.obj, node[1], value)


def _sort_key(spec: Field | None, value: Any) -> Any:
    # Text sorts case-insensitively for English locales (SOQL ORDER BY docs); an Id is a case-sensitive key
    # (15-char ids differing only in case are different records), so Ids keep their own order: the order they were
    # made in, here. Lowercased, "...Z" (serial 35) sorted after "...a" (serial 36).
    if isinstance(value, str) and not (spec and spec.type in ("id", "reference")):
        return value.lower()
    return value


def run(account: Account, text: str, version: str, include_deleted: bool = False,
        actor: str | None = None) -> tuple[list[dict], bool]:
    """Rows for a SOQL string (already projected), and whether it was a COUNT() query, as `actor` sees them."""
    query = soql.parse(text, partial(_resolve_in_org, account))
    if actor:
        permissions.check_readable(account, query.obj.name, actor)
    _validate(query, query.where)
    obj = query.obj
    rows = [r for r in account.table(obj.name).values()
            if (include_deleted or not r.get("IsDeleted")) and matches(account, obj, r, query.where)]
    for path, desc, nulls_first in reversed(query.order):
        present = [r for r in rows if value_of(account, obj, r, path) is not None]
        absent = [r for r in rows if value_of(account, obj, r, path) is None]
        spec = _spec(obj, path)[0]
        present.sort(key=lambda r, p=path, s=spec: _sort_key(s, value_of(account, obj, r, p)), reverse=desc)
        rows = absent + present if nulls_first else present + absent
    rows = rows[query.offset:]
    if query.limit is not None:
        rows = rows[:query.limit]
    if query.count:
        return [{} for _ in rows], True
    return [project(account, obj, r, query.fields, version) for r in rows], False


def attributes(object_type: str, record_id: str | None, version: str) -> dict[str, str]:
    return {"type": object_type, "url": f"/services/data/{version}/sobjects/{object_type}/{record_id}"}


def project(account: Account, obj: SObject, record: dict, paths: list[str], version: str) -> dict:
    """One query row: attributes, then the selected fields; relationships as nested records."""
    row: dict[str, Any] = {"attributes": attributes(obj.name, record["Id"], version)}
    for path in paths:
        if "." not in path:
            row[path] = record.get(path)
            continue
        rel_name, field_name = path.split(".")
        found = find(account, record.get(obj.relationship(rel_name).name) or "")
        if found is None:
            row[rel_name] = None
            continue
        nested = row.get(rel_name) or {}
        if not nested:
            shown = "Name" if (obj.name, rel_name) in POLYMORPHIC else found[0]
            nested["attributes"] = {**attributes(found[0], found[1]["Id"], version), "type": shown}
        nested[field_name] = found[0] if field_name == "Type" else found[1].get(field_name)
        row[rel_name] = nested
    return row
