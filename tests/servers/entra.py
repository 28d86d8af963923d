"""A local stand-in for Microsoft Entra's token endpoint, over HTTPS, for msal to talk to.

Why: the real endpoint cannot be reached from tests, and msal should run unchanged, so this
answers the two requests msal makes for client credentials: the tenant's OpenID discovery
document and the token endpoint. It issues HS256 JWTs signed with the key the test's Dovecot
and SMTP server check, and refuses a wrong client secret the way Entra does (AADSTS7000215).
A client may also prove itself with a certificate, as msal does it: a client assertion (an RS256
JWT naming the certificate by its SHA-1 thumbprint, `x5t`), checked against `certificate`.

Knobs per test: `expired_first` hands out that many already-expired tokens before good ones
(a token revoked or expired on the server's side while cached here); `requests` counts the
token requests, so a test sees how often the bot asked.
"""
from __future__ import annotations

import base64
import hashlib
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.servers.dovecot import _make_self_signed_cert

TENANT = "5f1e2d3c-0000-4000-8000-00000000d4a1"
CLIENT_ID = "0a1b2c3d-1111-4222-8333-0000000b0710"
CLIENT_SECRET = "stand-in~client~secret~not~real"
SCOPE = "https://outlook.office365.com/.default"


def sign(key: bytes, user: str, lifetime: int = 3600) -> str:
    """A token as the test's servers accept it: HS256, `sub` = the mailbox user."""
    now = int(time.time())
    return jwt.encode({"sub": user, "iat": now - 5, "nbf": now - 5, "exp": now + lifetime}, key, algorithm="HS256")


class EntraStandIn:
    def __init__(self, workdir: Path, key: bytes, user: str):
        self.key, self.user = key, user
        self.cafile, self._keyfile = workdir / "entra-cert.pem", workdir / "entra-key.pem"
        self.expired_first = 0
        self.requests = 0
        self.issued: list[str] = []
        self.certificate: Path | None = None  # PEM of the certificate "uploaded" to the app registration
        self._server: ThreadingHTTPServer | None = None

    @property
    def authority(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "EntraStandIn":
        _make_self_signed_cert(self._keyfile, self.cafile)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cafile, self._keyfile)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="entra-stand-in").start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def discovery(self, tenant: str) -> dict:
        base = f"{self.authority}/{tenant}"
        return {"token_endpoint": f"{base}/oauth2/v2.0/token", "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize"}

    def token_answer(self, form: dict[str, str], tenant: str) -> tuple[int, dict]:
        """What Entra answers a client-credentials request."""
        if tenant != TENANT:
            return 400, {"error": "invalid_request", "error_description": f"AADSTS90002: Tenant '{tenant}' not found."}
        if form.get("client_id") != CLIENT_ID:
            return 400, {"error": "unauthorized_client",
                         "error_description": f"AADSTS700016: Application with identifier '{form.get('client_id')}' "
                                              "was not found in the directory."}
        if "client_assertion" in form:
            if not self._assertion_valid(form["client_assertion"], tenant):
                return 401, {"error": "invalid_client", "error_description": "AADSTS700027: Client assertion "
                                                                             "failed signature validation."}
        elif form.get("client_secret") != CLIENT_SECRET:
            return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret "
                                                                         "provided. Trace ID: 1234"}
        if form.get("grant_type") != "client_credentials" or form.get("scope") != SCOPE:
            return 400, {"error": "invalid_scope", "error_description": f"AADSTS70011: bad scope {form.get('scope')}"}
        self.requests += 1
        expired = self.expired_first > 0
        self.expired_first -= 1 if expired else 0
        token = sign(self.key, self.user, lifetime=-600 if expired else 3600)
        self.issued.append(token)
        return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}

    def _assertion_valid(self, assertion: str, tenant: str) -> bool:
        """Signed by the uploaded certificate's key, naming it by thumbprint, for this endpoint."""
        if self.certificate is None:
            return False
        certificate = x509.load_pem_x509_certificate(self.certificate.read_bytes())
        thumbprint = base64.urlsafe_b64encode(hashlib.sha1(certificate.public_bytes(
            serialization.Encoding.DER)).digest()).decode()
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, certificate.public_key(), algorithms=["RS256", "PS256"],
                                audience=f"{self.authority}/{tenant}/oauth2/v2.0/token", issuer=CLIENT_ID)
        except jwt.PyJWTError:
            return False
        return header.get("x5t", "").rstrip("=") == thumbprint.rstrip("=") and claims.get("sub") == CLIENT_ID


def _handler(stand_in: EntraStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) >= 2 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                self._answer(200, stand_in.discovery(parts[0]))
            else:
                self._answer(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            tenant = self.path.strip("/").split("/")[0]
            self._answer(*stand_in.token_answer(form, tenant))

        def _answer(self, code: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # quiet: tests read `requests`, not stderr
            pass

    return Handler
