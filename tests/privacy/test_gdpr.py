"""`kkrbot gdpr export` and `gdpr forget` over a member's real year (tests/privacy/year.py).

The tests walk the schema themselves (tests/privacy/scan.py): a table added to the models
fails them until bot/privacy/policy.py says what export and forget do with it.
"""
from __future__ import annotations

import json
from email import message_from_bytes
from email import policy as email_policy

import pytest
from sqlmodel import Session, SQLModel, select

from bot.meetings.letters import meeting_letter
from bot.meetings.minutes import attendance_lists
from bot.outbound.compose import Recipient, compose
from bot.people.forgotten import address_hmac
from bot.privacy.policy import ANONYMISE, DELETE, KEEP, POLICIES
from bot.store.models import Contact, Erasure, Minutes
from tests.privacy.scan import about, naming
from tests.privacy.year import ALIAS, EMAIL, NAME, live_a_year, make_app, meeting
from tests.support.process import kkrbot


@pytest.fixture
def year(tmp_path, clock):
    app = make_app(tmp_path, clock)
    live_a_year(app)
    yield app
    app.engine.dispose()


def contact_id(app, email: str) -> int:
    with Session(app.engine) as session:
        return session.exec(select(Contact.id).where(Contact.email == email)).one()


def test_every_table_has_a_policy():
    tables = {t.name for t in SQLModel.metadata.sorted_tables}
    assert tables - set(POLICIES) == set(), "classify the new table in bot/privacy/policy.py"
    assert set(POLICIES) - tables == set(), "a policy for a table that no longer exists"
    assert {p.forget for p in POLICIES.values()} <= {DELETE, ANONYMISE, KEEP}


def test_export_holds_every_row_about_the_person(year, tmp_path):
    expected = about(year.engine, [EMAIL, ALIAS], contact_id(year, EMAIL))
    assert {"contact", "alias", "membership", "agendaitem", "attendance", "inboundmessage", "inboundraw",
            "issuedtoken", "sendjob", "outboxmessage", "bounce", "auditlog"} <= set(expected)
    result = kkrbot(year.settings.config_dir, "gdpr", "export", ALIAS, "-o", str(tmp_path / "lars.json"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "lars.json").stat().st_mode & 0o777 == 0o600
    export = json.loads((tmp_path / "lars.json").read_text(encoding="utf-8"))
    assert export["person"]["addresses"] == [ALIAS, EMAIL] and export["person"]["name"] == NAME
    for table, keys in expected.items():
        columns = [c.name for c in SQLModel.metadata.tables[table].primary_key.columns]
        exported = {tuple(row[c] for c in columns) for row in export["tables"].get(table, [])}
        assert keys <= exported, f"{table}: rows {keys - exported} about the person are not exported"
    sent = export["tables"]["inboundmessage"]
    assert {row["subject"] for row in sent} >= {"Dagsordenspunkt: Fælles FMK-opsætning", "Erfaringer med FMK"}
    assert all(set(row["raw"]) == {"bytes"} for row in export["tables"]["inboundraw"])  # bodies: --with-bodies
    assert {row["kind"] for row in export["tables"]["outboxmessage"]} >= {"invitation", "agenda", "rsvp-ack", "post"}
    assert {row["action"] for row in export["tables"]["auditlog"]} >= {"item-proposed", "rsvp"}


def test_export_with_bodies_has_the_mails_he_sent(year):
    result = kkrbot(year.settings.config_dir, "gdpr", "export", EMAIL, "--with-bodies")
    assert result.returncode == 0, result.stderr
    raws = [row["raw"] for row in json.loads(result.stdout)["tables"]["inboundraw"]]
    assert any("Subject: Erfaringer med FMK" in raw for raw in raws)


def test_after_forget_no_table_names_him_and_the_year_still_renders(year):
    before = naming(year.engine, [EMAIL, ALIAS, NAME])
    assert {"contact", "alias", "minutes", "agendaitem", "inboundraw"} <= set(before)  # the test sees him
    sent_dir = year.settings.sent_dir
    assert _files_naming(sent_dir, EMAIL)
    result = kkrbot(year.settings.config_dir, "gdpr", "forget", EMAIL, "--yes")
    assert result.returncode == 0, result.stderr
    assert "erased" in result.stdout
    assert naming(year.engine, [EMAIL, ALIAS, NAME]) == {}
    assert _files_naming(sent_dir, EMAIL) == [] and _files_naming(sent_dir, ALIAS) == []
    with Session(year.engine) as session:
        hmacs = set(session.exec(select(Erasure.address_hmac)))
        assert hmacs == {address_hmac(year.token_secret, a) for a in (EMAIL, ALIAS)}
        minutes = session.exec(select(Minutes)).one()
        assert "Deltagere: tidligere medlem, Lars Møller" in minutes.text
    agenda, minutes_mail = _render(year, "agenda"), _render(year, "minutes")
    assert "Forslag fra tidligere medlem, Herning Kommune" in agenda
    assert "- tidligere medlem" in minutes_mail and "tidligere medlem fremlagde punktet" in minutes_mail
    assert NAME not in agenda + minutes_mail


def test_a_forgotten_person_in_contacts_csv_is_skipped_with_a_warning(year):
    assert kkrbot(year.settings.config_dir, "gdpr", "forget", ALIAS, "--yes").returncode == 0
    result = kkrbot(year.settings.config_dir, "contacts", "import", str(year.settings.contacts_file))
    assert result.returncode == 0, result.stderr
    assert "erased by `kkrbot gdpr forget`; row skipped" in result.stderr
    assert EMAIL not in result.stderr  # the warning names the line, the file holds the address already
    assert naming(year.engine, [EMAIL, ALIAS, NAME]) == {}


def test_forget_refuses_a_role_holder_in_networks_toml(year):
    for address, role in (("soren.aero@aarhus.example.dk", "vice-chair of it-netvaerk"),
                          ("s.aero@aarhus.example.dk", "vice-chair of it-netvaerk"),  # his alias
                          ("lars.moeller@odense.example.dk", "chair of it-teknik")):  # the sub-group's chair
        result = kkrbot(year.settings.config_dir, "gdpr", "forget", address, "--yes")
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and f"{role} in networks.toml" in result.stderr
    assert naming(year.engine, ["soren.aero@aarhus.example.dk"])


def test_forget_asks_first_and_refuses_without_a_terminal(year):
    result = kkrbot(year.settings.config_dir, "gdpr", "forget", EMAIL)
    assert result.returncode == 1
    assert result.stderr == "kkrbot: not on a terminal: add --yes to forget without being asked\n"
    assert naming(year.engine, [EMAIL])


def test_forget_a_stranger_whose_post_was_held(year):
    from tests.privacy.year import LIST, mail
    from tests.support.inbound import deliver, row

    stranger = "ukendt@firma.example.com"
    held = row(year, deliver(year, mail(("Ukendt Person", stranger), LIST, "Tilbud", "Køb vores system\n",
                                        "offer@firma.example.com"), envelope_from=stranger))
    assert held.outcome == "held"
    assert kkrbot(year.settings.config_dir, "gdpr", "forget", stranger, "--yes").returncode == 0
    assert naming(year.engine, [stranger]) == {}


def _files_naming(folder, address: str) -> list:
    return [p for p in folder.glob("*/*") if address.encode() in p.read_bytes().split(b"\r\n\r\n", 1)[0].lower()]


def _render(app, kind: str) -> str:
    """The meeting's `kind` mail as it would be sent now, to another member: its plain text."""
    with Session(app.engine) as session:
        target = meeting(app)
        network = app.settings.network("it-netvaerk")
        extra = {}
        if kind == "minutes":
            record = session.exec(select(Minutes)).one()
            extra = {"minutes_text": record.text, "attendance": attendance_lists(session, target, "da"),
                     "secretary": {"name": "Anne Hansen"}}
        letter = meeting_letter(session, network, target, kind, Recipient("lars.moeller@odense.example.dk",
                                                                          "Lars Møller"),
                                app.clock.now(), occurrence="render-test", extra=extra)
        raw = compose(app, session, letter).raw
        session.rollback()
    message = message_from_bytes(raw, policy=email_policy.default)
    return message.get_body(("plain",)).get_content()


def test_a_lookalike_address_is_neither_exported_nor_forgotten(year):
    from tests.privacy.year import LIST, mail
    from tests.support.inbound import deliver, row

    lookalike = "xmo@herning.example.dk"  # contains her alias mo@herning.example.dk
    held = deliver(year, mail(("X Mo", lookalike), LIST, "Hej", "Hej\n", "x@herning.example.dk"),
                   envelope_from=lookalike)
    exported = kkrbot(year.settings.config_dir, "gdpr", "export", ALIAS)
    assert exported.returncode == 0, exported.stderr
    assert lookalike not in exported.stdout
    assert kkrbot(year.settings.config_dir, "gdpr", "forget", ALIAS, "--yes").returncode == 0
    assert row(year, held).from_address == lookalike
    assert naming(year.engine, [lookalike])


def test_forgetting_twice_changes_nothing_more(year):
    config = year.settings.config_dir
    assert kkrbot(config, "gdpr", "forget", EMAIL, "--yes").returncode == 0
    again = kkrbot(config, "gdpr", "forget", EMAIL, "--yes")
    assert again.returncode == 0, again.stderr
    with Session(year.engine) as session:
        assert len(session.exec(select(Erasure)).all()) == 2  # one per address, not per run
    assert naming(year.engine, [EMAIL, ALIAS, NAME]) == {}


def test_a_request_without_an_address_matches_nobody(year):
    for bad in ("", "%", "mette"):
        result = kkrbot(year.settings.config_dir, "gdpr", "export", bad)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr == f"kkrbot: {bad!r} is not an e-mail address\n"


def test_a_namesake_keeps_her_name(tmp_path, clock):
    from tests.privacy.year import make_app, mail
    from tests.support.inbound import deliver

    namesake = f"{NAME},mette.o@herning.example.dk,Herning Kommune,Herning,Midtjylland,kommune,it-teknik,\n"
    app = make_app(tmp_path, clock)
    (app.settings.contacts_file).write_text(app.settings.contacts_file.read_text() + namesake)
    assert kkrbot(app.settings.config_dir, "contacts", "import", str(app.settings.contacts_file)).returncode == 0
    deliver(app, mail((NAME, "mette.o@herning.example.dk"), "it-teknik@lists.example.dk", "Hej",
                      f"Hilsen {NAME}\n", "namesake@herning.example.dk"))
    assert kkrbot(app.settings.config_dir, "gdpr", "forget", EMAIL, "--yes").returncode == 0
    with Session(app.engine) as session:
        assert session.exec(select(Contact.name).where(Contact.email == "mette.o@herning.example.dk")).one() == NAME
    assert naming(app.engine, [EMAIL, ALIAS]) == {}
    assert naming(app.engine, ["mette.o@herning.example.dk"])
    assert {"contact", "inboundraw"} <= set(naming(app.engine, [NAME]))  # her row and her mail keep her name
