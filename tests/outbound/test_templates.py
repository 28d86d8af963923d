"""Mail templates: every kind in every language renders, safely, from the documented context.

The Danish agenda, invitation and minutes are compared with golden files in
tests/data/golden/; after a deliberate change, regenerate them with
`KKRBOT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/outbound/test_templates.py` and
review the diff.
"""
from __future__ import annotations

import os
import re
from html import unescape
from html.parser import HTMLParser
from itertools import combinations
from pathlib import Path

import jinja2
import pytest

from bot.outbound.templates import KINDS, LANGUAGES, TEMPLATES_DIR, Rendered, render
from tests.support.sample_contexts import ESCAPE_TITLE, VARIANTS, sample_context

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
UPDATE_GOLDEN = os.environ.get("KKRBOT_UPDATE_GOLDEN") == "1"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
FORBIDDEN_TAGS = {"script", "style", "link", "img", "iframe", "object", "embed", "form", "input", "base", "b"}
COMMON_KEYS = {"lang", "timezone", "kind", "network", "recipient", "bot", "reply_address"}
REFUSAL_REASONS = ("not-member", "not-allowed", "unknown-meeting", "not-understood", "wrong-sender", "expired",
                   "already-moderated")


class StrictHTML(HTMLParser):
    """html.parser is lenient; this one records what a mail client would trip over."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.errors.append(f"event handler {name} on <{tag}>")
            if name in ("src", "background"):
                self.errors.append(f"external resource {name}={value!r} on <{tag}>")
            if name == "href" and not re.match(r"(mailto:|https?://)", value or ""):
                self.errors.append(f"href {value!r} is neither mailto: nor http(s)")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'} at {self.getpos()}")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)

    def check(self, html: str) -> "StrictHTML":
        self.feed(html)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed {self.stack}")
        return self


def words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[^\W_]+", text)}


def render_sample(kind: str, lang: str = "da", variant: str = "normal", **overrides) -> Rendered:
    return render(kind, lang, sample_context(kind, lang, variant) | overrides)


def check_rendered(out: Rendered) -> StrictHTML:
    assert out.subject.strip() and "\n" not in out.subject and "\r" not in out.subject
    assert out.text.strip() and out.text.endswith("\n") and not out.text.startswith("\n")
    for part in (out.subject, out.text, out.html):
        assert "None" not in part and "{{" not in part and "{%" not in part
    assert "\n\n\n" not in out.text, "no double blank lines in the text part"
    assert not [line for line in out.text.splitlines() if line != line.rstrip()], "trailing whitespace"
    parsed = StrictHTML().check(out.html)
    assert not parsed.errors, parsed.errors
    assert not parsed.tags & FORBIDDEN_TAGS, parsed.tags & FORBIDDEN_TAGS
    return parsed


def test_every_kind_has_its_three_templates_in_every_language():
    for lang in LANGUAGES:
        names = {p.name for p in (TEMPLATES_DIR / lang).iterdir() if not p.name.startswith("_")}
        expected = {f"{kind}{suffix}" for kind in KINDS for suffix in (".subject.txt", ".txt", ".html")}
        assert names == expected, (lang, names ^ expected)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_renders(kind, lang, variant):
    out = render_sample(kind, lang, variant)
    parsed = check_rendered(out)
    if kind == "post":
        assert out.subject == sample_context("post")["original_subject"]
        assert "<html" not in out.html and "Kære" not in out.text, "the post footer is a footer only"
    else:
        assert out.html.startswith("<!DOCTYPE html>") and f'<html lang="{lang}">' in out.html
    # The HTML part says everything the text part says.
    html_words = words(unescape(" ".join(parsed.text)))
    missing = words(out.text) - html_words
    assert not missing, f"in the text part only: {sorted(missing)}"


@pytest.mark.parametrize("kind", KINDS)
def test_the_three_languages_differ(kind):
    rendered = {lang: render_sample(kind, lang) for lang in LANGUAGES}
    for a, b in combinations(LANGUAGES, 2):
        assert rendered[a].text != rendered[b].text, (kind, a, b)
        assert rendered[a].html != rendered[b].html, (kind, a, b)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_html_escapes_data_and_text_keeps_it(lang):
    out = render_sample("agenda", lang)
    assert "Budget &amp; prioritering 2028: &lt;b&gt;forslag&lt;/b&gt;" in out.html
    assert "<b>" not in out.html
    assert ESCAPE_TITLE in out.text
    request = render_sample("moderation-request", lang)
    assert "&lt;b&gt;gratis&lt;/b&gt;" in request.html and "<b>" not in request.html
    assert "workshop om velfærdsteknologi &amp; data" in request.html


@pytest.mark.parametrize("lang", LANGUAGES)
def test_header_injection_is_folded_out_of_the_subject(lang):
    context = sample_context("item-ack", lang)
    context["item"]["title"] = "Første linje\r\nBcc: alle@example.dk"
    out = render("item-ack", lang, context)
    assert "\n" not in out.subject and "\r" not in out.subject
    assert "Første linje Bcc: alle@example.dk" in out.subject


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_variable_fails(kind, lang):
    """StrictUndefined: every key of the kind is used, and a missing one is an error, never a gap."""
    context = sample_context(kind, lang)
    own = [key for key in context if key not in COMMON_KEYS]
    for key in own + ["network"]:
        broken = {k: v for k, v in context.items() if k != key}
        with pytest.raises(jinja2.UndefinedError):
            render(kind, lang, broken)


@pytest.mark.parametrize(("kind", "path"), [
    ("agenda", ("items", 0, "proposal")),
    ("agenda", ("meeting", "place")),
    ("minutes", ("items", 0, "decision")),
    ("minutes", ("attendance", "apologies")),
    ("help", ("network", "list_archive")),
    ("invitation", ("recipient", "name")),
    ("reminder", ("meeting", "video_link")),
])
def test_a_missing_nested_value_fails(kind, path):
    context = sample_context(kind)
    holder = context
    for step in path[:-1]:
        holder = holder[step]
    del holder[path[-1]]
    with pytest.raises(jinja2.UndefinedError):
        render(kind, "da", context)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_refusal_reason_has_its_own_explanation(lang):
    texts = {}
    for reason in REFUSAL_REASONS:
        out = render_sample("refusal", lang, reason=reason)
        check_rendered(out)
        texts[reason] = out.text
    assert len(set(texts.values())) == len(REFUSAL_REASONS)
    help_text = render_sample("help", lang).text
    help_body = help_text.split("\n\n", 1)[1].rsplit("\n\n", 2)[0]  # without greeting and signature
    assert help_body in texts["not-understood"]
    assert sample_context("refusal")["detail"] in texts["wrong-sender"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_answer_and_outcome_reads_differently(lang):
    acks = {r: render_sample("rsvp-ack", lang, response=r) for r in ("registered", "apologies", "tentative")}
    assert len({a.subject for a in acks.values()}) == 3 and len({a.text for a in acks.values()}) == 3
    results = {o: render_sample("moderation-result", lang, outcome=o) for o in ("approved", "rejected", "expired")}
    assert results["approved"].subject != results["rejected"].subject
    assert len({r.text for r in results.values()}) == 3
    assert sample_context("moderation-result")["reason"] in results["rejected"].text
    assert sample_context("moderation-result")["reason"] not in results["approved"].text + results["expired"].text
    requests = {reason: render_sample("moderation-request", lang,
                                      post=sample_context("moderation-request", lang)["post"] | {"reason": reason})
                for reason in ("dmarc-fail", "non-member", "unverified", "too-large")}
    assert "DMARC" in requests["dmarc-fail"].text and len({r.text for r in requests.values()}) == 4
    assert "program.pdf" in requests["non-member"].text and "25 MB" in requests["too-large"].text
    for out in [*acks.values(), *results.values(), *requests.values()]:
        check_rendered(out)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_meeting_modes_places_and_links(lang):
    context = sample_context("invitation", lang)
    online = context["meeting"] | {"mode": "virtual", "place": "", "video_link": "https://meet.example.dk/j/42"}
    out = render_sample("invitation", lang, meeting=online)
    assert "https://meet.example.dk/j/42" in out.text
    assert '<a href="https://meet.example.dk/j/42">' in out.html
    hybrid = context["meeting"] | {"video_link": "https://meet.example.dk/j/43"}
    out = render_sample("invitation", lang, meeting=hybrid)
    assert "Vejle Rådhus" in out.text and "https://meet.example.dk/j/43" in out.text
    unsafe = context["meeting"] | {"mode": "virtual", "video_link": "javascript:alert(1)"}
    out = render_sample("invitation", lang, meeting=unsafe)
    assert 'href="javascript' not in out.html
    no_place = context["meeting"] | {"place": ""}
    for meeting in (online, hybrid, unsafe, no_place):
        check_rendered(render_sample("agenda", lang, meeting=meeting))
    check_rendered(render_sample("invitation", lang, recipient={"name": "", "email": "x@example.dk"}))


def test_times_are_shown_in_the_networks_timezone():
    out = render_sample("invitation", "da")
    assert "torsdag den 7. oktober 2027 kl. 10.00–13.00" in out.text  # 08:00–11:00 UTC
    winter = render_sample("item-late", "da")
    assert "torsdag den 2. december 2027 kl. 13.00–15.30" in winter.text  # 12:00–14:30 UTC


def test_the_danish_agenda_has_the_agreed_structure():
    text = render_sample("agenda", "da").text
    for expected in ("Resumé", "Sagsfremstilling", "Indstilling", "Bilag 1: ", "Bilag 3: ",
                     "4. Meddelelser", "5. Eventuelt", "torsdag den 7. oktober 2027 kl. 10.00",
                     "Vejle Rådhus", "Søren Ærø, Vejle Kommune"):
        assert expected in text, expected
    assert "Beslutning" not in text
    assert text.index("Resumé") < text.index("Sagsfremstilling") < text.index("Indstilling")
    empty = render_sample("agenda", "da", "no-items").text
    assert "Der er ikke stillet forslag" in empty and "1. Meddelelser" in empty and "2. Eventuelt" in empty
    many = render_sample("agenda", "da", "many-items").text
    assert "13. Meddelelser" in many and "14. Eventuelt" in many


def test_the_translated_agendas_have_their_own_headings():
    en = render_sample("minutes", "en").text
    for expected in ("Summary", "Background", "Recommendation", "Decision", "Announcements",
                     "Any other business", "Appendix 1: "):
        assert expected in en, expected
    nb = render_sample("minutes", "nb").text
    for expected in ("Sammendrag", "Saksframstilling", "Innstilling", "Vedtak", "Meldinger", "Eventuelt",
                     "Vedlegg 1: "):
        assert expected in nb, expected


def test_the_minutes_carry_decisions_attendance_and_the_secretary():
    text = render_sample("minutes", "da").text
    for expected in ("Beslutning:", "Netværket godkendte retningslinjerne", "Referent:  Åse Brøndum",
                     "Tilmeldt (3):", "Afbud (1):", "- Lise Bech", "Mødet blev ledet af formanden"):
        assert expected in text, expected


@pytest.mark.parametrize("lang", LANGUAGES)
def test_text_lines_stay_short(lang):
    """Template text wraps at 76 columns; only tables and long data may run over."""
    for kind in KINDS:
        if kind == "contacts":
            continue
        for line in render_sample(kind, lang).text.splitlines():
            assert len(line) <= 76, (kind, line)


@pytest.mark.parametrize("name", ["agenda", "invitation", "minutes"])
def test_danish_golden_files(name):
    text = render_sample(name, "da").text
    path = GOLDEN / f"da-{name}.txt"
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with KKRBOT_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), (
        f"da/{name}.txt changed; if that is intended, run with KKRBOT_UPDATE_GOLDEN=1 and review the diff")
