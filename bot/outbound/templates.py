"""Mail text lives in templates/<lang>/<kind>.{subject.txt,txt,html}; this renders it.

One Jinja2 environment, StrictUndefined (a missing variable is an error, never an
empty gap in a mail), autoescaping for HTML only. Filters format dates in the
mail's language and timezone, taken from the context (`lang`, `timezone`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Undefined, pass_context, select_autoescape

from bot.outbound import i18n

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
LANGUAGES = ("da", "en", "nb")
KINDS = ("call", "item-ack", "item-late", "late-item-approval", "draft", "draft-reminder", "invitation", "agenda", "meeting-update",
         "cancel", "reminder", "rsvp-ack", "minutes-request", "minutes-reminder", "minutes", "minutes-ack", "post",
         "moderation-request", "moderation-result", "moderation-digest", "help", "contacts", "settings",
         "unsubscribe-confirm",
         "unsubscribe-done", "refusal", "delivery-disabled", "admin-notice", "database-alarm")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def one_line(value: str) -> str:
    """Fold CR/LF (and other line breaks) to spaces: nothing can start a new header."""
    return " ".join(str(value).split())


def _defined(value):
    """A missing variable given straight to a filter is an error here too, not a formatting crash."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


@pass_context
def _datetime(context, moment) -> str:
    return i18n.long_datetime(_defined(moment), context["lang"], context["timezone"])


@pass_context
def _date(context, day) -> str:
    return i18n.long_date(_defined(day), context["lang"], context["timezone"])


@pass_context
def _time(context, moment) -> str:
    return i18n.short_time(_defined(moment), context["lang"], context["timezone"])


@pass_context
def _size(context, size: int) -> str:
    return i18n.file_size(_defined(size), context["lang"])


@lru_cache(maxsize=4)
def environment(root: Path = TEMPLATES_DIR) -> Environment:
    env = Environment(loader=FileSystemLoader(str(root)), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters.update(datetime=_datetime, date=_date, time=_time, size=_size, one_line=one_line)
    return env


def template_module(lang: str, name: str):
    """A partial's names and macros (`{% set %}` values, `{% macro %}`s) for text that is not a
    mail's own body, such as the column names of an attached CSV file."""
    return environment().get_template(f"{lang}/{name}").make_module({"lang": lang})


def render(kind: str, lang: str, context: dict) -> Rendered:
    """Render one kind of mail; raises jinja2 errors on a missing template or variable."""
    env = environment()
    context = {**context, "lang": lang, "kind": kind}
    subject = env.get_template(f"{lang}/{kind}.subject.txt").render(context)
    text = env.get_template(f"{lang}/{kind}.txt").render(context)
    html = env.get_template(f"{lang}/{kind}.html").render(context)
    return Rendered(subject=one_line(subject), text=text, html=html)


@lru_cache(maxsize=8)
def former_member(lang: str) -> str:
    """How mail names a person `kkrbot gdpr forget` erased ("tidligere medlem"): templates/<lang>/_former-member.txt."""
    return environment().get_template(f"{lang}/_former-member.txt").render().strip()


def person_name(name: str, lang: str) -> str:
    """A contact's name for mail; an erased contact has none and is a former member."""
    return name or former_member(lang)
