"""The SMTP receiver's contract, against the real aiosmtpd server over loopback with smtplib."""
from __future__ import annotations

import smtplib
import socket
import sqlite3
import threading
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid

import pytest
from sqlmodel import Session, select

from bot.app import App
from bot.config.settings import load_settings
from bot.inbound.receiver import ListReceiver, start_receiver
from bot.store.models import InboundMessage
from tests.support.config import free_port, set_keys
from tests.support.inbound import raw_of

LIST = "it-netvaerk@lists.example.dk"
SUBGROUP = "it-teknik@lists.example.dk"


@pytest.fixture
def receiver(app):
    woken = threading.Event()
    controller = start_receiver(app.settings, ListReceiver(app.settings, app.engine, app.clock, woken.set),
                                port=free_port())
    controller.woken = woken
    yield controller
    controller.stop()


def mail(subject: str = "Møde om FMK", message_id: str | None = None, body: str = "Hej alle, æøå.\n") -> bytes:
    message = EmailMessage()
    message["From"] = "Søren Ærø <soren.aero@aarhus.example.dk>"
    message["To"] = LIST
    message["Subject"] = subject
    if message_id is not False:
        message["Message-ID"] = message_id or make_msgid(domain="aarhus.example.dk")
    message.set_content(body)
    return message.as_bytes(policy=SMTP)  # CRLF line ends, as they travel


def send(receiver, raw: bytes, recipients=(LIST,), sender="soren.aero@aarhus.example.dk"):
    with smtplib.SMTP(receiver.hostname, receiver.port) as client:
        return client.sendmail(sender, list(recipients), raw)


def rows(app) -> list[InboundMessage]:
    with Session(app.engine) as session:
        return list(session.exec(select(InboundMessage).order_by(InboundMessage.id)))


def test_accepted_mail_is_committed_raw_with_its_envelope(app, receiver):
    raw = mail()
    assert send(receiver, raw) == {}
    [row] = rows(app)
    assert raw_of(app, row.id) == raw
    assert row.envelope_from == "soren.aero@aarhus.example.dk"
    assert row.envelope_to == [LIST]
    assert (row.network_slug, row.source, row.state, row.outcome) == ("it-netvaerk", "smtp", "new", None)
    assert receiver.woken.is_set()


def test_the_same_message_twice_is_stored_once(app, receiver):
    raw = mail(message_id="<same@aarhus.example.dk>")
    send(receiver, raw)
    send(receiver, raw)
    assert len(rows(app)) == 1


def test_one_mail_to_a_network_and_its_subgroup_is_two_deliveries(app, receiver):
    send(receiver, mail(), recipients=(LIST, SUBGROUP))
    assert sorted(r.network_slug for r in rows(app)) == ["it-netvaerk", "it-teknik"]


def test_plus_tag_addresses_are_accepted_and_kept(app, receiver):
    send(receiver, mail(), recipients=("It-Netvaerk+Abc234@Lists.Example.dk",))
    [row] = rows(app)
    assert (row.network_slug, row.delivered_to) == ("it-netvaerk", "it-netvaerk+abc234@lists.example.dk")


def test_a_reused_message_id_with_other_bytes_is_stored_and_flagged(app, receiver):
    send(receiver, mail(body="Første udgave\n", message_id="<dup@example.dk>"))
    send(receiver, mail(body="Anden udgave\n", message_id="<dup@example.dk>"))
    first, second = rows(app)
    assert (first.message_id_reused, second.message_id_reused) == (False, True)


def test_a_message_without_message_id_gets_a_synthetic_one_from_its_bytes(app, receiver):
    raw = mail(message_id=False)
    send(receiver, raw)
    send(receiver, raw)
    [row] = rows(app)
    assert row.message_id_synthetic and row.message_id.endswith("@synthetic.kkrbot>")


def test_unknown_recipient_is_refused_with_550(app, receiver):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(receiver, mail(), recipients=("ukendt@lists.example.dk",))
    assert refused.value.recipients["ukendt@lists.example.dk"][0] == 550
    assert rows(app) == []


def receiver_with(config_dir, clock, on_recovered=None, **settings: str):
    """A second receiver on the same database, with changed bot.toml settings."""
    set_keys(config_dir / "bot.toml", settings)
    other = App.create(load_settings(config_dir, environ={}), clock)
    return start_receiver(other.settings, ListReceiver(other.settings, other.engine, clock, lambda: None,
                                                       on_recovered=on_recovered), port=free_port())


def test_oversize_message_is_refused_with_552(app, config_dir, clock):
    controller = receiver_with(config_dir, clock, **{"limits.max_message_bytes": "2048"})
    try:
        with pytest.raises(smtplib.SMTPException) as refused:
            send(controller, mail(body="x" * 4000 + "\n"))
        assert "552" in str(refused.value)
        with smtplib.SMTP(controller.hostname, controller.port) as client:
            assert "2048" in client.ehlo()[1].decode()  # SIZE is advertised
    finally:
        controller.stop()
    assert rows(app) == []


@pytest.mark.sqlite_only  # another writer's BEGIN IMMEDIATE
def test_a_busy_database_answers_451_and_stores_nothing(app, config_dir, clock):
    told = []
    controller = receiver_with(config_dir, clock, told.append, **{"processing.busy_timeout_ms": "200"})
    path = app.settings.database_url.split("///", 1)[1]
    blocker = sqlite3.connect(path, timeout=0, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the database past the busy timeout
    try:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send(controller, mail())
        assert refused.value.smtp_code == 451
        blocker.execute("ROLLBACK")
        assert rows(app) == []
        assert send(controller, mail()) == {}  # and the next delivery works
        assert len(rows(app)) == 1
        assert len(told) == 1 and "answered 451 1 time(s)" in told[0]  # for the administrator
    finally:
        blocker.close()
        controller.stop()


@pytest.mark.parametrize("command, code", [
    (b"MAIL TO:<it-netvaerk@lists.example.dk>", 501),
    (b"RCPT TO:<it-netvaerk@lists.example.dk>", 503),  # RCPT before MAIL
    (b"DATA", 503),  # DATA before RCPT
    (b"X" * 2000, 500),  # a line far past the limit
])
def test_protocol_abuse_gets_a_clear_error(app, receiver, command, code):
    with smtplib.SMTP(receiver.hostname, receiver.port) as client:
        client.ehlo()
        client.send(command + b"\r\n")
        assert client.getreply()[0] == code
    assert rows(app) == []


@pytest.mark.sqlite_only  # PRAGMA synchronous
def test_the_commit_behind_a_250_is_on_disk(app, receiver):
    """synchronous=FULL: the receiver's own connection syncs each commit before the 250 goes out."""
    with smtplib.SMTP("127.0.0.1", receiver.port) as client:
        client.sendmail("soren.aero@aarhus.example.dk", [LIST], mail())
    with receiver.handler.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_a_line_longer_than_1000_octets_is_accepted_and_kept_byte_for_byte(app, receiver):
    """Postfix and Exchange pass such mail on (an HTML mail on one line, a long base64 line)."""
    long_line = "<p>" + "Sundhedsdata æøå " * 600 + "</p>"  # about 11,000 octets in one line
    raw = (f"From: Søren Ærø <soren.aero@aarhus.example.dk>\r\nTo: {LIST}\r\nSubject: Lang linje\r\n"
           f"Message-ID: <long@aarhus.example.dk>\r\nContent-Type: text/html; charset=utf-8\r\n"
           f"Content-Transfer-Encoding: 8bit\r\n\r\n{long_line}\r\n").encode()
    assert send(receiver, raw) == {}
    [row] = rows(app)
    assert raw_of(app, row.id) == raw


def test_concurrent_sessions_are_each_answered_after_their_commit(app, receiver):
    """Several sessions at once share commits; every message is stored once and its 250 names its row."""
    answers: list[str] = []

    def session(index: int) -> None:
        with smtplib.SMTP(receiver.hostname, receiver.port) as client:
            client.ehlo()
            for number in range(10):
                client.mail("soren.aero@aarhus.example.dk")
                client.rcpt(LIST)
                code, text = client.data(mail(subject=f"Tråd {index}-{number}"))
                answers.append(f"{code} {text.decode()}")
    threads = [threading.Thread(target=session, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = rows(app)
    assert len(stored) == 40 and len({r.message_id for r in stored}) == 40
    assert sorted(int(a.rsplit("#", 1)[1]) for a in answers) == [r.id for r in stored]
    assert all(a.startswith("250 2.0.0 Stored as #") for a in answers)


def test_dot_stuffing_is_undone_and_nothing_else_changes(app, receiver):
    raw = (f"From: soren.aero@aarhus.example.dk\r\nTo: {LIST}\r\nSubject: Prikker\r\nMessage-ID: <dots@x>\r\n\r\n"
           ".\r\n..to prikker\r\n.skjult\r\nslut.\r\nlinje med . i midten\r\n").encode()
    assert send(receiver, raw) == {}  # smtplib doubles each leading dot on the wire
    [row] = rows(app)
    assert raw_of(app, row.id) == raw


def test_a_command_sent_right_after_the_end_of_data_is_answered_too(app, receiver):
    """Some clients write QUIT in the same packet as the end of the message; the reader must not eat it."""
    with socket.create_connection((receiver.hostname, receiver.port), timeout=10) as conn:
        replies = conn.makefile("rb")
        replies.readline()
        conn.sendall(b"EHLO client.example.dk\r\n")
        while not replies.readline().startswith(b"250 "):
            pass
        conn.sendall(f"MAIL FROM:<soren.aero@aarhus.example.dk>\r\nRCPT TO:<{LIST}>\r\nDATA\r\n".encode())
        assert [replies.readline()[:3] for _ in range(3)] == [b"250", b"250", b"354"]
        conn.sendall(b"Subject: samlet\r\nMessage-ID: <quit@x>\r\n\r\nHej\r\n.\r\nQUIT\r\n")
        assert replies.readline().startswith(b"250 2.0.0 Stored")
        assert replies.readline().startswith(b"221")
    [row] = rows(app)
    assert raw_of(app, row.id) == b"Subject: samlet\r\nMessage-ID: <quit@x>\r\n\r\nHej\r\n"


def test_a_client_that_hangs_up_right_after_the_final_dot_does_not_stop_the_receiver(app, receiver):
    """Found in review: the cancelled session's future made the committer thread die, and every later
    sender waited forever. A message nobody heard a 250 for may be stored or not; the next ones are."""
    for number in range(5):
        with socket.create_connection((receiver.hostname, receiver.port), timeout=10) as conn:
            replies = conn.makefile("rb")
            replies.readline()
            conn.sendall(f"HELO client.example.dk\r\nMAIL FROM:<a@b.dk>\r\nRCPT TO:<{LIST}>\r\nDATA\r\n".encode())
            assert [replies.readline()[:3] for _ in range(4)] == [b"250", b"250", b"250", b"354"]
            conn.sendall(f"Subject: x{number}\r\nMessage-ID: <gone{number}@x>\r\n\r\nHej\r\n.\r\n".encode())
    answered = []
    sender = threading.Thread(target=lambda: answered.append(send(receiver, mail())), daemon=True)
    sender.start()
    sender.join(10)
    assert answered == [{}] and receiver.handler.committer.is_alive()
