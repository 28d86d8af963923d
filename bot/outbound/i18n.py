"""Dates and sizes the way each language writes them (Babel), in the network's timezone.

Danish: `torsdag den 7. oktober 2027 kl. 10.00`.
"""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_decimal

LONG_DATETIME = {"da": "EEEE 'den' d. MMMM y 'kl.' HH.mm", "en": "EEEE d MMMM y 'at' HH:mm",
                 "nb": "EEEE d. MMMM y 'kl.' HH:mm"}
LONG_DATE = {"da": "EEEE 'den' d. MMMM y", "en": "EEEE d MMMM y", "nb": "EEEE d. MMMM y"}
SHORT_TIME = {"da": "HH.mm", "en": "HH:mm", "nb": "HH:mm"}
BABEL_LOCALE = {"da": "da_DK", "en": "en_GB", "nb": "nb_NO"}


def long_datetime(moment: datetime, lang: str, timezone: str) -> str:
    return format_datetime(moment, LONG_DATETIME[lang], tzinfo=ZoneInfo(timezone), locale=BABEL_LOCALE[lang])


def long_date(day: date | datetime, lang: str, timezone: str) -> str:
    if isinstance(day, datetime):
        day = day.astimezone(ZoneInfo(timezone)).date()
    return format_date(day, LONG_DATE[lang], locale=BABEL_LOCALE[lang])


def short_time(moment: datetime, lang: str, timezone: str) -> str:
    return format_time(moment, SHORT_TIME[lang], tzinfo=ZoneInfo(timezone), locale=BABEL_LOCALE[lang])


def file_size(size: int, lang: str) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor:
            return f"{format_decimal(round(size / factor, 1), locale=BABEL_LOCALE[lang])} {unit}"
    return f"{size} B"
