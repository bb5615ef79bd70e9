"""Checking one HTTP answer against the response schema a vendor's OpenAPI document publishes for it.

The operation is named by method and path template as the document spells them (`GET /persons/{id}`); the
answer's own request path must match that template, so a test cannot validate against the wrong operation.
The response is the one the document gives for the answer's status (else its `4XX`/`5XX` range, else
`default`, as OpenAPI 3.0 reads them). Validation is openapi-schema-validator's OAS 3.0 read validator
(`nullable`, `readOnly`/`writeOnly`, OpenAPI's formats: date-time, uuid, int32 …) on jsonschema, with every
`$ref` resolved by `referencing` inside the document it was written in.

A schema violation fails, unless a named `deviations.Allowance` excuses exactly that error (one JSON path,
one keyword, one instance value); the allowances that did excuse something are reported back, so a test
can assert that the known deviation really occurred.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker
from referencing import Registry
from referencing.jsonschema import DRAFT4

from tests.contracts.deviations import Allowance

SPEC_DIR = Path(__file__).resolve().parent / "specs"
JSON_TYPES = ("application/json", "*/*")
# The documents' paths are relative to their server URL: HubSpot's server is the bare host, Pipedrive's are
# https://api.pipedrive.com/v1 and …/api/v2 (served on each company's host as /api/v1 and /api/v2).
PATH_PREFIX = {"pipedrive/openapi-v1.json": "/api/v1", "pipedrive/openapi-v2.json": "/api/v2"}


@dataclass(frozen=True)
class Answer:
    """What the sandbox answered to one request, as received on the wire."""

    method: str
    path: str  # the request path (no query), as sent
    status: int
    headers: Mapping[str, str]
    body: Any  # the parsed JSON body (None for an empty one)


class ContractViolation(AssertionError):
    """The answer is not what the published schema allows."""

    def __init__(self, where: str, errors: list[ValidationError]) -> None:
        self.errors = errors
        lines = [f"- at {_json_path(e)}: {e.message} (keyword {e.validator!r})" for e in errors[:20]]
        more = f"\n… and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"{where}: {len(errors)} schema violation(s)\n" + "\n".join(lines) + more)


@dataclass(frozen=True)
class Verdict:
    """A conforming answer: which schema judged it and which named allowances excused something."""

    schema: str
    excused: Mapping[str, int] = field(default_factory=dict)  # allowance name -> errors it excused


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _json_path(error: ValidationError) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)


class Spec:
    """One vendor OpenAPI document, loaded once, with a `referencing` registry over it."""

    def __init__(self, relative: str) -> None:
        self.name = relative
        self.document = json.loads((SPEC_DIR / relative).read_text(encoding="utf-8"))
        self.uri = f"urn:leadrelay-contract:{relative}"
        # OpenAPI 3.0 schemas are a JSON Schema draft-4 dialect: `$ref` beside other keywords is not a resource
        self.registry = Registry().with_resource(self.uri, DRAFT4.create_resource(self.document))

    def pointer(self, pointer: str) -> Any:
        node = self.document
        for token in pointer.lstrip("/").split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            node = node[int(token)] if isinstance(node, list) else node[token]
        return node

    def operation(self, method: str, template: str) -> dict[str, Any]:
        try:
            return self.document["paths"][template][method.lower()]
        except KeyError:
            raise AssertionError(f"{self.name} has no operation {method.upper()} {template}") from None

    def response_schema(self, method: str, template: str, status: int) -> str | None:
        """The JSON pointer of the schema published for this status, or None when the operation has none."""
        responses = self.operation(method, template)["responses"]
        key = next((k for k in (str(status), f"{str(status)[0]}XX", "default") if k in responses), None)
        if key is None:
            return None
        pointer = f"/paths/{_escape(template)}/{method.lower()}/responses/{key}"
        response = responses[key]
        if "$ref" in response:  # e.g. HubSpot's default -> #/components/responses/Error
            pointer = response["$ref"].removeprefix("#")
            response = self.pointer(pointer)
        content = response.get("content") or {}
        media = next((m for m in JSON_TYPES if m in content), None)
        return f"{pointer}/content/{_escape(media)}/schema" if media else None

    def validator(self, pointer: str, extra: Mapping[str, Any] | None = None) -> Any:
        """An OAS 3.0 read validator for the schema at `pointer` (and `extra`, a stricter documented rule)."""
        schema: dict[str, Any] = {"$ref": f"{self.uri}#{pointer}"}
        if extra:
            schema = {"allOf": [schema, dict(extra)]}
        return OAS30ReadValidator(schema, registry=self.registry, format_checker=oas30_format_checker)


@cache
def spec(relative: str) -> Spec:
    """The document at tests/contracts/specs/<relative>, parsed once per test run."""
    return Spec(relative)


def template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "/?$")


def check(answer: Answer, document: str, method: str, template: str, *, allow: Iterable[Allowance] = (),
          fallback: Fallback | None = None, expect: int | None = None, requested: str | None = None,
          prefix: str | None = None) -> Verdict:
    """Validate `answer` against `document`'s schema for `method template` and the answer's status.

    `expect`: the status the test provoked (checked first, so a wrong status is its own failure).
    `fallback`: where the operation publishes nothing for this status, the named schema to use instead.
    `requested`: the path template the request matched, when another object's operation stands in for it
    (HubSpot's emails and meetings, which have no document in the set, are judged by the calls document).
    `prefix`: the request path's prefix when it is not the document's API prefix (Pipedrive's OAuth server).
    """
    doc = spec(document)
    if expect is not None:
        assert answer.status == expect, f"expected {expect}, the sandbox answered {answer.status}: {answer.body!r}"
    assert answer.method.upper() == method.upper(), f"{answer.method} is not {method}"
    path = answer.path.split("?")[0]
    full = (PATH_PREFIX.get(document, "") if prefix is None else prefix) + (requested or template)
    assert template_regex(full).match(path), f"the request went to {path}, not to {full}"
    pointer = doc.response_schema(method, template, answer.status)
    extra = None
    if pointer is None:
        assert fallback is not None, (f"{document} publishes no schema for {method} {template} {answer.status}; "
                                      "name a Fallback")
        pointer, extra, doc = fallback.pointer, fallback.rule, spec(fallback.document)
    where = f"{document} {method.upper()} {template} -> {answer.status}"
    errors = sorted(doc.validator(pointer, extra).iter_errors(answer.body), key=lambda e: list(e.absolute_path))
    excused: dict[str, int] = {}
    left = []
    for error in errors:
        allowance = next((a for a in allow if a.excuses(error)), None)
        if allowance is None:
            left.append(error)
        else:
            excused[allowance.name] = excused.get(allowance.name, 0) + 1
    if left:
        raise ContractViolation(where, left)
    return Verdict(schema=f"{doc.name}#{pointer}", excused=excused)


@dataclass(frozen=True)
class Fallback:
    """Where an operation publishes no schema for a status: the schema the same vendor publishes for it elsewhere.

    `rule` adds what the vendor's prose documents for every such answer (a stricter rule, never a looser one).
    """

    name: str
    document: str
    pointer: str
    source: str
    rule: Mapping[str, Any] | None = None
