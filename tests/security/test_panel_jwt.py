"""Finding 14a: the Pipedrive panel's JWT was accepted without `exp`, so a token seen once (it rides in the panel
URL: proxy logs, browser history) opened the panel for that company forever."""
from __future__ import annotations

import time

import pytest

from tests.test_crm_cards import PANEL, cards, pipedrive_get  # noqa: F401 - `cards` is the fixture


def claims(**offsets: int) -> dict:
    """The panel's claims for user 31 of company 555, with iat/exp this many seconds from now."""
    now = int(time.time())
    return {"userId": 31, "companyId": 555, **{name: now + delta for name, delta in offsets.items()}}


@pytest.mark.parametrize("offsets", [
    {},  # no exp: valid forever
    {"iat": 0},  # iat alone bounds nothing
    {"exp": -120},  # expired beyond the clock-skew leeway
    {"iat": 3600, "exp": 7200},  # issued in the future
])
def test_a_panel_token_without_a_live_expiry_is_refused(cards, offsets):  # noqa: F811
    assert pipedrive_get(cards, PANEL, claims=claims(**offsets)).status_code == 401


def test_a_panel_token_with_exp_is_accepted(cards):  # noqa: F811
    assert pipedrive_get(cards, PANEL, claims=claims(exp=300)).status_code == 200
