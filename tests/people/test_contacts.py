"""contacts.csv: encodings and separators, validation of every row, sync, export round trip."""
from __future__ import annotations

import pytest
from sqlmodel import Session, select

from bot.people.contacts import ContactsError, apply_rows, export_csv, read_rows
from bot.store.db import session_scope
from bot.store.models import Alias, Contact, Membership, Network
from tests.support.config import shipped_contacts
from tests.support.process import kkrbot

HEADER = "name,email,organisation,municipality,region,role,networks,aliases\n"


def rows_of(app, text: str | bytes):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return read_rows(data, app.settings.networks)


def problems_of(app, text: str | bytes) -> list[str]:
    with pytest.raises(ContactsError) as error:
        rows_of(app, text)
    return error.value.problems


def sync(app, text: str | bytes):
    with session_scope(app.engine) as session:
        return apply_rows(session, rows_of(app, text), app.settings.networks, app.clock.now())


def memberships(app, email: str) -> set[tuple[str, str, bool, bool]]:
    with Session(app.engine) as session:
        contact = session.exec(select(Contact).where(Contact.email == email)).one()
        found = session.exec(select(Membership, Network).join(Network).where(Membership.contact_id == contact.id))
        return {(n.slug, m.role, m.active, m.opted_out) for m, n in found}


def test_danish_excel_file_semicolons_and_windows_1252(app):
    text = (HEADER.replace(",", ";") +
            "Åse Brøndum;aase.brondum@vejle.example.dk;Vejle Kommune;Vejle;Syddanmark;kommune;it-netvaerk;\n")
    [row] = rows_of(app, text.encode("cp1252"))
    assert (row.name, row.municipality, row.networks) == ("Åse Brøndum", "Vejle", ("it-netvaerk",))


def test_utf8_with_bom(app):
    text = "\ufeff" + HEADER + "Søren Ærø,SOREN.AERO@Aarhus.example.dk,Aarhus Kommune,Aarhus,Midtjylland,kkr-repræsentant,it-netvaerk,\n"
    [row] = rows_of(app, text)
    assert row.name == "Søren Ærø" and row.email == "soren.aero@aarhus.example.dk"


def test_every_bad_row_is_listed_by_line_number(app):
    text = HEADER + (
        "Ok Person,ok@kk.example.dk,KK,København,Hovedstaden,kommune,it-netvaerk,\n"
        "No Address,,KK,København,Hovedstaden,kommune,it-netvaerk,\n"
        "Bad Address,bad@,KK,København,Hovedstaden,kommune,it-netvaerk,\n"
        "Bad Role,role@kk.example.dk,KK,København,Hovedstaden,borgmester,it-netvaerk,\n"
        "Bad Region,region@kk.example.dk,KK,København,Bornholm,kommune,it-netvaerk,\n"
        "Bad Network,net@kk.example.dk,KK,København,Hovedstaden,kommune,sundhed,\n"
        "Twice,ok@kk.example.dk,KK,København,Hovedstaden,kommune,it-netvaerk,\n"
        "Alias Thief,thief@kk.example.dk,KK,København,Hovedstaden,kommune,it-netvaerk,ok@kk.example.dk\n"
        "Consultant,kon@kkr.example.dk,KKR,,Hovedstaden,kkr-konsulent,it-netvaerk,\n"
        ",noname@kk.example.dk,KK,København,Hovedstaden,kommune,it-netvaerk,\n"
    )
    problems = problems_of(app, text)
    expected = [
        "line 3: email is empty",
        "line 4: email 'bad@' is not an e-mail address",
        "line 5: role 'borgmester' is not one of kkr-repræsentant, kommune, kl, medcom, kkr-konsulent",
        "line 6: region 'Bornholm' is not one of Hovedstaden, Sjælland, Syddanmark, Midtjylland, Nordjylland",
        "line 7: network 'sundhed' is not in networks.toml",
        "line 8: email ok@kk.example.dk already belongs to Ok Person (line 2)",
        "line 9: alias ok@kk.example.dk already belongs to Ok Person (line 2)",
        "line 10: a KKR consultant gets minutes by region: leave networks empty",
        "line 11: name is empty",
    ]
    for want in expected:
        assert any(p.startswith(want) for p in problems), (want, problems)
    assert [int(p.split(":")[0].split()[1]) for p in problems] == sorted(int(p.split(":")[0].split()[1]) for p in problems)


def test_the_region_cap_is_three_members_and_kl_and_medcom_do_not_count(app):
    people = [f"Person {i},p{i}@aarhus.example.dk,Aarhus Kommune,Aarhus,Midtjylland,kommune,it-netvaerk,\n"
              for i in range(4)]
    exempt = ("KL Person,kl2@kl.example.dk,KL,,,kl,it-netvaerk,\n"
              "MedCom Person,mc2@medcom.example.dk,MedCom,,,medcom,it-netvaerk,\n")
    problems = problems_of(app, HEADER + exempt + "".join(people))
    assert problems == ["line 7: network it-netvaerk already has 3 members from region Midtjylland "
                        "(lines 4, 5, 6); KL and MedCom do not count"]
    assert len(rows_of(app, HEADER + exempt + "".join(people[:3]))) == 5


def test_a_bad_file_applies_nothing(app):
    before = export(app)
    text = shipped_contacts().replace("Søren Ærø,", "Søren Ærø Ændret,") + "Broken,broken,,,,kommune,it-netvaerk,\n"
    with pytest.raises(ContactsError):
        sync(app, text)
    assert export(app) == before


def export(app, excel: bool = False) -> bytes:
    with Session(app.engine) as session:
        return export_csv(session, app.settings.networks, excel=excel)


def test_import_export_import_is_a_no_op(app):
    exported = export(app)
    report = sync(app, exported)
    assert not report.changed
    assert export(app) == exported
    excel = export(app, excel=True)
    assert excel.startswith("\ufeff".encode()) and b";" in excel.splitlines()[0]
    assert not sync(app, excel).changed
    assert "Søren Ærø" in excel.decode("utf-8-sig")


def test_sync_deactivates_people_missing_from_the_file_and_keeps_opt_outs(app):
    email = "mette.ostergaard@herning.example.dk"
    with session_scope(app.engine) as session:
        contact = session.exec(select(Contact).where(Contact.email == email)).one()
        for membership in session.exec(select(Membership).where(Membership.contact_id == contact.id)):
            membership.opted_out = True
    without = "".join(line + "\n" for line in shipped_contacts().splitlines() if email not in line)
    report = sync(app, without)
    assert report.deactivated == [email]
    assert memberships(app, email) == {("it-netvaerk", "member", False, True)}
    report = sync(app, shipped_contacts())  # back in the file: active again, still opted out
    assert email in report.opted_out_kept
    assert memberships(app, email) == {("it-netvaerk", "member", True, True)}


def test_kkr_consultants_follow_the_networks_of_their_region_and_roles_come_from_config(app):
    assert memberships(app, "ida.mork@kkr-midtjylland.example.dk") == {
        ("it-netvaerk", "kkr-consultant", True, False), ("it-teknik", "kkr-consultant", True, False),
        ("kontaktudvalg", "kkr-consultant", True, False)}
    assert ("it-netvaerk", "vice-chair", True, False) in memberships(app, "soren.aero@aarhus.example.dk")
    assert ("it-teknik", "secretary", True, False) in memberships(app, "anne.hansen@kl.example.dk")  # inherited
    with Session(app.engine) as session:
        assert session.get(Alias, "ah@kl.example.dk") is not None


def test_cli_import_reports_bad_rows_in_one_line_each(tmp_path, config_dir):
    bad = tmp_path / "kontakter.csv"
    bad.write_bytes((HEADER.replace(",", ";") + "Åse;aase@vejle;Vejle;Vejle;Syddanmark;kommune;it-netvaerk;\n")
                    .encode("cp1252"))
    result = kkrbot(config_dir, "contacts", "import", str(bad))
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["line 2: email 'aase@vejle' is not an e-mail address (The part after "
                                          "the @-sign is not valid. It should have a period.)",
                                          "kkrbot: 1 bad row(s); nothing was imported"]


def test_cli_import_export_and_list(tmp_path, config_dir):
    assert kkrbot(config_dir, "db", "upgrade").returncode == 0
    imported = kkrbot(config_dir, "contacts", "import", str(config_dir / "contacts.csv"))
    assert imported.returncode == 0 and "18 rows: 18 added" in imported.stdout, imported.stderr
    again = kkrbot(config_dir, "contacts", "import", str(config_dir / "contacts.csv"))
    assert "0 added, 0 updated, 0 deactivated" in again.stdout
    exported = kkrbot(config_dir, "contacts", "export", "--excel", "-o", str(tmp_path / "out.csv"))
    assert exported.returncode == 0 and (tmp_path / "out.csv").read_bytes().startswith(b"\xef\xbb\xbfname;email")
    listed = kkrbot(config_dir, "contacts", "list", "--network", "it-teknik")
    assert "Lars Møller" in listed.stdout and "Søren Ærø" not in listed.stdout
    missing = kkrbot(config_dir, "contacts", "import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1 and missing.stderr.strip().endswith("No such file or directory")
