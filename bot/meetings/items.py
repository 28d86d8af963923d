"""Agenda items proposed by e-mail: which meeting they are for, and their Resumé / Sagsfremstilling / Indstilling.

An item before the deadline (the draft's moment) is for the next meeting. One after it
goes to the meeting after that, unless the chair takes it in late; the proposer is
told either way. A body with the headings `Resumé:`, `Sagsfremstilling:` and
`Indstilling:` (accents optional, one per line) is read by them; a body without them
is the Sagsfremstilling. Attachments are kept as the item's appendices (bilag).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from bot.config.networks import NetworkConfig
from bot.store.models import AgendaItem, Appendix, Meeting, Network

HEADINGS = {"resumé": "summary", "resume": "summary", "sagsfremstilling": "background", "indstilling": "proposal",
            "summary": "summary", "background": "background", "proposal": "proposal"}
HEADING = re.compile(r"^\s*(resum[ée]|sagsfremstilling|indstilling|summary|background|proposal)\s*:\s*(.*)$",
                     re.I | re.M)
MAX_TITLE = 300
# A closing ends the item: what follows is the sender's name and signature, not Indstilling.
SIGN_OFF = re.compile(r"^\s*(med venlig hilsen|venlig hilsen|de bedste hilsner|bedste hilsner|mvh|vh|hilsen|"
                      r"med vennlig hilsen|vennlig hilsen|kind regards|best regards|regards)\b[ ,.!]*$", re.I | re.M)


@dataclass(frozen=True)
class Sections:
    summary: str = ""
    background: str = ""
    proposal: str = ""


@dataclass(frozen=True)
class Placement:
    """Where a proposed item goes: its meeting, and whether it came after that meeting's deadline."""

    meeting: Meeting
    late_for: Meeting | None = None  # the meeting whose deadline it missed (it may still be taken in late)


def sections(text: str) -> Sections:
    closing = SIGN_OFF.search(text)
    text = text[:closing.start()] if closing else text
    found = list(HEADING.finditer(text))
    if not found:
        return Sections(background=text.strip())
    parts: dict[str, list[str]] = {}
    for index, match in enumerate(found):
        end = found[index + 1].start() if index + 1 < len(found) else len(text)
        body = (match.group(2) + text[match.end():end]).strip()
        parts.setdefault(HEADINGS[match.group(1).lower()], []).append(body)
    return Sections(**{key: "\n\n".join(values) for key, values in parts.items()})


def deadline(network: NetworkConfig, meeting: Meeting) -> datetime:
    return meeting.starts_at - timedelta(days=network.lead_times.draft)


def placement(session: Session, network: NetworkConfig, now: datetime, first: Meeting | None = None) -> Placement | None:
    """The next meeting that has not begun (or `first`, the meeting a call was for); past its deadline,
    the one after (None: no meeting planned)."""
    after = max(now, first.starts_at - timedelta(seconds=1)) if first is not None else now
    upcoming = session.exec(select(Meeting).join(Network).where(
        Network.slug == network.slug, Meeting.status != "cancelled", Meeting.starts_at > after)
        .order_by(Meeting.starts_at).limit(2)).all()
    if not upcoming:
        return None
    if now <= deadline(network, upcoming[0]):
        return Placement(upcoming[0])
    return Placement(upcoming[1], late_for=upcoming[0]) if len(upcoming) > 1 else Placement(upcoming[0], upcoming[0])


def add_item(session: Session, meeting: Meeting, title: str, parts: Sections, submitter_id: int | None,
             inbound_id: int, attachments, now: datetime) -> AgendaItem:
    """Record an item and its appendices (attachments the parser could keep)."""
    position = len(session.exec(select(AgendaItem.id).where(AgendaItem.meeting_id == meeting.id)).all()) + 1
    item = AgendaItem(meeting_id=meeting.id, position=position, title=" ".join(title.split())[:MAX_TITLE],
                      summary=parts.summary, background=parts.background, proposal=parts.proposal,
                      submitter_id=submitter_id, inbound_id=inbound_id, created_at=now)
    session.add(item)
    session.flush()
    for attachment in attachments:
        if attachment.data is not None:
            session.add(Appendix(agenda_item_id=item.id, filename=attachment.filename,
                                 content_type=attachment.content_type, size=attachment.size, data=attachment.data))
    session.flush()  # the pipeline's batches do not autoflush: the item-ack that follows must list the appendices
    return item


def item_view(session: Session, item: AgendaItem) -> dict:
    """The item as the templates show it (item-ack, item-late, late-item-approval)."""
    appendices = session.exec(select(Appendix).where(Appendix.agenda_item_id == item.id).order_by(Appendix.id)).all()
    return {"title": item.title, "summary": item.summary, "background": item.background, "proposal": item.proposal,
            "decision": "", "late": item.status == "late", "submitter": None,
            "appendices": [{"number": n + 1, "filename": a.filename, "size": a.size} for n, a in enumerate(appendices)]}
