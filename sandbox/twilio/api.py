"""Twilio's Programmable Messaging API as the SMS sender uses it, on the sandbox's origin.

What is relied on (https://www.twilio.com/docs/messaging/api/message-resource, /docs/api/errors,
/docs/messaging/guides/test-credentials, /docs/usage/webhooks/webhooks-security):
- POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded To, From, Body, StatusCallback; HTTP Basic
  AccountSid:AuthToken; 201 with the message resource (sid "SM…", status "queued"); GET .../Messages/{Sid}.json.
- Errors as JSON {code, message, more_info, status}: 20003 (401) bad credentials, 21211 invalid To, 21606 a From
  that is not the account's, 21602 no Body, 21610 an unsubscribed recipient (it texted STOP to that From),
  21408 / 21612 / 21614 a region not enabled / unroutable / not SMS-capable, 20429 (429) too many requests.
  The magic To numbers of Twilio's test credentials map to the same codes: +15005550001 21211, +15005550002 21612,
  +15005550003 21408, +15005550004 21610, +15005550009 21614.
- Advanced Opt-Out: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT opt the sender out (and still reach the
  webhook); START, YES, UNSTOP opt back in.
- Webhooks are form-encoded with X-Twilio-Signature: base64 HMAC-SHA1 of the URL + sorted params, keyed with the
  auth token (twilio.request_validator computes it).
"""
from __future__ import annotations

import base64
import datetime as dt
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Blueprint, jsonify, request
from twilio.request_validator import RequestValidator

from sandbox.outbox import Delivery

API = "2010-04-01"
OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
OPT_IN = {"START", "YES", "UNSTOP"}
MAGIC_TO = {"+15005550001": 21211, "+15005550002": 21612, "+15005550003": 21408, "+15005550004": 21610,
            "+15005550009": 21614}
MESSAGES = {20003: "Authenticate", 21211: "The 'To' number {to} is not a valid phone number.",
            21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}.",
            21602: "Message body is required.",
            21606: "The From phone number {from_} is not a valid, SMS-capable inbound phone number or short code for "
                   "your account.",
            21610: "Attempt to send to unsubscribed recipient",
            21612: "The 'To' phone number: {to}, is not currently reachable using the 'From' phone number: {from_} "
                   "via SMS.",
            21614: "'To' number {to} is not a valid mobile number",
            20429: "Too Many Requests"}
# Twilio answers 20429 when an account makes more API requests at once than its concurrency allows (100 by default);
# the sandbox counts requests a second instead, overridable with limits {"twilio": {"per_second": N}}
DEFAULT_PER_SECOND = 100


def _e164(number: str) -> bool:
    return number.startswith("+") and number[1:].isdigit() and 7 <= len(number) - 1 <= 15 and number[1] != "0"


@dataclass
class TwilioAccount:
    sid: str
    token: str
    numbers: list[str]
    recent: deque = field(default_factory=deque)  # request times in the last second


class TwilioState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accounts: dict[str, TwilioAccount] = {}
        self.messages: dict[str, dict[str, Any]] = {}  # sid → resource, in creation order
        self.inbound: list[dict[str, Any]] = []
        self.opted_out: set[tuple[str, str]] = set()  # (lead's number, our number)
        self._next_number = 0

    def create_account(self, from_number: str | None = None) -> TwilioAccount:
        with self.lock:
            if not from_number:
                self._next_number += 1
                from_number = f"+1415555{self._next_number:04d}"
            account = TwilioAccount(sid="AC" + secrets.token_hex(16), token=secrets.token_hex(16),
                                    numbers=[from_number])
            self.accounts[account.sid] = account
            return account

    def owner_of(self, number: str) -> TwilioAccount | None:
        with self.lock:
            return next((a for a in self.accounts.values() if number in a.numbers), None)


def _error(code: int, status: int, **words: str):
    body = {"code": code, "message": MESSAGES.get(code, "Error").format(**words),
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response


def _now() -> str:
    return format_datetime(dt.datetime.now(dt.UTC), usegmt=True)  # Twilio's dates are RFC 2822


def twilio_blueprints(sandbox) -> list[Blueprint]:  # noqa: C901 - one factory of small routes
    state: TwilioState = sandbox.twilio
    api = Blueprint("twilio_api", __name__, url_prefix=f"/{API}/Accounts/<account_sid>")
    control = Blueprint("sandbox_twilio", __name__, url_prefix="/_sandbox/twilio")

    def authenticate(account_sid: str) -> TwilioAccount | None:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        account = state.accounts.get(user)
        if account is None or not secrets.compare_digest(account.token, password) or user != account_sid:
            return None
        return account

    def over_limit(account: TwilioAccount) -> bool:
        per_second = int(sandbox.config.limit("twilio", "per_second", DEFAULT_PER_SECOND))
        now = time.monotonic()
        with state.lock:
            while account.recent and now - account.recent[0] >= 1.0:
                account.recent.popleft()
            if len(account.recent) >= per_second:
                return True
            account.recent.append(now)
        return False

    @api.post("/Messages.json")
    def create_message(account_sid: str):
        account = authenticate(account_sid)
        if account is None:
            return _error(20003, 401)
        if over_limit(account):
            return _error(20429, 429)
        to, from_ = request.form.get("To", "").strip(), request.form.get("From", "").strip()
        body = request.form.get("Body", "")
        if not _e164(to):
            return _error(21211, 400, to=to, from_=from_)
        if from_ not in account.numbers:
            return _error(21606, 400, to=to, from_=from_)
        if not body:
            return _error(21602, 400)
        code = MAGIC_TO.get(to)
        with state.lock:
            if (to, from_) in state.opted_out:
                code = 21610
        if code:
            return _error(code, 400, to=to, from_=from_)
        sid = "SM" + secrets.token_hex(16)
        now = _now()
        resource = {"account_sid": account.sid, "api_version": API, "body": body, "date_created": now,
                    "date_sent": None, "date_updated": now, "direction": "outbound-api", "error_code": None,
                    "error_message": None, "from": from_, "messaging_service_sid": None, "num_media": "0",
                    "num_segments": str(max(1, -(-len(body) // 160))), "price": None, "price_unit": "USD",
                    "sid": sid, "status": "queued", "to": to,
                    "subresource_uris": {"media": f"/{API}/Accounts/{account.sid}/Messages/{sid}/Media.json"},
                    "uri": f"/{API}/Accounts/{account.sid}/Messages/{sid}.json"}
        with state.lock:
            state.messages[sid] = resource
        callback = request.form.get("StatusCallback")
        if callback:
            for status in ("sent", "delivered"):
                params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": account.sid, "From": from_, "To": to,
                          "MessageStatus": status, "SmsStatus": status, "ApiVersion": API}
                sandbox.outbox.send(_signed_delivery(account, callback, params))
        return jsonify(resource), 201

    @api.get("/Messages/<sid>.json")
    def get_message(account_sid: str, sid: str):
        account = authenticate(account_sid)
        if account is None:
            return _error(20003, 401)
        with state.lock:
            resource = state.messages.get(sid)
        if resource is None or resource["account_sid"] != account.sid:
            return jsonify({"code": 20404, "message": f"The requested resource /{API}/Accounts/{account.sid}/"
                            f"Messages/{sid}.json was not found", "more_info":
                            "https://www.twilio.com/docs/errors/20404", "status": 404}), 404
        return jsonify(resource)

    @control.post("/accounts")
    def new_account():
        body = request.get_json(silent=True) or {}
        number = str(body.get("from_number") or "") or None
        if number and not _e164(number):
            return jsonify({"error": "from_number must be E.164, e.g. +14155550123"}), 400
        account = state.create_account(number)
        return jsonify({"account_sid": account.sid, "auth_token": account.token, "from_number": account.numbers[0],
                        "api_base": sandbox.base_url}), 201

    @control.get("/messages")
    def sent():
        to = request.args.get("to")
        with state.lock:
            rows = [m for m in state.messages.values() if not to or m["to"] == to]
            inbound = list(state.inbound)
        return jsonify({"messages": rows, "inbound": inbound})

    @control.post("/inbound")
    def inbound():
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) and body.get(k)
                                                 for k in ("from", "to", "url")):
            return jsonify({"error": 'expected {"from": "+1…", "to": <our number>, "body": "…", '
                                     '"url": <webhook>}'}), 400
        lead, ours, text = body["from"], body["to"], str(body.get("body") or "")
        account = state.owner_of(ours)
        if account is None:
            return jsonify({"error": f"no sandbox Twilio account owns {ours}"}), 404
        word = text.strip().upper()
        with state.lock:
            if word in OPT_OUT:
                state.opted_out.add((lead, ours))
            elif word in OPT_IN:
                state.opted_out.discard((lead, ours))
        sid = "SM" + secrets.token_hex(16)
        params = {"MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid, "AccountSid": account.sid, "From": lead,
                  "To": ours, "Body": text, "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
                  "ApiVersion": API}
        signature = RequestValidator(account.token).compute_signature(body["url"], params)
        with state.lock:
            state.inbound.append({**params, "url": body["url"], "received_at": _now()})
        session = requests.Session()
        session.trust_env = False
        try:
            answer = session.post(body["url"], data=params, timeout=15, headers={
                "X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"})
        except requests.RequestException as exc:
            return jsonify({"message_sid": sid, "error": f"the webhook could not be reached: {exc}"}), 502
        return jsonify({"message_sid": sid, "status": answer.status_code, "response": answer.text[:2000],
                        "opted_out": word in OPT_OUT})

    return [api, control]


def _signed_delivery(account: TwilioAccount, url: str, params: dict[str, str]) -> Delivery:
    signature = RequestValidator(account.token).compute_signature(url, params)
    return Delivery(platform="twilio", account_id=account.sid, url=url, body=urlencode(params).encode(),
                    headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
