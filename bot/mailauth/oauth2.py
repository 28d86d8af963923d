"""OAuth2 access tokens for IMAP and SMTP XOAUTH2, cached until shortly before they expire.

Exchange Online and Google refuse passwords for IMAP and SMTP: a mailbox is opened with a
bearer token in a SASL XOAUTH2 string. The token comes from Microsoft Entra (client
credentials: tenant, client id, and a client secret or a certificate, through msal) or from
`OAUTH2_TOKEN_COMMAND`, whose standard output is the token (Google, anything else).

A token is a secret: it never appears in a log line, an exception text or `repr`. A failure
to get one is a TokenError whose text is one line naming the setting and what Entra (or the
command) said.
"""
from __future__ import annotations

import base64
import hashlib
import json
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from bot.config.settings import Secrets

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_SCOPE = "https://outlook.office365.com/.default"  # IMAP.AccessAsApp and SMTP.SendAsApp live here
EARLY_SECONDS = 300  # a cached token is renewed this long before it expires
COMMAND_TOKEN_SECONDS = 600  # how long a command's token is kept when it does not say when it expires
COMMAND_TIMEOUT_SECONDS = 60
# Entra's AADSTS codes (and OAuth2 error names) → the setting an administrator should look at.
SETTING_BY_CODE = {"AADSTS90002": "OAUTH2_TENANT_ID", "AADSTS900023": "OAUTH2_TENANT_ID",
                   "AADSTS700016": "OAUTH2_CLIENT_ID", "AADSTS7000215": "OAUTH2_CLIENT_SECRET",
                   "AADSTS7000222": "OAUTH2_CLIENT_SECRET", "AADSTS700027": "OAUTH2_CERTIFICATE",
                   "AADSTS70011": "OAUTH2_SCOPE", "AADSTS1002012": "OAUTH2_SCOPE",
                   "invalid_client": "OAUTH2_CLIENT_SECRET", "unauthorized_client": "OAUTH2_CLIENT_ID",
                   "invalid_scope": "OAUTH2_SCOPE"}


class TokenError(Exception):
    """No token could be had: one line, naming the setting and what the token issuer said."""


class TokenSource(Protocol):
    def token(self, refused: str = "") -> str: ...


@dataclass
class _Cached:
    value: str = field(default="", repr=False)
    renew_at: float = 0.0  # time.monotonic(): tokens expire in real time, whatever the bot's clock says


class CachedSource:
    """Keeps the last token until EARLY_SECONDS before it expires. `refused=` names a token a server
    refused: it is replaced by a fresh one unless another login (an SMTP lane, the IMAP reader)
    has replaced it already, so a refused token makes one request to the issuer, not one per
    connection. Thread-safe: IMAP and every SMTP lane share one source."""

    def __init__(self, fetch: Callable[[bool], tuple[str, float]]):
        self._fetch = fetch  # (fresh) -> (token, seconds it lives)
        self._cached = _Cached()
        self._lock = threading.Lock()

    def token(self, refused: str = "") -> str:
        with self._lock:
            fresh = bool(refused) and refused == self._cached.value
            if fresh or not self._cached.value or time.monotonic() >= self._cached.renew_at:
                value, lifetime = self._fetch(fresh)
                self._cached = _Cached(value, time.monotonic() + max(lifetime - EARLY_SECONDS, lifetime / 2))
            return self._cached.value

    def __repr__(self) -> str:
        return "CachedSource(token hidden)"


def entra_source(secrets: Secrets) -> CachedSource:
    """Client credentials against Microsoft Entra with msal (a confidential client)."""
    import msal  # only where Entra is used: `kkrbot run` with passwords never loads it

    authority = f"{(secrets.get('OAUTH2_AUTHORITY') or DEFAULT_AUTHORITY).rstrip('/')}/{secrets.get('OAUTH2_TENANT_ID')}"
    scope = secrets.get("OAUTH2_SCOPE") or DEFAULT_SCOPE
    credential_setting = "OAUTH2_CERTIFICATE" if secrets.get("OAUTH2_CERTIFICATE") else "OAUTH2_CLIENT_SECRET"
    application: list = []  # built on first use: building it asks the authority for its endpoints

    def fetch(fresh: bool) -> tuple[str, float]:
        try:
            if not application:
                application.append(msal.ConfidentialClientApplication(
                    secrets.get("OAUTH2_CLIENT_ID"), client_credential=_credential(secrets),
                    authority=authority, instance_discovery=False))
            if fresh:
                _forget_tokens(application[0].token_cache)
            result = application[0].acquire_token_for_client(scopes=[scope])
        except TokenError:
            raise
        except Exception as error:  # noqa: BLE001 - msal raises ValueError, requests errors, ...
            application.clear()
            raise TokenError(f"OAUTH2_TENANT_ID / OAUTH2_AUTHORITY: no token from {authority} "
                             f"(the tenant, or the way there): {_one_line(error)}") from None
        if "access_token" not in result:
            raise TokenError(_entra_refusal(result, credential_setting))
        return result["access_token"], float(result.get("expires_in") or 3600)

    return CachedSource(fetch)


def command_source(command: str) -> CachedSource:
    """OAUTH2_TOKEN_COMMAND: run it, take its standard output as the token."""

    def fetch(fresh: bool) -> tuple[str, float]:
        try:
            done = subprocess.run(shlex.split(command), capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
        except (OSError, ValueError, subprocess.TimeoutExpired) as error:
            raise TokenError(f"OAUTH2_TOKEN_COMMAND: could not run it: {_one_line(error)}") from None
        token = done.stdout.strip()
        if done.returncode != 0 or not token or any(c.isspace() for c in token):
            said = _one_line(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no error output")
            raise TokenError(f"OAUTH2_TOKEN_COMMAND: exited {done.returncode} without a token on standard "
                             f"output: {said}")
        lifetime = _jwt_lifetime(token)
        return token, COMMAND_TOKEN_SECONDS if lifetime is None else lifetime

    return CachedSource(fetch)


def token_source(secrets: Secrets) -> CachedSource:
    """The configured source (config check has made sure one is complete)."""
    if secrets.get("OAUTH2_TOKEN_COMMAND"):
        return command_source(secrets.get("OAUTH2_TOKEN_COMMAND"))
    return entra_source(secrets)


_SHARED: dict[tuple, CachedSource] = {}
_SHARED_LOCK = threading.Lock()


def shared_source(secrets: Secrets) -> CachedSource:
    """One source per set of OAuth2 settings in this process: IMAP, every SMTP lane and the
    database alarm use the same cached token instead of each asking Entra."""
    key = tuple(secrets.get(name) or "" for name in ("OAUTH2_TENANT_ID", "OAUTH2_CLIENT_ID", "OAUTH2_CLIENT_SECRET",
                                                      "OAUTH2_CERTIFICATE", "OAUTH2_TOKEN_COMMAND",
                                                      "OAUTH2_AUTHORITY", "OAUTH2_SCOPE"))
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = token_source(secrets)
        return _SHARED[key]


def xoauth2_string(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64): Google's and Microsoft's format."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def _credential(secrets: Secrets) -> str | dict:
    """The client secret, or msal's certificate credential from a PEM file holding the private key
    and the certificate (Entra knows the certificate by its SHA-1 thumbprint)."""
    path = secrets.get("OAUTH2_CERTIFICATE")
    if not path:
        return secrets.get("OAUTH2_CLIENT_SECRET")
    try:
        pem = Path(path).expanduser().read_text()
    except OSError as error:
        raise TokenError(f"OAUTH2_CERTIFICATE: cannot read {path}: {error.strerror}") from None
    certificate = _pem_block(pem, "CERTIFICATE")
    key = _pem_block(pem, "PRIVATE KEY")
    if not certificate or not key:
        raise TokenError(f"OAUTH2_CERTIFICATE: {path} needs both the private key and the certificate (PEM)")
    thumbprint = hashlib.sha1(base64.b64decode("".join(certificate.splitlines()[1:-1]))).hexdigest()  # noqa: S324
    return {"private_key": key, "thumbprint": thumbprint, "public_certificate": certificate}


def _pem_block(pem: str, kind: str) -> str:
    """The first PEM block whose label ends with `kind` (PRIVATE KEY covers RSA/EC PRIVATE KEY)."""
    lines, inside = [], False
    for line in pem.splitlines():
        if line.startswith("-----BEGIN ") and line.rstrip("-").endswith(kind):
            inside = True
        if inside:
            lines.append(line.strip())
            if line.startswith("-----END "):
                return "\n".join(lines) + "\n"
    return ""


def _forget_tokens(cache) -> None:
    """Drop msal's cached access tokens, so the next request asks Entra again."""
    for entry in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
        cache.remove_at(entry)


def _entra_refusal(result: dict, credential_setting: str) -> str:
    description = _one_line(result.get("error_description") or "")
    code = next((c for c in SETTING_BY_CODE if c.startswith("AADSTS") and description.startswith(c + ":")), "")
    setting = SETTING_BY_CODE.get(code) or SETTING_BY_CODE.get(result.get("error", ""), "OAUTH2_TENANT_ID")
    if setting == "OAUTH2_CLIENT_SECRET":
        setting = credential_setting
    return f"{setting}: Entra refused the token request: {result.get('error', 'error')}: {description}"


def _jwt_lifetime(token: str) -> float | None:
    """Seconds until a JWT's `exp` (read, not verified: the server verifies); None for other tokens."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return max(float(claims["exp"]) - time.time(), 0.0)
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def _one_line(value: object, limit: int = 300) -> str:
    text = " ".join(str(value).split())
    return text[:limit]


class LoginRefused(Exception):
    """The server refused a fresh token too: one line saying what to check."""


def log_in_with_token(source: TokenSource, attempt: Callable[[str], None], refused: tuple[type[Exception], ...],
                      what: str) -> None:
    """Log in with the cached token; if the server refuses it (expired, revoked), once more with a
    fresh one, and no more: a second refusal is a setup problem that retrying will not fix."""
    token = source.token()
    try:
        attempt(token)
        return
    except refused:
        pass
    try:
        attempt(source.token(refused=token))
    except refused as error:
        raise LoginRefused(f"{what} refused a fresh OAuth2 token: {_one_line(_server_text(error))}") from None


def _server_text(error: Exception) -> str:
    """What the server said: smtplib keeps it in smtp_error (bytes), imapclient in the message."""
    said = getattr(error, "smtp_error", None)
    if isinstance(said, bytes):
        return f"{getattr(error, 'smtp_code', '')} {said.decode('utf-8', 'replace')}".strip()
    return str(error)
