"""JSON answers the way Salesforce writes them (key order kept, so "attributes" comes first)."""
from __future__ import annotations

import json
from typing import Any

from flask import Response


def sf_json(payload: Any, status: int = 200) -> Response:
    """A JSON response with Salesforce's content type and unsorted keys."""
    return Response(json.dumps(payload), status=status, content_type="application/json;charset=UTF-8")
