"""What a member gets by mail for themselves: the contact list, and their own list settings.

Mail goes in through the real pipeline; what is checked is what people would see: the
mail that is queued (or arrives at the real SMTP server), its recipients and attachment,
and who a later list post or meeting mail goes to.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from sqlmodel import Session, select

from bot.meetings.cycle import tick
from bot.outbound.send import SmtpSender
from bot.people.contact_list import ListedContact, contacts_csv
from bot.people.recipients import members
from bot.store.models import Membership, Network, OutboxMessage
from tests.support.inbound import deliver, issue_token, outbox, row
from tests.support.outbound import send_due

LIST = "it-netvaerk@lists.example.dk"
SOREN = ("Søren Ærø", "soren.aero@aarhus.example.dk")
METTE = ("Mette Østergaard", "mette.ostergaard@herning.example.dk")
LARS = ("Lars Møller", "lars.moeller@odense.example.dk")
RASMUS = ("Rasmus Dahl", "rasmus.dahl@kkr-hovedstaden.example.dk")  # a KKR consultant, no member
OUTSIDER = ("Ukendt Person", "someone@gmail.example.com")
OUTLOOK_QUOTE = ("Tak!\r\n\r\n-----Oprindelig meddelelse-----\r\nFra: Søren Ærø <soren.aero@aarhus.example.dk>\r\n"
                 "Sendt: 1. september 2027 10:00\r\nTil: it-netvaerk@lists.example.dk\r\nEmne: afmeld\r\n\r\n"
                 "afmeld\r\nDagsordenspunkt: noget andet\r\n")
GMAIL_QUOTE = ("Could I have it again?\r\n\r\nOn Wed, 1 Sep 2027 at 10:00, Søren Ærø <soren.aero@aarhus.example.dk> "
               "wrote:\r\n> unsubscribe\r\n> pause\r\n> Agenda item: something\r\n")
_counter = iter(range(10_000))


def mail(subject: str, sender=METTE, body: str = "\r\n", to: str = LIST, headers: dict | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = f"{sender[0]} <{sender[1]}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<cmd{next(_counter)}@example.dk>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes()


def parsed(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)


def attachment(raw: bytes) -> tuple[str, str, bytes]:
    [part] = [p for p in parsed(raw).iter_attachments()]
    return part.get_filename(), part.get_content_type(), part.get_payload(decode=True)


def text_of(raw: bytes) -> str:
    return parsed(raw).get_body(("plain",)).get_content()


def full_raw(app, queued: OutboxMessage) -> bytes:
    """The mail as it will go out: the row's own bytes with its attachment joined in."""
    from bot.outbound.copies import CopyMaker, QueuedRow, joined

    with Session(app.engine) as session:
        return joined(CopyMaker(app).parts(session, QueuedRow(queued.id, queued.recipient, queued.envelope_from,
                                                              queued.raw, queued.job_id, queued.token)))


def network_people(app, slug: str = "it-netvaerk") -> set[str]:
    with Session(app.engine) as session:
        query = (select(Membership.contact_id).join(Network)
                 .where(Network.slug == slug, Membership.active == True))  # noqa: E712
        from bot.store.models import Contact
        return {session.get(Contact, i).email for i in set(session.exec(query))}


def post_recipients_of(app, inbound_id: int) -> list[str]:
    with Session(app.engine) as session:
        return sorted(m.recipient for m in session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "post", OutboxMessage.dedupe_key.like(f"post:{inbound_id}:%"))))


# -- the contact list ---------------------------------------------------------------------------

@pytest.mark.parametrize("subject, body", [
    ("kontakter", "\r\n\r\nVenlig hilsen\r\nMette\r\n"),
    ("Contacts", "Hi\r\n"),
    ("SV: Kontakter", OUTLOOK_QUOTE),
    ("Re: contacts", GMAIL_QUOTE),
])
def test_a_member_gets_the_contact_list_as_a_table_and_a_csv_for_excel(app, subject, body):
    inbound = row(app, deliver(app, mail(subject, body=body)))
    assert (inbound.outcome, inbound.kind) == ("handled", "command:contacts"), inbound.reason
    [letter] = outbox(app)
    assert (letter.kind, letter.recipient) == ("contacts", METTE[1])
    raw = full_raw(app, letter)
    assert parsed(raw)["X-Kkrbot-Kind"] == "contacts" and parsed(raw)["In-Reply-To"] == inbound.message_id
    text = text_of(raw)
    for heading in ("Hovedstaden (", "Sjælland (", "Syddanmark (", "Midtjylland (", "Nordjylland (", "Landsdækkende ("):
        assert heading in text, heading
    assert text.index("Hovedstaden (") < text.index("Nordjylland (") < text.index("Landsdækkende (")
    assert "KKR-repræsentant, næstformand" in text and "KL, formand" in text and "KL, sekretær" in text

    filename, content_type, data = attachment(raw)
    assert (filename, content_type) == ("kontaktliste-it-netvaerk.csv", "text/csv")
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    lines = data[3:].decode("utf-8").split("\r\n")
    assert lines[0] == "Navn;Organisation;Kommune;Region;Rolle;E-mail"
    records = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))[1:]
    assert {r[5] for r in records} == network_people(app)  # everyone on the network, once each
    soren = next(r for r in records if r[5] == SOREN[1])
    assert soren == ["Søren Ærø", "Aarhus Kommune", "Aarhus", "Midtjylland", "KKR-repræsentant, næstformand",
                     SOREN[1]]
    assert any(r[3] == "Sjælland" and r[0] == "Karen Ølgaard" for r in records)
    assert all(r[3] == "Landsdækkende" for r in records if r[4].startswith(("KL", "MedCom")))


def test_the_list_and_its_file_speak_the_networks_language(tmp_path, clock):
    from bot.app import App
    from bot.config.settings import load_settings
    from bot.startup import prepare_database
    from tests.support.config import make_config, shipped_networks

    networks = shipped_networks().replace('language = "da"', 'language = "en"', 1)
    assert networks != shipped_networks()
    app = App.create(load_settings(make_config(tmp_path, networks_toml=networks), environ={}), clock, create_secret=True)
    prepare_database(app)
    try:
        deliver(app, mail("contacts"))
        [letter] = outbox(app, "contacts")
        raw = full_raw(app, letter)
        assert parsed(raw)["Subject"].startswith("Contact list: ")
        filename, _, data = attachment(raw)
        assert filename == "contact-list-it-netvaerk.csv"
        assert data.decode("utf-8-sig").startswith("Name;Organisation;Municipality;Region;Role;Email\r\n")
    finally:
        app.engine.dispose()


def test_the_csv_arrives_intact_through_a_real_smtp_server(smtp_app, smtp_sink):
    deliver(smtp_app, mail("kontakter"))
    send_due(smtp_app, SmtpSender(smtp_app.settings))
    [received] = smtp_sink.received
    assert received.recipients == [METTE[1]]
    filename, content_type, data = attachment(received.raw)
    assert (filename, content_type) == ("kontaktliste-it-netvaerk.csv", "text/csv")
    text = data.decode("utf-8-sig")
    assert "Søren Ærø;Aarhus Kommune;Aarhus;Midtjylland" in text and "Åse Brøndum" in text


def test_a_non_member_is_refused_once_a_day_and_gets_no_list(app):
    first = row(app, deliver(app, mail("kontakter", sender=OUTSIDER)))
    second = row(app, deliver(app, mail("contacts", sender=OUTSIDER)))
    assert first.outcome == second.outcome == "rejected" and "not a member" in first.reason
    assert [(m.kind, m.recipient) for m in outbox(app)] == [("refusal", OUTSIDER[1])]  # a stranger: one a day
    assert "kontaktliste" not in outbox(app)[0].raw.decode("ascii", "replace").lower()


def test_a_member_of_another_network_is_refused_at_their_own_address(app):
    inbound = row(app, deliver(app, mail("kontakter", sender=METTE, to="it-teknik@lists.example.dk")))
    assert inbound.outcome == "rejected" and "not a member of it-teknik" in inbound.reason
    assert [(m.kind, m.recipient) for m in outbox(app)] == [("refusal", METTE[1])]


def test_an_opted_out_member_and_a_kkr_consultant_may_still_ask(app):
    with Session(app.engine) as session:
        for membership in session.exec(select(Membership).join(Network).where(Network.slug == "it-netvaerk")):
            membership.opted_out = True
        session.commit()
    deliver(app, mail("kontakter", sender=METTE))
    deliver(app, mail("kontakter", sender=RASMUS))
    assert sorted(m.recipient for m in outbox(app, "contacts")) == sorted([METTE[1], RASMUS[1]])


def test_a_forged_from_never_gets_the_list_it_goes_to_the_registered_address(app):
    """Whoever writes From: Søren (or his alias) cannot read the answer: it goes to Søren's own address."""
    deliver(app, mail("kontakter", sender=("Søren", "s.aero@aarhus.example.dk")), envelope_from="evil@example.com")
    assert [m.recipient for m in outbox(app, "contacts")] == [SOREN[1]]


def test_a_reply_to_the_help_text_with_a_command_as_subject_is_that_command(app):
    token = issue_token(app, METTE[1], "help")
    inbound = row(app, deliver(app, mail("SV: kontakter", body=OUTLOOK_QUOTE), to=f"it-netvaerk+{token}@lists.example.dk"))
    assert (inbound.outcome, inbound.kind) == ("handled", "command:contacts"), inbound.reason
    auto = row(app, deliver(app, mail("SV: Kontaktliste: Kommunalt it-netværk", body="Tak"),
                            to=f"it-netvaerk+{issue_token(app, METTE[1], 'contacts')}@lists.example.dk"))
    assert (auto.outcome, auto.kind) == ("ignored", "answer:contacts")  # an answer to the list: not answered
    assert [m.kind for m in outbox(app)] == ["contacts"]


def test_someone_elses_token_with_a_command_subject_does_nothing_but_tell_its_owner(app):
    token = issue_token(app, SOREN[1], "help")
    inbound = row(app, deliver(app, mail("kontakter", sender=METTE), to=f"it-netvaerk+{token}@lists.example.dk"))
    assert inbound.outcome == "rejected" and "wrong-sender" in inbound.reason
    assert [(m.kind, m.recipient) for m in outbox(app)] == [("refusal", SOREN[1])]


def test_a_burst_of_requests_gets_at_most_ten_answers_and_a_duplicate_none(app):
    raw = mail("kontakter")
    deliver(app, raw)
    deliver(app, raw)  # the same mail twice: one answer
    assert len(outbox(app, "contacts")) == 1
    for _ in range(100):
        deliver(app, mail("kontakter"))
    assert len(outbox(app, "contacts")) == 10


def test_a_cell_that_excel_would_run_as_a_formula_is_written_as_text():
    evil = ListedContact('=HYPERLINK("http://evil.example","klik")', "+45 Org", "-", "", "kl", "@x@kl.dk", ())
    data = contacts_csv([evil], "da").decode("utf-8-sig")
    record = list(csv.reader(io.StringIO(data, newline=""), delimiter=";"))[1]
    assert record[:3] == ['\'=HYPERLINK("http://evil.example","klik")', "'+45 Org", "'-"]
    assert record[3:] == ["Landsdækkende", "KL", "'@x@kl.dk"]


# -- members' own settings ----------------------------------------------------------------------

def test_pause_stops_list_posts_but_not_meeting_mail_and_genoptag_resumes(app):
    paused = row(app, deliver(app, mail("Pause", sender=METTE)))
    assert (paused.outcome, paused.kind) == ("handled", "command:pause"), paused.reason
    [confirmation] = outbox(app, "settings")
    assert confirmation.recipient == METTE[1] and "genoptag" in text_of(confirmation.raw)
    assert parsed(confirmation.raw)["Subject"].startswith("Indlæg sat på pause")

    post = deliver(app, mail("Erfaringer med FMK", sender=SOREN, body="Hej alle\r\n"))
    assert METTE[1] not in post_recipients_of(app, post) and SOREN[1] in post_recipients_of(app, post)
    app.clock.set(datetime(2027, 4, 15, 8, tzinfo=timezone.utc) - timedelta(days=60))  # the invitation's day
    tick(app)
    assert METTE[1] in [m.recipient for m in outbox(app, "invitation")]  # meeting mail is never paused

    resumed = row(app, deliver(app, mail("genoptag", sender=METTE)))
    assert resumed.outcome == "handled" and resumed.kind == "command:resume"
    post = deliver(app, mail("Opfølgning", sender=SOREN, body="Hej igen\r\n"))
    assert METTE[1] in post_recipients_of(app, post)
    assert [parsed(m.raw)["Subject"].split(":")[0] for m in outbox(app, "settings")] == [
        "Indlæg sat på pause", "Indlæg genoptaget"]


def test_no_copy_leaves_out_the_author_only_and_copy_turns_it_back_on(app):
    deliver(app, mail("ingen  kopi", sender=SOREN))
    post = deliver(app, mail("Mit indlæg", sender=SOREN, body="Hej\r\n"))
    with Session(app.engine) as session:
        everyone = sorted(c.email for c in members(session, "it-netvaerk"))
    assert post_recipients_of(app, post) == sorted(set(everyone) - {SOREN[1]})
    other = deliver(app, mail("Mettes indlæg", sender=METTE, body="Hej\r\n"))
    assert post_recipients_of(app, other) == everyone  # Søren still gets the others' posts
    deliver(app, mail("Copy", sender=SOREN))
    again = deliver(app, mail("Igen", sender=SOREN, body="Hej\r\n"))
    assert post_recipients_of(app, again) == everyone
    assert [m.recipient for m in outbox(app, "settings")] == [SOREN[1], SOREN[1]]


@pytest.mark.parametrize("subject, setting", [("no copy", "no-copy"), ("resume", "resume"), ("pause!", "pause"),
                                              ("Kopi", "copy"), ("gjenoppta", "resume")])
def test_the_settings_commands_in_danish_english_and_norwegian(app, subject, setting):
    inbound = row(app, deliver(app, mail(subject, body=GMAIL_QUOTE)))
    assert (inbound.outcome, inbound.kind) == ("handled", f"command:{setting}"), inbound.reason


def test_a_setting_from_a_non_member_changes_nothing(app):
    for subject, sender in (("pause", OUTSIDER), ("pause", RASMUS)):
        inbound = row(app, deliver(app, mail(subject, sender=sender)))
        assert inbound.outcome == "rejected", inbound.reason
    assert [m.kind for m in outbox(app)] == ["refusal", "refusal"]


def test_a_forged_pause_is_told_to_the_member_even_when_the_forger_asks_for_silence(app):
    forged = mail("pause", sender=("Mette", METTE[1]), headers={"X-Auto-Response-Suppress": "All"})
    deliver(app, forged, envelope_from="evil@example.com")
    [confirmation] = outbox(app, "settings")
    assert confirmation.recipient == METTE[1] and '"genoptag"' in text_of(confirmation.raw)


def test_a_setting_is_not_changed_when_its_confirmation_cannot_be_sent(app):
    for _ in range(10):  # someone fills Mette's daily answers first
        deliver(app, mail("hjælp", sender=METTE))
    inbound = row(app, deliver(app, mail("pause", sender=METTE)))
    assert inbound.outcome == "handled" and "not applied" in inbound.reason
    post = deliver(app, mail("Indlæg", sender=SOREN, body="Hej\r\n"))
    assert METTE[1] in post_recipients_of(app, post)


def test_an_opted_out_member_who_resumes_is_told_how_to_come_back(app):
    with Session(app.engine) as session:
        for membership in session.exec(select(Membership).join(Network).where(Network.slug == "it-netvaerk")):
            membership.opted_out = True
        session.commit()
    deliver(app, mail("genoptag", sender=METTE))
    [confirmation] = outbox(app, "settings")
    assert "afmeldt listen" in text_of(confirmation.raw) and app.settings.admin_address in text_of(confirmation.raw)


def test_kkrbot_preview_shows_the_contact_list_with_its_file(config_dir):
    from tests.support.process import kkrbot

    result = kkrbot(config_dir, "preview", "--network", "it-teknik", "--kind", "contacts")
    assert result.returncode == 0, result.stderr
    for text in ("Subject: Kontaktliste:", "Syddanmark (", "Lars Møller", "attachments: kontaktliste-it-teknik.csv"):
        assert text in result.stdout, text
    assert "Søren Ærø" not in result.stdout  # not on it-teknik


@pytest.mark.parametrize("subject", ["SV: Pause", "Re: kopi", "AW: Resume"])
def test_reply_all_in_a_list_thread_named_like_a_setting_is_a_post_and_changes_nothing(app, subject):
    inbound = row(app, deliver(app, mail(subject, sender=SOREN, body="Enig, lad os holde pause til januar.\r\n")))
    assert inbound.outcome == "handled" and inbound.kind == "post", (inbound.kind, inbound.reason)
    assert outbox(app, "settings") == []


def test_a_setting_change_is_in_the_audit_log_with_who_and_which_mail(app):
    from sqlmodel import Session, select

    from bot.store.models import AuditLog
    deliver(app, mail("pause", sender=SOREN))
    with Session(app.engine) as session:
        entries = session.exec(select(AuditLog).where(AuditLog.action == "setting-pause")).all()
    assert [(e.actor, e.network_slug) for e in entries] == [(SOREN[1], "it-netvaerk")]
    assert entries[0].message_id
