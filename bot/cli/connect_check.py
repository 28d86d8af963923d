"""`kkrbot config check --connect`: log in to IMAP and SMTP once and say what worked.

An administrator setting up Exchange Online or Google wants to know, before starting the
bot, whether the app registration, the mailbox permission and the token source work. Each
server gets one line: where, as whom, how (password or XOAUTH2), and what the server or
the token issuer said. Secrets and tokens are never printed.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.config.settings import Settings
from bot.inbound.imap_cursor import ImapAccount, connect
from bot.outbound.send import SmtpSender


@dataclass(frozen=True)
class LoginCheck:
    ok: bool
    line: str


def check_logins(settings: Settings) -> list[LoginCheck]:
    """IMAP where the bot reads a mailbox, SMTP where it sends through a server (or where their
    host is set, so either can be checked before switching the bot over to it)."""
    secrets = settings.secrets
    checks = []
    if settings.inbound == "imap" or secrets.get("IMAP_HOST"):
        checks.append(_imap(settings))
    if settings.outbound == "smtp" or secrets.get("SMTP_HOST"):
        checks.append(_smtp(settings))
    return checks


def _imap(settings: Settings) -> LoginCheck:
    account = ImapAccount.from_settings(settings)
    where = f"IMAP {account.host}:{account.port} as {account.user} ({_how(settings, 'IMAP_AUTH')})"
    try:
        client = connect(account)
    except Exception as error:  # noqa: BLE001 - any failure is what the administrator must see
        return LoginCheck(False, f"{where}: failed: {_said(error)}")
    try:
        client.select_folder(settings.imap.mailbox, readonly=True)
        return LoginCheck(True, f"{where}: logged in, {settings.imap.mailbox} opened")
    except Exception as error:  # noqa: BLE001
        return LoginCheck(False, f"{where}: logged in, but {settings.imap.mailbox} did not open: {_said(error)}")
    finally:
        client.logout()


def _smtp(settings: Settings) -> LoginCheck:
    sender = SmtpSender(settings)
    how = _how(settings, "SMTP_AUTH") if sender.user else "no login"
    where = f"SMTP {sender.host}:{sender.port} as {sender.user or '-'} ({how})"
    try:
        sender.check_login()
    except Exception as error:  # noqa: BLE001
        return LoginCheck(False, f"{where}: failed: {_said(error)}")
    return LoginCheck(True, f"{where}: logged in")


def _how(settings: Settings, key: str) -> str:
    if settings.secrets.get(key) != "xoauth2":
        return "password"
    source = "OAUTH2_TOKEN_COMMAND" if settings.secrets.get("OAUTH2_TOKEN_COMMAND") else "Entra"
    return f"XOAUTH2, token from {source}"


def _said(error: Exception) -> str:
    text = " ".join(str(error).split())[:300]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
