"""Tests of the DovecotServer test helper itself.

Why: every IMAP integration test trusts this helper; if it silently ran a
misconfigured server (wrong delimiter, no TLS, leaked processes) those tests
would prove nothing. One TLS-enabled server (which also serves plain IMAP on
.port) is shared by the module to keep the run short: each stop costs ~1 s
inside Dovecot. Tests use their own folders so that they do not depend on
each other's mail.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError

from . import dovecot
from .dovecot import DovecotServer, group_members, require_dovecot

RAW = (
    b"From: alice@example.org\r\n"
    b"To: kkrbot@example.org\r\n"
    b"Subject: hello\r\n"
    b"Message-ID: <1@example.org>\r\n"
    b"\r\n"
    b"body line\r\n"
)


def _message(subject: str) -> bytes:
    return RAW.replace(b"Subject: hello", f"Subject: {subject}".encode())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    with DovecotServer(tmp_path_factory.mktemp("dovecot"), tls=True) as srv:
        yield srv


def test_starts_on_loopback_with_expected_capabilities(server: DovecotServer) -> None:
    assert server.running and server.host == "127.0.0.1"
    client = server.client()
    try:
        caps = set(client.capabilities())
    finally:
        client.logout()
    assert {b"IDLE", b"UIDPLUS", b"MOVE", b"CONDSTORE"} <= caps
    assert "starting up for imap" in server.log_text()


def test_append_then_fetch_body_peek(server: DovecotServer) -> None:
    server.create_folder("Fetch")
    uid = server.append(RAW, folder="Fetch")
    assert uid is not None and server.folder_uids("Fetch") == [uid]
    client = server.client()
    try:
        client.select_folder("Fetch")
        data = client.fetch([uid], ["BODY.PEEK[]", "FLAGS"])[uid]
    finally:
        client.logout()
    assert data[b"BODY[]"] == RAW
    assert b"\\Seen" not in data[b"FLAGS"]  # PEEK must not mark it read
    assert (server.maildir / ".Fetch").is_dir()


def test_append_with_flags(server: DovecotServer) -> None:
    server.create_folder("Flags")
    uid = server.append(RAW, folder="Flags", flags=[b"\\Seen", "$Processed"])
    client = server.client()
    try:
        client.select_folder("Flags", readonly=True)
        flags = client.get_flags([uid])[uid]
    finally:
        client.logout()
    assert set(flags) >= {b"\\Seen", b"$Processed"}


def test_list_reports_dot_delimiter(server: DovecotServer) -> None:
    server.create_folder("Parent.Child")
    client = server.client()
    try:
        listing = {name: delim for _flags, delim, name in client.list_folders()}
    finally:
        client.logout()
    assert listing["INBOX"] == b"."
    assert listing["Parent.Child"] == b"."
    assert "Parent" in listing  # hierarchy, not a flat name with a dot


def test_restart_keeps_mail_port_and_uidvalidity(server: DovecotServer) -> None:
    server.create_folder("Restart")
    uid = server.append(RAW, folder="Restart")
    port, validity = server.port, server.uidvalidity("Restart")
    client = server.client()
    server.restart()
    with pytest.raises((IMAPClientAbortError, OSError)):  # the old connection died with the server
        client.noop()
    client.shutdown()
    assert server.running and server.port == port
    assert server.folder_uids("Restart") == [uid]
    assert server.uidvalidity("Restart") == validity


def test_force_uidvalidity_change_keeps_messages_with_new_uids(server: DovecotServer) -> None:
    subjects = ["one", "two", "three"]
    for subject in subjects:
        server.append(_message(subject), folder="INBOX", flags=[b"\\Flagged"] if subject == "two" else ())
    old_validity, old_uids = server.uidvalidity(), server.folder_uids()

    new_validity = server.force_uidvalidity_change()

    assert new_validity > old_validity
    assert server.uidvalidity() == new_validity
    new_uids = server.folder_uids()
    assert len(new_uids) == len(old_uids) and not set(new_uids) & set(old_uids)
    client = server.client()
    try:
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(new_uids, ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]", "FLAGS"])
    finally:
        client.logout()
    got = [fetched[u][b"BODY[HEADER.FIELDS (SUBJECT)]"].strip().decode() for u in new_uids]
    assert got[-3:] == [f"Subject: {s}" for s in subjects]  # order kept
    assert b"\\Flagged" in fetched[new_uids[-2]][b"FLAGS"]  # flags kept
    # New mail continues above the new UIDs.
    assert server.append(RAW) == max(new_uids) + 1


def test_starttls_verifies_with_cafile(server: DovecotServer) -> None:
    context = ssl.create_default_context(cafile=str(server.cafile))
    client = IMAPClient(server.host, server.port, ssl=False, timeout=10)
    try:
        client.starttls(context)
        client.login(server.user, server.password)
        assert client.select_folder("INBOX")[b"UIDVALIDITY"]
    finally:
        client.logout()


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_implicit_tls_verifies_with_cafile(server: DovecotServer, hostname: str) -> None:
    assert server.tls_port not in (None, server.port)
    client = IMAPClient(hostname, server.tls_port, ssl=True, ssl_context=server.ssl_context(), timeout=10)
    try:
        client.login(server.user, server.password)
    finally:
        client.logout()


def test_tls_is_rejected_without_cafile(server: DovecotServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(server.host, server.tls_port, ssl=True, ssl_context=ssl.create_default_context(), timeout=10)


def test_stop_leaves_no_process_and_is_idempotent(tmp_path: Path) -> None:
    srv = DovecotServer(tmp_path).start()  # also covers the tls=False config
    pid, port = srv.pid, srv.port
    assert pid is not None and port is not None
    assert srv.tls_port is None and srv.cafile is None
    srv.append(RAW)  # spawn auth/imap workers too
    srv.stop()
    assert not srv.running and srv.pid is None
    assert not os.path.exists(f"/proc/{pid}") and group_members(pid) == []
    srv.stop()  # idempotent
    assert dovecot._port_is_free(srv.host, port)
    problems = [line for line in srv.log_text().splitlines() if "Error:" in line or "Fatal:" in line]
    assert problems == []


def test_require_dovecot_raises_with_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert require_dovecot()  # installed here
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(dovecot, "_SBIN_DIRS", ())
    with pytest.raises(RuntimeError, match="scripts/ensure-system-packages dovecot-imapd"):
        require_dovecot()
