"""A member's year in the demo network, through the real pipeline, for the data-protection tests.

Mette Østergaard (with an alias) gets the invitation, proposes an item from his alias, registers by
answering the agenda, posts to the list, bounces once, and is named in the minutes the secretary
sends as quoted-printable text. Everything is sent into the Maildir var/sent.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from email.message import EmailMessage

from sqlmodel import Session, select

from bot.actions.bounces import record_bounce
from bot.app import App
from bot.config.settings import load_settings
from bot.daemon import send_outbox
from bot.meetings.cycle import tick
from bot.outbound.send import make_sender
from bot.startup import prepare_database
from bot.store.db import session_scope
from bot.store.models import Meeting, OutboxMessage
from tests.support.config import make_config, shipped_contacts
from tests.support.inbound import deliver

NAME, EMAIL, ALIAS = "Mette Østergaard", "mette.ostergaard@herning.example.dk", "mo@herning.example.dk"
SECRETARY = ("Anne Hansen", "anne.hansen@kl.example.dk")
SERIES = "it-netvaerk/2027-04-08"
LIST = "it-netvaerk@lists.example.dk"


def make_app(tmp_path, clock, networks: str | None = None, bot_toml: dict | None = None,
             env: str | None = None) -> App:
    contacts = shipped_contacts().replace(f"{EMAIL},Herning Kommune,Herning,Midtjylland,kommune,it-netvaerk,",
                                          f"{EMAIL},Herning Kommune,Herning,Midtjylland,kommune,it-netvaerk,{ALIAS}")
    assert ALIAS in contacts
    config = make_config(tmp_path, contacts_csv=contacts, networks_toml=networks, bot_toml=bot_toml, env=env)
    app = App.create(load_settings(config, environ={}), clock, create_secret=True)
    prepare_database(app)
    return app


def mail(sender: tuple[str, str], to: str, subject: str, body: str, message_id: str) -> bytes:
    message = EmailMessage()
    message["From"] = f"{sender[0]} <{sender[1]}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id}>"
    message.set_content(body, cte="quoted-printable")
    return message.as_bytes()


def reply_to(app: App, kind: str, recipient: str) -> str:
    """The Reply-To (with the recipient's token) of the meeting's `kind` mail to `recipient`."""
    with Session(app.engine) as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.kind == kind,
                                                       OutboxMessage.recipient == recipient,
                                                       OutboxMessage.dedupe_key.contains(SERIES))).first()
    return re.search(rb"^Reply-To: (.+?)\r$", row.raw, re.M).group(1).decode() if row.raw else ""


def at(app: App, day: str) -> None:
    app.clock.set(datetime.fromisoformat(day).replace(tzinfo=timezone.utc))
    tick(app)


def flush(app: App) -> None:
    send_outbox(app, make_sender(app.settings))


def live_a_year(app: App) -> None:
    """The member's year: every table that can name a person gets a row about her."""
    at(app, "2027-03-26T09:00:00")  # invitation and call for items
    deliver(app, mail((NAME, ALIAS), LIST, "Dagsordenspunkt: Fælles FMK-opsætning",
                      f"Resumé: {NAME} foreslår en fælles opsætning.\n", "item@herning.example.dk"))
    at(app, "2027-04-09T09:00:00")  # draft and agenda
    deliver(app, mail((NAME, EMAIL), reply_to(app, "agenda", EMAIL), "SV: Dagsorden", "Tilmeld\n",
                      "rsvp@herning.example.dk"))
    deliver(app, mail((NAME, EMAIL), LIST, "Erfaringer med FMK", "Hej alle, hvem har erfaringer?\n",
                      "post@herning.example.dk"))
    flush(app)
    with session_scope(app.engine) as session:
        record_bounce(app, session, EMAIL, source="dsn", detail=f"550 5.1.1 <{EMAIL}>: mailbox full")
    at(app, "2027-04-15T12:00:00")  # the meeting is over: the minutes request
    minutes = (f"Deltagere: {NAME}, Lars Møller\nAfbud: Åse Brøndum\n\n"
               f"1. Fælles FMK-opsætning: {NAME} fremlagde punktet. Godkendt.\n")
    deliver(app, mail(SECRETARY, reply_to(app, "minutes-request", SECRETARY[1]), "SV: Referat", minutes,
                      "minutes@kl.example.dk"))
    flush(app)


def meeting(app: App) -> Meeting:
    with Session(app.engine) as session:
        return session.exec(select(Meeting).where(Meeting.series_id == SERIES)).one()
