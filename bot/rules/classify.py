"""What kind of mail is this? An ordered table of small named rules; the first match wins.

Order matters (see each group): our own mail coming back first; bounces before
auto-replies, because DSNs carry `Auto-Submitted: auto-replied` too; iTIP replies
before auto-replies (Outlook marks some as automatic); answers to the bot's own
mail (by token) before commands, so "SV: afmeld" answering a confirmation request is
an answer; anything left is a list post. Each rule is a plain function of an
`Inbound` and can be tested alone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Callable

from flufl.bounce import all_failures

from bot.config.networks import NetworkConfig
from bot.inbound.parse import ParsedMail
from bot.inbound.routing import ListAddress
from bot.outbound.tokens import bounce_token_in_tag, token_in_message_id, token_in_tag

LOOP, BOUNCE, BOUNCE_DELAYED, ITIP_REPLY = "loop", "bounce", "bounce-delayed", "itip-reply"
AUTO_REPLY, ANSWER, COMMAND, POST = "auto-reply", "answer", "command", "post"

REPLY_PREFIX = re.compile(r"^\s*((re|sv|vs|aw|fwd?|wg|tr|antw)(\[\d+\])?\s*:\s*)+", re.I)
EDGE_PUNCTUATION = " \t\"'`*_.,;:!?()[]{}<>«»“”„-–—"
COMMAND_WORDS = {"hjælp": "help", "hjaelp": "help", "help": "help", "hjelp": "help",
                 "kontakter": "contacts", "contacts": "contacts",
                 "afmeld": "unsubscribe", "unsubscribe": "unsubscribe", "avmeld": "unsubscribe",
                 "ingen kopi": "no-copy", "no copy": "no-copy", "kopi": "copy", "copy": "copy",
                 "pause": "pause", "genoptag": "resume", "resume": "resume", "gjenoppta": "resume"}
SETTING_COMMANDS = {"no-copy", "copy", "pause", "resume"}  # ordinary words too: only in a fresh mail's subject
ITEM_COMMAND = re.compile(r"^(dagsordenspunkt|agenda\s+item)\s*:\s*(?P<title>.*\S)\s*$", re.I)
AUTO_SUBJECT = re.compile(  # the prefix and its colon, as the clients write it: "Fravær på mødet" is a post
    r"^\s*(autosvar|automatisk svar|fraværende|fravær|out of office|automatic reply|auto(matic)?[- ]?reply|"
    r"abwesenheitsnotiz|autoreply|frånvaro)\s*:", re.I)
BOUNCE_SUBJECT = re.compile(
    r"(undeliver|undelivered|delivery status notification|delivery failure|mail delivery failed|failure notice|"
    r"returned mail|non[- ]?remis|kan ikke leveres|kunne ikke leveres|returmail|mail system error)", re.I)
BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)


@dataclass(frozen=True)
class Inbound:
    """What classification sees: the parsed mail and how it reached us."""

    mail: ParsedMail
    network: NetworkConfig
    address: ListAddress
    null_sender: bool = False  # SMTP `MAIL FROM:<>` or `Return-Path: <>`: what bounces are sent with


@dataclass(frozen=True)
class Classification:
    kind: str
    rule: str
    detail: dict = field(default_factory=dict)


Rule = Callable[[Inbound], "Classification | None"]


# -- our own mail -------------------------------------------------------------------------

def x_loop(inbound: Inbound) -> Classification | None:
    """Every mail we send carries `X-Loop: <list address>`; seeing it again means a loop."""
    ours = {inbound.network.address}
    if any(value.strip().lower() in ours for value in inbound.mail.headers("X-Loop")):
        return Classification(LOOP, "x-loop")
    return None


def own_message_id(inbound: Inbound) -> Classification | None:
    """A Message-ID of the form we write (`<token.nonce@list domain>`) came back to us."""
    message_id = inbound.mail.message_id
    if token_in_message_id(message_id) and message_id.rstrip(">").lower().endswith("@" + inbound.network.domain):
        return Classification(LOOP, "own-message-id")
    return None


# -- bounces --------------------------------------------------------------------------------

def _dsn_actions(message: Message) -> set[str]:
    actions = set()
    for part in message.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            text = str(part.get_payload(decode=False) if not part.is_multipart() else
                       "".join(str(p) for p in part.get_payload()))
            actions |= {a.lower() for a in re.findall(r"^\s*Action\s*:\s*(\w+)", text, re.I | re.M)}
    return actions


def _looks_like_bounce(inbound: Inbound) -> bool:
    mail = inbound.mail
    return (inbound.null_sender or bool(BOUNCE_SENDER.match(mail.from_address)) or bool(BOUNCE_SUBJECT.search(mail.subject)) or
            mail.content_type == "multipart/report" and mail.content_param("report-type") == "delivery-status")


def _failures(message: Message) -> tuple[list[str], list[str]]:
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # noqa: BLE001 - a detector choking on odd input finds nothing
        return [], []
    decode = lambda found: sorted({a.decode("latin-1").strip("<>").lower() for a in found})  # noqa: E731
    return decode(temporary), decode(permanent)


def bounce(inbound: Inbound) -> Classification | None:
    """A delivery failure: by our VERP address (+bounce-<token>), a DSN, or a known non-standard form."""
    verp_token = bounce_token_in_tag(inbound.address.tag)
    if not verp_token and not _looks_like_bounce(inbound):
        return None
    actions = _dsn_actions(inbound.mail.message)
    temporary, permanent = _failures(inbound.mail.message)
    detail = {"token": verp_token, "addresses": permanent or temporary}
    if "failed" in actions or permanent:
        return Classification(BOUNCE, "bounce-verp" if verp_token else "bounce-dsn" if actions else
                              "bounce-heuristic", detail)
    if "delayed" in actions or temporary:
        return Classification(BOUNCE_DELAYED, "bounce-delayed", detail)
    if verp_token and not actions and _looks_like_bounce(inbound):  # a bounce no parser could read
        return Classification(BOUNCE, "bounce-verp", detail)
    return None


# -- calendar replies -------------------------------------------------------------------------

def itip_reply(inbound: Inbound) -> Classification | None:
    """An Accept/Decline/Tentative from a calendar client: a text/calendar part with METHOD:REPLY."""
    for calendar in inbound.mail.calendars:
        if re.search(rb"^METHOD:\s*REPLY\s*$", calendar, re.I | re.M):
            return Classification(ITIP_REPLY, "itip-reply", {"calendar": calendar})
    return None


# -- automatic mail ----------------------------------------------------------------------------

def null_sender(inbound: Inbound) -> Classification | None:
    """RFC 5321 §4.5.5: mail with an empty reverse path is never answered (nor relayed)."""
    return Classification(AUTO_REPLY, "null-sender") if inbound.null_sender else None


def auto_submitted(inbound: Inbound) -> Classification | None:
    """RFC 3834: any Auto-Submitted value other than "no"."""
    value = inbound.mail.header("Auto-Submitted").strip().lower()
    return Classification(AUTO_REPLY, "auto-submitted") if value and not value.startswith("no") else None


def autoreply_headers(inbound: Inbound) -> Classification | None:
    """Vendor headers: X-Autoreply, X-Autorespond (and X-Autogenerated)."""
    for name in ("X-Autoreply", "X-Autorespond", "X-Autogenerated", "X-AutoReply-From"):
        value = inbound.mail.header(name).strip().lower()
        if value and value not in ("no", "false"):
            return Classification(AUTO_REPLY, name.lower())
    return None


def precedence(inbound: Inbound) -> Classification | None:
    value = inbound.mail.header("Precedence").strip().lower()
    return Classification(AUTO_REPLY, "precedence") if value in ("bulk", "junk", "list") else None


def autoreply_subject(inbound: Inbound) -> Classification | None:
    """Out-of-office subjects in Danish, Norwegian, English and a few neighbours."""
    return Classification(AUTO_REPLY, "autoreply-subject") if AUTO_SUBJECT.match(inbound.mail.subject) else None


def receipt(inbound: Inbound) -> Classification | None:
    """Read receipts (MDN) and successful delivery reports are automatic, never answered."""
    mail = inbound.mail
    report = mail.content_param("report-type") if mail.content_type == "multipart/report" else ""
    if report == "disposition-notification":
        return Classification(AUTO_REPLY, "read-receipt")
    if report == "delivery-status" and _dsn_actions(mail.message) <= {"delivered", "relayed", "expanded"}:
        return Classification(AUTO_REPLY, "delivery-report")
    return None


def to_bounce_address(inbound: Inbound) -> Classification | None:
    """Out-of-office replies go to the envelope sender, our VERP address; nothing sent there is a post."""
    if bounce_token_in_tag(inbound.address.tag):
        return Classification(AUTO_REPLY, "to-bounce-address")
    return None


# -- answers and commands -----------------------------------------------------------------------

def answer(inbound: Inbound) -> Classification | None:
    """A reply to a bot mail: the token in the address it was sent to, else in In-Reply-To."""
    in_reply_to = inbound.mail.in_reply_to
    reply_token = token_in_message_id(in_reply_to) if in_reply_to.rstrip(">").lower().endswith(
        "@" + inbound.network.domain) else None
    address_token = token_in_tag(inbound.address.tag)
    if address_token:
        return Classification(ANSWER, "token-in-address", {"token": address_token, "reply_token": reply_token})
    if reply_token:
        return Classification(ANSWER, "token-in-reply-to", {"token": reply_token, "reply_token": reply_token})
    return None


def command_subject(subject: str) -> str:
    """The subject without reply/forward prefixes and surrounding punctuation."""
    return REPLY_PREFIX.sub("", subject).strip(EDGE_PUNCTUATION)


def command(inbound: Inbound) -> Classification | None:
    """The whole subject is a command; `Dagsordenspunkt: <titel>` is the one that takes an argument."""
    subject = command_subject(inbound.mail.subject)
    item = ITEM_COMMAND.match(REPLY_PREFIX.sub("", inbound.mail.subject).strip())
    if item:
        return Classification(COMMAND, "command-subject", {"command": "agenda-item", "title": item.group("title")})
    word = COMMAND_WORDS.get(" ".join(subject.lower().split()))  # "Ingen  kopi" is "ingen kopi"
    if word in SETTING_COMMANDS and REPLY_PREFIX.match(inbound.mail.subject):
        return None  # "SV: Pause" is Reply All in a list thread called "Pause", not a member pausing
    return Classification(COMMAND, "command-subject", {"command": word}) if word else None


def post(inbound: Inbound) -> Classification:
    return Classification(POST, "post")


RULES: list[Rule] = [x_loop, own_message_id, bounce, itip_reply, null_sender, auto_submitted, autoreply_headers,
                     precedence, autoreply_subject, receipt, to_bounce_address, answer, command, post]


def classify(inbound: Inbound) -> Classification:
    for rule in RULES:
        result = rule(inbound)
        if result is not None:
            return result
    raise AssertionError("the post rule always matches")
