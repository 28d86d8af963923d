"""Which first words an answer to each kind of bot mail may start with, and what they mean.

Danish first, English and Norwegian accepted. Kinds whose answer is free text
(a reply to the call for items is an agenda item; to the minutes request, the
minutes) accept any text.
"""
from __future__ import annotations

FREE_TEXT = "free-text"
REGISTER, APOLOGIES, TENTATIVE = "register", "apologies", "tentative"
APPROVE, HOLD, REJECT, CONFIRM = "approve", "hold", "reject", "confirm"

WORDS = {
    REGISTER: {"tilmeld", "tilmelder", "deltager", "deltag", "ja", "yes", "accept", "accepter", "accepteret",
               "deltar", "kommer", "attending"},
    APOLOGIES: {"afbud", "nej", "nei", "no", "decline", "afvist", "avbud", "forfall"},
    TENTATIVE: {"måske", "maybe", "kanskje", "tentative", "foreløbig"},
    APPROVE: {"godkend", "godkendt", "approve", "approved", "godkjenn", "godkjent", "ok"},
    HOLD: {"afvent", "hold", "vent", "avvent"},
    REJECT: {"afvis", "reject", "avvis", "nej", "nei", "no"},
    CONFIRM: {"afmeld", "ja", "yes", "bekræft", "confirm", "unsubscribe", "bekreft"},
}
MEETING_ANSWERS = (REGISTER, APOLOGIES, TENTATIVE)
BY_KIND = {
    "invitation": MEETING_ANSWERS, "agenda": MEETING_ANSWERS, "meeting-update": MEETING_ANSWERS,
    "reminder": MEETING_ANSWERS, "rsvp-ack": MEETING_ANSWERS,
    "draft": (APPROVE, HOLD), "draft-reminder": (APPROVE, HOLD),
    "moderation-request": (APPROVE, REJECT),
    "late-item-approval": (APPROVE,),
    "item-ack": FREE_TEXT,  # a correction of the item
    "unsubscribe-confirm": (CONFIRM,),
    "call": FREE_TEXT, "minutes-request": FREE_TEXT, "minutes-reminder": FREE_TEXT,
}


# Mail we send as an automatic answer: a reply to one is never answered again (RFC 3834),
# or two bots would answer each other forever.
# Replies to these are not answered again (mail loops). An rsvp-ack and an item-ack are not among them:
# their text invites a changed answer ("Afbud") or a correction of the item.
AUTOMATIC = ("help", "refusal", "contacts", "settings", "item-late", "moderation-result",
             "unsubscribe-done", "delivery-disabled", "admin-notice")


def intent(kind: str, first_word: str) -> str | None:
    """What an answer means for a bot mail of `kind`, or None if the bot cannot read it."""
    accepted = BY_KIND.get(kind)
    if accepted == FREE_TEXT:
        return FREE_TEXT
    if accepted is None:
        return None
    for meaning in accepted:
        if first_word in WORDS[meaning]:
            return meaning
    return None
