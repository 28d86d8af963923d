"""The database tables (SQLModel). Alembic migrations in bot/store/migrations create them.

Every datetime is timezone-aware UTC; SQLModel's UTCDateTime stores it so that
SQLite and PostgreSQL agree. Nothing here is SQLite-specific.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

# Membership roles. KKR consultants get minutes by region; kl and medcom are exempt from the region cap.
MEMBER, CHAIR, VICE_CHAIR, SECRETARY = "member", "chair", "vice-chair", "secretary"
KKR_CONSULTANT, MEDCOM, KL = "kkr-consultant", "medcom", "kl"
ROLES = (MEMBER, CHAIR, VICE_CHAIR, SECRETARY, KKR_CONSULTANT, MEDCOM, KL)

# Inbound processing: a row is "new" until its outcome is committed, then "done".
STATE_NEW, STATE_DONE = "new", "done"
OUTCOMES = ("handled", "ignored", "rejected", "held", "failed")


def _blob() -> Column:
    return Column(LargeBinary, nullable=False)


class Network(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, index=True)
    name: str
    address: str = Field(unique=True)
    language: str = "da"
    parent_slug: Optional[str] = None
    active: bool = True


class Contact(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    email: str = Field(unique=True, index=True)  # lowercase
    name: str
    organisation: str = ""
    municipality: str = ""
    region: str = ""
    kind: str  # the CSV role: kkr-repræsentant, kommune, kl, medcom, kkr-konsulent
    active: bool = True
    delivery_disabled: bool = False
    bounces_cleared_at: Optional[datetime] = None  # bounces before this no longer count
    erased_at: Optional[datetime] = None  # `kkrbot gdpr forget`: name and address gone, shown as "tidligere medlem"
    created_at: datetime
    updated_at: datetime


class Alias(SQLModel, table=True):
    """Another address of a contact; mail from it counts as theirs."""

    address: str = Field(primary_key=True)  # lowercase
    contact_id: int = Field(foreign_key="contact.id", index=True)


class Membership(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("network_id", "contact_id", "role"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    role: str
    source: str = "csv"  # csv (contacts file) or config (chair, vice-chair, secretary in networks.toml)
    active: bool = True
    opted_out: bool = False
    opted_out_at: Optional[datetime] = None
    no_copy: bool = False  # the member's own list posts are not sent back to them ("ingen kopi")
    paused: bool = False  # list posts stop until "genoptag"; meeting and role mail continue
    paused_at: Optional[datetime] = None
    term_start: Optional[date] = None


class Meeting(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    series_id: str = Field(unique=True)  # "<slug>/<original date>": stable across moves
    original_date: date
    starts_at: datetime
    ends_at: datetime
    status: str = "scheduled"  # scheduled, moved, cancelled
    mode: str = "physical"  # physical, virtual
    place: str = ""
    video_link: str = ""
    sequence: int = 0  # iCalendar SEQUENCE: raised when time, place or status changes
    previous: Optional[dict] = Field(default=None, sa_column=Column(JSON, nullable=True))  # before the last change
    updated_at: datetime
    agenda_answer: str = ""  # the chair's or vice-chair's latest answer to the draft: approve or hold
    agenda_answered_at: Optional[datetime] = None


class CycleStep(SQLModel, table=True):
    """A step of a meeting's cycle that is done: its mail queued, or skipped (and why).

    The unique key is what makes a tick safe to repeat: a second tick, a restarted bot or a
    second process that tries the same step fails on it and rolls its letters back."""

    __table_args__ = (UniqueConstraint("meeting_id", "step"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    step: str  # invitation, meeting-update:<sequence>, cancel, call, draft, agenda, reminder, minutes-request, ...
    state: str  # sent or skipped
    at: datetime
    sequence: int = 0  # the meeting's SEQUENCE when its mail went out (calendars are up to date to here)
    recipients: int = 0
    reason: str = ""


class AgendaItem(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    position: int = 0
    title: str
    summary: str = ""  # Resumé
    background: str = ""  # Sagsfremstilling
    proposal: str = ""  # Indstilling
    decision: str = ""  # Beslutning (from the minutes)
    submitter_id: Optional[int] = Field(default=None, foreign_key="contact.id")
    inbound_id: Optional[int] = Field(default=None, foreign_key="inboundmessage.id")
    status: str = "proposed"  # proposed, accepted, late, withdrawn
    created_at: datetime


class Appendix(SQLModel, table=True):
    """A bilag: an attachment kept with its agenda item or minutes."""

    id: Optional[int] = Field(default=None, primary_key=True)
    agenda_item_id: Optional[int] = Field(default=None, foreign_key="agendaitem.id", index=True)
    minutes_id: Optional[int] = Field(default=None, foreign_key="minutes.id", index=True)
    filename: str
    content_type: str
    size: int
    data: bytes = Field(sa_column=_blob())


class Attendance(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("meeting_id", "contact_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    contact_id: int = Field(foreign_key="contact.id")
    status: str  # the answer: registered, apologies, tentative; none (only the minutes named them)
    attended: Optional[bool] = None  # from the minutes' Deltagere / Afbud lines; None until then
    updated_at: datetime


class Minutes(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", unique=True)
    text: str = ""
    inbound_id: Optional[int] = Field(default=None, foreign_key="inboundmessage.id")
    received_at: datetime
    distributed_at: Optional[datetime] = None


class InboundMessage(SQLModel, table=True):
    """A received mail, stored raw before anything else happens to it (its bytes in InboundRaw)."""

    __table_args__ = (UniqueConstraint("delivered_to", "message_id", "content_hash"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    received_at: datetime
    source: str  # smtp or imap
    envelope_from: str = ""
    envelope_to: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    delivered_to: str  # the list address (with +tag) this copy was delivered for
    network_slug: Optional[str] = Field(default=None, index=True)
    message_id: str = Field(index=True)
    message_id_synthetic: bool = False
    message_id_reused: bool = False  # another stored message has this Message-ID but other bytes
    content_hash: str
    body_hash: str = ""  # the bytes after the header: the same mail through another relay has the same
    size: int
    imap_mailbox: Optional[str] = None
    imap_uidvalidity: Optional[int] = None
    imap_uid: Optional[int] = None
    imap_folder: Optional[str] = None  # where the cursor moved it after the outcome ("" once it was gone from there)
    state: str = Field(default=STATE_NEW, index=True)
    attempts: int = 0
    next_attempt_at: Optional[datetime] = None
    outcome: Optional[str] = Field(default=None, index=True)
    reason: str = ""
    rule: str = ""  # the classification rule that matched
    kind: str = ""  # what the message is: post, command, answer, bounce, ...
    from_address: str = ""
    subject: str = ""
    defects: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    dmarc: str = ""
    finished_at: Optional[datetime] = None


class InboundRaw(SQLModel, table=True):
    """A received mail's bytes, apart from its row: SQLite rewrites a whole row on every update, and
    handling a mail updates its row several times; a 14 MB post would be written that often."""

    inbound_id: int = Field(foreign_key="inboundmessage.id", primary_key=True)
    raw: bytes = Field(sa_column=_blob())


class ImapCursor(SQLModel, table=True):
    """Where reading a mailbox got to: survives restarts, reset by a new UIDVALIDITY."""

    mailbox: str = Field(primary_key=True)
    uidvalidity: int
    last_uid: int = 0
    updated_at: datetime


class IssuedToken(SQLModel, table=True):
    """A reply token the bot put in a mail: who it was for and what it answers."""

    token: str = Field(primary_key=True)
    network_slug: str = Field(index=True)
    contact_id: Optional[int] = Field(default=None, foreign_key="contact.id")
    address: str
    kind: str  # the X-Kkrbot-Kind of the mail that carried it
    meeting_id: Optional[int] = Field(default=None, foreign_key="meeting.id")
    ref: str = ""  # what else it points to (an inbound id to moderate, ...)
    created_at: datetime


class SendJob(SQLModel, table=True):
    """One mail to many people (a relayed post): what every copy shares, stored once.

    The shared body is the stored inbound mail itself (`inbound_id`, from `body_offset`);
    each recipient is an OutboxMessage row, and the sender makes its bytes at send time."""

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str  # post
    network_slug: str = Field(index=True)
    inbound_id: int = Field(foreign_key="inboundmessage.id", index=True)
    body_offset: int  # where the original body starts in the inbound raw bytes
    head: bytes = Field(sa_column=_blob())  # the shared header block, without the per-person headers
    body_headers: bytes = Field(sa_column=_blob())  # the original body's Content-Type and -Transfer-Encoding
    boundary: str
    subject: str = ""  # the original subject (the footer's context)
    created_at: datetime


class SharedContent(SQLModel, table=True):
    """Bytes that several outgoing mails carry (an agenda's appendix), stored once by their SHA-256.

    Dropped when no queued mail needs them any more, as a sent mail's own text is."""

    sha256: str = Field(primary_key=True)
    size: int
    data: bytes = Field(sa_column=_blob())
    created_at: datetime


class OutboxPart(SQLModel, table=True):
    """Where a piece of shared content goes into one outgoing mail: at `offset` of its own bytes,
    base64-encoded (an attachment's body)."""

    outbox_id: int = Field(foreign_key="outboxmessage.id", primary_key=True)
    position: int = Field(primary_key=True)
    offset: int
    sha256: str = Field(index=True)  # no foreign key: the content is dropped before this record of it


class OutboxMessage(SQLModel, table=True):
    """One outgoing mail to one recipient: a small row. Its bytes are `raw` (what is personal:
    the whole mail for a letter, nothing for a copy of a job) plus the shared parts."""

    id: Optional[int] = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True)
    kind: str
    network_slug: Optional[str] = Field(default=None, index=True)
    job_id: Optional[int] = Field(default=None, foreign_key="sendjob.id", index=True)
    recipient: str
    token: str = ""  # the recipient's token in a job's copy (their List-Unsubscribe address)
    envelope_from: str
    message_id: str
    raw: bytes = Field(sa_column=_blob())
    status: str = Field(default="queued", index=True)  # queued, sent, failed, bounced, expired
    attempts: int = 0
    # While a process sends the row, next_attempt_at is the end of its claim (bot/outbound/outbox.py).
    next_attempt_at: datetime
    claimed_by: str = ""  # the process sending it now; "" once its result is recorded
    deadline_at: datetime
    last_error: str = ""
    created_at: datetime
    sent_at: Optional[datetime] = None


class Bounce(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    address: str = Field(index=True)
    contact_id: Optional[int] = Field(default=None, foreign_key="contact.id")
    at: datetime
    source: str  # dsn, smtp-5xx
    inbound_id: Optional[int] = Field(default=None, foreign_key="inboundmessage.id")
    outbox_id: Optional[int] = Field(default=None, foreign_key="outboxmessage.id")
    detail: str = ""


class AdminEvent(SQLModel, table=True):
    """Something that needs a person; gathered into at most one admin notice an hour."""

    id: Optional[int] = Field(default=None, primary_key=True)
    at: datetime
    kind: str  # inbound-failed, outbox-expired, login-failing, storage-error, role-opted-out, ...
    detail: str
    notified_at: Optional[datetime] = Field(default=None, index=True)


class AuditLog(SQLModel, table=True):
    """Who did what and when. Never message bodies."""

    id: Optional[int] = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(index=True)  # an address, "system" or "admin"
    action: str
    network_slug: Optional[str] = None
    message_id: str = ""
    detail: str = ""


class ConfigGeneration(SQLModel, table=True):
    """A config applied to the database, at start or by `kkrbot config reload`.

    The newest row is how `config reload` tells a running bot to take up networks.toml: the
    bot looks for a row newer than its own every few seconds. The database, not a signal,
    because the command may run as another user, in a container, or on another host."""

    id: Optional[int] = Field(default=None, primary_key=True)
    applied_at: datetime
    source: str  # start or reload
    networks_digest: str  # SHA-256 of networks.toml as it was applied
    bot_digest: str  # of bot.toml: a running bot says so when only a restart can apply it


class HeldPost(SQLModel, table=True):
    """A post held for moderation (a stranger's, a DMARC failure, an unverified or too large one).

    Its bytes stay in InboundRaw; this row is the decision: who asked, who decided what and
    when, and whether the sender may be told (never after a DMARC failure: the From may be
    forged, and telling it would be backscatter)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    inbound_id: int = Field(foreign_key="inboundmessage.id", unique=True)
    network_slug: str = Field(index=True)
    sender: str  # the From address, lowercase
    sender_name: str = ""
    subject: str = ""
    message_id: str = ""
    reason: str  # dmarc-fail, non-member, unverified, too-large
    tell_sender: bool = True
    status: str = Field(default="held", index=True)  # held, approved, rejected, expired
    held_at: datetime
    expires_at: datetime
    requested_at: Optional[datetime] = None  # the secretary's moderation-request was queued
    digested_at: Optional[datetime] = None  # listed in a moderation-digest instead (the daily cap was reached)
    decided_at: Optional[datetime] = None
    decided_by: str = ""  # the secretary's address, "admin" (command line) or "system" (expiry)
    decision_reason: str = ""  # the reason given with Afvis / --reason


class Erasure(SQLModel, table=True):
    """A person `kkrbot gdpr forget` erased, named only by an HMAC of each of their addresses under
    the token secret: enough to recognise them in contacts.csv again, never the address itself."""

    id: Optional[int] = Field(default=None, primary_key=True)
    address_hmac: str = Field(index=True)
    at: datetime


class Lease(SQLModel, table=True):
    """Work that one process at a time does, among several on one database (bot/store/leases.py):
    the IMAP connection of a mailbox, a scheduled job's run. It passes to another process when
    `expires_at` goes by without the holder renewing it."""

    name: str = Field(primary_key=True)  # e.g. imap:bot@mail.example.dk/INBOX, job:meeting-cycle
    holder: str  # host/instance of the process (bot.config.settings.Settings.process_name)
    acquired_at: datetime
    expires_at: datetime
