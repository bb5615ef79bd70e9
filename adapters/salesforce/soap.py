"""SOAP merge(): the REST API has no merge resource, so the envelope is posted through the SDK's session.

https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_merge.htm
MergeResult: https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_merge_mergeresult.htm
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree
from simple_salesforce import Salesforce
from simple_salesforce.util import Usage

from adapters.salesforce.errors import SoapFault, from_code

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
SOBJECT = "urn:sobject.partner.soap.sforce.com"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


@dataclass(frozen=True)
class Merged:
    survivor_id: str
    merged_ids: tuple[str, ...]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def envelope(session_id: str, sobject: str, master_id: str, loser_ids: list[str],
             overrides: dict[str, Any]) -> bytes:
    """A partner-WSDL merge request: the master with field overrides (None -> fieldsToNull), then the losers."""
    soap, p, s = (f"{{{SOAPENV}}}", f"{{{PARTNER}}}", f"{{{SOBJECT}}}")
    root = etree.Element(soap + "Envelope", nsmap={"soapenv": SOAPENV, "urn": PARTNER, "sobj": SOBJECT})
    header = etree.SubElement(etree.SubElement(root, soap + "Header"), p + "SessionHeader")
    etree.SubElement(header, p + "sessionId").text = session_id
    request = etree.SubElement(etree.SubElement(etree.SubElement(root, soap + "Body"), p + "merge"), p + "request")
    master = etree.SubElement(request, p + "masterRecord")
    etree.SubElement(master, s + "type").text = sobject
    for name in sorted(k for k, v in overrides.items() if v is None):
        etree.SubElement(master, s + "fieldsToNull").text = name
    etree.SubElement(master, s + "Id").text = master_id
    for name, value in overrides.items():
        if value is not None:
            etree.SubElement(master, s + name).text = _text(value)
    for loser in loser_ids:
        etree.SubElement(request, p + "recordToMergeIds").text = loser
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _first(element: Any, name: str) -> str | None:
    found = element.xpath(f".//*[local-name()='{name}']/text()")
    return found[0].strip() if found else None


def _fault(status: int, content: bytes) -> SoapFault:
    """The sf:fault of a non-200 answer (or a transport-looking fault when the body is not SOAP)."""
    try:
        root = etree.fromstring(content, _PARSER)  # noqa: S320 - entities and network disabled
    except etree.XMLSyntaxError:
        return SoapFault("", content[:300].decode("utf-8", "replace"), status)
    code = (_first(root, "faultcode") or "").rpartition(":")[2]
    return SoapFault(code, _first(root, "faultstring") or "", status)


def _usage(root: Any) -> Usage | None:
    """The LimitInfoHeader's API REQUESTS counter, as simple-salesforce keeps Sforce-Limit-Info."""
    for info in root.xpath("//*[local-name()='limitInfo']"):
        if _first(info, "type") == "API REQUESTS":
            return Usage(used=int(_first(info, "current") or 0), total=int(_first(info, "limit") or 0))
    return None


def merge(sf: Salesforce, sobject: str, master_id: str, loser_ids: list[str], overrides: dict[str, Any],
          timeout: tuple[float, float]) -> Merged:
    """POST the envelope to /services/Soap/u/<version>; per-record errors come back with success=false."""
    url = f"https://{sf.sf_instance}/services/Soap/u/{sf.sf_version}"
    body = envelope(sf.session_id, sobject, master_id, loser_ids, overrides)
    response = sf.session.post(url, data=body, timeout=timeout,
                               headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '"merge"'})
    if response.status_code != 200:
        raise _fault(response.status_code, response.content)
    try:
        root = etree.fromstring(response.content, _PARSER)  # noqa: S320 - entities and network disabled
    except etree.XMLSyntaxError as exc:
        raise SoapFault("", f"unreadable merge response: {exc}", 502) from exc
    usage = _usage(root)
    if usage is not None:
        sf.api_usage = {"api-usage": usage}
    results = root.xpath("//*[local-name()='mergeResponse']/*[local-name()='result']")
    if not results:
        raise SoapFault("", "merge response without a result", 502)
    result = results[0]
    if (_first(result, "success") or "").lower() != "true":
        code = _first(result, "statusCode") or ""
        # merge() reports an unknown or merged-away id as a bad cross reference, not as NOT_FOUND
        raise from_code("NOT_FOUND" if code == "INVALID_CROSS_REFERENCE_KEY" else code,
                        _first(result, "message") or "merge failed")
    merged = tuple(result.xpath("./*[local-name()='mergedRecordIds']/text()"))
    return Merged(survivor_id=_first(result, "id") or master_id, merged_ids=merged)
