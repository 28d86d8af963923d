"""A throwaway Dovecot IMAP server for integration tests.

Why: kkrbot talks IMAP, and fakes hide exactly the behaviour that breaks real
bots: the LIST hierarchy delimiter, UIDVALIDITY changes, UID gaps, STARTTLS,
server restarts, IDLE timing. Dovecot starts in well under a second, so the
tests run against the real thing.

Everything the server writes (config, sockets, state, log, passwd-file, the
user's Maildir) lives under one work directory. The server runs in the
foreground (``dovecot -F``) as our child, in its own process group, so that
stopping it can reap it and kill any leftover worker; an ``atexit`` hook and
PR_SET_PDEATHSIG make sure no test run leaves a Dovecot behind.

Works as root (mail is owned by the ``dovecot`` system user, whose UID is
allowed by ``first_valid_uid = 1``) and as an unprivileged user (all Dovecot
internal users become the current user and chroots are disabled). Facts
behind these choices: shared/DOVECOT.md.

Nothing here is pytest-specific; fixtures live in conftest files.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

INSTALL_HINT = "dovecot not installed: run scripts/ensure-system-packages dovecot-imapd"
OPENSSL_HINT = "openssl not installed: run scripts/ensure-system-packages openssl"

READY_TIMEOUT = 15.0  # seconds to wait for the port and master.pid
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
_POLL = 0.01  # seconds between readiness / exit checks
FIXTURE_LOGIN_ATTEMPTS = 4  # the fixture's own login, on a temporary [UNAVAILABLE]

# Unix socket paths must fit in sun_path (108 bytes with the NUL). Dovecot puts
# sockets such as "token-login/imap-urlauth" under base_dir, so keep a margin.
_MAX_BASE_DIR_LEN = 107 - 32

# Directories where Debian installs the binaries; /usr/sbin is often not on an
# unprivileged user's PATH.
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")

_APPENDUID_RE = re.compile(rb"APPENDUID (\d+) (\d+)")


def _find_binary(name: str) -> str | None:
    """Return the path of an executable, looking in sbin dirs too."""
    path = os.environ.get("PATH", os.defpath) + os.pathsep + os.pathsep.join(_SBIN_DIRS)
    return shutil.which(name, path=path)


def require_dovecot() -> str:
    """Return the dovecot binary path, or raise RuntimeError saying how to install it.

    Tests must fail loudly rather than skip: a skipped IMAP suite looks green.
    """
    binary = _find_binary("dovecot")
    if binary is None:
        raise RuntimeError(INSTALL_HINT)
    return binary


def _require_openssl() -> str:
    binary = _find_binary("openssl")
    if binary is None:
        raise RuntimeError(OPENSSL_HINT)
    return binary


# --------------------------------------------------------------------------
# Process helpers
# --------------------------------------------------------------------------

_LIVE: set[DovecotServer] = set()


@atexit.register
def _stop_all() -> None:
    """Last line of defence: stop every server a test forgot to stop."""
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop()


def _load_prctl() -> Callable[[int, int], int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """preexec_fn: SIGTERM the master if the thread that started it dies.

    Covers the case atexit cannot: the test process being SIGKILLed.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_exited(pid: int, timeout: float) -> bool:
    """Wait until child `pid` has exited, WITHOUT reaping it.

    Leaving the zombie in place keeps its PID (our process group id) from
    being reused while we clean up the group.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
            if os.waitid(os.P_PID, pid, flags) is not None:
                return True
        except ChildProcessError:
            return True  # already reaped
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)


def group_members(pgid: int) -> list[int]:
    """PIDs of live (non-zombie) processes in process group `pgid` (Linux /proc)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            members.append(int(entry))
    return members


def _kill_group_leftovers(pgid: int) -> None:
    """TERM, then KILL, whatever still runs in the server's process group."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        leftovers = [p for p in group_members(pgid) if p != pgid]
        if not leftovers:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + 2.0
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(_POLL)


def _imap_greets(host: str, port: int, tls_context: ssl.SSLContext | None = None) -> bool:
    """True if `port` accepts a connection and sends an IMAP "* OK" greeting.

    A bare connect is not enough: it leaves imap-login waiting for its stats
    handshake, and a stop() in that window then takes 6 s instead of 1 s.
    The probe also logs out cleanly so the login process exits at once.
    """
    try:
        with socket.create_connection((host, port), timeout=2.0) as raw:
            sock = tls_context.wrap_socket(raw, server_hostname=host) if tls_context else raw
            with sock:
                if not _read_line(sock).startswith(b"* OK"):
                    return False
                sock.sendall(b"p LOGOUT\r\n")
                while line := _read_line(sock):
                    if line.startswith(b"p "):
                        break
                return True
    except (OSError, ssl.SSLError):
        return False


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the master, SIGKILL it after STOP_TIMEOUT, clean its group, reap it."""
    pid = proc.pid
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_exited(pid, STOP_TIMEOUT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_exited(pid, 5.0)
    # The master is now a zombie we have not reaped, so its PID still names
    # our process group: safe to signal stray workers in it.
    _kill_group_leftovers(pid)
    proc.wait()


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


# --------------------------------------------------------------------------
# Identity: who owns the mail, who Dovecot's internal services run as
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Identity:
    """The UIDs/names the config needs; differs between root and a normal user."""

    mail_uid: int
    mail_gid: int
    internal_user: str | None  # None: keep Dovecot's default ("dovecot")
    internal_group: str | None
    login_user: str | None  # None: keep Dovecot's default ("dovenull")

    @property
    def unprivileged(self) -> bool:
        return self.internal_user is not None


def _identity() -> _Identity:
    if os.geteuid() == 0:
        # Mail must not be owned by root; the package's "dovecot" user will do
        # as long as first_valid_uid allows its low UID.
        pw = pwd.getpwnam("dovecot")
        return _Identity(pw.pw_uid, pw.pw_gid, None, None, None)
    uid, gid = os.getuid(), os.getgid()
    try:
        user = pwd.getpwuid(uid).pw_name
        group = grp.getgrgid(gid).gr_name
    except KeyError as exc:
        raise RuntimeError(f"uid {uid}/gid {gid} has no passwd/group entry; Dovecot needs names") from exc
    return _Identity(uid, gid, user, group, user)


def _make_traversable(path: Path, uid: int, gid: int) -> None:
    """Let `uid` search every directory from / down to `path` (root mode only).

    Dovecot's auth and mail processes run as the dovecot user and must reach
    the passwd-file and the home under the work dir; pytest's tmp dirs are
    0700. Only the search bit (o+x) is added, never read.
    """
    for directory in [*reversed(path.parents), path]:
        st = directory.stat()
        if st.st_uid == uid and st.st_mode & 0o100:
            continue
        if st.st_gid == gid and st.st_mode & 0o010:
            continue
        if not st.st_mode & 0o001:
            directory.chmod(st.st_mode & 0o7777 | 0o001)


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class DovecotServer:
    """One Dovecot instance with one passwd-file user and a Maildir.

    Use as a context manager (``with DovecotServer(tmp) as srv:``) or call
    start()/stop(). restart() keeps the port and the mail, like a real server
    restart seen by a long-running client.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        workdir: Path,
        user: str = "kkrbot",
        password: str = "secret",
        tls: bool = False,
        oauth2_key: bytes | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        # With a key, an oauth2 passdb accepts XOAUTH2/OAUTHBEARER logins whose JWT (HS256, no
        # `kid`, no `azp`) is signed with it and names the user in `sub`; passwords still work.
        self.oauth2_key = oauth2_key
        self.oauth2_keys = self.workdir / "oauth2-keys"
        self.oauth2_conf = self.workdir / "dovecot-oauth2.conf.ext"
        self.user = user
        self.password = password
        self.tls = tls
        self.port: int | None = None
        self.tls_port: int | None = None
        self.conf_path = self.workdir / "dovecot.conf"
        self.log_path = self.workdir / "dovecot.log"
        self.stdout_path = self.workdir / "dovecot.stdout"
        self.state_dir = self.workdir / "state"
        self.passwd_path = self.workdir / "passwd"
        self.home = self.workdir / "home" / user
        self.maildir = self.home / "Maildir"
        self.cafile: Path | None = self.workdir / "tls" / "cert.pem" if tls else None
        self._keyfile = self.workdir / "tls" / "key.pem"
        self.base_dir = self.workdir / "run"  # replaced by a short temp dir if too long
        self._identity: _Identity | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # -- context manager ---------------------------------------------------

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<DovecotServer {self.host}:{self.port} tls_port={self.tls_port} running={self.running}>"

    # -- lifecycle ------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """PID of the master process (also its process group id) while running."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> DovecotServer:
        """Start the server; first start picks free ports, later ones reuse them."""
        if self._proc is not None:
            raise RuntimeError("DovecotServer already started")
        binary = require_dovecot()
        self._prepare_files()
        first_start = self.port is None
        attempts = 2 if first_start else 1  # a fresh port may collide: retry once
        failure = ""
        for _ in range(attempts):
            if first_start:
                self._pick_ports()
            try:
                self._check_ports_free()
                self._write_config()
                self._spawn(binary)
                return self
            except _StartFailed as exc:
                failure = str(exc)
        self._remove_base_dir_if_temporary()
        raise RuntimeError(f"dovecot failed to start on {self.host}:{self.port}: {failure}\n{self._diagnostics()}")

    def stop(self) -> None:
        """Stop the server (idempotent): SIGTERM, wait, SIGKILL, kill leftovers, reap."""
        proc = self._proc
        if proc is None:
            return
        _terminate(proc)  # if interrupted, the atexit hook tries again
        self._proc = None
        _LIVE.discard(self)
        self._remove_base_dir_if_temporary()

    def restart(self) -> None:
        """Stop, then start on the same port(s) with the same Maildir."""
        self.stop()
        self.start()

    def log_text(self) -> str:
        """Dovecot's log plus anything the master printed to stdout/stderr."""
        parts = []
        for path in (self.stdout_path, self.log_path):
            with contextlib.suppress(FileNotFoundError):
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    # -- IMAP helpers -----------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts only this server's self-signed cert."""
        if self.cafile is None:
            raise RuntimeError("server started without tls=True")
        return ssl.create_default_context(cafile=str(self.cafile))

    def client(self, **kw: Any) -> IMAPClient:
        """A logged-in IMAPClient on the plain port; `kw` go to IMAPClient(). A login Dovecot answers
        `[UNAVAILABLE]` (RFC 5530: temporary; its auth process was slow on a loaded machine) is tried
        again a few times: this is the fixture's own connection, not the bot's."""
        kw.setdefault("timeout", 10)
        for attempt in range(1, FIXTURE_LOGIN_ATTEMPTS + 1):
            client = IMAPClient(self.host, self.port, ssl=False, **kw)
            try:
                client.login(self.user, self.password)
                return client
            except BaseException as error:
                client.shutdown()
                temporary = isinstance(error, LoginError) and "[UNAVAILABLE]" in str(error)
                if not temporary or attempt == FIXTURE_LOGIN_ATTEMPTS:
                    raise
            time.sleep(0.5 * attempt)
        raise AssertionError("the loop returns or raises")

    @contextlib.contextmanager
    def _session(self) -> Iterator[IMAPClient]:
        client = self.client()
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def append(self, raw: bytes, folder: str = "INBOX", flags: Sequence[str | bytes] = ()) -> int | None:
        """APPEND a message; return its UID (from UIDPLUS APPENDUID) or None."""
        with self._session() as client:
            response = client.append(folder, raw, flags=tuple(flags))
        match = _APPENDUID_RE.search(response if isinstance(response, bytes) else b"")
        return int(match.group(2)) if match else None

    def empty_mailbox(self) -> None:
        """Delete every folder but INBOX and every message in INBOX (a clean slate between tests)."""
        with self._session() as client:
            for _, _, name in sorted(client.list_folders(), key=lambda f: -len(f[2])):
                if name != "INBOX":
                    client.delete_folder(name)
            client.select_folder("INBOX")
            uids = client.search("ALL")
            if uids:
                client.delete_messages(uids)
                client.expunge()

    def create_folder(self, folder: str) -> None:
        """CREATE `folder` (use the server's '.' delimiter for hierarchy)."""
        with self._session() as client:
            client.create_folder(folder)

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self._session() as client:
            return int(client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def folder_uids(self, folder: str = "INBOX") -> list[int]:
        with self._session() as client:
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def force_uidvalidity_change(self, folder: str = "INBOX") -> int:
        """Make the server report a new, larger UIDVALIDITY for `folder`.

        The messages stay, but get new UIDs that never overlap the old ones,
        so a client that keeps old UIDs fails visibly. Done by restarting the
        server (same port, same mail; open connections are dropped), so it
        costs ~1 s. Returns the new UIDVALIDITY.
        """
        if not self.running:
            raise RuntimeError("force_uidvalidity_change() needs a running server")
        old_validity = self.uidvalidity(folder)
        old_uids = self.folder_uids(folder)
        self.stop()
        _rewrite_uidlist(self._folder_dir(folder), old_validity, old_uids)
        # The mailbox-list index caches STATUS values (UIDVALIDITY too): drop it.
        for cache in self.maildir.glob("dovecot.list.index*"):
            cache.unlink()
        self.start()
        new_validity = self.uidvalidity(folder)
        new_uids = self.folder_uids(folder)
        if new_validity == old_validity or len(new_uids) != len(old_uids) or set(new_uids) & set(old_uids):
            raise RuntimeError(
                f"UIDVALIDITY change failed for {folder!r}: {old_validity} {old_uids} -> {new_validity} {new_uids}"
            )
        return new_validity

    # -- internals --------------------------------------------------------

    def _folder_dir(self, folder: str) -> Path:
        """Maildir++ layout: INBOX is the Maildir itself, 'A.B' is '.A.B'."""
        if folder.upper() == "INBOX":
            return self.maildir
        return self.maildir / f".{folder}"

    def _pick_base_dir(self) -> Path:
        base_dir = self.workdir / "run"
        if len(str(base_dir)) <= _MAX_BASE_DIR_LEN:
            return base_dir
        # Work dir path too long for Unix socket names: use a short temp dir.
        return Path(tempfile.mkdtemp(prefix="kkrbot-dovecot-", dir="/tmp"))

    def _remove_base_dir_if_temporary(self) -> None:
        if not self.base_dir.is_relative_to(self.workdir):
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def _pick_ports(self) -> None:
        self.port = _free_port(self.host)
        self.tls_port = _free_port(self.host) if self.tls else None
        if self.port == self.tls_port:
            self.tls_port = _free_port(self.host)

    def _check_ports_free(self) -> None:
        for port in (self.port, self.tls_port):
            if port is not None and not _port_is_free(self.host, port):
                raise _StartFailed(f"port {port} is already in use")

    def _prepare_files(self) -> None:
        """Create dirs, passwd-file and (once) the TLS cert; fix ownership as root."""
        ident = self._identity = self._identity or _identity()
        self.base_dir = self._pick_base_dir()
        for directory in (self.workdir, self.state_dir, self.base_dir, self.home):
            directory.mkdir(parents=True, exist_ok=True)
        self.base_dir.chmod(0o755)
        self.passwd_path.write_text(
            f"{self.user}:{{PLAIN}}{self.password}:{ident.mail_uid}:{ident.mail_gid}::{self.home}::\n"
        )
        self.passwd_path.chmod(0o644)
        if self.oauth2_key is not None:
            _write_oauth2_files(self)
        if self.cafile is not None and not self._keyfile.exists():
            _make_self_signed_cert(self._keyfile, self.cafile)
        if os.geteuid() == 0:
            _make_traversable(self.workdir, ident.mail_uid, ident.mail_gid)
            _chown_tree(self.home, ident.mail_uid, ident.mail_gid)
        (self.base_dir / "master.pid").unlink(missing_ok=True)  # stale after a SIGKILL

    def _write_config(self) -> None:
        self.conf_path.write_text(_render_config(self, self._identity))

    def _spawn(self, binary: str) -> None:
        """Run `dovecot -F` as our child and wait until it serves."""
        with open(self.stdout_path, "ab") as out:
            # The daemon keeps stdout open: never give it a pipe.
            self._proc = subprocess.Popen(
                [binary, "-F", "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() can clean it all
                preexec_fn=_die_with_parent if threading.current_thread() is threading.main_thread() else None,
            )
        _LIVE.add(self)
        try:
            self._wait_ready()
        except BaseException:
            _terminate(self._proc)
            self._proc = None
            _LIVE.discard(self)
            raise

    def _wait_ready(self) -> None:
        """Ready = master.pid exists AND every listener greets (TLS one via the cafile)."""
        assert self._proc is not None
        pid_file = self.base_dir / "master.pid"
        assert self.port is not None
        probes: list[tuple[int, ssl.SSLContext | None]] = [(self.port, None)]
        if self.tls_port is not None:
            probes.append((self.tls_port, self.ssl_context()))
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self._proc.poll() is not None:
                raise _StartFailed(f"master exited with status {self._proc.returncode}")
            # master.pid appears after the listeners open: check it first so
            # that normally only one probe connection is made per port.
            if pid_file.exists() and all(_imap_greets(self.host, p, ctx) for p, ctx in probes):
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(f"dovecot not ready after {READY_TIMEOUT:.0f}s:\n{self._diagnostics()}")
            time.sleep(_POLL)

    def _diagnostics(self, lines: int = 40) -> str:
        tail = self.log_text().splitlines()[-lines:]
        return "\n".join(tail) or "(dovecot log is empty)"


class _StartFailed(Exception):
    """Startup failed in a way a fresh port may fix (port taken, early exit)."""


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def _make_self_signed_cert(keyfile: Path, certfile: Path) -> None:
    """EC key + self-signed cert for 127.0.0.1/localhost, usable as its own CA."""
    keyfile.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        _require_openssl(), "req", "-x509", "-nodes", "-days", "3650",
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-keyout", str(keyfile), "-out", str(certfile),
        "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ]  # fmt: skip
    result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl failed to make a test certificate:\n{result.stderr}")
    keyfile.chmod(0o600)


def _rewrite_uidlist(folder_dir: Path, old_validity: int, old_uids: list[int]) -> None:
    """Give the stopped mailbox a new UIDVALIDITY and fresh, higher UIDs.

    Dovecot keeps a maildir's UIDs in `dovecot-uidlist` and caches them in the
    dovecot.index* files. We delete the index files and write a new uidlist
    (version 3 format: header "3 V<uidvalidity> N<next uid>", then
    "<uid> :<file name>" lines); Dovecot rebuilds the index from it. Flags
    live in the file names and keywords in dovecot-keywords, so both survive.
    """
    uidlist = folder_dir / "dovecot-uidlist"
    old_order = _read_uidlist(uidlist)
    files = sorted(_maildir_files(folder_dir), key=lambda name: (old_order.get(name, 1 << 32), name))
    first_uid = (max(old_uids) if old_uids else 0) + 1000
    new_validity = max(old_validity + 1, int(time.time()))
    lines = [f"3 V{new_validity} N{first_uid + len(files)}"]
    lines += [f"{first_uid + i} :{name}" for i, name in enumerate(files)]
    owner = uidlist.stat() if uidlist.exists() else folder_dir.stat()
    for index_file in folder_dir.glob("dovecot.index*"):
        index_file.unlink()
    uidlist.write_text("\n".join(lines) + "\n")
    with contextlib.suppress(PermissionError):
        os.chown(uidlist, owner.st_uid, owner.st_gid)


def _read_uidlist(uidlist: Path) -> dict[str, int]:
    """Map message base name -> UID from a v3 dovecot-uidlist (empty if none)."""
    try:
        lines = uidlist.read_text().splitlines()[1:]  # skip the header
    except FileNotFoundError:
        return {}
    order = {}
    for line in lines:
        uid, sep, name = line.partition(" :")
        if sep:
            order[name.split(":", 1)[0]] = int(uid.split()[0])
    return order


def _maildir_files(folder_dir: Path) -> list[str]:
    """Base names (without ':2,flags') of the messages in new/ and cur/."""
    names = []
    for sub in ("new", "cur"):
        with contextlib.suppress(FileNotFoundError):
            names += [entry.name.split(":", 1)[0] for entry in (folder_dir / sub).iterdir()]
    return names


def _render_config(server: DovecotServer, ident: _Identity | None) -> str:
    """The whole dovecot.conf; nothing is read from /etc/dovecot."""
    assert ident is not None
    lines = [
        "# Generated by tests/servers/dovecot.py for one test server.",
        f"base_dir = {server.base_dir}",
        f"state_dir = {server.state_dir}",
        f"log_path = {server.log_path}",
        "protocols = imap",
        f"listen = {server.host}",
        "disable_plaintext_auth = no",
        f"auth_mechanisms = plain login{' xoauth2 oauthbearer' if server.oauth2_key is not None else ''}",
        "first_valid_uid = 1",
        "mail_location = maildir:~/Maildir",
        "mail_max_userip_connections = 100",
        "namespace inbox {",
        "  inbox = yes",
        "}",
        *_oauth2_passdb_lines(server),
        "passdb {",
        "  driver = passwd-file",
        f"  args = scheme=PLAIN username_format=%u {server.passwd_path}",
        *(["  mechanisms = plain login"] if server.oauth2_key is not None else []),
        "}",
        "userdb {",
        "  driver = passwd-file",
        f"  args = username_format=%u {server.passwd_path}",
        "}",
        *_tls_lines(server),
        "service imap-login {",
        "  inet_listener imap {",
        f"    port = {server.port}",
        "  }",
        "  inet_listener imaps {",  # defaults to 993: must be disabled or moved
        f"    port = {server.tls_port or 0}",
        "    ssl = yes",
        "  }",
        *_no_chroot_lines(ident),
        "}",
    ]
    if ident.unprivileged:
        lines[1:1] = [
            f"default_internal_user = {ident.internal_user}",
            f"default_internal_group = {ident.internal_group}",
            f"default_login_user = {ident.login_user}",
        ]
        for service in ("anvil", "ipc"):
            lines += [f"service {service} {{", *_no_chroot_lines(ident), "}"]
    return "\n".join(lines) + "\n"


def _oauth2_passdb_lines(server: DovecotServer) -> list[str]:
    """The oauth2 passdb, and no penalty for refused logins: tests refuse tokens on purpose, and
    Dovecot would otherwise slow every later login from 127.0.0.1 by up to 15 s (anvil's auth
    penalty, switched off by closing its socket) plus auth_failure_delay's 2 s."""
    if server.oauth2_key is None:
        return []
    return ["auth_failure_delay = 0",
            "service anvil {", "  unix_listener anvil-auth-penalty {", "    mode = 0", "  }", "}",
            "passdb {", "  driver = oauth2", "  mechanisms = xoauth2 oauthbearer",
            f"  args = {server.oauth2_conf}", "}"]


def _write_oauth2_files(server: DovecotServer) -> None:
    """Local JWT validation (Dovecot >= 2.3.11): the key dict's lookup key is
    `<azp:default>/<alg>/<kid:default>`, and an HMAC key is stored base64-encoded."""
    key_file = server.oauth2_keys / "default" / "HS256" / "default"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(base64.b64encode(server.oauth2_key).decode())
    server.oauth2_conf.write_text(
        "introspection_mode = local\n"
        f"local_validation_key_dict = fs:posix:prefix={server.oauth2_keys}/\n"
        "username_attribute = sub\n"
        "username_format = %Lu\n"
    )
    for path in (server.oauth2_keys, key_file.parent.parent, key_file.parent):
        path.chmod(0o755)
    key_file.chmod(0o644)
    server.oauth2_conf.chmod(0o644)


def _tls_lines(server: DovecotServer) -> list[str]:
    if not server.tls:
        return ["ssl = no"]
    return ["ssl = yes", f"ssl_cert = <{server.cafile}", f"ssl_key = <{server._keyfile}"]


def _no_chroot_lines(ident: _Identity) -> list[str]:
    """Without root, chroot is impossible: disable it in a service block."""
    return ["  chroot ="] if ident.unprivileged else []
