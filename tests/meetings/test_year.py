"""A whole year of the demo network through real servers: the bot reads its list mailbox in Dovecot
over IMAP and sends through its SMTP sender to aiosmtpd, on a controlled clock.

The simulated members of `kkrbot demo` (bot/demo/people.py) answer what they get; their mail is
filed into Dovecot's INBOX as the organisation's server would file it. What is checked is what the
people would see (who got which mail, how often, with which dates) and what the secretary and the
chair would find in the bot's records (items, RSVPs, approvals, attendance). The network covers
three regions here, so two KKR consultants must never see its minutes.
"""
from __future__ import annotations

import html
import io
import re
from collections import Counter

import pytest
from sqlmodel import Session, select

from bot.demo.year import calendar_year
from bot.store.models import AgendaItem, Attendance, Contact, InboundMessage, Meeting, Network, OutboxMessage
from tests.support.year import (AGENDA_DAYS, APRIL, CHAIR, COVERED, DEADLINES, DEC_2026, DECEMBER, JUNE, SECRETARY,
                                VICE_CHAIR, consultants_of, imap_year, meeting_of, members_of,
                                three_region_config)

SLUG = "it-netvaerk"
STATUS = {"register": "registered", "apologies": "apologies", "tentative": "tentative"}


@pytest.fixture(scope="module")
def run(dovecot, tmp_path_factory):
    dovecot.empty_mailbox()
    networks, contacts = three_region_config()
    result = imap_year(tmp_path_factory.mktemp("year"), dovecot, calendar_year(2027, "Europe/Copenhagen"),
                       networks_toml=networks, contacts_csv=contacts)
    yield result
    result.app.engine.dispose()


def by_kind(run, kind: str) -> list:
    return [d for d in run.year.delivered if d.kind == kind]


def readers(run, kind: str) -> dict[str, set[str]]:
    """Meeting (its Danish date) -> who got a mail of this kind about it."""
    found: dict[str, set[str]] = {}
    for mail in by_kind(run, kind):
        found.setdefault(meeting_of(mail), set()).add(mail.recipient)
    return found


def test_each_mail_arrives_once_per_recipient_and_nothing_is_left_behind(run):
    delivered = run.year.delivered
    assert len(delivered) > 150
    copies = Counter((str(d.message["Message-ID"]), d.recipient) for d in delivered)
    assert set(copies.values()) == {1}
    assert len({mid for mid, _ in copies}) == len(delivered)  # one message per recipient
    per_meeting = Counter((d.kind, meeting_of(d), d.recipient) for d in delivered
                          if d.kind not in ("rsvp-ack", "item-ack"))
    assert set(per_meeting.values()) == {1}, [k for k, n in per_meeting.items() if n > 1]
    with Session(run.app.engine) as session:
        assert set(session.exec(select(InboundMessage.outcome))) == {"handled"}
        assert set(session.exec(select(OutboxMessage.status))) == {"sent"}


def test_the_cycle_goes_to_exactly_the_people_the_config_names(run):
    members = members_of(run.config, SLUG)
    meetings = {APRIL, JUNE, DECEMBER}  # 12 August was cancelled before anyone was invited
    for kind in ("invitation", "call", "agenda", "reminder"):
        assert readers(run, kind) == dict.fromkeys(meetings, members), kind
    assert readers(run, "draft") == dict.fromkeys(meetings, {CHAIR, VICE_CHAIR})
    with_minutes = meetings | {DEC_2026}
    assert readers(run, "minutes-request") == dict.fromkeys(with_minutes, {SECRETARY})
    assert readers(run, "minutes-ack") == dict.fromkeys(with_minutes, {SECRETARY})
    assert readers(run, "minutes-reminder") == {APRIL: {SECRETARY}}  # the one the secretary waited for
    assert {d.kind for d in run.year.delivered} == {
        "invitation", "call", "agenda", "reminder", "draft", "minutes-request", "minutes-reminder", "minutes",
        "minutes-ack", "rsvp-ack", "item-ack", "item-late", "late-item-approval"}


def test_the_minutes_reach_the_members_and_the_covered_regions_consultants_and_nobody_else(run):
    members, covered = members_of(run.config, SLUG), consultants_of(run.config, COVERED)
    assert len(covered) == 3 and consultants_of(run.config, {"Hovedstaden", "Sjælland"}).isdisjoint(covered)
    assert readers(run, "minutes") == dict.fromkeys({DEC_2026, APRIL, JUNE, DECEMBER}, members | covered)
    others = consultants_of(run.config, {"Hovedstaden", "Sjælland"})
    assert not any(d.recipient in others for d in run.year.delivered)


def test_every_mail_names_its_meeting_the_danish_way(run):
    for mail in run.year.delivered:
        if mail.kind in ("item-ack", "rsvp-ack", "item-late", "late-item-approval"):
            continue  # about a meeting too, checked below
        day = meeting_of(mail)
        assert day in (DEC_2026, APRIL, JUNE, DECEMBER), (mail.kind, day)
        assert all(day in text for text in texts(mail)), (mail.kind, day, texts(mail)[0][:400])
    for mail in by_kind(run, "call"):
        assert all(f"inden {DEADLINES[meeting_of(mail)]}" in text for text in texts(mail))
    for mail in by_kind(run, "draft"):
        assert all(AGENDA_DAYS[meeting_of(mail)] in text for text in texts(mail))
    for mail in by_kind(run, "rsvp-ack") + by_kind(run, "item-ack"):
        assert any(day in texts(mail)[0] for day in (APRIL, JUNE, DECEMBER)), texts(mail)[0][:300]


def texts(mail) -> tuple[str, str]:
    """The plain text and the HTML alternative as a reader sees them: words only, one space between."""
    plain = mail.message.get_body(("plain",)).get_content()
    shown = html.unescape(re.sub(r"<[^>]+>", " ", mail.message.get_body(("html",)).get_content()))
    return " ".join(plain.split()), " ".join(shown.split())


def test_every_answer_is_acknowledged_once_to_whoever_sent_it(run):
    answers = run.year.answers
    assert len(by_kind(run, "rsvp-ack")) == answers["rsvp"] + answers["calendar"]
    assert len(by_kind(run, "item-ack")) + len(by_kind(run, "item-late")) == answers["item"]
    assert {d.recipient for d in by_kind(run, "late-item-approval")} == {CHAIR}
    last_ack = {}
    for mail in by_kind(run, "rsvp-ack"):
        last_ack[(meeting_of(mail), mail.recipient)] = str(mail.message["Subject"]).split(":")[0]
    said = {"register": "Du er tilmeldt", "apologies": "Afbud modtaget", "tentative": "Noteret som måske"}
    expected = {}
    for meeting_id, answered in run.people.answers.items():
        day = _day(run, meeting_id)
        expected |= {(day, address): said[choice] for address, choice in answered.items()}
    assert last_ack == expected


def test_items_rsvps_approvals_and_attendance_land_in_the_database(run):
    with Session(run.app.engine) as session:
        meetings = {m.id: m for m in session.exec(select(Meeting).join(Network).where(Network.slug == SLUG))}
        items = session.exec(select(AgendaItem)).all()
        rows = session.exec(select(Attendance, Contact).join(Contact)).all()
        inbound = session.exec(select(InboundMessage)).all()
    acked = {" ".join(str(d.message["Subject"]).split()).split(": ", 1)[1] for d in by_kind(run, "item-ack")}
    late = {" ".join(str(d.message["Subject"]).split()).split(": ", 1)[1] for d in by_kind(run, "item-late")}
    assert {i.title for i in items} == acked | late and len(items) == run.year.answers["item"]
    assert {i.status for i in items if i.title in late} == {"late"}  # taken in by the chair
    assert {_day(run, i.meeting_id) for i in items} == {APRIL, JUNE, DECEMBER}
    answered = {_day(run, m.id): m.agenda_answer for m in meetings.values() if m.agenda_answer}
    assert answered == {APRIL: "approve", JUNE: "approve", DECEMBER: "approve"}
    recorded = {(a.meeting_id, c.email): a.status for a, c in rows}
    expected = {(meeting_id, address): STATUS[choice]
                for meeting_id, answers in run.people.answers.items() for address, choice in answers.items()}
    assert recorded == expected
    attended = {(_day(run, a.meeting_id), c.name) for a, c in rows if a.attended}
    assert attended == _present_in_minutes(run) and attended
    assert {m.source for m in inbound} == {"imap"} and {m.imap_folder for m in inbound} == {"kkrbot.processed"}


def _day(run, meeting_id: int) -> str:
    with Session(run.app.engine) as session:
        meeting = session.get(Meeting, meeting_id)
    return {"2026-12-10": DEC_2026, "2027-04-08": APRIL, "2027-06-03": JUNE,
            "2027-12-09": DECEMBER}[meeting.original_date.isoformat()]


def _present_in_minutes(run) -> set[tuple[str, str]]:
    """Who the secretary's minutes (the .docx the members got) say attended, `Deltagere: …`, per meeting."""
    from docx import Document

    present = set()
    for mail in by_kind(run, "minutes"):
        [document] = [p for p in mail.message.iter_attachments() if (p.get_filename() or "").endswith(".docx")]
        lines = [p.text for p in Document(io.BytesIO(document.get_content())).paragraphs]
        [line] = [text for text in lines if text.startswith("Deltagere: ")]
        names = line.removeprefix("Deltagere: ")
        if names != "ingen tilmeldte":
            present |= {(meeting_of(mail), name.strip()) for name in names.split(",")}
    return present
