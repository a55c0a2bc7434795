"""The ``email`` channel over SMTP (stdlib smtplib in a worker thread).

SMTP has no idempotency key: a crash after the server accepted a message and before the log
says ``sent`` means the retry sends it again. Every message carries ``Message-ID`` derived from
the delivery key and ``X-Appeals-Delivery-Key``, so a receiving system can drop the duplicate.
Replies 5xx are permanent failures (except authentication, which an operator fixes), 4xx and
connection problems temporary.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from services.notify.domain.channels import Message, PermanentFailure, TemporaryFailure
from services.notify.domain.privacy import scrub

__all__ = ["SmtpChannel"]


class SmtpChannel:
    """Sends one e-mail per message to all of its addresses."""

    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.envelope_from = parseaddr(sender)[1]
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout = timeout

    def build(self, message: Message) -> EmailMessage:
        """The e-mail for a message (plain text, UTF-8)."""
        mail = EmailMessage()
        domain = self.envelope_from.partition("@")[2] or "notify.appeals"
        digest = hashlib.sha256(message.key.encode()).hexdigest()[:32]
        mail["Message-ID"] = f"<{digest}@{domain}>"
        mail["X-Appeals-Delivery-Key"] = message.key
        mail["From"] = self.sender
        mail["To"] = ", ".join(message.to)
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Content-Language"] = message.language
        mail.set_content(message.body)
        return mail

    async def send(self, message: Message) -> None:
        """Hand the e-mail to the SMTP server."""
        if not message.to:
            raise PermanentFailure("no e-mail address on file")
        mail = self.build(message)
        await asyncio.to_thread(self._send, mail, list(message.to))

    def _send(self, mail: EmailMessage, to: list[str]) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username is not None and self.password is not None:
                    smtp.login(self.username, self.password)
                smtp.send_message(mail, from_addr=self.envelope_from, to_addrs=to)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            error = f"SMTP refused every recipient ({sorted(set(codes))})"
            if all(code >= 500 for code in codes):
                raise PermanentFailure(error) from None
            raise TemporaryFailure(error) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise TemporaryFailure(f"SMTP authentication failed ({exc.smtp_code})") from None
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            error = scrub(f"SMTP {exc.smtp_code}: {text}")[:300]
            if exc.smtp_code >= 500:
                raise PermanentFailure(error) from None
            raise TemporaryFailure(error) from None
        except (smtplib.SMTPException, OSError) as exc:
            error = scrub(f"SMTP unavailable: {type(exc).__name__}: {exc}")[:300]
            raise TemporaryFailure(error) from None
