"""SOAP API: merge() on POST /services/Soap/u/XX.X (partner) and /services/Soap/c/XX.X (enterprise).

The REST API has no merge resource (fact sheet §2.5), so this is the only merge path. Session comes from
<SessionHeader><sessionId>. Request-level problems are SOAP faults (HTTP 500, as SOAP 1.1 prescribes);
per-record problems (deleted or unknown ids) come back inside the MergeResult with success=false, as
merge() reports them: https://developer.salesforce.com/docs/atlas.en-us.264.0.api.meta/api/sforce_api_calls_merge_mergeresult.htm
"""
from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from flask import Blueprint, Response, request
from lxml import etree

from sandbox.salesforce import ids, org, outbound, records
from sandbox.salesforce.values import SFError

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
FLAVOURS = {"u": "partner", "c": "enterprise"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def _local(element: Any) -> str:
    return etree.QName(element).localname


def _child(element: Any, name: str) -> Any:
    for child in element:
        if isinstance(child.tag, str) and _local(child) == name:
            return child
    return None


def fault(flavour: str, code: str, message: str, fault_type: str = "UnexpectedErrorFault") -> Response:
    """A Salesforce sf:fault envelope, e.g. sf:INVALID_SESSION_ID."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}" xmlns:sf="urn:fault.{flavour}.soap.sforce.com" '
        f'xmlns:xsi="{XSI}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>"
        f'<detail><sf:{fault_type} xsi:type="sf:{fault_type}">'
        f"<sf:exceptionCode>{code}</sf:exceptionCode><sf:exceptionMessage>{escape(message)}"
        f"</sf:exceptionMessage></sf:{fault_type}></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(body, status=500, content_type="text/xml; charset=utf-8")


def _result_xml(result: dict[str, Any]) -> str:
    if "error" in result:
        err = result["error"]
        fields = "".join(f"<fields>{escape(f)}</fields>" for f in err.fields)
        return (f"<result><errors>{fields}<message>{escape(err.message)}</message>"
                f"<statusCode>{err.code}</statusCode></errors><id xsi:nil=\"true\"/><success>false</success>"
                "</result>")
    merged = "".join(f"<mergedRecordIds>{i}</mergedRecordIds>" for i in result["mergedRecordIds"])
    related = "".join(f"<updatedRelatedIds>{i}</updatedRelatedIds>" for i in result["updatedRelatedIds"])
    return f"<result><id>{result['id']}</id>{merged}<success>true</success>{related}</result>"


def merge_response(flavour: str, results: list[dict[str, Any]], usage: tuple[int, int]) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}" xmlns="urn:{flavour}.soap.sforce.com" xmlns:xsi="{XSI}">'
        f"<soapenv:Header><LimitInfoHeader><limitInfo><current>{usage[0]}</current><limit>{usage[1]}</limit>"
        "<type>API REQUESTS</type></limitInfo></LimitInfoHeader></soapenv:Header>"
        f"<soapenv:Body><mergeResponse>{''.join(_result_xml(r) for r in results)}</mergeResponse>"
        "</soapenv:Body></soapenv:Envelope>"
    )
    return Response(body, status=200, content_type="text/xml; charset=utf-8")


def parse_request(element: Any) -> tuple[str, str, list[str], dict[str, str], tuple[str, ...]]:
    """(object type, master id, loser ids, field overrides, fieldsToNull) of one MergeRequest."""
    master = _child(element, "masterRecord")
    if master is None:
        raise SFError("INVALID_FIELD", "masterRecord is required")
    xsi_type = master.get(f"{{{XSI}}}type") or ""
    type_el = _child(master, "type")
    object_type = type_el.text if type_el is not None else xsi_type.split(":")[-1]
    master_id, overrides, nulls = "", {}, []
    for child in master:
        if not isinstance(child.tag, str):
            continue
        name = _local(child)
        if name == "Id":
            master_id = (child.text or "").strip()
        elif name == "fieldsToNull":
            nulls.append((child.text or "").strip())
        elif name != "type":
            overrides[name] = child.text or ""
    losers = [(c.text or "").strip() for c in element if isinstance(c.tag, str)
              and _local(c) == "recordToMergeIds"]
    return object_type or "", master_id, losers, overrides, tuple(nulls)


def soap_blueprint(sandbox: Any) -> Blueprint:
    bp = Blueprint("salesforce_soap_api", __name__, url_prefix="/services/Soap")

    @bp.post("/<kind>/<version>")
    @bp.post("/<kind>/<version>/<org_id>")
    def soap(kind: str, version: str, org_id: str | None = None):
        flavour = FLAVOURS.get(kind)
        if flavour is None:
            return Response("Not Found", status=404)
        try:
            envelope = etree.fromstring(request.get_data(), _PARSER)  # noqa: S320 - entities/network disabled
        except etree.XMLSyntaxError as exc:
            return fault(flavour, "INVALID_XML", f"Unable to parse request: {exc}")
        session = envelope.xpath("//*[local-name()='SessionHeader']/*[local-name()='sessionId']/text()")
        token = session[0].strip() if session else None
        account = sandbox.authenticate(org.NAME, token)
        if account is None:
            return fault(flavour, "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")
        with sandbox.store.lock:
            allowed = org.consume_request(sandbox, account)
            usage = (account.extra["api_usage"]["count"], org.daily_limit(sandbox))
        if not allowed:
            return fault(flavour, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        body = envelope.xpath("//*[local-name()='Body']/*")
        if not body or _local(body[0]) != "merge":
            operation = _local(body[0]) if body else "(none)"
            return fault(flavour, "INVALID_OPERATION", f"No operation available for request {operation}")
        return _merge(sandbox, account, flavour, token, body[0], usage)

    return bp


def _merge(sandbox: Any, account: Any, flavour: str, token: str, element: Any, usage: tuple[int, int]):
    requests_ = [c for c in element if isinstance(c.tag, str) and _local(c) == "request"]
    if len(requests_) > 200:
        return fault(flavour, "LIMIT_EXCEEDED", "Cannot merge more than 200 requests in one call")
    parsed = []
    for req in requests_:
        object_type, master_id, losers, overrides, nulls = parse_request(req)
        for record_id in [master_id, *losers]:
            if not ids.looks_like_id(record_id):
                return fault(flavour, "INVALID_ID_FIELD", f"invalid record id: {record_id}", "InvalidIdFault")
        parsed.append((object_type, master_id, losers, overrides, nulls))
    results = []
    with sandbox.store.lock:
        actor = org.actor_for(account, token)
        for object_type, master_id, losers, overrides, nulls in parsed:
            try:
                result = records.merge(account, object_type, master_id, losers, overrides, actor, nulls)
            except SFError as err:
                results.append({"error": err})
                continue
            outbound.notify(sandbox, account, records.sobject(object_type).name, result["record"])
            results.append(result)
    return merge_response(flavour, results, usage)
