"""Agenda items by e-mail, through the real pipeline on a controlled clock: proposed, corrected, late."""
from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

from sqlmodel import Session, select

from bot.meetings.cycle import tick
from bot.outbound.tokens import token_in_tag
from bot.store.models import AgendaItem, Appendix, Meeting, OutboxMessage
from tests.support.inbound import deliver, outbox, row

METTE = ("Mette Østergaard", "mette.ostergaard@herning.example.dk")
CHAIR = "birgitte.holm@kl.example.dk"
APRIL = "it-netvaerk/2027-04-08"  # 15 April 2027 (moved from the 8th); its deadline is 5 April
AUGUST = "it-netvaerk/2027-08-12"  # cancelled in the demo config
DECEMBER = "it-netvaerk/2027-12-09"


def meeting(app, series: str) -> Meeting:
    with Session(app.engine) as session:
        return session.exec(select(Meeting).where(Meeting.series_id == series)).one()


def mail(subject: str, body: str, to: str = "it-netvaerk@lists.example.dk", sender=METTE,
         attachment: bytes | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = f"{sender[0]} <{sender[1]}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{abs(hash((subject, body, to)))}@herning.example.dk>"
    message.set_content(body)
    if attachment:
        message.add_attachment(attachment, maintype="application", subtype="pdf", filename="notat.pdf")
    return message.as_bytes()


def items(app) -> list[AgendaItem]:
    with Session(app.engine) as session:
        return list(session.exec(select(AgendaItem).order_by(AgendaItem.id)))


def reply_address(message: OutboxMessage) -> str:
    return message.raw.split(b"Reply-To: ", 1)[1].split(b"\r\n", 1)[0].decode()


BODY = ("Hej alle\n\nResumé: Kommunerne deler erfaringer med FMK.\n\nSagsfremstilling: Tre kommuner har\n"
        "prøvet den nye opsætning.\n\nIndstilling: Netværket drøfter erfaringerne.\n\nMed venlig hilsen\nMette\n")


def test_an_item_with_sections_and_an_appendix_reaches_the_agenda(app):
    inbound = row(app, deliver(app, mail("Dagsordenspunkt: Erfaringer med FMK", BODY, attachment=b"%PDF-1.4 x")))
    assert inbound.outcome == "handled" and inbound.reason.endswith(APRIL)
    [item] = items(app)
    assert item.title == "Erfaringer med FMK" and item.summary == "Kommunerne deler erfaringer med FMK."
    assert item.background.startswith("Tre kommuner") and item.proposal == "Netværket drøfter erfaringerne."
    with Session(app.engine) as session:
        [appendix] = session.exec(select(Appendix)).all()
    assert (appendix.filename, appendix.data) == ("notat.pdf", b"%PDF-1.4 x")
    [ack] = outbox(app, "item-ack")
    assert ack.recipient == METTE[1]
    assert b"Bilag 1: notat.pdf" in ack.raw  # the item as recorded, appendix and all (found by `kkrbot demo`)
    app.clock.set(meeting(app, APRIL).starts_at - timedelta(days=7))
    tick(app)
    agenda = [m for m in outbox(app, "agenda") if APRIL in m.dedupe_key]
    assert len(agenda) == 13


def test_an_answer_to_the_item_ack_corrects_the_item(app):
    deliver(app, mail("Dagsordenspunkt: Erfaringer med FMK", BODY))
    [ack] = outbox(app, "item-ack")
    to = reply_address(ack)
    deliver(app, mail("SV: Dagsordenspunkt modtaget", "Indstilling: Netværket godkender retningslinjerne.\n", to=to))
    [item] = items(app)
    assert item.proposal == "Netværket godkender retningslinjerne." and item.summary == ""
    assert len(outbox(app, "item-ack")) == 2  # the corrected item, as recorded


def test_a_late_item_goes_to_the_next_meeting_unless_the_chair_takes_it_in(app):
    app.clock.set(meeting(app, APRIL).starts_at - timedelta(days=8))  # after the deadline of 5 April
    inbound = row(app, deliver(app, mail("Dagsordenspunkt: Sent men vigtigt", "Kort sag.\n")))
    assert "after the deadline" in inbound.reason and "the chair was asked" in inbound.reason
    [item] = items(app)
    assert item.meeting_id == meeting(app, "it-netvaerk/2027-06-03").id  # the extra meeting in June
    [late] = outbox(app, "item-late")
    [ask] = outbox(app, "late-item-approval")
    assert late.recipient == METTE[1] and ask.recipient == CHAIR
    token = token_in_tag(reply_address(ask).split("@")[0].split("+")[1])
    deliver(app, mail("SV: Sent punkt", "Godkend\n", to=reply_address(ask), sender=("Birgitte Holm", CHAIR)))
    [item] = items(app)
    assert token and (item.meeting_id, item.status) == (meeting(app, APRIL).id, "late")


def test_an_answer_to_the_call_is_an_item_for_that_meeting(app):
    april = meeting(app, APRIL)
    app.clock.set(april.starts_at - timedelta(days=21))
    tick(app)
    [call] = [m for m in outbox(app, "call") if m.recipient == METTE[1] and APRIL in m.dedupe_key]
    inbound = row(app, deliver(app, mail("SV: Indkaldelse af punkter", "Hej\n\nStatus på MedCom-standarden\n\n"
                                         "Resumé: Hvor langt er kommunerne?\n", to=reply_address(call))))
    assert inbound.outcome == "handled", inbound.reason
    [item] = items(app)
    assert (item.title, item.summary, item.meeting_id) == ("Status på MedCom-standarden",
                                                           "Hvor langt er kommunerne?", april.id)
