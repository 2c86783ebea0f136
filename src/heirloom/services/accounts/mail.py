"""Email through the SMTP server in settings (the dev stack's catcher by default)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from heirloom.domain.errors import ServiceUnavailable

SEND_TIMEOUT_S = 10.0


class Mailer:
    """Sends plain-text emails, one SMTP connection each (sign-ups are rare)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=SEND_TIMEOUT_S) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as err:
            raise ServiceUnavailable(
                "We could not send the email just now; please try again in a minute."
            ) from err
