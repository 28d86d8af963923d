"""A real aiosmtpd server on loopback that records what it receives and can misbehave on purpose.

Faults, set per test: answer a code (421, 451, ...) to the first N DATA commands,
refuse chosen recipients with 550, or drop the connection mid-DATA (after the
message, before the reply) the first N times; answer every MAIL FROM or RCPT with a
chosen reply (Exchange's SendAs and quota refusals).

With `xoauth2=(key, user)` it requires AUTH XOAUTH2 (RFC 7628's predecessor, as Exchange
Online and Gmail speak it) and checks the bearer token: an HS256 JWT signed with `key`
whose `sub` and SASL `user=` are both `user`, not expired. With `password=(user, password)` it
requires AUTH PLAIN or LOGIN with them, as a submission server does.
"""
from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import jwt
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    envelope_from: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)


@dataclass
class Faults:
    data_code: str = ""  # e.g. "451 4.3.0 Try again later"
    data_code_times: int = 0
    refuse: set[str] = field(default_factory=set)  # recipients answered 550 at RCPT
    drop_times: int = 0  # close the connection instead of answering DATA
    mail_reply: str = ""  # e.g. "550 5.7.60 SMTP; Client does not have permissions to send as this sender"
    rcpt_reply: str = ""  # e.g. "550 5.4.5 Daily user sending quota exceeded."


class SinkHandler:
    def __init__(self):
        self.received: list[Received] = []
        self.faults = Faults()
        self.attempts = 0
        self.lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.faults.mail_reply:
            return self.faults.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.faults.rcpt_reply:
            return self.faults.rcpt_reply
        if address.lower() in self.faults.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.attempts += 1
            if self.faults.drop_times > 0:
                self.faults.drop_times -= 1
                server.transport.close()  # the client never hears back: a dropped connection
                return "421 closing"
            if self.faults.data_code_times > 0:
                self.faults.data_code_times -= 1
                return self.faults.data_code
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 Queued"


class XOAuth2SinkHandler(SinkHandler):
    """The sink behind AUTH XOAUTH2: `logins` records (user, accepted) per attempt, never the token."""

    def __init__(self, key: bytes, user: str):
        super().__init__()
        self.key, self.user = key, user
        self.logins: list[tuple[str, bool]] = []

    async def auth_XOAUTH2(self, server, args: list[str]) -> AuthResult:  # noqa: N802 - aiosmtpd's hook name
        blob = base64.b64decode(args[1]) if len(args) > 1 else await server.challenge_auth("")
        fields = dict(part.split("=", 1) for part in blob.decode(errors="replace").split("\x01") if "=" in part)
        user, bearer = fields.get("user", ""), fields.get("auth", "")
        accepted = bearer.startswith("Bearer ") and user == self.user and self._valid(bearer[7:])
        self.logins.append((user, accepted))
        if accepted:
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False, message="535 5.7.3 Authentication unsuccessful")

    def _valid(self, token: str) -> bool:
        try:
            claims = jwt.decode(token, self.key, algorithms=["HS256"])
        except jwt.PyJWTError:
            return False
        return claims.get("sub") == self.user


def password_check(user: str, password: str):
    """aiosmtpd's authenticator for AUTH PLAIN / LOGIN: exactly this user and password."""
    def check(server, session, envelope, mechanism, auth_data) -> AuthResult:
        given = auth_data if isinstance(auth_data, LoginPassword) else None
        ok = given is not None and (given.login, given.password) == (user.encode(), password.encode())
        return AuthResult(success=ok, handled=False)
    return check


class SmtpSink:
    def __init__(self, port: int, xoauth2: tuple[bytes, str] | None = None, password: tuple[str, str] | None = None):
        self.handler = XOAuth2SinkHandler(*xoauth2) if xoauth2 else SinkHandler()
        options = dict(auth_required=True, auth_require_tls=False) if xoauth2 or password else {}
        if password:
            options["authenticator"] = password_check(*password)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port, **options)

    def __enter__(self) -> "SmtpSink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return self.controller.port

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def faults(self) -> Faults:
        return self.handler.faults
