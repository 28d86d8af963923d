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
