"""Email through an SMTP server (the tenant's own, or the operator's default), with smtplib."""
from __future__ import annotations

import datetime as dt
import hashlib
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import ClassVar

from integration.outreach.senders import Accepted, Outgoing, SendFailed, SendRefused

SECURITIES = ("starttls", "tls", "none")


def message_id(key: str, from_address: str) -> str:
    """A Message-ID that depends on the idempotency key only: a retried send of one message is the same mail to a
    receiving server or a mail client that deduplicates on Message-ID (RFC 5322 §3.6.4 wants it unique per message,
    which the key is)."""
    domain = from_address.rpartition("@")[2] or "leadrelay.invalid"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


class SmtpSender:
    CHANNEL: ClassVar[str] = "email"
    DAILY_LIMIT: ClassVar[int | None] = None  # an SMTP server documents no allowance we could read

    def __init__(self, host: str, port: int, *, security: str = "starttls", username: str | None = None,
                 password: str | None = None, from_address: str, from_name: str | None = None,
                 timeout: float = 20.0, ssl_context: ssl.SSLContext | None = None) -> None:
        if security not in SECURITIES:
            raise ValueError(f"security must be one of {', '.join(SECURITIES)}")
        self.host, self.port, self.security = host, int(port), security
        self.username, self.password = username or None, password
        self.from_address, self.from_name = from_address, from_name
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()

    def __repr__(self) -> str:  # never the password
        return f"SmtpSender({self.host}:{self.port}, {self.security}, from={self.from_address})"

    def build(self, message: Outgoing) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = formataddr((message.from_name or self.from_name or "", self.from_address))
        mail["To"] = message.to
        if message.reply_to:
            mail["Reply-To"] = message.reply_to
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        mail["Message-ID"] = message_id(message.key or f"{message.to}\n{message.subject}\n{message.body}",
                                        self.from_address)
        mail.set_content(message.body, charset="utf-8")
        return mail

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                    context=self.ssl_context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            client.ehlo()
            if self.security == "starttls":
                client.starttls(context=self.ssl_context)
                client.ehlo()
            if self.username:
                client.login(self.username, self.password or "")
        except BaseException:
            client.close()
            raise
        return client

    def send(self, message: Outgoing) -> Accepted:
        if message.channel != "email":
            raise SendRefused("rejected", f"the SMTP sender sends email, not {message.channel}")
        mail = self.build(message)
        try:
            client = self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            # the tenant's credentials, not this lead: retrying won't help until an admin fixes them
            raise SendRefused("auth", f"the SMTP server refused the login ({exc.smtp_code}): check the username "
                                      "and password on the Settings page") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise SendRefused("rejected", f"the SMTP server does not support what the settings ask ({exc}): check "
                                          "the security setting") from exc
        except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, TLS failure, 4xx greeting
            raise SendFailed(f"could not reach the SMTP server {self.host}:{self.port}: {_words(exc)}") from exc
        try:
            client.send_message(mail, from_addr=self.from_address, to_addrs=[message.to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _by_code(code, text, recipient=True) from exc
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise _by_code(exc.smtp_code, exc.smtp_error, recipient=False) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise SendFailed(f"the SMTP server dropped the connection: {_words(exc)}") from exc
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        return Accepted(provider_id=str(mail["Message-ID"]), accepted_at=dt.datetime.now(dt.UTC),
                        sender=self.from_address)


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _words(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _by_code(code: int, raw: bytes | str, *, recipient: bool) -> Exception:
    """5xx is permanent (RFC 5321 §4.2.1): the mailbox does not exist (550/551/553 on RCPT) or the server won't take
    it; 4xx is a transient failure to retry."""
    text = f"{code} {_text(raw)}"
    if 500 <= code < 600:
        return SendRefused("invalid_recipient" if recipient and code in (550, 551, 553) else "rejected", text)
    return SendFailed(f"the SMTP server deferred the message: {text}")
