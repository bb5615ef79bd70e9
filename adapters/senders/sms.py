"""Text messages through Twilio's Messages API (or any API that answers like it: the sandbox), with the twilio SDK."""
from __future__ import annotations

import datetime as dt
from typing import ClassVar

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from integration.outreach.senders import Accepted, Outgoing, SendFailed, SendRefused

DEFAULT_API_BASE = "https://api.twilio.com"

# Twilio error codes (https://www.twilio.com/docs/api/errors): the recipient opted out (replied STOP) — sending
# again is refused until they text START; an invalid / non-mobile To; bad credentials.
OPTED_OUT = {21610}
INVALID_RECIPIENT = {21211, 21614, 21408, 21612}
AUTH = {20003}


class TwilioSmsSender:
    CHANNEL: ClassVar[str] = "sms"
    # Twilio documents no fixed daily cap on a long code (throughput is per second, queued for up to 4 h), so none
    DAILY_LIMIT: ClassVar[int | None] = None

    def __init__(self, account_sid: str, auth_token: str, from_number: str, *,
                 api_base: str = DEFAULT_API_BASE, timeout: float = 20.0) -> None:
        self.from_number = from_number
        self.api_base = (api_base or DEFAULT_API_BASE).rstrip("/")
        http = TwilioHttpClient(timeout=timeout)
        http.session.trust_env = False  # a proxy from the environment must not see the Basic credentials
        self.client = Client(account_sid, auth_token, http_client=http)
        # twilio 9 builds each URL from its domain's base_url ("https://api.twilio.com", twilio/base/domain.py)
        # and only rewrites the host for edge/region, which we leave unset; pointing the domain elsewhere is how
        # the sandbox (or a Twilio-compatible provider) stands in
        self.client.api.base_url = self.api_base

    def __repr__(self) -> str:  # never the token
        return f"TwilioSmsSender({self.api_base}, from={self.from_number})"

    def send(self, message: Outgoing) -> Accepted:
        if message.channel != "sms":
            raise SendRefused("rejected", f"the SMS sender sends text messages, not {message.channel}")
        try:
            sent = self.client.messages.create(to=message.to, from_=self.from_number, body=message.body)
        except TwilioRestException as exc:
            raise map_error(exc) from exc
        except (requests.RequestException, OSError) as exc:
            raise SendFailed(f"could not reach the SMS provider at {self.api_base}: {exc}") from exc
        except TwilioException as exc:
            raise SendFailed(f"the SMS provider's answer could not be read: {exc}") from exc
        return Accepted(provider_id=str(sent.sid), accepted_at=dt.datetime.now(dt.UTC), sender=self.from_number)


def map_error(exc: TwilioRestException) -> Exception:
    code, status = exc.code, exc.status
    said = f"Twilio error {code or status}: {exc.msg}"
    if code in OPTED_OUT:
        return SendRefused("opted_out", f"{said} (the recipient replied STOP; they must text START to receive again)")
    if code in INVALID_RECIPIENT:
        return SendRefused("invalid_recipient", said)
    if code in AUTH or status == 401:
        return SendRefused("auth", f"{said}: the account SID or auth token is wrong — fix the credentials on the "
                                   "Settings page")
    if code == 20429 or status == 429 or status >= 500:
        return SendFailed(said)
    return SendRefused("rejected", said)


def verify_twilio_signature(auth_token: str, url: str, params: dict[str, str], signature: str) -> bool:
    """Whether X-Twilio-Signature is Twilio's HMAC-SHA1 of `url` + the sorted form params with this token
    (https://www.twilio.com/docs/usage/webhooks/webhooks-security); constant-time compare inside the validator."""
    if not auth_token or not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))
