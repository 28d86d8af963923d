"""Reading the list's mailbox over IMAP, against a real Dovecot."""
from __future__ import annotations

import logging
import ssl
import time

from sqlmodel import Session, func, select

from bot.actions.pipeline import process_pending, retry
from bot.daemon import imap_reader
from bot.inbound.imap_cursor import Backoff, ImapAccount, ImapReader, MailboxCursor, connect
from bot.store.models import AdminEvent, AuditLog, InboundMessage
from tests.support import corpus
from tests.support.config import free_port, imap_env, make_config
from tests.support.inbound import issue_token, raw_of
from tests.support.postgres import database_rows
from tests.support.process import BotProcess, kkrbot

MEMBER = ("Søren Ærø", "soren.aero@aarhus.example.dk")
OUTSIDER = ("Peter Holm", "peter.holm@example.com")
SAMPLE = {  # corpus file → folder its outcome sends it to
    "post-utf8.eml": "processed", "post-windows-1252.eml": "processed", "autoreply-rfc3834-da.eml": "processed",
    "bounce-postfix-dsn.eml": "processed", "loop-x-loop.eml": "processed", "command-hjaelp.eml": "processed",
    "broken-unknown-network.eml": "rejected", "broken-two-from.eml": "rejected",
    "itip-outlook-accept.eml": "rejected",  # its token was never issued
}


def cursor_for(app, server) -> MailboxCursor:
    return MailboxCursor(app, connect(ImapAccount.from_settings(app.settings)), lambda: process_pending(app))


def rows(app) -> list[InboundMessage]:
    with Session(app.engine) as session:
        return list(session.exec(select(InboundMessage).order_by(InboundMessage.id)))


def folder_counts(server) -> dict[str, int]:
    with server._session() as client:
        names = [name for _, _, name in client.list_folders()]
        return {name: client.folder_status(name, ["MESSAGES"])[b"MESSAGES"] for name in names}


def test_one_pass_stores_handles_and_moves_each_message_by_outcome(imap_app, mailbox):
    for name in SAMPLE:
        mailbox.append(corpus.load(name, sender=MEMBER))
    mailbox.append(corpus.sent_by(corpus.load("post-iso-8859-1.eml"), OUTSIDER))  # held for moderation
    cursor = cursor_for(imap_app, mailbox)
    assert cursor.folders["held"] == "kkrbot.held"  # built with the delimiter Dovecot reports
    cursor.run_once()
    stored = rows(imap_app)
    assert len(stored) == len(SAMPLE) + 1 and all(r.state == "done" for r in stored)
    expected = {f"kkrbot.{folder}": 0 for folder in ("processed", "rejected", "held", "failed")}
    expected["kkrbot.held"] = 1
    for folder in SAMPLE.values():
        expected[f"kkrbot.{folder}"] += 1
    assert folder_counts(mailbox) == {"INBOX": 0, "kkrbot": 0, **expected}
    with mailbox._session() as client:  # BODY.PEEK[]: nothing was marked \Seen
        client.select_folder("kkrbot.held", readonly=True)
        assert all(b"\\Seen" not in flags for flags in client.get_flags(client.search("ALL")).values())
    assert cursor.run_once() == 0  # the cursor remembers: nothing twice


def test_routing_by_delivered_to_and_a_second_copy_is_moved_not_handled_again(imap_app, mailbox):
    raw = corpus.sent_by(corpus.load("post-undisclosed.eml"), OUTSIDER)
    mailbox.append(raw)
    mailbox.append(raw)
    cursor_for(imap_app, mailbox).run_once()
    [row] = rows(imap_app)
    assert row.network_slug == "it-netvaerk" and row.outcome == "held"
    counts = folder_counts(mailbox)
    assert (counts["INBOX"], counts["kkrbot.held"], counts["kkrbot.processed"]) == (0, 1, 1)


def test_without_move_it_copies_flags_and_expunges(imap_app, mailbox):
    mailbox.append(corpus.load("post-utf8.eml", sender=MEMBER))
    cursor = cursor_for(imap_app, mailbox)
    cursor.can_move = False
    cursor.run_once()
    counts = folder_counts(mailbox)
    assert (counts["INBOX"], counts["kkrbot.processed"]) == (0, 1)


def test_a_changed_uidvalidity_handles_nothing_twice(imap_app, mailbox):
    token = issue_token(imap_app, MEMBER[1], "draft")
    names = ["post-utf8.eml", "answer-outlook-fra-sendt.eml", "command-hjaelp.eml"]
    for name in names:
        mailbox.append(corpus.load(name, token, MEMBER))
    first = cursor_for(imap_app, mailbox)
    first.sync()  # stored, not yet processed or moved: then the server renumbers everything
    first.client.logout()
    mailbox.force_uidvalidity_change()
    cursor_for(imap_app, mailbox).run_once()
    stored = rows(imap_app)
    assert len(stored) == 3 and [r.attempts for r in stored] == [1, 1, 1]
    assert folder_counts(mailbox)["INBOX"] == 0
    with Session(imap_app.engine) as session:
        assert session.exec(select(func.count()).select_from(AuditLog)).one() == 3


def test_tls_starttls_and_implicit(mailbox, imap_app):
    context = ssl.create_default_context(cafile=str(mailbox.cafile))
    for mode, port in (("starttls", mailbox.port), ("implicit", mailbox.tls_port)):
        account = ImapAccount("127.0.0.1", port, mailbox.user, mailbox.password, mode)
        client = connect(account, context)
        assert client.select_folder("INBOX")[b"UIDVALIDITY"]
        client.logout()


def wait_for(predicate, timeout: float = 20) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def done_count(app) -> int:
    return sum(1 for r in rows(app) if r.state == "done" and r.imap_folder)


def test_idle_wakes_the_reader_and_a_dovecot_restart_loses_nothing(imap_app, mailbox, caplog):
    reader = imap_reader(imap_app)
    reader.start()
    try:
        wait_for(lambda: folder_counts(mailbox).get("kkrbot.processed") is not None)  # connected, folders made
        time.sleep(0.3)  # in IDLE now
        mailbox.append(corpus.load("post-utf8.eml", sender=MEMBER))
        assert wait_for(lambda: done_count(imap_app) == 1, 10) < 3  # IDLE, not the 60 s poll
        mailbox.restart()
        mailbox.append(corpus.load("post-iso-8859-1.eml", sender=MEMBER))
        wait_for(lambda: done_count(imap_app) == 2, 30)
    finally:
        reader.stop()
    assert folder_counts(mailbox)["INBOX"] == 0


def test_the_reconnect_delay_starts_again_after_a_session_that_worked(imap_app, mailbox, caplog):
    caplog.set_level(logging.INFO, logger="kkrbot")
    reader = ImapReader(imap_app, lambda: process_pending(imap_app), backoff=Backoff(first=0.05, cap=30))
    mailbox.stop()
    reader.start()
    try:
        wait_for(lambda: reader.backoff.current >= 0.4)  # a long outage: the delay has grown
        mailbox.start()
        wait_for(lambda: "event=imap_reconnected" in caplog.text)
        mailbox.append(corpus.load("post-utf8.eml", sender=MEMBER))
        reader.wake.set()  # the daemon's poll job: this test is about the backoff, not IDLE's timing
        wait_for(lambda: done_count(imap_app) == 1)  # the new session has worked
        mailbox.restart()
        wait_for(lambda: caplog.text.count("event=imap_reconnected") == 2)
    finally:
        reader.stop()
    outages = [r.getMessage() for r in caplog.records if r.getMessage().startswith("event=imap_unavailable")]
    assert len(outages) == 2 and all(line.endswith(" retry_in_s=0.05") for line in outages), outages


def test_imap_failing_for_over_15_minutes_is_recorded_once_for_the_administrator(tmp_path, clock):
    from bot.app import App
    from bot.config.settings import load_settings
    from bot.startup import prepare_database

    nobody_listens = f"IMAP_HOST=127.0.0.1\nIMAP_PORT={free_port()}\nIMAP_USER=u\nIMAP_PASSWORD=p\nIMAP_TLS=none\n"
    config = make_config(tmp_path, bot_toml={"inbound": '"imap"'}, env=nobody_listens)
    app = App.create(load_settings(config, environ={}), clock, create_secret=True)
    prepare_database(app)
    reader = ImapReader(app, lambda: 0)

    def alarms() -> list[str]:
        with Session(app.engine) as session:
            return [e.detail for e in session.exec(select(AdminEvent).where(AdminEvent.kind == "imap-failing"))]

    for minutes in (0, 7, 7):  # refused for 14 minutes: not yet
        clock.advance(minutes=minutes)
        assert reader.connect_once() is not None
    assert alarms() == []
    clock.advance(minutes=2)
    reader.connect_once()
    [alarm] = alarms()
    assert alarm.startswith("IMAP 127.0.0.1: failing for over 15 minutes: ConnectionRefusedError")
    clock.advance(minutes=30)
    reader.connect_once()
    assert len(alarms()) == 1  # once per outage
    app.engine.dispose()


def test_killed_between_storing_and_moving_it_handles_the_message_once_after_restart(tmp_path, mailbox):
    config = make_config(tmp_path, bot_toml={"inbound": '"imap"'}, env=imap_env(mailbox))
    mailbox.append(corpus.load("post-utf8.eml", sender=MEMBER))
    instance = {"KKRBOT_INSTANCE": "1"}  # as systemd restarts kkrbot@1: it takes its mailbox lease back at once
    crashing = BotProcess(config, {**instance, "KKRBOT_PAUSE_AT": "after-imap-store"})
    crashing.first_line()
    crashing.wait_for_log("event=paused at=after-imap-store")
    crashing.kill()
    assert folder_counts(mailbox)["INBOX"] == 1  # stored, committed, but not yet moved
    restarted = BotProcess(config, instance)
    try:
        restarted.first_line()
        restarted.wait_for_log("event=outcome")
        wait_for(lambda: folder_counts(mailbox).get("kkrbot.processed") == 1)
        time.sleep(0.3)
    finally:
        restarted.stop()
    assert database_rows(tmp_path, "select state, outcome, attempts, imap_folder from inboundmessage") == [
        ("done", "handled", 1, "kkrbot.processed")]
    assert database_rows(tmp_path, "select count(*) from outboxmessage where kind = 'post'") == [(13,)]
    assert database_rows(tmp_path, "select count(*) from auditlog where action like 'inbound-%'") == [(1,)]
    assert folder_counts(mailbox)["INBOX"] == 0
    assert restarted.log().count("event=outcome") == 1


def test_mail_over_the_size_limit_is_kept_in_the_mailbox_and_rejected(tmp_path, mailbox, clock):
    from bot.app import App
    from bot.config.settings import load_settings
    from bot.startup import prepare_database

    config = make_config(tmp_path, bot_toml={"inbound": '"imap"', "limits.max_message_bytes": "100000"},
                         env=imap_env(mailbox))
    app = App.create(load_settings(config, environ={}), clock, create_secret=True)
    prepare_database(app)
    mailbox.append(corpus.load("post-pdf-attachment.eml", sender=MEMBER))  # about 270 KB
    mailbox.append(corpus.load("post-utf8.eml", sender=MEMBER))
    cursor_for(app, mailbox).run_once()
    big, small = rows(app)
    assert (big.outcome, big.rule) == ("rejected", "size-limit") and big.size > 100_000
    assert len(raw_of(app, big.id)) < 10_000  # only its header is stored; the mail stays in the mailbox
    assert small.outcome == "handled"
    counts = folder_counts(mailbox)
    assert (counts["INBOX"], counts["kkrbot.rejected"], counts["kkrbot.processed"]) == (0, 1, 1)
    app.engine.dispose()


def set_aside_then_retried(app, mailbox, monkeypatch) -> tuple[MailboxCursor, int]:
    """A post and a neighbour whose handling fails until both are in kkrbot.failed; then the bug is fixed
    and the administrator runs `kkrbot inbox retry ID` for the post only. Returns the cursor and the post's id."""
    import bot.actions.pipeline as pipeline

    broken, original = [True], pipeline.decide

    def failing_while_broken(app_, session, inbound_row):
        if broken[0]:
            raise RuntimeError("handler exploded")
        return original(app_, session, inbound_row)

    monkeypatch.setattr(pipeline, "decide", failing_while_broken)
    mailbox.append(corpus.load("post-utf8.eml", sender=MEMBER))
    mailbox.append(corpus.load("command-hjaelp.eml", sender=MEMBER))
    cursor = cursor_for(app, mailbox)
    for _ in range(app.settings.processing.max_attempts):
        cursor.run_once()
        app.clock.advance(hours=2)
    post, _ = rows(app)
    assert (post.outcome, post.imap_folder) == ("failed", "kkrbot.failed")
    assert folder_counts(mailbox)["kkrbot.failed"] == 2
    broken[0] = False
    assert retry(app, post.id)
    return cursor, post.id


def test_a_retried_message_moves_from_failed_to_the_folder_of_its_new_outcome(imap_app, mailbox, monkeypatch):
    cursor, post_id = set_aside_then_retried(imap_app, mailbox, monkeypatch)
    cursor.run_once()
    post = rows(imap_app)[0]
    assert (post.id, post.outcome, post.imap_folder) == (post_id, "handled", "kkrbot.processed")
    counts = folder_counts(mailbox)
    assert (counts["INBOX"], counts["kkrbot.failed"], counts["kkrbot.processed"]) == (0, 1, 1)
    with mailbox._session() as client:  # the post is the one that moved, the neighbour stayed
        client.select_folder("kkrbot.processed", readonly=True)
        [moved] = client.fetch(client.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]).values()
    assert post.message_id.encode() in moved[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]
    assert cursor.run_once() == 0 and folder_counts(mailbox) == counts  # moved once: nothing more to do


def test_a_retried_message_whose_copy_was_deleted_by_hand_is_logged_once(imap_app, mailbox, monkeypatch, caplog):
    cursor, post_id = set_aside_then_retried(imap_app, mailbox, monkeypatch)
    with mailbox._session() as client:
        client.select_folder("kkrbot.failed")
        client.delete_messages(client.search(["HEADER", "Message-ID", rows(imap_app)[0].message_id]))
        client.expunge()
    cursor.run_once()
    cursor.run_once()
    post = rows(imap_app)[0]
    assert (post.outcome, post.imap_folder) == ("handled", "")  # the copy is gone: nothing left to move
    assert [r.getMessage() for r in caplog.records if "imap_copy_missing" in r.getMessage()] == [
        f"event=imap_copy_missing id={post_id} folder=kkrbot.failed target=kkrbot.processed"]
    assert folder_counts(mailbox)["kkrbot.failed"] == 1


def test_a_message_expunged_between_search_and_fetch_is_recorded_as_gone(imap_app, mailbox, caplog):
    mailbox.append(corpus.load("post-utf8.eml", sender=MEMBER))
    vanishing = mailbox.append(corpus.load("post-windows-1252.eml", sender=MEMBER))
    mailbox.append(corpus.load("command-hjaelp.eml", sender=MEMBER))
    cursor = cursor_for(imap_app, mailbox)
    fetch = cursor._fetch

    def another_client_moves_one_away_first(batch, sizes):
        with mailbox._session() as client:
            client.select_folder("INBOX")
            client.delete_messages([vanishing])
            client.expunge()
        return fetch(batch, sizes)

    cursor._fetch = another_client_moves_one_away_first
    cursor.run_once()
    by_uid = {r.imap_uid: r for r in rows(imap_app)}
    assert sorted(by_uid) == [vanishing - 1, vanishing, vanishing + 1]
    assert (by_uid[vanishing - 1].outcome, by_uid[vanishing + 1].outcome) == ("handled", "handled")
    gone = by_uid[vanishing]
    assert (gone.state, gone.outcome, gone.rule, raw_of(imap_app, gone.id)) == ("done", "ignored", "imap-gone", b"")
    assert gone.reason == f"gone from INBOX (UID {vanishing}) before it could be read: nothing was stored"
    assert f"event=imap_message_gone mailbox=INBOX uid={vanishing}" in caplog.text
    inbox = kkrbot(imap_app.settings.config_dir, "inbox")
    assert inbox.returncode == 0 and f"gone from INBOX (UID {vanishing})" in inbox.stdout
    assert folder_counts(mailbox)["INBOX"] == 0


def test_a_message_whose_fetch_returns_no_body_is_fetched_again_on_the_next_pass(imap_app, mailbox, caplog):
    mailbox.append(corpus.load("post-utf8.eml", sender=MEMBER))
    bodiless = mailbox.append(corpus.load("command-hjaelp.eml", sender=MEMBER))
    mailbox.append(corpus.load("post-windows-1252.eml", sender=MEMBER))
    cursor = cursor_for(imap_app, mailbox)
    fetch, calls = cursor._fetch, []

    def server_leaves_out_one_body_once(batch, sizes):  # as Exchange sometimes does under load
        calls.append(batch)
        fetched = fetch(batch, sizes)
        return {uid: raw for uid, raw in fetched.items() if uid != bodiless or len(calls) > 1}

    cursor._fetch = server_leaves_out_one_body_once
    cursor.run_once()
    assert [r.imap_uid for r in rows(imap_app)] == [bodiless - 1]  # the cursor stopped before the hole
    assert f"event=imap_fetch_empty mailbox=INBOX uid={bodiless}" in caplog.text
    assert folder_counts(mailbox)["INBOX"] == 2  # still there, waiting for the next pass
    cursor.run_once()
    stored = rows(imap_app)
    assert sorted(r.imap_uid for r in stored) == [bodiless - 1, bodiless, bodiless + 1]
    assert all(r.outcome == "handled" and r.attempts == 1 for r in stored)  # each handled once
    assert folder_counts(mailbox)["INBOX"] == 0


def test_a_uid_the_server_never_gives_a_body_is_given_up_and_the_mailbox_moves_on(imap_app, mailbox):
    """From review: the cursor stopped before such a UID on every pass, so nothing behind it was read."""
    bodiless = mailbox.append(corpus.load("command-hjaelp.eml", sender=MEMBER))
    mailbox.append(corpus.load("post-utf8.eml", sender=MEMBER))
    cursor = cursor_for(imap_app, mailbox)
    fetch = cursor._fetch
    cursor._fetch = lambda batch, sizes: {u: r for u, r in fetch(batch, sizes).items() if u != bodiless}
    for _ in range(6):
        cursor.run_once()
    by_uid = {r.imap_uid: r for r in rows(imap_app)}
    assert (by_uid[bodiless].rule, by_uid[bodiless].outcome) == ("imap-unreadable", "ignored")
    assert by_uid[bodiless + 1].outcome == "handled"  # the post behind it was read and relayed
    with Session(imap_app.engine) as session:
        assert [e.kind for e in session.exec(select(AdminEvent))] == ["imap-unreadable"]
