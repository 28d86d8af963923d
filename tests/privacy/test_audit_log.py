"""The audit log: entries at the decision points of a member's year, and `kkrbot log` to read them."""
from __future__ import annotations

from sqlmodel import Session, select

from bot.startup import config_digests, reload_config
from bot.store.models import AuditLog
from tests.privacy.year import ALIAS, EMAIL, SECRETARY, live_a_year, make_app
from tests.support.process import kkrbot


def test_the_decision_points_are_audited_and_kkrbot_log_filters_them(tmp_path, clock):
    app = make_app(tmp_path, clock)
    live_a_year(app)
    reload_config(app, config_digests(app.settings.config_dir))
    config = app.settings.config_dir
    assert kkrbot(config, "contacts", "import", str(app.settings.contacts_file)).returncode == 0
    with Session(app.engine) as session:
        entries = session.exec(select(AuditLog)).all()
    did = {(e.actor, e.action) for e in entries}
    assert {(ALIAS, "item-proposed"), (EMAIL, "rsvp"), (SECRETARY[1], "minutes-published"),
            ("admin", "config-reload"), ("admin", "contacts-import")} <= did
    assert all(e.message_id for e in entries if e.action in ("item-proposed", "rsvp", "minutes-published"))
    assert not any("Tilmeld" in e.detail or "fælles opsætning" in e.detail for e in entries)  # never a body

    mine = kkrbot(config, "log", "--email", EMAIL)
    assert mine.returncode == 0, mine.stderr
    assert "item-proposed" in mine.stdout and " rsvp " in mine.stdout  # her alias counts as her
    assert "minutes-published" not in mine.stdout and "config-reload" not in mine.stdout
    since = kkrbot(config, "log", "--email", EMAIL, "--since", "2027-04-01")
    assert " rsvp " in since.stdout and "item-proposed" not in since.stdout
    other = kkrbot(config, "log", "--network", "kontaktudvalg")
    assert other.returncode == 0 and "rsvp" not in other.stdout
    bad = kkrbot(config, "log", "--since", "last tuesday")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1


def test_an_opt_out_and_the_chairs_answer_are_audited(tmp_path, clock):
    from tests.privacy.year import LIST, at, mail, reply_to
    from tests.support.inbound import deliver, outbox

    chair, member = "birgitte.holm@kl.example.dk", "lars.moeller@odense.example.dk"
    app = make_app(tmp_path, clock)
    at(app, "2027-04-06T09:00:00")  # the draft has gone to the chair
    deliver(app, mail(("Birgitte Holm", chair), reply_to(app, "draft", chair), "SV: Udkast", "Godkend\n",
                      "approve@kl.example.dk"))
    deliver(app, mail(("Mette Østergaard", EMAIL), LIST, "Erfaringer", "Hej alle\n", "post2@herning.example.dk"))
    [copy] = [m for m in outbox(app, "post") if m.recipient == member]
    local, domain = LIST.split("@")
    deliver(app, mail(("Lars Møller", member), f"{local}+{copy.token}@{domain}", "unsubscribe", "\n",
                      "optout@odense.example.dk"))
    with Session(app.engine) as session:
        did = {(e.actor, e.action, e.message_id) for e in session.exec(select(AuditLog))}
    assert (chair, "agenda-approve", "<approve@kl.example.dk>") in did
    assert (member, "opt-out", "<optout@odense.example.dk>") in did


def test_an_audit_entry_never_holds_words_from_the_mail(app):
    """The inbound outcome's reason may quote the mail ("first word 'hvornår'"); its audit entry names the kind."""
    from sqlmodel import Session, select

    from bot.store.models import AuditLog
    from tests.support import corpus
    from tests.support.inbound import add_meeting, deliver, issue_token, row

    member = ("Søren Ærø", "soren.aero@aarhus.example.dk")
    meeting = add_meeting(app, "it-netvaerk", "2027-10-07")
    token = issue_token(app, member[1], "invitation", meeting_id=meeting)
    inbound = row(app, deliver(app, corpus.load("answer-unknown-word.eml", token, member)))
    assert "hvornår" in inbound.reason  # what the administrator sees in `kkrbot inbox`
    with Session(app.engine) as session:
        details = [e.detail for e in session.exec(select(AuditLog))]
    assert details and not any("hvornår" in d for d in details), details
