"""Realistic template contexts for every kind of mail, as the composer passes them.

`sample_context(kind, lang, variant)` returns a fresh dict each call (tests may
change it). Variants: "normal" (three items, one late, with appendices),
"no-items" (every list empty, no archive) and "many-items" (twelve items).
Datetimes are fixed, aware and in UTC; the templates show them in
Europe/Copenhagen. One item title carries `<b>` and `&`, to prove that HTML is
escaped.
"""
from __future__ import annotations

from datetime import datetime, timezone

from bot.outbound.templates import KINDS

VARIANTS = ("normal", "no-items", "many-items")
TIMEZONE = "Europe/Copenhagen"
LONG_TITLE = ("Fælles retningslinjer for sikker deling af sundhedsdata mellem kommuner, regioner og almen "
              "praksis ved udrulningen af den nye MedCom-standard i 2028")
ESCAPE_TITLE = "Budget & prioritering 2028: <b>forslag</b> fra arbejdsgruppen"

SOREN = {"name": "Søren Ærø", "email": "soeren.aeroe@vejle.dk"}
ASE = {"name": "Åse Brøndum", "email": "abr@kl.dk"}
METTE = {"name": "Mette Kjærgaard", "email": "mekj@aalborg.dk"}
ADMIN = {"name": "Niels Ågård", "email": "drift@kkr.example.dk"}
OUTSIDER = {"name": "Peter Holm", "email": "peter.holm@example.com"}


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in 2027, in UTC (Copenhagen is UTC+2 until 31 October, then UTC+1)."""
    return datetime(2027, month, day, hour, minute, tzinfo=timezone.utc)


def meeting(status: str = "scheduled") -> dict:
    """Thursday 7 October 2027, 10.00–13.00 Copenhagen time, at Vejle town hall."""
    return {"starts_at": at(10, 7, 8), "ends_at": at(10, 7, 11), "mode": "physical",
            "place": "Vejle Rådhus, mødelokale 2, Skolegade 1, 7100 Vejle", "video_link": "", "status": status}


def next_meeting() -> dict:
    """Thursday 2 December 2027, 13.00–15.30 Copenhagen time, online."""
    return {"starts_at": at(12, 2, 12), "ends_at": at(12, 2, 14, 30), "mode": "virtual", "place": "",
            "video_link": "https://meet.example.dk/j/it-netvaerk-2027-12", "status": "scheduled"}


def previous_meeting() -> dict:
    """Where and when the meeting was before it was moved: Tuesday 5 October, 9.00–12.00, at KL."""
    return {"starts_at": at(10, 5, 7), "ends_at": at(10, 5, 10), "mode": "physical",
            "place": "KL, Weidekampsgade 10, 2300 København S", "video_link": ""}


def _normal_items(decisions: bool) -> list[dict]:
    first = {
        "title": LONG_TITLE,
        "summary": "Arbejdsgruppen har lavet et udkast til fælles retningslinjer for, hvordan kommunerne deler "
                   "sundhedsdata med regioner og almen praksis, når den nye MedCom-standard tages i brug.",
        "background": "MedCom har meldt ud, at standarden skal være i drift i alle kommuner senest 1. juli 2028. "
                      "Udkastet bygger på erfaringerne fra pilotprojektet i Vejle og Aabenraa.\n\n"
                      "Region Syddanmark har sendt et høringssvar, som er vedlagt som bilag 2.",
        "proposal": "Det indstilles, at netværket godkender retningslinjerne og anbefaler dem over for KKR.",
        "decision": "Netværket godkendte retningslinjerne med de ændringer, der kom frem på mødet. "
                    "Sekretariatet sender den endelige version ud senest 1. november." if decisions else "",
        "submitter": {"name": "Søren Ærø", "organisation": "Vejle Kommune"},
        "appendices": [{"number": 1, "filename": "Retningslinjer for datadeling, udkast v3.pdf", "size": 1_572_864},
                       {"number": 2, "filename": "Høringssvar fra Region Syddanmark.docx", "size": 245_760}],
        "late": False,
    }
    second = {
        "title": ESCAPE_TITLE,
        "summary": "Forslag til, hvordan netværkets midler for 2028 fordeles mellem drift & udvikling.",
        "background": "", "proposal": "",
        "decision": "Taget til efterretning. Punktet tages op igen på næste møde." if decisions else "",
        "submitter": {"name": "Åse Brøndum", "organisation": "KL"},
        "appendices": [{"number": 3, "filename": "Budgetoverblik 2028.xlsx", "size": 38_912}],
        "late": True,
    }
    third = {
        "title": "Status på FMK-opsætning i kommunerne",
        "summary": "", "background": "",
        "proposal": "Det indstilles, at netværket drøfter status og aftaler næste skridt.",
        "decision": "", "submitter": None, "appendices": [], "late": False,
    }
    return [first, second, third]


def _many_items(decisions: bool) -> list[dict]:
    items, number = [], 0
    for n in range(1, 13):
        appendices = []
        for part in range(n % 3):
            number += 1
            appendices.append({"number": number, "filename": f"Bilag til punkt {n} del {part + 1}.pdf",
                               "size": 20_000 * n + 999 * part})
        items.append({
            "title": LONG_TITLE if n == 1 else ESCAPE_TITLE if n == 2 else f"Punkt nummer {n}: status fra region {n}",
            "summary": f"Kort resumé af punkt {n}." if n % 2 else "",
            "background": f"Sagsfremstilling for punkt {n}.\nAnden linje." if n % 3 else "",
            "proposal": f"Det indstilles, at netværket tager punkt {n} til efterretning.",
            "decision": f"Beslutning om punkt {n}." if decisions and n % 4 else "",
            "submitter": {"name": "Mette Kjærgaard", "organisation": "Aalborg Kommune"} if n % 2 else None,
            "appendices": appendices,
            "late": n == 12,
        })
    return items


def _items(variant: str, decisions: bool = False) -> list[dict]:
    if variant == "no-items":
        return []
    if variant == "many-items":
        return _many_items(decisions)
    return _normal_items(decisions)


def _names(variant: str, names: list[str]) -> list[str]:
    if variant == "no-items":
        return []
    if variant == "many-items":
        return names + [f"Deltager {n} Ærø-Østergaard" for n in range(1, 15)]
    return names


def _contacts(variant: str) -> list[dict]:
    people = [
        {"name": "Søren Ærø", "organisation": "Vejle Kommune", "municipality": "Vejle", "region": "Syddanmark",
         "role": "kkr-repræsentant", "email": "soeren.aeroe@vejle.dk", "duties": ["vice-chair"]},
        {"name": "Åse Brøndum", "organisation": "KL", "municipality": "", "region": "",
         "role": "kl", "email": "abr@kl.dk", "duties": ["secretary"]},
        {"name": "Mette Kjærgaard", "organisation": "Aalborg Kommune", "municipality": "Aalborg",
         "region": "Nordjylland", "role": "kommune", "email": "mekj@aalborg.dk", "duties": []},
        {"name": "Jens Østergaard", "organisation": "MedCom", "municipality": "Odense", "region": "Syddanmark",
         "role": "medcom", "email": "jos@medcom.dk", "duties": []},
        {"name": "Lise Bech", "organisation": "Sundhed & Omsorg, Horsens Kommune", "municipality": "Horsens",
         "region": "Midtjylland", "role": "kommune", "email": "lise.bech@horsens.dk", "duties": []},
    ]
    if variant == "no-items":
        return []
    if variant == "many-items":
        people += [{"name": f"Kontakt {n} Åkjær", "organisation": f"Kommune {n}", "municipality": f"By {n}",
                    "region": "Hovedstaden", "role": "kommune", "email": f"kontakt{n}@example.dk", "duties": []}
                   for n in range(1, 13)]
    return people


def _by_region(people: list[dict]) -> list[dict]:
    """As bot/people/contact_list.py groups them: regions in order, nationwide ("") last."""
    order = ("Hovedstaden", "Sjælland", "Syddanmark", "Midtjylland", "Nordjylland", "")
    regions = sorted({p["region"] for p in people}, key=order.index)
    return [{"region": r, "contacts": [p for p in people if p["region"] == r]} for r in regions]


def _events(variant: str) -> list[dict]:
    events = [
        {"at": at(9, 20, 3, 15), "kind": "inbound-failed",
         "detail": "Mail <20270920031500.1234@vejle.dk> could not be parsed and was set aside (inbox ID 41)."},
        {"at": at(9, 20, 4, 0), "kind": "smtp-login",
         "detail": "Login to smtp.example.dk has failed for 17 minutes: 535 Authentication failed."},
        {"at": at(9, 20, 6, 30), "kind": "outbox-deadline",
         "detail": "Outbox 118 (agenda to jos@medcom.dk) reached its deadline after 12 attempts."},
    ]
    if variant == "no-items":
        return []
    if variant == "many-items":
        events += [{"at": at(9, 20, 7, n), "kind": "delivery-disabled", "detail": f"Address {n} bounced."}
                   for n in range(12)]
    return events


def _common(kind: str, lang: str, variant: str) -> dict:
    recipient = dict(SOREN)
    if kind in ("minutes-request", "minutes-reminder", "minutes-ack", "moderation-request", "delivery-disabled"):
        recipient = dict(ASE)
    elif kind in ("draft", "draft-reminder", "late-item-approval"):
        recipient = dict(METTE)
    elif kind in ("admin-notice", "database-alarm"):
        recipient = dict(ADMIN)
    elif kind == "moderation-result":
        recipient = dict(OUTSIDER)
    elif kind == "refusal":  # an answer from Søren's private address to a mail sent to his work address
        recipient = {"name": "Søren Ærø", "email": "soeren@privat.example.dk"}
    return {
        "lang": lang,
        "timezone": TIMEZONE,
        "kind": kind,
        "network": {"name": "Kommunalt it-netværk på sundhedsområdet", "slug": "it-netvaerk",
                    "address": "it-netvaerk@lists.example.dk",
                    "list_archive": None if variant == "no-items" else "https://lists.example.dk/arkiv/it-netvaerk/"},
        "recipient": recipient,
        "bot": {"from_name": "Netværkssekretariatet", "admin_address": "kkrbot-admin@example.dk"},
        "reply_address": "it-netvaerk+q7m2x9kd4t@lists.example.dk",
    }


def _specific(kind: str, variant: str) -> dict:
    items = _items(variant)
    if kind == "call":
        return {"meeting": meeting(), "deadline": at(9, 27, 8), "items_so_far": len(items)}
    if kind == "item-ack":
        return {"meeting": meeting(), "item": _normal_items(False)[0]}
    if kind == "late-item-approval":
        return {"meeting": meeting(), "item": _normal_items(False)[1], "proposer": {"name": "Åse Brøndum"}}
    if kind == "item-late":
        return {"meeting": meeting(), "item": _normal_items(False)[1],
                "next_meeting": None if variant == "no-items" else next_meeting()}
    if kind in ("draft", "draft-reminder"):
        return {"meeting": meeting(), "items": items, "agenda_at": at(9, 30, 8)}
    if kind == "invitation":
        return {"meeting": meeting()}
    if kind == "agenda":
        return {"meeting": meeting(), "items": items}
    if kind == "meeting-update":
        return {"meeting": meeting("moved"), "previous": previous_meeting()}
    if kind == "cancel":
        return {"meeting": meeting("cancelled")}
    if kind == "reminder":
        registered, apologies = _names(variant, ["Søren Ærø", "Mette Kjærgaard"]), _names(variant, ["Åse Brøndum"])
        tentative = _names(variant, ["Jens Østergaard"])
        return {"meeting": meeting(), "registered": registered, "apologies": apologies, "tentative": tentative,
                "by_region": {"registered": [{"region": "Midtjylland", "names": registered}] if registered else [],
                              "apologies": [{"region": "Syddanmark", "names": apologies}] if apologies else [],
                              "tentative": [{"region": "MedCom", "names": tentative}] if tentative else []}}
    if kind == "rsvp-ack":
        return {"meeting": meeting(), "response": "registered"}
    if kind == "minutes-request":
        return {"meeting": meeting(), "items": items}
    if kind == "minutes-reminder":
        return {"meeting": meeting(), "items": items, "days_since": 14}
    if kind == "minutes":
        return {"meeting": meeting(), "items": _items(variant, decisions=True),
                "minutes_text": "" if variant == "no-items" else
                "Mødet blev ledet af formanden, Mette Kjærgaard.\n\n"
                "Netværket bød velkommen til Jens Østergaard, der er ny kontaktperson fra MedCom.",
                "attendance": {"registered": _names(variant, ["Søren Ærø", "Mette Kjærgaard", "Jens Østergaard"]),
                               "apologies": _names(variant, ["Lise Bech"])},
                "secretary": {"name": "Åse Brøndum"}}
    if kind == "minutes-ack":
        return {"meeting": meeting(), "members_count": 0 if variant == "no-items" else 13,
                "consultants": [] if variant == "no-items" else
                [{"name": "Rasmus Dahl", "region": "Hovedstaden", "email": "rasmus.dahl@kkr-hovedstaden.dk"},
                 {"name": "Thomas Ærenlund", "region": "Syddanmark", "email": "thomas.aerenlund@kkr-syddanmark.dk"}]}
    if kind == "post":
        return {"original_subject": "Erfaringer med FMK & hjemmeplejen?",
                "unsubscribe_address": "it-netvaerk+u4k8s1ze0p@lists.example.dk"}
    if kind == "moderation-request":
        return {"post": {"id": 7, "sender": "Peter Holm <peter.holm@example.com>",
                         "subject": "Invitation: <b>gratis</b> workshop om velfærdsteknologi",
                         "excerpt": "Kære netværk\n\nVi afholder en workshop om velfærdsteknologi & data "
                                    "for kommunale medarbejdere den 12. november. Tilmelding sker via vores "
                                    "hjemmeside.",
                         "attachments": [] if variant == "no-items" else
                         [{"filename": "program.pdf", "size": 184_320}],
                         "reason": "non-member", "received_at": at(9, 20, 11, 42), "expires_at": at(10, 4, 11, 42),
                         "size": 20_480, "limit": 26_214_400}}
    if kind == "moderation-result":
        return {"post": {"subject": "Invitation: <b>gratis</b> workshop om velfærdsteknologi"},
                "outcome": "rejected", "reason": "Reklame for et kursus hører ikke hjemme på listen."}
    if kind == "moderation-digest":
        return {"day": at(9, 20, 0, 0),
                "posts": [{"id": 11 + n, "sender": f"Afsender {n} <afsender{n}@example.com>",
                           "subject": f"Tilbud nr. {n} <b>nu</b>", "reason": "non-member",
                           "received_at": at(9, 20, 14, n), "expires_at": at(10, 4, 14, n)}
                          for n in range(1 if variant == "no-items" else 3)],
                "more": 0 if variant == "no-items" else 42}
    if kind == "contacts":
        people = _contacts(variant)
        return {"groups": _by_region(people), "count": len(people), "filename": "kontaktliste-it-netvaerk.csv"}
    if kind == "settings":
        return {"setting": {"normal": "pause", "no-items": "no-copy", "many-items": "resume"}[variant],
                "opted_out": variant == "many-items"}
    if kind == "refusal":
        return {"reason": "wrong-sender", "original_subject": "SV: Dagsorden: Kommunalt it-netværk",
                "detail": "soren.aero@privat.example.com"}
    if kind == "delivery-disabled":
        return {"contact": {"name": "Jens Østergaard", "email": "jos@medcom.dk"}, "bounce_count": 5, "days": 14,
                "role_holder": variant != "no-items"}
    if kind == "admin-notice":
        return {"events": _events(variant)}
    if kind == "database-alarm":  # sent without the database, so it cannot list the events
        return {"failure": {"at": at(9, 20, 3, 15), "where": "smtp-receiver",
                            "detail": "OperationalError: (sqlite3.OperationalError) database or disk is full"}}
    return {}  # help, unsubscribe-confirm, unsubscribe-done


def sample_context(kind: str, lang: str = "da", variant: str = "normal") -> dict:
    """A complete context for `kind`, as the composer would pass it."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    return _common(kind, lang, variant) | _specific(kind, variant)
