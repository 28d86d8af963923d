"""`kkrbot held`: the administrator lists, approves and rejects held posts from the command line,
with the same effects as the secretary's answers by mail."""
from __future__ import annotations

from email.message import EmailMessage

import pytest
from sqlmodel import Session, select

from bot.store.models import HeldPost, OutboxMessage
from tests.support.inbound import deliver
from tests.support.process import kkrbot


def stranger_post(app, sender: str, subject: str) -> None:
    message = EmailMessage()
    message["From"] = f"Udefra <{sender}>"
    message["To"] = "it-netvaerk@lists.example.dk"
    message["Subject"] = subject
    message["Message-ID"] = f"<{subject.replace(' ', '.')}@example.com>"
    message.set_content("Kære netværk\nKøb vores produkt.\n")
    deliver(app, message.as_bytes(), to="it-netvaerk@lists.example.dk")


def kinds(app) -> list[tuple[str, str]]:
    with Session(app.engine) as session:
        return [(m.kind, m.recipient) for m in session.exec(select(OutboxMessage).order_by(OutboxMessage.id))]


def test_held_lists_approves_and_rejects_like_the_secretarys_answers(app):
    stranger_post(app, "eva@example.org", "Tilbud om kursus")
    stranger_post(app, "ole@example.net", "Reklame for app")
    config = app.settings.config_dir
    listed = kkrbot(config, "held")
    assert listed.returncode == 0, listed.stderr
    for text in ("eva@example.org", "Tilbud om kursus", "ole@example.net", "non-member", "asked"):
        assert text in listed.stdout, text
    assert "eva@example.org" not in kkrbot(config, "held", "--network", "it-teknik").stdout

    approved = kkrbot(config, "held", "approve", "1")
    assert approved.returncode == 0 and "relayed to 13 members" in approved.stdout, approved.stderr
    rejected = kkrbot(config, "held", "reject", "2", "--reason", "Reklame hører ikke hjemme her")
    assert rejected.returncode == 0 and "rejected by admin" in rejected.stdout, rejected.stderr
    sent = kinds(app)
    assert sent.count(("moderation-request", "anne.hansen@kl.example.dk")) == 2
    assert len([k for k, _ in sent if k == "post"]) == 13
    assert ("moderation-result", "eva@example.org") in sent and ("moderation-result", "ole@example.net") in sent
    with Session(app.engine) as session:
        statuses = [(h.status, h.decided_by, h.decision_reason) for h in session.exec(select(HeldPost))]
    assert statuses == [("approved", "admin", ""), ("rejected", "admin", "Reklame hører ikke hjemme her")]

    again = kkrbot(config, "held", "reject", "1")
    assert (again.returncode, again.stderr) == (1, "kkrbot: held post #1 was already approved; nothing changed\n")
    assert kinds(app) == sent
    assert "Tilbud om kursus" not in kkrbot(config, "held").stdout
    assert "approved by admin" in kkrbot(config, "held", "--all").stdout
    assert kkrbot(config, "held", "approve", "99").stderr == "kkrbot: no held post #99\n"
    assert kkrbot(config, "held", "--network", "nope").returncode == 1


@pytest.mark.sqlite_only  # "empty" is a database file not yet created; the PostgreSQL test databases are migrated
def test_held_on_an_empty_database_says_so(config_dir):
    result = kkrbot(config_dir, "held")
    assert result.returncode == 1 and "start the bot once" in result.stderr



def test_approving_a_post_whose_mail_is_gone_says_so_and_changes_nothing(app):
    """Retention may delete a stored mail; approving it then is refused with one line."""
    from sqlalchemy import delete

    from bot.store.models import InboundRaw

    stranger_post(app, "eva@example.org", "Tilbud om kursus")
    with Session(app.engine) as session:
        session.exec(delete(InboundRaw))
        session.commit()
    result = kkrbot(app.settings.config_dir, "held", "approve", "1")
    assert result.returncode == 1 and "its stored mail is gone" in result.stderr
    with Session(app.engine) as session:
        assert [h.status for h in session.exec(select(HeldPost))] == ["held"]
    assert [k for k, _ in kinds(app)] == ["moderation-request"]


def test_help_names_held_and_its_decisions(config_dir):
    assert " held " in kkrbot(config_dir, "--help").stdout
    assert all(word in kkrbot(config_dir, "held", "--help").stdout for word in ("approve", "reject", "--network"))
