"""A year of answers and minutes in a real database, for the attendance report's tests.

The shipped config plus Bo Ærenstrup, a second contact from Aarhus, so one municipality has
both a registration and apologies. Meetings (from the shipped networks.toml):

- it-netvaerk, 15 April 2027 (moved from 8 April): answers of every kind, and minutes whose
  Deltagere / Afbud lines differ from the answers;
- it-netvaerk, 3 June 2027: nobody answered;
- it-teknik, 5 January 2027 and it-netvaerk, 10 December 2026: one registration each, for the
  network and year filters.
"""
from __future__ import annotations

from sqlmodel import Session, select

from bot.app import App
from bot.config.settings import load_settings
from bot.meetings.attendance import record_answer
from bot.meetings.minutes import record_attendance
from bot.startup import prepare_database
from bot.store.models import Contact, Meeting
from tests.support.config import make_config, shipped_contacts

BO = "Bo Ærenstrup,bo.aerenstrup@aarhus.example.dk,Aarhus Kommune,Aarhus,Midtjylland,kommune,it-netvaerk,\n"
APRIL, JUNE = "it-netvaerk/2027-04-08", "it-netvaerk/2027-06-03"
TEKNIK, DECEMBER = "it-teknik/2027-01-05", "it-netvaerk/2026-12-10"
APRIL_ANSWERS = {"Søren Ærø": "registered", "Bo Ærenstrup": "apologies", "Mette Østergaard": "registered",
                 "Lars Møller": "tentative", "Åse Brøndum": "apologies", "Jens Kærgaard": "registered",
                 "Niels Bødker": "registered"}
APRIL_MINUTES = ("Referat\nDeltagere: Søren Ærø, Lars Møller, Jens Kærgaard, Niels Bødker og Birgitte Holm\n"
                 "Afbud: Mette Østergaard, Bo Ærenstrup, Åse Brøndum\n")


def report_app(tmp_path, clock) -> App:
    """A ready bot on the shipped config with Bo added, answers and minutes recorded."""
    config = make_config(tmp_path, contacts_csv=shipped_contacts() + BO)
    bot = App.create(load_settings(config, environ={}), clock, create_secret=True)
    prepare_database(bot)
    with Session(bot.engine) as session:
        _answers_and_minutes(bot, session)
        session.commit()
    return bot


def _answers_and_minutes(bot: App, session: Session) -> None:
    people = {c.name: c.id for c in session.exec(select(Contact))}
    meetings = {m.series_id: m for m in session.exec(select(Meeting))}
    now = bot.clock.now()
    for name, status in APRIL_ANSWERS.items():
        record_answer(session, meetings[APRIL].id, people[name], status, now)
    record_attendance(session, bot.settings.network("it-netvaerk"), meetings[APRIL], APRIL_MINUTES, now)
    record_answer(session, meetings[TEKNIK].id, people["Lars Møller"], "registered", now)
    record_answer(session, meetings[DECEMBER].id, people["Søren Ærø"], "registered", now)
