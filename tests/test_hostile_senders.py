"""What a hostile sender tries, sent as real SMTP to the real receiver, and what comes of it.

Each test is one finding of the probe in issue 10: the same mail, through the same
door (smtplib → the built-in receiver → the pipeline), and the user-visible result:
the rows, the outbox, the copies the members would get.
"""
from __future__ import annotations

import smtplib
import subprocess
import sys
from email.message import EmailMessage

import pytest
from sqlmodel import Session, select

from bot.actions.pipeline import process_pending
from bot.inbound.parse import parse
from bot.inbound.receiver import ListReceiver, start_receiver
from bot.outbound.copies import CopyMaker, QueuedRow
from bot.store.models import InboundMessage, Membership, OutboxMessage
from tests.support.config import free_port
from tests.support.inbound import issue_token

LIST = "it-netvaerk@lists.example.dk"
SOREN = ("Søren Ærø", "soren.aero@aarhus.example.dk")
METTE = ("Mette Østergaard", "mette.ostergaard@herning.example.dk")
TRUSTED = "mx.example.dk"


@pytest.fixture
def front_door(trusted_app):
    """Send raw bytes over SMTP to the real receiver of `trusted_app`, then let the pipeline run."""
    controller = start_receiver(trusted_app.settings, ListReceiver(trusted_app.settings, trusted_app.engine,
                                                                   trusted_app.clock, lambda: None), port=free_port())

    def send(raw: bytes, to: list[str] | None = None, sender: str = SOREN[1]) -> str:
        with smtplib.SMTP("127.0.0.1", controller.port) as client:
            client.ehlo()
            client.mail(sender)
            for address in to or [LIST]:
                client.rcpt(address)
            code, text = client.data(raw)
        process_pending(trusted_app)
        return f"{code} {text.decode()}"
    yield send
    controller.stop()


def mail(subject: str, sender=SOREN, to: str = LIST, body: str = "Hej alle\n", results: tuple[str, ...] = (),
         message_id: str | None = "<m1@aarhus.example.dk>", headers: dict | None = None) -> bytes:
    message = EmailMessage()
    for value in results:
        message["Authentication-Results"] = value
    message["From"] = f"{sender[0]} <{sender[1]}>"
    message["To"] = to
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes()


def inbound(app) -> list[InboundMessage]:
    with Session(app.engine) as session:
        return list(session.exec(select(InboundMessage).order_by(InboundMessage.id)))


def outbox(app) -> list[OutboxMessage]:
    with Session(app.engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def only_the_secretary_asked(app) -> bool:
    """A held post is relayed to nobody; the one mail it causes asks the secretary (moderation-request)."""
    return [(m.kind, m.recipient) for m in outbox(app)] == [("moderation-request", "anne.hansen@kl.example.dk")]


def copy_of(app, row: OutboxMessage) -> bytes:
    with Session(app.engine) as session:
        parts = CopyMaker(app).parts(session, QueuedRow(row.id, row.recipient, row.envelope_from, row.raw,
                                                        row.job_id, row.token))
    return b"".join(bytes(p.data) if hasattr(p, "data") else p for p in parts)


def test_a_forged_post_is_held_when_the_second_trusted_header_says_fail(trusted_app, front_door):
    front_door(mail("Vigtigt", results=(f"{TRUSTED}; spf=pass smtp.mailfrom=aarhus.example.dk",
                                         f"{TRUSTED}; dmarc=fail header.from=aarhus.example.dk")))
    [row] = inbound(trusted_app)
    assert (row.dmarc, row.outcome) == ("fail", "held") and only_the_secretary_asked(trusted_app)


def test_dmarc_pass_inside_another_property_is_no_verdict(trusted_app, front_door):
    front_door(mail("Vigtigt", results=(f"{TRUSTED}; spf=pass smtp.mailfrom=dmarc=pass@evil.example",)))
    [row] = inbound(trusted_app)
    assert row.dmarc == "" and row.outcome == "held" and "not verified" in row.reason
    assert only_the_secretary_asked(trusted_app)


def test_a_verified_member_post_is_relayed(trusted_app, front_door):
    front_door(mail("Vigtigt", results=(f"{TRUSTED}; dmarc=pass header.from=aarhus.example.dk",)))
    [row] = inbound(trusted_app)
    assert (row.dmarc, row.outcome) == ("pass", "handled") and len(outbox(trusted_app)) == 13


def test_a_reply_that_failed_dmarc_acts_on_nothing_and_answers_nobody(trusted_app, front_door):
    token = issue_token(trusted_app, SOREN[1], "list-unsubscribe")
    tagged = f"it-netvaerk+{token}@lists.example.dk"
    front_door(mail("afmeld", to=tagged, results=(f"{TRUSTED}; dmarc=fail header.from=aarhus.example.dk",)),
               to=[tagged])
    [row] = inbound(trusted_app)
    assert row.outcome == "rejected" and "failed DMARC" in row.reason
    with Session(trusted_app.engine) as session:
        assert not any(m.opted_out for m in session.exec(select(Membership)))
    assert outbox(trusted_app) == []


def test_a_token_used_from_another_address_is_reported_to_its_owner_not_the_sender(trusted_app, front_door):
    token = issue_token(trusted_app, SOREN[1], "invitation")
    tagged = f"it-netvaerk+{token}@lists.example.dk"
    front_door(mail("SV: Invitation", sender=("Anybody", "anybody@evil.example"), to=tagged, body="Tilmeld\n"),
               to=[tagged], sender="anybody@evil.example")
    [row] = inbound(trusted_app)
    assert row.outcome == "rejected" and "the owner was told" in row.reason
    [told] = outbox(trusted_app)
    assert told.recipient == SOREN[1] and b"anybody@evil.example" in told.raw


def test_one_transaction_to_many_tagged_addresses_gets_at_most_ten_answers(trusted_app, front_door):
    tags = [f"it-netvaerk+x{n}@lists.example.dk" for n in range(150)]
    answer = front_door(mail("hjælp", message_id=None), to=tags)  # 100 accepted, 50 told to come again
    assert answer.startswith("250 2.0.0 Stored as #") and len(answer) < 512
    assert len(inbound(trusted_app)) == 100
    assert len([m for m in outbox(trusted_app) if m.recipient == SOREN[1]]) == 1  # one mail, acted on once


def test_a_relayed_post_carries_no_token_of_ours(trusted_app, front_door):
    token = issue_token(trusted_app, SOREN[1], "invitation")
    ours = f"<{token}.abcdef1234@lists.example.dk>"
    # A reply to Mette's post, which answered a bot mail to Søren: the bot mail's id is deeper in References.
    front_door(mail("SV: SV: Dagsorden", results=(f"{TRUSTED}; dmarc=pass header.from=aarhus.example.dk",),
                    headers={"In-Reply-To": "<mette-1@herning.example.dk>",
                             "References": f"{ours} <mette-1@herning.example.dk>"}))
    copies = [copy_of(trusted_app, m) for m in outbox(trusted_app) if m.kind == "post"]
    assert len(copies) == 13
    for copy in copies:
        assert token.encode() not in copy.split(b"\r\n\r\n", 1)[0]
        assert parse(copy).references == ["<mette-1@herning.example.dk>"]


def test_a_bare_cr_in_a_header_never_becomes_a_header_of_its_own(trusted_app, front_door):
    raw = mail("placeholder", results=(f"{TRUSTED}; dmarc=pass header.from=aarhus.example.dk",))
    raw = raw.replace(b"Subject: placeholder", b"Subject: x\rBcc: victim@evil.example")
    front_door(raw)
    for copy in [copy_of(trusted_app, m) for m in outbox(trusted_app) if m.kind == "post"]:
        head = copy.split(b"\r\n\r\n", 1)[0]
        assert b"\r" not in head.replace(b"\r\n", b"") and b"\nBcc:" not in head
        assert parse(copy).header("Bcc") == ""


def test_five_hundred_levels_of_forwarding_are_parsed_without_an_error(trusted_app, front_door):
    inner = b"From: a@b.dk\r\nSubject: x\r\n\r\nhej\r\n"
    for _ in range(500):
        inner = b"From: a@b.dk\r\nSubject: fw\r\nContent-Type: message/rfc822\r\n\r\n" + inner
    raw = (b"From: Soren <soren.aero@aarhus.example.dk>\r\nTo: it-netvaerk@lists.example.dk\r\nSubject: fwd\r\n"
           b"Message-ID: <deep@x>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: text/plain\r\n\r\nse\r\n--b\r\n" + inner + b"\r\n--b--\r\n")
    front_door(raw)
    [row] = inbound(trusted_app)
    assert row.state == "done" and row.outcome != "failed" and row.attempts == 1


def test_inbox_show_prints_no_escape_sequence_from_a_mail(trusted_app, front_door):
    front_door(mail("\x1b[2J\x1b]0;pwned\x07Hej", message_id="<esc\x1b[31m@x>"))
    [row] = inbound(trusted_app)
    config = trusted_app.settings.config_dir
    shown = subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "inbox", "show", str(row.id)],
                           capture_output=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert b"\x1b" not in shown.stdout and b"\x07" not in shown.stdout and b"\\x1b" in shown.stdout


PASS = (f"{TRUSTED}; dmarc=pass header.from=aarhus.example.dk",)


def test_an_outsider_cannot_squat_the_message_id_of_a_members_post(trusted_app, front_door):
    front_door(mail("Køb billigt", sender=("Spam", "spam@evil.example"), message_id="<real-post@aarhus.example.dk>",
                    body="Tilbud\n"), sender="spam@evil.example")
    front_door(mail("Status på FMK", results=PASS, message_id="<real-post@aarhus.example.dk>"))
    squat, real = inbound(trusted_app)
    assert squat.outcome == "held" and (real.outcome, real.rule) == ("handled", "post")
    assert len([m for m in outbox(trusted_app) if m.kind == "post"]) == 13


def test_the_same_mail_through_another_relay_is_still_one_mail(trusted_app, front_door):
    first = mail("Status på FMK", results=PASS)
    again = b"Received: from backup-mx.example.dk by mx.example.dk; Mon, 1 Mar 2027 09:00:05 +0100\r\n" + first
    front_door(first)
    front_door(again)
    original, copy = inbound(trusted_app)
    assert original.outcome == "handled" and (copy.outcome, copy.rule) == ("ignored", "duplicate")
    assert len([m for m in outbox(trusted_app) if m.kind == "post"]) == 13


def test_one_mail_without_message_id_to_many_tags_acts_once(trusted_app, front_door):
    front_door(mail("hjælp", message_id=None), to=[f"it-netvaerk+x{n}@lists.example.dk" for n in range(20)])
    rows = inbound(trusted_app)
    assert len(rows) == 20 and len([r for r in rows if r.rule != "duplicate"]) == 1
    assert len(outbox(trusted_app)) == 1


def test_an_encoded_word_is_no_header_of_the_trusted_server(trusted_app, front_door):
    """Found in review: the header was decoded before it was read, so this forged pass was believed."""
    raw = b"Authentication-Results: =?us-ascii?q?mx.example.dk=3B_dmarc=3Dpass?=\r\n" + mail("Vigtigt")
    front_door(raw)
    [row] = inbound(trusted_app)
    assert (row.dmarc, row.outcome) == ("", "held") and only_the_secretary_asked(trusted_app)


def test_a_forged_pass_beside_the_servers_own_none_is_no_pass(trusted_app, front_door):
    front_door(mail("Vigtigt", results=(f"{TRUSTED}; dmarc=pass header.from=aarhus.example.dk",
                                         f"{TRUSTED}; dmarc=none header.from=aarhus.example.dk")))
    [row] = inbound(trusted_app)
    assert (row.dmarc, row.outcome) == ("", "held") and only_the_secretary_asked(trusted_app)


def test_a_token_in_to_or_cc_never_reaches_another_list(trusted_app, front_door):
    """Found in review: a reply to one's invitation with the sub-group in Cc carried the token to its members."""
    lars = ("Lars Møller", "lars.moeller@odense.example.dk")
    token = issue_token(trusted_app, lars[1], "invitation")
    tagged = f"it-netvaerk+{token}@lists.example.dk"
    raw = mail("SV: Invitation", sender=lars, to=tagged, results=(f"{TRUSTED}; dmarc=pass header.from=odense.example.dk",),
               headers={"Cc": "it-teknik@lists.example.dk"})
    front_door(raw, to=[tagged, "it-teknik@lists.example.dk"], sender=lars[1])
    copies = [copy_of(trusted_app, m) for m in outbox(trusted_app) if m.kind == "post"]
    assert copies and all(token.encode() not in copy for copy in copies)
    assert all(b"To: it-netvaerk@lists.example.dk" in copy.split(b"\r\n\r\n")[0] for copy in copies)


@pytest.mark.parametrize("line_break", [b"\r", b"\n", b"\x0b", b"\x0c", b"\x1c", b"\xc2\x85", b"\xe2\x80\xa8",
                                        b"\xe2\x80\xa9"])
def test_no_line_break_of_any_kind_survives_in_a_relayed_header(trusted_app, front_door, line_break):
    raw = mail("placeholder", results=(f"{TRUSTED}; dmarc=pass header.from=aarhus.example.dk",))
    front_door(raw.replace(b"Subject: placeholder", b"Subject: x" + line_break + b"Bcc: victim@evil.example"))
    copies = [copy_of(trusted_app, m) for m in outbox(trusted_app) if m.kind == "post"]
    assert len(copies) == 13
    for copy in copies:
        head = copy.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        assert not any(line.lower().startswith(b"bcc") for line in head)  # never a header of its own
        assert all(len(line.decode("utf-8", "replace").splitlines()) == 1 for line in head)  # str.splitlines too
        assert [line for line in head if line.startswith(b"Subject:")][0].startswith(b"Subject: x")
        assert parse(copy).header("Bcc") == ""
