"""IMAP and SMTP with OAuth2 (XOAUTH2), against a real Dovecot whose oauth2 passdb validates the
JWTs locally, a real aiosmtpd that checks AUTH XOAUTH2, and msal talking HTTPS to a local
stand-in for Microsoft Entra's token endpoint (tests/servers/entra.py)."""
from __future__ import annotations

import base64
import logging
import secrets
import shlex
import signal
import sys
import time

import pytest
from sqlmodel import Session, select

from bot.actions.pipeline import process_pending
from bot.app import App
from bot.config.settings import load_settings
from bot.inbound.imap_cursor import ImapAccount, ImapReader, MailboxCursor, connect
from bot.mailauth import oauth2
from bot.mailauth.oauth2 import LoginRefused, TokenError
from bot.outbound.admin_notices import send_admin_notice
from bot.outbound.compose import Letter, Recipient, compose
from bot.outbound.outbox import enqueue
from bot.outbound.send import SmtpSender
from bot.startup import prepare_database
from bot.store.db import session_scope
from bot.store.models import AdminEvent, Bounce, InboundMessage, OutboxMessage
from tests.servers.dovecot import DovecotServer
from tests.servers.entra import CLIENT_ID, CLIENT_SECRET, TENANT, EntraStandIn, sign
from tests.servers.smtp_sink import SmtpSink
from tests.support import corpus
from tests.support.config import free_port, make_config
from tests.support.process import BotProcess, kkrbot

KEY = secrets.token_bytes(32)  # what Dovecot, the SMTP server and the Entra stand-in share
USER = "kkrbot"  # the mailbox: Dovecot's user, the SMTP login, the tokens' `sub`
MEMBER = ("Søren Ærø", "soren.aero@aarhus.example.dk")
PEOPLE = [("Søren Ærø", "soren.aero@aarhus.example.dk"), ("Mette Østergaard", "mette.ostergaard@herning.example.dk"),
          ("Lars Møller", "lars.moeller@odense.example.dk")]


@pytest.fixture(scope="module")
def oauth_dovecot(tmp_path_factory):
    server = DovecotServer(tmp_path_factory.mktemp("dovecot-oauth2"), user=USER, oauth2_key=KEY)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(oauth_dovecot):
    oauth_dovecot.empty_mailbox()
    return oauth_dovecot


@pytest.fixture(autouse=True)
def no_shared_tokens(monkeypatch):
    """Each test starts without a token cached by an earlier one."""
    monkeypatch.setattr(oauth2, "_SHARED", {})


@pytest.fixture
def entra(tmp_path, monkeypatch):
    with EntraStandIn(tmp_path, KEY, USER) as stand_in:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(stand_in.cafile))  # msal (requests) trusts the stand-in
        yield stand_in


@pytest.fixture
def xoauth2_sink():
    with SmtpSink(free_port(), xoauth2=(KEY, USER)) as sink:
        yield sink


def entra_env(entra: EntraStandIn, secret: str = CLIENT_SECRET) -> str:
    return (f"OAUTH2_TENANT_ID={TENANT}\nOAUTH2_CLIENT_ID={CLIENT_ID}\nOAUTH2_CLIENT_SECRET={secret}\n"
            f"OAUTH2_AUTHORITY={entra.authority}\n")


def imap_env(server) -> str:
    return f"IMAP_HOST=127.0.0.1\nIMAP_PORT={server.port}\nIMAP_USER={USER}\nIMAP_TLS=none\nIMAP_AUTH=xoauth2\n"


def smtp_env(sink) -> str:
    return f"SMTP_HOST=127.0.0.1\nSMTP_PORT={sink.port}\nSMTP_TLS=none\nSMTP_USER={USER}\nSMTP_AUTH=xoauth2\n"


def command_env(tmp_path, token: str) -> str:
    """OAUTH2_TOKEN_COMMAND printing `token` (as Google's `gcloud auth print-access-token` would)."""
    path = tmp_path / "token.txt"
    path.write_text(token + "\n")
    return f"OAUTH2_TOKEN_COMMAND={shlex.join([sys.executable, '-c', f'print(open({str(path)!r}).read().strip())'])}\n"


def make_app(tmp_path, clock, env: str, **bot_toml: str) -> App:
    config = make_config(tmp_path, bot_toml=bot_toml, env=env)
    app = App.create(load_settings(config, environ={}), clock, create_secret=True)
    prepare_database(app)
    return app


def folder_counts(server) -> dict[str, int]:
    with server._session() as client:
        return {name: client.folder_status(name, ["MESSAGES"])[b"MESSAGES"] for _, _, name in client.list_folders()}


def queue(app, count: int, key: str = "t") -> None:
    people = [(f"Person {i}", f"p{i}@aarhus.example.dk") for i in range(count)] if count > 3 else PEOPLE[:count]
    with session_scope(app.engine) as session:
        for name, address in people:
            letter = Letter(kind="help", network=app.settings.network("it-netvaerk"),
                            recipient=Recipient(address, name), dedupe_key=f"help:{key}:{address}", context={})
            enqueue(session, compose(app, session, letter))


def statuses(app) -> list[str]:
    with Session(app.engine) as session:
        return [r.status for r in session.exec(select(OutboxMessage).order_by(OutboxMessage.id))]


def events(app, kind: str) -> list[str]:
    with Session(app.engine) as session:
        return [e.detail for e in session.exec(select(AdminEvent).where(AdminEvent.kind == kind))]


def send_now(app, sender) -> int:
    from tests.support.outbound import send_due

    return send_due(app, sender)


# -- IMAP ----------------------------------------------------------------------------------------

def test_imap_xoauth2_with_a_token_from_entra_reads_and_moves_mail(tmp_path, clock, mailbox, entra):
    mailbox.append(corpus.load("post-utf8.eml", sender=MEMBER))
    app = make_app(tmp_path, clock, imap_env(mailbox) + entra_env(entra), inbound='"imap"')
    cursor = MailboxCursor(app, connect(ImapAccount.from_settings(app.settings)), lambda: process_pending(app))
    cursor.run_once()
    with Session(app.engine) as session:
        [stored] = session.exec(select(InboundMessage)).all()
    assert stored.state == "done" and stored.outcome == "handled"
    assert folder_counts(mailbox)["INBOX"] == 0 and folder_counts(mailbox)["kkrbot.processed"] == 1
    assert entra.requests == 1
    assert f"Login: user=<{USER}>, method=XOAUTH2" in mailbox.log_text()
    cursor.client.logout()
    app.engine.dispose()


def test_an_expired_token_is_refreshed_once_and_no_more(tmp_path, clock, mailbox, entra):
    app = make_app(tmp_path, clock, imap_env(mailbox) + entra_env(entra), inbound='"imap"')
    account = ImapAccount.from_settings(app.settings)
    entra.expired_first = 1  # Dovecot refuses the first token: it has expired
    connect(account).logout()
    assert entra.requests == 2
    connect(account).logout()  # the fresh token is cached and used again
    assert entra.requests == 2
    oauth2._SHARED.clear()
    entra.expired_first = 5  # every token the issuer hands out is refused: one refresh, then give up
    with pytest.raises(LoginRefused, match=r"^IMAP 127\.0\.0\.1 \(XOAUTH2 as kkrbot\) refused a fresh OAuth2 token: "
                                           r".*AUTHENTICATIONFAILED"):
        connect(ImapAccount.from_settings(app.settings))
    assert entra.requests == 4
    app.engine.dispose()


def test_a_wrong_token_is_one_clear_line_then_the_admin_notice_after_15_minutes(tmp_path, clock, mailbox, caplog):
    wrong = sign(b"not the key Dovecot has" * 2, USER)
    app = make_app(tmp_path, clock, imap_env(mailbox) + command_env(tmp_path, wrong), inbound='"imap"')
    reader = ImapReader(app, lambda: 0)
    with caplog.at_level(logging.INFO, logger="kkrbot"):
        for minutes in (0, 7, 7):  # refused for 14 minutes: not yet
            clock.advance(minutes=minutes)
            assert reader.connect_once() is not None
        assert events(app, "imap-failing") == []
        clock.advance(minutes=2)
        reader.connect_once()
    [line] = [r.getMessage() for r in caplog.records if "imap_unavailable" in r.getMessage()]
    assert "error=LoginRefused" in line and "refused a fresh OAuth2 token" in line and "AUTHENTICATIONFAILED" in line
    [alarm] = events(app, "imap-failing")
    assert alarm.startswith("IMAP 127.0.0.1: failing for over 15 minutes: LoginRefused")
    assert send_admin_notice(app)
    [notice] = [r for r in in_outbox(app) if r.kind == "admin-notice"]
    assert notice.recipient == app.settings.admin_address
    assert wrong not in caplog.text and wrong not in alarm
    app.engine.dispose()


def in_outbox(app) -> list[OutboxMessage]:
    with Session(app.engine) as session:
        return list(session.exec(select(OutboxMessage)))


def test_entra_refusing_the_client_secret_names_the_setting_and_never_the_secret(tmp_path, clock, mailbox, entra,
                                                                                  caplog):
    wrong_secret = "wrong~secret~" + secrets.token_hex(8)
    app = make_app(tmp_path, clock, imap_env(mailbox) + entra_env(entra, wrong_secret), inbound='"imap"')
    reader = ImapReader(app, lambda: 0)
    with caplog.at_level(logging.INFO, logger="kkrbot"):
        reader.connect_once()
    [line] = [r.getMessage() for r in caplog.records if "imap_unavailable" in r.getMessage()]
    assert "error=TokenError" in line and "OAUTH2_CLIENT_SECRET: Entra refused the token request: invalid_client: " \
                                          "AADSTS7000215" in line
    assert wrong_secret not in caplog.text
    app.engine.dispose()


def test_the_token_command_is_run_again_only_when_its_token_is_near_its_end(tmp_path):
    runs = tmp_path / "runs"
    script = tmp_path / "token.py"
    script.write_text(f"import sys\nopen({str(runs)!r}, 'a').write('x')\nprint(sys.argv[1])\n")
    lasting = oauth2.command_source(shlex.join([sys.executable, str(script), sign(KEY, USER, lifetime=3600)]))
    first = lasting.token()
    assert lasting.token() == first and runs.read_text() == "x"  # cached
    assert lasting.token(refused=first) == first and runs.read_text() == "xx"  # refused: asked again
    ending = oauth2.command_source(shlex.join([sys.executable, str(script), sign(KEY, USER, lifetime=0)]))
    ending.token()
    ending.token()
    assert runs.read_text() == "xxxx"  # a token at its end is never kept: asked each time
    failing = oauth2.command_source(shlex.join([sys.executable, "-c", "import sys; sys.exit('gcloud: not logged in')"]))
    with pytest.raises(TokenError, match=r"^OAUTH2_TOKEN_COMMAND: exited 1 without a token on standard output: "
                                         r"gcloud: not logged in$"):
        failing.token()


# -- SMTP ----------------------------------------------------------------------------------------

def test_smtp_xoauth2_sends_and_an_expired_token_is_refreshed_once_for_all_connections(tmp_path, clock, entra,
                                                                                        xoauth2_sink):
    app = make_app(tmp_path, clock, smtp_env(xoauth2_sink) + entra_env(entra), outbound='"smtp"')
    entra.expired_first = 1
    queue(app, 3)
    sender = SmtpSender(app.settings, clock=clock)
    send_now(app, sender)
    sender.close()
    assert len(xoauth2_sink.received) == 3 and statuses(app) == ["sent"] * 3
    assert entra.requests == 2  # lanes that saw the expired token share the one fresh token
    logins = xoauth2_sink.handler.logins  # (user, accepted) per AUTH; the first with the expired token
    assert logins[0] == (USER, False) and (USER, True) in logins and {user for user, _ in logins} == {USER}
    app.engine.dispose()


def test_smtp_refusing_the_token_is_told_to_the_administrator_after_15_minutes(tmp_path, clock, xoauth2_sink):
    wrong = sign(b"another key entirely, 32 bytes!!", USER)
    app = make_app(tmp_path, clock, smtp_env(xoauth2_sink) + command_env(tmp_path, wrong), outbound='"smtp"')
    sender = SmtpSender(app.settings, clock=clock)
    queue(app, 20, key="burst")
    send_now(app, sender)
    assert len(xoauth2_sink.handler.logins) <= 2 * app.settings.outbox.connections  # not 2 per mail
    for step, minutes in enumerate((7, 7, 2)):
        clock.advance(minutes=minutes)
        queue(app, 1, key=f"at-{step}")
        send_now(app, sender)
    sender.close()
    [alarm] = events(app, "smtp-failing")
    assert alarm.startswith(f"SMTP 127.0.0.1:{sender.port}: failing for over 15 minutes: ") and \
        "refused a fresh OAuth2 token: 535 5.7.3 Authentication unsuccessful" in alarm
    assert xoauth2_sink.received == [] and set(statuses(app)) == {"queued"}
    app.engine.dispose()


def test_max_per_minute_holds_the_rest_until_the_next_minute(tmp_path, clock, smtp_sink):
    env = f"SMTP_HOST=127.0.0.1\nSMTP_PORT={smtp_sink.port}\nSMTP_TLS=none\n"
    app = make_app(tmp_path, clock, env, outbound='"smtp"', **{"outbox.max_per_minute": "2", "outbox.batch_size": "1"})
    queue(app, 5)
    sender = SmtpSender(app.settings, clock=clock)
    assert send_now(app, sender) == 2
    clock.advance(seconds=30)
    assert send_now(app, sender) == 0 and len(smtp_sink.received) == 2
    clock.advance(seconds=31)
    assert send_now(app, sender) == 2
    clock.advance(seconds=60)
    assert send_now(app, sender) == 1
    sender.close()
    assert len(smtp_sink.received) == 5 and statuses(app) == ["sent"] * 5
    app.engine.dispose()


@pytest.mark.parametrize("fault, reply", [
    ("mail_reply", "550 5.7.60 SMTP; Client does not have permissions to send as this sender"),
    ("rcpt_reply", "550 5.4.5 Daily user sending quota exceeded."),
])
def test_sendas_and_quota_refusals_are_server_trouble_never_bounces(tmp_path, clock, smtp_sink, fault, reply):
    env = f"SMTP_HOST=127.0.0.1\nSMTP_PORT={smtp_sink.port}\nSMTP_TLS=none\n"
    app = make_app(tmp_path, clock, env, outbound='"smtp"')
    setattr(smtp_sink.faults, fault, reply)
    queue(app, 100)  # a burst: one event for the administrator, not a hundred
    sender = SmtpSender(app.settings, clock=clock)
    send_now(app, sender)
    clock.advance(minutes=10)
    send_now(app, sender)  # retried later, still refused: still one event within the hour
    assert set(statuses(app)) == {"queued"}
    with Session(app.engine) as session:
        assert session.exec(select(Bounce)).all() == []
    [event] = events(app, "smtp-refused")
    assert "SendAs permission or sending quota" in event and reply.split(" ", 1)[1][:20] in event
    setattr(smtp_sink.faults, fault, "")
    clock.advance(hours=3)
    send_now(app, sender)
    sender.close()
    assert set(statuses(app)) == {"sent"} and len(smtp_sink.received) == 100
    app.engine.dispose()


# -- config check ------------------------------------------------------------------------------

def test_config_check_names_the_missing_token_setting_and_prints_no_secret(tmp_path):
    secret = "very~secret~" + secrets.token_hex(8)
    env = (f"IMAP_HOST=imap.example.dk\nIMAP_USER=it-netvaerk@lists.example.dk\nIMAP_AUTH=xoauth2\n"
           f"OAUTH2_CLIENT_ID={CLIENT_ID}\nOAUTH2_CLIENT_SECRET={secret}\n")
    config = make_config(tmp_path, bot_toml={"inbound": '"imap"'}, env=env)
    result = kkrbot(config, "config", "check")
    assert result.returncode == 1
    assert f"{tmp_path / '.env'}: key OAUTH2_TENANT_ID: is required when IMAP_AUTH = xoauth2" in result.stderr
    assert "IMAP_PASSWORD" not in result.stderr  # no password with xoauth2
    assert secret not in result.stdout + result.stderr


def test_config_check_connect_logs_in_to_imap_and_smtp_and_says_what_worked(tmp_path, mailbox, entra, xoauth2_sink):
    env = imap_env(mailbox) + smtp_env(xoauth2_sink) + entra_env(entra)
    config = make_config(tmp_path, bot_toml={"inbound": '"imap"', "outbound": '"smtp"'}, env=env)
    result = kkrbot(config, "config", "check", "--connect")
    assert result.returncode == 0, result.stderr
    assert f"IMAP 127.0.0.1:{mailbox.port} as kkrbot (XOAUTH2, token from Entra): logged in, INBOX opened" \
        in result.stdout
    assert f"SMTP 127.0.0.1:{xoauth2_sink.port} as kkrbot (XOAUTH2, token from Entra): logged in" in result.stdout
    (tmp_path / ".env").write_text(env.replace(CLIENT_SECRET, "wrong"))
    failed = kkrbot(config, "config", "check", "--connect")
    assert failed.returncode == 1
    assert "(XOAUTH2, token from Entra): failed: TokenError: OAUTH2_CLIENT_SECRET: Entra refused" in failed.stderr
    assert CLIENT_SECRET not in failed.stdout + failed.stderr
    assert all(token not in result.stdout + result.stderr for token in entra.issued)


# -- a full run --------------------------------------------------------------------------------

def test_a_full_run_with_xoauth2_writes_no_token_or_secret_to_its_log(tmp_path, mailbox, entra, xoauth2_sink):
    env = imap_env(mailbox) + smtp_env(xoauth2_sink) + entra_env(entra)
    config = make_config(tmp_path, bot_toml={"inbound": '"imap"', "outbound": '"smtp"', "log_level": '"debug"'},
                         env=env)
    entra.expired_first = 1  # one refresh happens during the run, too
    mailbox.append(corpus.load("post-utf8.eml", sender=MEMBER))
    bot = BotProcess(config, {"REQUESTS_CA_BUNDLE": str(entra.cafile)})
    try:
        bot.first_line()
        bot.wait_for_log("event=sent ", timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and folder_counts(mailbox).get("kkrbot.processed") != 1:
            time.sleep(0.1)
    finally:
        assert bot.stop(signal.SIGTERM) == 0
    assert folder_counts(mailbox)["kkrbot.processed"] == 1 and xoauth2_sink.received
    log = bot.log()
    assert entra.issued and entra.requests >= 2
    for token in entra.issued:
        sasl = base64.b64encode(oauth2.xoauth2_string(USER, token).encode()).decode()
        assert token not in log and token[-40:] not in log and sasl not in log
    assert CLIENT_SECRET not in log


# -- a certificate instead of a client secret ---------------------------------------------------

def rsa_certificate(path, name: str) -> str:
    """A PEM file with an RSA private key and its self-signed certificate, as an administrator
    would make one for the app registration (`openssl req -x509 -newkey rsa:2048 ...`)."""
    import subprocess

    key, cert = path / f"{name}.key", path / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "30", "-newkey", "rsa:2048", "-keyout", str(key),
                    "-out", str(cert), "-subj", f"/CN={name}"], check=True, capture_output=True)
    both = path / f"{name}.pem"
    both.write_text(key.read_text() + cert.read_text())
    return str(both)


def test_a_certificate_gets_the_token_and_an_unknown_one_is_named(tmp_path, clock, mailbox, entra):
    registered, other = rsa_certificate(tmp_path, "kkrbot"), rsa_certificate(tmp_path, "someone-else")
    entra.certificate = tmp_path / "kkrbot.crt"
    base = imap_env(mailbox) + f"OAUTH2_TENANT_ID={TENANT}\nOAUTH2_CLIENT_ID={CLIENT_ID}\nOAUTH2_AUTHORITY={entra.authority}\n"
    app = make_app(tmp_path / "a", clock, base + f"OAUTH2_CERTIFICATE={registered}\n", inbound='"imap"')
    connect(ImapAccount.from_settings(app.settings)).logout()
    assert entra.requests == 1
    oauth2._SHARED.clear()
    wrong = make_app(tmp_path / "b", clock, base + f"OAUTH2_CERTIFICATE={other}\n", inbound='"imap"')
    with pytest.raises(TokenError, match=r"^OAUTH2_CERTIFICATE: Entra refused the token request: invalid_client: "
                                         r"AADSTS700027"):
        connect(ImapAccount.from_settings(wrong.settings))
    app.engine.dispose()
    wrong.engine.dispose()


# -- settings ------------------------------------------------------------------------------------

@pytest.mark.parametrize("env, problem", [
    ("IMAP_AUTH=oauth\n", "key IMAP_AUTH: 'oauth' is not one of password, xoauth2"),
    (f"IMAP_AUTH=xoauth2\nOAUTH2_TENANT_ID={TENANT}\nOAUTH2_CLIENT_ID={CLIENT_ID}\n",
     "key OAUTH2_CLIENT_SECRET: set exactly one of OAUTH2_CLIENT_SECRET and OAUTH2_CERTIFICATE when IMAP_AUTH = xoauth2"),
    (f"IMAP_AUTH=xoauth2\nOAUTH2_TOKEN_COMMAND=/bin/true\nOAUTH2_TENANT_ID={TENANT}\n",
     "key OAUTH2_TENANT_ID: set either OAUTH2_TOKEN_COMMAND or the Entra settings"),
    (f"IMAP_AUTH=xoauth2\nOAUTH2_TENANT_ID={TENANT}\nOAUTH2_CLIENT_ID={CLIENT_ID}\nOAUTH2_CERTIFICATE=/nowhere.pem\n",
     "key OAUTH2_CERTIFICATE: '/nowhere.pem' is not a readable file"),
    (f"IMAP_AUTH=xoauth2\nOAUTH2_TENANT_ID={TENANT}\nOAUTH2_CLIENT_ID={CLIENT_ID}\nOAUTH2_CLIENT_SECRET=s\n"
     "OAUTH2_AUTHORITY=http://login.example\n", "key OAUTH2_AUTHORITY: must be an https:// address"),
    ("IMAP_AUTH=password\n", "key IMAP_PASSWORD: is required when bot.toml has inbound = \"imap\""),
    ("SMTP_AUTH=xoauth2\nOAUTH2_TOKEN_COMMAND=/bin/true\nSMTP_HOST=smtp.example.dk\n",
     "key SMTP_USER: is required when SMTP_AUTH = xoauth2"),
])
def test_oauth2_settings_are_checked_and_each_problem_names_its_key(tmp_path, env, problem):
    from bot.config.errors import ConfigError

    base = "IMAP_HOST=imap.example.dk\nIMAP_USER=it-netvaerk@lists.example.dk\n"
    config = make_config(tmp_path, bot_toml={"inbound": '"imap"', "outbound": '"smtp"' if "SMTP" in env else '"maildir"'},
                         env=base + env)
    with pytest.raises(ConfigError) as raised:
        load_settings(config, environ={})
    assert any(problem in str(p) for p in raised.value.problems), raised.value.problems


def test_a_complete_token_command_setting_needs_no_password(tmp_path):
    env = ("IMAP_HOST=imap.gmail.com\nIMAP_USER=it-netvaerk@lists.example.dk\nIMAP_AUTH=xoauth2\n"
           "OAUTH2_TOKEN_COMMAND=/etc/kkrbot/google-token\n")
    settings = load_settings(make_config(tmp_path, bot_toml={"inbound": '"imap"'}, env=env), environ={})
    assert settings.secrets.get("IMAP_AUTH") == "xoauth2" and settings.secrets.get("IMAP_PASSWORD") is None
