"""Parsing the corpus: subjects, charsets, HTML-only mail, attachments, defects, DMARC. Never raises."""
from __future__ import annotations

import pytest

from bot.inbound.parse import ParseLimits, dmarc_result, parse
from bot.inbound.reply_text import first_word
from tests.support import corpus

MANIFEST = corpus.manifest()


@pytest.mark.parametrize("name", corpus.names())
def test_every_corpus_mail_parses_as_a_person_would_read_it(name):
    expected = MANIFEST[name]
    mail = parse(corpus.load(name))
    if "subject" in expected:
        assert mail.subject == expected["subject"]
    for text in expected.get("body_contains", []):
        assert text in mail.text, (text, mail.text[:500])
    if "attachments" in expected:
        assert [a.filename for a in mail.attachments if a.content_type not in ("application/ics",)] == \
            [f for f in expected["attachments"] if not f.endswith(".ics")]
    if expected.get("defects"):
        mail.body  # noqa: B018 - the body's defects are recorded once it is read
        assert mail.defects, "a defect should be recorded"
    if "dmarc" in expected:
        assert dmarc_result(mail, "mx.example.dk") == expected["dmarc"]
    assert "\n" not in mail.subject and "\r" not in mail.subject


@pytest.mark.parametrize("name", corpus.names("answer"))
def test_the_first_word_of_each_client_style_reply(name):
    assert first_word(parse(corpus.load(name)).text) == MANIFEST[name]["first_word"]


def test_an_untrusted_authentication_results_is_ignored():
    mail = parse(corpus.load("dmarc-forged-pass-trusted-fail.eml"))
    assert dmarc_result(mail, "mx.example.dk") == "fail"
    assert dmarc_result(mail, "") == ""


def test_attachment_limits_keep_the_mail_and_record_a_defect():
    mail = parse(corpus.load("post-pdf-attachment.eml"), ParseLimits(max_attachment_bytes=100_000))
    [pdf] = mail.attachments
    assert pdf.data is None and pdf.size > 100_000
    assert any(d.startswith("AttachmentTooLarge") for d in mail.defects)


def test_nesting_of_forwarded_messages_is_bounded():
    mail = parse(corpus.load("post-nested-rfc822.eml"), ParseLimits(max_nesting=1))
    assert mail.attachments and "NestingTooDeep(1)" in mail.defects


@pytest.mark.parametrize("garbage", [b"", b"\x00\xff\xfe" * 100, b"Subject: =?utf-8?b?====?=\r\n\r\n",
                                     b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
                                     b"From: <<<>>>@@@\r\nTo: ,,,\r\n\r\nx"])
def test_garbage_never_raises(garbage):
    mail = parse(garbage)
    mail.body  # noqa: B018 - reading the body never raises either


def test_only_the_headers_are_read_until_the_body_is_asked_for():
    """A post is relayed on its headers: its MIME tree is not taken apart unless a rule needs it."""
    mail = parse(corpus.load("post-pdf-attachment.eml"))
    assert mail.subject and mail.from_address and mail.calendars == [] and not mail.body_read
    assert mail.attachments and mail.body_read


def test_an_address_hidden_in_an_encoded_word_is_no_address():
    """The DMARC check happens on the real From address; an encoded-word must not smuggle one in."""
    hidden = parse(b"From: =?utf-8?q?Soren_=3Csoren.aero=40aarhus.example.dk=3E?=\r\nTo: x@y.dk\r\n\r\nx")
    assert hidden.from_address == "" and "UnparsableFrom" in hidden.defects
    named = parse(b"From: =?utf-8?q?Soren_=3Csoren.aero=40aarhus.example.dk=3E?= <evil@example.org>\r\n\r\nx")
    assert named.from_address == "evil@example.org"


def test_an_attachment_with_a_raw_8bit_disposition_is_read():
    """Found by the fuzz test: compat32 hands back a Header object for 8-bit bytes, not a str."""
    raw = (b"From: a@b.dk\r\nSubject: bilag\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: text/plain\r\n\r\nse bilag\r\n--b\r\nContent-Type: application/pdf\r\n"
           b"Content-Disposition: attachment; filename=\"m\xf8de.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           b"JVBERg==\r\n--b--\r\n")
    mail = parse(raw)
    assert [a.data for a in mail.attachments] == [b"%PDF"] and mail.text.strip() == "se bilag"
    assert "UnreadableBody" not in mail.defects


def test_a_big_attachment_is_not_taken_apart_to_look_for_a_calendar():
    """From a memory regression: "/ics" occurs by chance in megabytes of base64."""
    import random
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["Subject"] = "a@b.dk", "bilag"
    message.set_content("se bilag")
    message.add_attachment(random.Random(2).randbytes(3_000_000), maintype="application", subtype="pdf",
                           filename="bilag.pdf")
    mail = parse(message.as_bytes())
    assert mail.calendars == [] and not mail.body_read
