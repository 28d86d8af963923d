"""A realistic backlog: Danish mail of 3–10 KB, every 20th with a 200 KB attachment, in a fixed mix."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

WORDS = ("kommune region sundhed it-netværk møde dagsorden referat borger journal FMK MedCom data deling "
         "løsning udrulning økonomi sikkerhed samarbejde praksis hjemmepleje sygehus aftale standard "
         "indsats opfølgning høring tidsplan ansvar æble øl år").split()


@dataclass(frozen=True)
class BacklogMail:
    raw: bytes
    outcome: str  # the outcome the pipeline must reach
    message_id: str


def text(rng: random.Random, size: int) -> str:
    lines, length = [], 0
    while length < size:
        line = " ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "."
        lines.append(line)
        length += len(line.encode()) + 1
    return "\n".join(lines) + "\n"


def base(rng: random.Random, index: int, sender: str, to: str, subject: str) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc))
    message["Message-ID"] = f"<bench-{index}@aarhus.example.dk>"
    message.set_content(text(rng, rng.randint(3000, 10000)))
    if index % 20 == 0:
        message.add_attachment(bytes(rng.getrandbits(8) for _ in range(200 * 1024)), maintype="application",
                               subtype="pdf", filename=f"bilag-{index}.pdf")
    return message


def build(count: int, members: list[str], tokens: dict[str, str], itip_token: dict[str, str],
          meeting_uid: str, seed: int = 7) -> list[BacklogMail]:
    """The fixed mix: posts, token replies, iTIP replies, auto-replies, DSNs, non-members, ~5% malformed."""
    rng = random.Random(seed)
    mails = []
    for index in range(count):
        member = members[index % len(members)]
        kind = index % 20
        if kind < 6:
            mails.append(_post(rng, index, member))
        elif kind < 10:
            mails.append(_answer(rng, index, member, tokens[member]))
        elif kind < 12:
            mails.append(_itip(rng, index, member, itip_token[member], meeting_uid))
        elif kind < 15:
            mails.append(_auto_reply(rng, index, member))
        elif kind < 17:
            mails.append(_dsn(rng, index, member, tokens[member]))
        elif kind < 19:
            mails.append(_post(rng, index, f"udenfor{index}@gmail.example.com", outcome="held"))
        else:
            mails.append(_malformed(rng, index, member))
    return mails


def _mail(message: EmailMessage, outcome: str) -> BacklogMail:
    return BacklogMail(message.as_bytes(), outcome, str(message["Message-ID"]))


def _post(rng, index, sender, outcome="handled") -> BacklogMail:
    return _mail(base(rng, index, sender, "it-netvaerk@lists.example.dk", f"Erfaringer med FMK nr. {index}"), outcome)


def _answer(rng, index, member, token) -> BacklogMail:
    message = base(rng, index, member, f"it-netvaerk+{token}@lists.example.dk", "SV: Invitation")
    message.set_content("Tilmeld\n\n-----Oprindelig meddelelse-----\n" + text(rng, 3000))
    return _mail(message, "handled")  # registered, and confirmed


def _itip(rng, index, member, token, uid) -> BacklogMail:
    message = base(rng, index, member, f"it-netvaerk+{token}@lists.example.dk", "Accepteret: Møde")
    ics = (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Microsoft Corporation//Outlook 16.0//EN\r\n"
           f"METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:0\r\n"
           f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{member}\r\n"
           f"ORGANIZER:mailto:it-netvaerk+{token}@lists.example.dk\r\nDTSTAMP:20270301T090000Z\r\n"
           f"END:VEVENT\r\nEND:VCALENDAR\r\n")
    message.add_alternative(ics, subtype="calendar", params={"method": "REPLY"})
    return _mail(message, "handled")  # registered from the calendar, and confirmed


def _auto_reply(rng, index, member) -> BacklogMail:
    message = base(rng, index, member, "it-netvaerk@lists.example.dk", "Automatisk svar: Dagsorden")
    message["Auto-Submitted"] = "auto-replied"
    return _mail(message, "ignored")


def _dsn(rng, index, member, token) -> BacklogMail:
    """An RFC 3464 report as Postfix writes it, to our VERP address."""
    message_id = f"<bench-{index}@mx.example.dk>"
    raw = (f"From: MAILER-DAEMON@mx.example.dk (Mail Delivery System)\r\n"
           f"To: it-netvaerk+bounce-{token}@lists.example.dk\r\nSubject: Undelivered Mail Returned to Sender\r\n"
           f"Message-ID: {message_id}\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
           f"Content-Type: multipart/report; report-type=delivery-status; boundary=\"r{index}\"\r\n\r\n"
           f"--r{index}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
           f"This is the mail system at host mx.example.dk.\r\n\r\n{text(rng, 2000)}\r\n"
           f"--r{index}\r\nContent-Type: message/delivery-status\r\n\r\n"
           f"Reporting-MTA: dns; mx.example.dk\r\n\r\nFinal-Recipient: rfc822; {member}\r\n"
           f"Action: failed\r\nStatus: 5.1.1\r\n\r\n--r{index}--\r\n")
    return BacklogMail(raw.encode(), "ignored", message_id)


def _malformed(rng, index, member) -> BacklogMail:
    body = text(rng, 3000).encode()
    raw = (f"From: {member}, other@example.dk\r\nTo: it-netvaerk@lists.example.dk\r\n"
           f"Subject: Brudt {index}\r\nMessage-ID: <bench-{index}@aarhus.example.dk>\r\n"
           f"Content-Type: multipart/mixed; boundary=\"b{index}\"\r\n\r\n--b{index}\r\n"
           f"Content-Type: text/plain; charset=x-unknown\r\n\r\n").encode() + body
    return BacklogMail(raw, "rejected", f"<bench-{index}@aarhus.example.dk>")
