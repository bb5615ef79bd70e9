"""Reading a webhook body as JSON, shared by the JSON platforms' parsers: one message for each way it can fail."""
from __future__ import annotations

import json
from typing import Any

from integration.errors import PayloadError


def load_json(body: bytes) -> Any:
    """The decoded body, else a PayloadError at "$" (not JSON, not UTF-8, or nested too deeply to decode)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError("$", f"not JSON: {exc}") from None
    except RecursionError:  # json's answer to nesting a few thousand levels deep
        raise PayloadError("$", "not JSON: nested too deeply") from None
