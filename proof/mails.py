"""The campaign's mail: a deterministic mix, given a seed, of what a list's front door really gets.

Member posts (a few to two list addresses, one with a 5 MB attachment), `hjælp` commands,
replies carrying a reply token of ours (from the member it was issued to, from somebody
else, and with a token we never issued), auto-replies, bounces and DSNs, and posts from
non-members. Corpus mails (tests/data/mail) are used where the real-world shape matters
(bounces, auto-replies, client replies); each gets a Message-ID of its own, so every mail
of the campaign can be found again in the database and at the sink.

Each mail says what the bot must decide for each list address it goes to: the proof checks
that the campaign exercised what it claims, not only that nothing was lost.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP

from bot.outbound.tokens import TOKEN_LENGTH, make_token
from tests.support import corpus

DOMAIN = "lists.example.dk"
SLUG = "proof"
LIST = f"{SLUG}@{DOMAIN}"
OTHER_LIST = f"it-teknik@{DOMAIN}"  # a second list address the member posts are sometimes copied to
NETWORK_TOML = f'''
[[network]]
slug = "{SLUG}"
name = "Bevisnetværket for sundheds-it"
address = "{LIST}"
regions = ["Hovedstaden", "Sjælland", "Syddanmark", "Midtjylland", "Nordjylland"]
region_cap = 50
[network.meetings]
mode = "virtual"
video_link = "https://meet.example.dk/{SLUG}"
'''
HANDLED, IGNORED, REJECTED, HELD = "handled", "ignored", "rejected", "held"
# The share of each kind in the mix (the 5 MB post comes on top, once).
MIX = {"post": 40, "post-two-lists": 3, "help": 10, "token-leaver": 3, "token-wrong-sender": 4,
       "token-unknown": 3, "auto-reply": 12, "bounce": 10, "non-member": 15}
BIG_ATTACHMENT_BYTES = 5 * 1024 * 1024
AUTO_REPLIES = corpus.names("auto-reply")
BOUNCES = corpus.names("bounce") + corpus.names("bounce-delayed")
ANSWERS = corpus.names("answer")
HELP = ["command-hjaelp.eml", "command-help.eml"]
TEXT = ("Hej alle,\r\nher er status på udrulningen af FMK i kommunen; æøå skal med.\r\n"
        "Vi har testet opsætningen og den virker efter hensigten.\r\n")


@dataclass(frozen=True)
class Members:
    """The proof network's members: who leaves by token reply and whose address is dead at the sink."""

    count: int
    leavers: tuple[str, ...]
    dead: tuple[str, ...]

    @property
    def addresses(self) -> list[str]:
        return [member_address(i) for i in range(self.count)]

    @property
    def staying(self) -> list[str]:
        """Members that get every post from the first to the last (refused copies included)."""
        return [a for a in self.addresses if a not in self.leavers]


@dataclass(frozen=True)
class CampaignMail:
    """One mail as the MTA hands it to the receiver, and what the bot must make of it."""

    index: int
    kind: str
    mail_from: str  # the envelope sender ("" for a bounce)
    rcpts: tuple[str, ...]
    raw: bytes
    message_id: str
    expected: tuple[str, ...]  # the outcome the bot must decide, one per rcpt


def member_address(index: int) -> str:
    """The proof network's members live at a domain of their own, apart from the shipped contacts."""
    return f"medlem{index}@proof.example.dk"


def members(count: int) -> Members:
    """`count` members; two leave during the run (token replies), two have a dead address."""
    addresses = [member_address(i) for i in range(count)]
    return Members(count, leavers=tuple(addresses[1:3]), dead=tuple(addresses[-2:]))


def contacts_csv(shipped: str, team: Members) -> str:
    """The shipped contacts plus the proof network's members, as the CSV a secretary keeps."""
    regions = ("Hovedstaden", "Sjælland", "Syddanmark", "Midtjylland", "Nordjylland")
    rows = [f"Medlem {i} Ærø,{a},Bevis Kommune,Bevis,{regions[i % 5]},kommune,{SLUG},"
            for i, a in enumerate(team.addresses)]
    return shipped.rstrip("\n") + "\n" + "\n".join(rows) + "\n"


def unsubscribe_token(secret: str, address: str) -> str:
    """The member's standing List-Unsubscribe token: in every relayed post and its VERP sender."""
    return make_token(secret.encode(), SLUG, address, "list-unsubscribe")


def campaign(seed: int, count: int, team: Members, secret: str) -> list[CampaignMail]:
    """`count` mails: the first is a member post (so every member's token is issued before any
    reply uses it), one in the first half carries the 5 MB attachment."""
    rng = random.Random(seed)
    kinds = [k for k, weight in MIX.items() for _ in range(weight)]
    big = rng.randrange(count // 4, count // 2) if count > 4 else count - 1
    mails = []
    for index in range(count):
        kind = "post" if index == 0 else "big-post" if index == big else rng.choice(kinds)
        mails.append(BUILDERS[kind](rng, Context(seed, index, team, secret)))
    return mails


@dataclass(frozen=True)
class Context:
    """What a builder needs to know about the mail it makes."""

    seed: int
    index: int
    team: Members
    secret: str

    @property
    def message_id(self) -> str:
        return f"<proof-{self.seed}-{self.index}@campaign.example.net>"

    def stranger(self, what: str) -> str:
        """An address used by this mail alone: automatic answers to one address are capped per day."""
        return f"{what}{self.index}@borger.example.net"


def _post(rng: random.Random, ctx: Context, author: str, attachment: int = 0) -> bytes:
    """A post of 0.3 to 6 KB of Danish text (8bit, as clients send it), optionally with an attachment."""
    message = EmailMessage()
    message["From"] = f"Medlem Ærø <{author}>"
    message["To"] = LIST
    message["Subject"] = f"Status på FMK-udrulning {ctx.index}"
    message["Date"] = "Mon, 1 Mar 2027 09:00:00 +0100"
    message["Message-ID"] = ctx.message_id
    message.set_content(TEXT * rng.randint(2, 40), cte="8bit")
    if attachment:
        message.add_attachment(rng.randbytes(attachment), maintype="application", subtype="pdf",
                               filename="bilag.pdf")
    return message.as_bytes(policy=SMTP)


def post(rng: random.Random, ctx: Context) -> CampaignMail:
    """Any member, the leavers and the dead addresses included: a post is relayed to the rest."""
    author = rng.choice(ctx.team.addresses)
    return CampaignMail(ctx.index, "post", author, (LIST,), _post(rng, ctx, author), ctx.message_id, (HANDLED,))


def post_two_lists(rng: random.Random, ctx: Context) -> CampaignMail:
    """Copied to a second list the author is no member of: two stored copies, one per list address."""
    author = rng.choice(ctx.team.addresses)
    return CampaignMail(ctx.index, "post-two-lists", author, (LIST, OTHER_LIST), _post(rng, ctx, author),
                        ctx.message_id, (HANDLED, HELD))


def big_post(rng: random.Random, ctx: Context) -> CampaignMail:
    """5 MB of attachment: stored once, its copies made at send time while kills come and go."""
    author = ctx.team.addresses[0]
    raw = _post(rng, ctx, author, attachment=BIG_ATTACHMENT_BYTES)
    return CampaignMail(ctx.index, "big-post", author, (LIST,), raw, ctx.message_id, (HANDLED,))


def non_member(rng: random.Random, ctx: Context) -> CampaignMail:
    """Held for moderation: stored and decided, nothing sent."""
    author = ctx.stranger("borger")
    return CampaignMail(ctx.index, "non-member", author, (LIST,), _post(rng, ctx, author), ctx.message_id, (HELD,))


def help_command(rng: random.Random, ctx: Context) -> CampaignMail:
    """`hjælp` (or `help`) from a stranger: the help text goes back, a reply with the bot's Message-ID."""
    sender = ctx.stranger("hjaelp")
    raw = corpus.sent_by(corpus.load(rng.choice(HELP)), ("Borger Ærø", sender))
    return CampaignMail(ctx.index, "help", sender, (LIST,), with_message_id(raw, ctx.message_id),
                        ctx.message_id, (HANDLED,))


def _token_reply(rng: random.Random, ctx: Context, kind: str, token: str, sender: str,
                 expected: str) -> CampaignMail:
    """A real client's reply (corpus) to `<list>+<token>`, its In-Reply-To naming the same token."""
    raw = corpus.sent_by(corpus.load(rng.choice(ANSWERS), token=token), ("Svarer Ærø", sender))
    rcpt = f"{SLUG}+{token}@{DOMAIN}"
    return CampaignMail(ctx.index, kind, sender, (rcpt,), with_message_id(raw, ctx.message_id), ctx.message_id,
                        (expected,))


def token_leaver(rng: random.Random, ctx: Context) -> CampaignMail:
    """A leaver answers a relayed post's List-Unsubscribe address: opted out (the first time)."""
    leaver = rng.choice(ctx.team.leavers)
    return _token_reply(rng, ctx, "token-leaver", unsubscribe_token(ctx.secret, leaver), leaver, HANDLED)


def token_wrong_sender(rng: random.Random, ctx: Context) -> CampaignMail:
    """Somebody else uses a member's token: refused, and told so."""
    token = unsubscribe_token(ctx.secret, rng.choice(ctx.team.addresses))
    return _token_reply(rng, ctx, "token-wrong-sender", token, ctx.stranger("fremmed"), REJECTED)


def token_unknown(rng: random.Random, ctx: Context) -> CampaignMail:
    """A token we never issued: refused without an answer."""
    token = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(TOKEN_LENGTH))
    return _token_reply(rng, ctx, "token-unknown", token, rng.choice(ctx.team.addresses), REJECTED)


def auto_reply(rng: random.Random, ctx: Context) -> CampaignMail:
    """An out-of-office from a member, to the VERP address our post came from."""
    member = rng.choice(ctx.team.addresses)
    token = unsubscribe_token(ctx.secret, member)
    raw = corpus.sent_by(corpus.load(rng.choice(AUTO_REPLIES), token=token), ("Medlem Ærø", member))
    rcpt = f"{SLUG}+bounce-{token}@{DOMAIN}"
    return CampaignMail(ctx.index, "auto-reply", member, (rcpt,), with_message_id(raw, ctx.message_id),
                        ctx.message_id, (IGNORED,))


def bounce(rng: random.Random, ctx: Context) -> CampaignMail:
    """A DSN (or a non-standard bounce) for a member, with the null sender; some to the plain list."""
    member = rng.choice(ctx.team.addresses)
    token = unsubscribe_token(ctx.secret, member)
    raw = corpus.load(rng.choice(BOUNCES), token=token)
    rcpt = f"{SLUG}+bounce-{token}@{DOMAIN}" if rng.random() < 0.8 else LIST
    return CampaignMail(ctx.index, "bounce", "", (rcpt,), with_message_id(raw, ctx.message_id), ctx.message_id,
                        (IGNORED,))


BUILDERS = {"post": post, "post-two-lists": post_two_lists, "big-post": big_post, "non-member": non_member,
            "help": help_command, "token-leaver": token_leaver, "token-wrong-sender": token_wrong_sender,
            "token-unknown": token_unknown, "auto-reply": auto_reply, "bounce": bounce}


def with_message_id(raw: bytes, message_id: str) -> bytes:
    """The mail with its top-level Message-ID replaced (the corpus mails share theirs across runs);
    line ends made CRLF, as mail travels."""
    raw = re.sub(rb"\r?\n", b"\r\n", raw)
    head, sep, body = raw.partition(b"\r\n\r\n")
    fields = re.split(rb"\r\n(?![ \t])", head)
    kept = [f for f in fields if not f.lower().startswith(b"message-id:")]
    return b"\r\n".join([*kept, b"Message-ID: " + message_id.encode()]) + sep + body
