"""The demo's simulated people: they read the mail the bot sent them and answer it, as members do.

Each answer is raw RFC 5322 mail to the address the bot's mail asks for, so it carries
that mail's token: a reply goes to its Reply-To (`<slug>+<token>@…`) with In-Reply-To
and References, a calendar answer (Outlook's Accept) to the invitation's ORGANIZER, a
`Dagsordenspunkt:` to the list address. The bot authorizes them as any reply. Their
words are in templates/demo/da/. What a person knows besides their mail (which meeting
a mail is about, what is on its agenda) is read from the demo's database.

What they do, the same way every run (a seeded random generator):
- invitation and agenda: most register, some send apologies or "maybe" (a third by calendar);
- call for items: two members propose one each, by answering the call (with a note as its appendix)
  and by `Dagsordenspunkt:`;
  at the second meeting a third comes after the deadline, and the chair takes it in late;
- draft agenda: the chair approves it; the vice-chair leaves it to the chair;
- minutes request: the secretary answers with the minutes as a .docx, a few days later; the second
  time only after the first reminder.
"""
from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parsedate_to_datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress
from sqlmodel import Session, select

from bot.app import App
from bot.config.networks import NetworkConfig
from bot.demo.sink import Delivered
from bot.inbound.routing import route
from bot.outbound import tokens
from bot.outbound.templates import environment
from bot.people.addresses import find_contact
from bot.store.models import AgendaItem, Meeting

LANG = "da"  # the members of a Danish network write Danish, whatever the network's mail language
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
REGISTER, APOLOGIES, TENTATIVE = "register", "apologies", "tentative"
PARTSTAT = {REGISTER: "ACCEPTED", APOLOGIES: "DECLINED", TENTATIVE: "TENTATIVE"}
QUOTED_LINES = 6


@dataclass(frozen=True)
class Answer:
    """A mail a simulated person sends the bot at `at`: who, to which address, the bytes."""

    at: datetime
    sender: str
    to: str
    raw: bytes
    what: str  # rsvp, calendar, item, approval, minutes


@dataclass(frozen=True)
class Person:
    name: str
    email: str


@dataclass(frozen=True)
class Received:
    """A bot mail as the person who got it reads it."""

    delivered: Delivered
    message: EmailMessage
    kind: str
    person: Person
    meeting_id: int | None

    @property
    def at(self) -> datetime:
        return self.delivered.at

    @property
    def reply_to(self) -> str:
        found = getaddresses([str(self.message.get("Reply-To", ""))])
        return found[0][1] if found else ""

    def calendar(self) -> bytes | None:
        for part in self.message.walk():
            if part.get_content_type() == "text/calendar":
                return part.get_payload(decode=True)
        return None


class People:
    """The network's people, answering what the bot sends them."""

    def __init__(self, app: App, network: NetworkConfig, seed: int):
        self.app, self.network, self.seed = app, network, seed
        self.rng = random.Random(seed)
        self.zone = ZoneInfo(network.timezone)
        self.answers: dict[int, dict[str, str]] = {}  # meeting id -> address -> latest answer
        self.minutes_sent: set[int] = set()
        self.calls = self.requests = self.sent = 0
        self.topic = 0

    def answer(self, batch: list[Delivered]) -> list[Answer]:
        """What the people do about the mail one flush of the outbox brought them."""
        # The sender's lanes deliver in any order: read in a fixed one, so every run is the same year.
        received = sorted((self._read(d) for d in batch), key=lambda r: (r.kind, r.meeting_id or 0, r.person.email))
        answers = []
        for kind, handle in self._handlers().items():
            mails = [r for r in received if r.kind == kind]
            for meeting_id in dict.fromkeys(r.meeting_id for r in mails):
                answers += handle([r for r in mails if r.meeting_id == meeting_id])
        return answers

    def _handlers(self):
        return {"invitation": self._rsvp, "meeting-update": self._rsvp, "agenda": self._rsvp,
                "call": self._propose, "draft": self._approve_draft, "draft-reminder": self._approve_draft,
                "late-item-approval": self._approve_late_item, "minutes-request": self._minutes,
                "minutes-reminder": self._minutes}

    # -- reading -------------------------------------------------------------------------------

    def _read(self, delivered: Delivered) -> Received:
        message = message_from_bytes(delivered.raw, policy=policy.default)
        token = None
        address = route(_address(str(message.get("Reply-To", ""))), self.app.settings.networks)
        if address is not None:
            token = tokens.token_in_tag(address.tag)
        with Session(self.app.engine) as session:
            issued = tokens.lookup(session, token)
            contact = find_contact(session, delivered.recipient)
        person = Person(contact.name, contact.email) if contact else Person("", delivered.recipient)
        return Received(delivered, message, str(message.get("X-Kkrbot-Kind", "")), person,
                        issued.meeting_id if issued else None)

    def _meeting(self, meeting_id: int | None) -> Meeting | None:
        with Session(self.app.engine) as session:
            return session.get(Meeting, meeting_id) if meeting_id else None

    # -- what people do ------------------------------------------------------------------------

    def _rsvp(self, mails: list[Received]) -> list[Answer]:
        """Answer the invitation (or the agenda, if not yet, or to firm up a "maybe")."""
        answers = []
        known = self.answers.setdefault(mails[0].meeting_id, {})
        for mail in mails:
            choice = self._rsvp_choice(known.get(mail.person.email, ""))
            if not choice:
                continue
            known[mail.person.email] = choice
            if mail.kind == "invitation" and self.rng.random() < 0.35 and mail.calendar():
                answers.append(self._calendar_answer(mail, choice, self._later(mail.at, 1, 30)))
            else:
                text = self._render("rsvp.txt", answer=choice, name=mail.person.name, original=_quoted(mail))
                answers.append(self._reply(mail, text, self._later(mail.at, 1, 48), "rsvp"))
        return answers

    def _rsvp_choice(self, before: str) -> str:
        roll = self.rng.random()
        if not before:
            return REGISTER if roll < 0.55 else APOLOGIES if roll < 0.7 else TENTATIVE if roll < 0.8 else ""
        if before == TENTATIVE:
            return REGISTER if roll < 0.6 else APOLOGIES
        return ""

    def _propose(self, mails: list[Received]) -> list[Answer]:
        """Two members propose an item, one by answering the call, one by `Dagsordenspunkt:`;
        at the second meeting a third proposes one after the deadline."""
        self.calls += 1
        meeting = self._meeting(mails[0].meeting_id)
        if meeting is None:
            return []
        deadline = meeting.starts_at - timedelta(days=self.network.lead_times.draft)
        first, second, third = self.rng.sample(mails, 3) if len(mails) >= 3 else (mails * 3)[:3]
        before = lambda at: min(at, deadline - timedelta(hours=2)) if at < deadline else at  # noqa: E731
        answers = [self._item(first, before(self._later(first.at, 2, 72)), by_reply=True),
                   self._item(second, before(self._later(second.at, 24, 120)), by_reply=False)]
        if self.calls == 2:
            answers.append(self._item(third, deadline + timedelta(hours=4), by_reply=False))
        return answers

    def _item(self, call: Received, at: datetime, by_reply: bool) -> Answer:
        self.topic += 1
        text = self._render("item.txt", number=self.topic, name=call.person.name,
                            original=_quoted(call) if by_reply else None)
        if by_reply:  # with a note as its appendix (bilag)
            note = (self._render("note-file.txt", number=self.topic).strip(), DOCX,
                    _docx(self._render("note.txt", number=self.topic, name=call.person.name).splitlines()))
            return self._reply(call, text, at, "item", attachments=(note,))
        subject = self._render("item.subject.txt", number=self.topic).strip()
        return self._send(call.person, self.network.address, subject, text, at, "item")

    def _approve_draft(self, mails: list[Received]) -> list[Answer]:
        """The chair approves the draft within the day; the vice-chair leaves it to the chair."""
        return [self._approval(m, self._later(m.at, 1, 20)) for m in mails if m.person.email == self.network.chair]

    def _approve_late_item(self, mails: list[Received]) -> list[Answer]:
        return [self._approval(m, self._later(m.at, 1, 4)) for m in mails]

    def _approval(self, mail: Received, at: datetime) -> Answer:
        text = self._render("approve.txt", name=mail.person.name, original=_quoted(mail))
        return self._reply(mail, text, at, "approval")

    def _minutes(self, mails: list[Received]) -> list[Answer]:
        """The secretary sends the minutes a few days after the meeting; the second time, only
        once reminded."""
        answers = []
        for mail in mails:
            if mail.meeting_id in self.minutes_sent:
                continue
            if mail.kind == "minutes-request":
                self.requests += 1
                if self.requests == 2:
                    continue
            self.minutes_sent.add(mail.meeting_id)
            answers.append(self._send_minutes(mail, self._later(mail.at, 20, 72)))
        return answers

    def _send_minutes(self, mail: Received, at: datetime) -> Answer:
        meeting = self._meeting(mail.meeting_id)
        context = dict(meeting={"starts_at": meeting.starts_at}, name=mail.person.name, original=_quoted(mail),
                       network=self.network.name, network_slug=self.network.slug,
                       day=meeting.starts_at.astimezone(self.zone).date().isoformat())
        present, absent = self._attendance(meeting.id)
        lines = self._render("minutes.txt", items=self._items(meeting.id), present=present, absent=absent,
                             **context).splitlines()
        document = (self._render("minutes-file.txt", **context).strip(), DOCX, _docx(lines))
        text = self._render("minutes-mail.txt", **context)
        return self._reply(mail, text, at, "minutes", attachments=(document,))

    def _attendance(self, meeting_id: int) -> tuple[list[str], list[str]]:
        """Who came (most of those who registered) and who sent apologies, by name."""
        answers = self.answers.get(meeting_id, {})
        with Session(self.app.engine) as session:
            names = {address: find_contact(session, address).name for address in answers}
        present = sorted(names[a] for a, answer in answers.items() if answer == REGISTER and self.rng.random() < 0.9)
        absent = sorted(names[a] for a, answer in answers.items() if answer == APOLOGIES)
        return present, absent

    def _items(self, meeting_id: int) -> list[str]:
        with Session(self.app.engine) as session:
            query = (select(AgendaItem.title).where(AgendaItem.meeting_id == meeting_id,
                                                    AgendaItem.status.not_in(("withdrawn", "waiting")))
                     .order_by(AgendaItem.position, AgendaItem.id))
            return list(session.exec(query))

    # -- writing -------------------------------------------------------------------------------

    def _render(self, template: str, **context) -> str:
        context = {"lang": LANG, "timezone": self.network.timezone, **context}
        return environment().get_template(f"demo/{LANG}/{template}").render(context)

    def _later(self, at: datetime, low_hours: float, high_hours: float) -> datetime:
        """Some hours later, moved into office hours (weekdays 8-16, local time)."""
        local = (at + timedelta(hours=self.rng.uniform(low_hours, high_hours))).astimezone(self.zone)
        if local.hour >= 16:
            local = (local + timedelta(days=1)).replace(hour=8, minute=self.rng.randrange(60))
        elif local.hour < 8:
            local = local.replace(hour=8, minute=self.rng.randrange(60))
        while local.weekday() >= 5:
            local = (local + timedelta(days=1)).replace(hour=8, minute=self.rng.randrange(60))
        return local.astimezone(timezone.utc)

    def _reply(self, mail: Received, text: str, at: datetime, what: str,
               attachments: tuple[tuple[str, str, bytes], ...] = ()) -> Answer:
        """An answer to the Reply-To address, threaded under the bot's mail."""
        subject = self._render("reply.subject.txt", subject=str(mail.message.get("Subject", ""))).strip()
        message = self._message(mail.person, mail.reply_to, subject, text, at)
        original = str(mail.message.get("Message-ID", ""))
        message["In-Reply-To"] = original
        message["References"] = " ".join(filter(None, [str(mail.message.get("References", "")), original]))
        for filename, content_type, data in attachments:
            maintype, _, subtype = content_type.partition("/")
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
        return Answer(at, mail.person.email, mail.reply_to, message.as_bytes(policy=policy.SMTP), what)

    def _send(self, person: Person, to: str, subject: str, text: str, at: datetime, what: str) -> Answer:
        message = self._message(person, to, subject, text, at)
        return Answer(at, person.email, to, message.as_bytes(policy=policy.SMTP), what)

    def _calendar_answer(self, mail: Received, choice: str, at: datetime) -> Answer:
        """Outlook's Accept / Decline / Tentative: METHOD:REPLY to the invitation's ORGANIZER."""
        partstat = PARTSTAT[choice]
        invitation = Calendar.from_ical(mail.calendar())
        event = next(iter(invitation.walk("VEVENT")))
        organizer = str(event["ORGANIZER"]).removeprefix("mailto:").removeprefix("MAILTO:")
        subject = self._render("itip.subject.txt", partstat=partstat,
                               subject=str(mail.message.get("Subject", ""))).strip()
        message = self._message(mail.person, organizer, subject,
                                self._render("itip.txt", partstat=partstat, name=mail.person.name), at)
        message.add_alternative(_itip_reply(invitation, event, mail.person, partstat, at), maintype="text",
                                subtype="calendar", params={"method": "REPLY"})
        return Answer(at, mail.person.email, organizer, message.as_bytes(policy=policy.SMTP), "calendar")

    def _message(self, person: Person, to: str, subject: str, text: str, at: datetime) -> EmailMessage:
        self.sent += 1
        message = EmailMessage()
        message["From"] = Address(display_name=person.name, addr_spec=person.email)
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(at.astimezone(self.zone))
        message["Message-ID"] = f"<demo-{self.seed}-{self.sent}@{person.email.rpartition('@')[2]}>"
        message.set_content(text)
        return message


def _address(value: str) -> str:
    found = getaddresses([value])
    return found[0][1] if found else ""


def _quoted(mail: Received) -> dict:
    """What a mail client quotes under an answer: who wrote, when, and the first lines."""
    body = mail.message.get_body(("plain",))
    lines = [line for line in (body.get_content() if body else "").splitlines() if line.strip()][:QUOTED_LINES]
    try:
        date = parsedate_to_datetime(str(mail.message.get("Date")))
    except (TypeError, ValueError):
        date = mail.at
    return {"date": date, "sender": str(mail.message.get("From", "")), "lines": lines}


def _itip_reply(invitation: Calendar, event: Event, person: Person, partstat: str, at: datetime) -> bytes:
    reply = Calendar()
    reply.add("prodid", "-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN")
    reply.add("version", "2.0")
    reply.add("method", "REPLY")
    for zone in invitation.walk("VTIMEZONE"):
        reply.add_component(zone)
    answer = Event()
    for key in ("UID", "SEQUENCE", "DTSTART", "DTEND", "SUMMARY", "ORGANIZER"):
        if key in event:
            answer[key] = event[key]
    answer.add("dtstamp", at)
    attendee = vCalAddress(f"mailto:{person.email}")
    attendee.params["CN"] = person.name
    attendee.params["PARTSTAT"] = partstat
    answer.add("attendee", attendee)
    reply.add_component(answer)
    return reply.to_ical()


def _docx(lines: list[str]) -> bytes:
    """A Word document: headings for lines starting with "# ", paragraphs for the rest."""
    from docx import Document  # python-docx is large: loaded when the secretary writes minutes

    document = Document()
    for line in lines:
        if line.startswith("# "):
            document.add_heading(line[2:], level=1)
        elif line.strip():
            document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
