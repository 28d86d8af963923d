"""Forged answers never move a meeting: only the token's owner, for the token's own meeting.

A forged From: of the chair or the secretary without a reply token cannot approve an agenda or
publish minutes; a member cannot register someone else; a token from another meeting acts on
that meeting only, never on the one the mail talks about.
"""
from __future__ import annotations

from email.message import EmailMessage

from sqlmodel import Session, select

from bot.store.models import Attendance, Meeting, Minutes
from tests.support.inbound import add_meeting, deliver, issue_token, outbox, row

CHAIR = ("Birgitte Holm", "birgitte.holm@kl.example.dk")
SECRETARY = ("Anne Hansen", "anne.hansen@kl.example.dk")
SOREN = ("Søren Ærø", "soren.aero@aarhus.example.dk")
METTE = ("Mette Østergaard", "mette.ostergaard@herning.example.dk")


def mail(sender: tuple[str, str], to: str, subject: str, body: str, attachment: bytes | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = f"{sender[0]} <{sender[1]}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{abs(hash((sender, to, subject, body)))}@forger.example.org>"
    message.set_content(body)
    if attachment:
        message.add_attachment(attachment, maintype="text", subtype="plain", filename="referat.txt")
    return message.as_bytes()


def attendance(app) -> list[tuple[int, int, str]]:
    with Session(app.engine) as session:
        return sorted(session.exec(select(Attendance.meeting_id, Attendance.contact_id, Attendance.status)).all())


def test_the_chair_s_from_without_a_token_approves_nothing(app):
    meeting = add_meeting(app, "it-netvaerk", "2027-10-07")
    deliver(app, mail(CHAIR, "it-netvaerk@lists.example.dk", "SV: Udkast til dagsorden 7. oktober", "Godkend\n"))
    with Session(app.engine) as session:
        assert session.get(Meeting, meeting).agenda_answer == ""
        assert session.exec(select(Meeting.id).where(Meeting.agenda_answer != "")).all() == []


def test_the_secretary_s_from_without_a_token_publishes_no_minutes(app):
    add_meeting(app, "it-netvaerk", "2026-12-01")
    deliver(app, mail(SECRETARY, "it-netvaerk@lists.example.dk", "SV: Referat",
                      "Deltagere: Søren Ærø\nAfbud: Mette Østergaard\n", attachment=b"Referat\n"))
    with Session(app.engine) as session:
        assert session.exec(select(Minutes)).all() == []
    assert outbox(app, "minutes") == [] and outbox(app, "minutes-ack") == []
    assert attendance(app) == []


def test_a_member_cannot_register_someone_else(app):
    meeting = add_meeting(app, "it-netvaerk", "2027-10-07")
    mettes = issue_token(app, METTE[1], "invitation", meeting_id=meeting)
    reason = row(app, deliver(app, mail(SOREN, f"it-netvaerk+{mettes}@lists.example.dk", "SV: Møde",
                                        "Tilmeld\n"))).reason
    assert "registered" not in reason and "sender" in reason, reason
    assert attendance(app) == []
    soren_own = issue_token(app, SOREN[1], "invitation", meeting_id=meeting)
    deliver(app, mail(SOREN, f"it-netvaerk+{soren_own}@lists.example.dk", "SV: Møde",
                      "Tilmeld\nog Mette Østergaard kommer også\n"))
    [(meeting_id, _, status)] = attendance(app)  # Søren only: the body names Mette, the token is Søren's
    assert (meeting_id, status) == (meeting, "registered")


def test_a_token_from_another_meeting_acts_on_its_own_meeting_only(app):
    october = add_meeting(app, "it-netvaerk", "2027-10-07")
    december = add_meeting(app, "it-netvaerk", "2027-11-18")
    october_draft = issue_token(app, CHAIR[1], "draft", meeting_id=october)
    deliver(app, mail(CHAIR, f"it-netvaerk+{october_draft}@lists.example.dk",
                      "SV: Udkast til dagsorden 18. november", "Afvent\n"))
    october_invitation = issue_token(app, METTE[1], "invitation", meeting_id=october)
    deliver(app, mail(METTE, f"it-netvaerk+{october_invitation}@lists.example.dk",
                      "SV: Invitation 18. november", "Afbud\n"))
    with Session(app.engine) as session:
        assert (session.get(Meeting, october).agenda_answer, session.get(Meeting, december).agenda_answer) == (
            "hold", "")
    assert [(m, s) for m, _, s in attendance(app)] == [(october, "apologies")]
