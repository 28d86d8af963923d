"""`kkrbot preview`: render what would be sent next, without sending or changing anything.

The mail is composed exactly as for sending (tokens, headers, calendar part) inside
a transaction that is rolled back, then shown on the terminal or delivered into a
Maildir for a real mail client to open.
"""
from __future__ import annotations

from dataclasses import replace
from email import message_from_bytes, policy
from pathlib import Path

from sqlmodel import Session

from bot.app import App
from bot.meetings.letters import meeting_letter, next_meeting
from bot.outbound.compose import Letter, Recipient, compose
from bot.outbound.outbox import Delivery
from bot.outbound.send import MaildirSender
from bot.people.contact_list import contact_list_letter
from bot.people.recipients import members, recipient

MEETING_KINDS = ("invitation", "agenda", "meeting-update", "cancel", "call", "draft", "draft-reminder",
                 "reminder", "minutes-request", "minutes-reminder")
KINDS = (*MEETING_KINDS, "help", "contacts", "unsubscribe-confirm", "unsubscribe-done")


class PreviewError(Exception):
    pass


def render_preview(app: App, network_slug: str | None, kind: str, lang: str | None) -> bytes:
    """The raw bytes of the next `kind` mail to the network's first member."""
    network = app.settings.network(network_slug) if network_slug else app.settings.networks[0]
    if lang:
        network = replace(network, language=lang)
    with Session(app.engine.execution_options(kkrbot_writes=True)) as session:  # composing records tokens
        people = members(session, network.slug)
        who = recipient(people[0]) if people else Recipient(address=network.address, name="")
        if kind in MEETING_KINDS:
            meeting = next_meeting(session, network.slug, app.clock.now())
            if meeting is None:
                raise PreviewError(f"{network.slug} has no coming meeting to preview")
            letter = meeting_letter(session, network, meeting, kind, who, app.clock.now())
        elif kind == "contacts":
            context, attachment = contact_list_letter(session, network.slug, network.language)
            letter = Letter(kind=kind, network=network, recipient=who, dedupe_key=f"preview:{kind}", context=context,
                            attachments=(attachment,))
        else:
            letter = Letter(kind=kind, network=network, recipient=who, dedupe_key=f"preview:{kind}")
        raw = compose(app, session, letter).raw
        session.rollback()
    return raw


def show(raw: bytes) -> str:
    """The mail as a person reads it: main headers, the text part, the calendar part."""
    message = message_from_bytes(raw, policy=policy.default)
    lines = [f"{name}: {message[name]}" for name in ("From", "To", "Reply-To", "Subject", "X-Kkrbot-Kind")
             if message[name]]
    body = message.get_body(("plain",))
    lines += ["", body.get_content() if body else ""]
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            lines += [f"--- {part.get_content_type()}; method={part.get_param('method')} ---",
                      part.get_payload(decode=True).decode("utf-8")]
            break
    attachments = [part.get_filename() for part in message.iter_attachments()]
    if attachments:
        lines += ["--- attachments: " + ", ".join(a for a in attachments if a)]
    return "\n".join(lines)


def to_maildir(raw: bytes, folder: Path) -> None:
    message = message_from_bytes(raw, policy=policy.default)
    MaildirSender(folder).send([Delivery(0, str(message["To"]), "preview@kkrbot", raw)])
