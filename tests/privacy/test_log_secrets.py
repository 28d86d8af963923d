"""Secrets and tokens never reach a log line: a member's whole year (tests/privacy/year.py) through
the real pipeline, every kkrbot log line at debug level captured, then grepped for the token
secret, every token the bot minted and the passwords in .env. `kkrbot run` is grepped too."""
from __future__ import annotations

import io
import logging

from sqlmodel import Session, select

from bot.app import App
from bot.config.settings import load_settings
from bot.core.logs import LOGGER_NAME
from bot.store.models import IssuedToken, OutboxMessage
from tests.privacy.year import live_a_year, make_app
from tests.servers.smtp_sink import SmtpSink
from tests.support import corpus
from tests.support.config import free_port, imap_env, make_config
from tests.support.process import BotProcess, post

SECRET = "tokensecret-" + "k" * 40
PASSWORDS = ("imap-pa55word-xyzzy", "smtp-pa55word-plugh")
ENV = (f"TOKEN_SECRET={SECRET}\nIMAP_HOST=imap.example.dk\nIMAP_USER=bot\nIMAP_PASSWORD={PASSWORDS[0]}\n"
       f"SMTP_HOST=smtp.example.dk\nSMTP_USER=bot\nSMTP_PASSWORD={PASSWORDS[1]}\n")


def minted(app: App) -> set[str]:
    """Every token the bot put in a mail: issued reply tokens and List-Unsubscribe tokens."""
    with Session(app.engine) as session:
        issued = set(session.exec(select(IssuedToken.token)))
        copies = {t for t in session.exec(select(OutboxMessage.token)) if t}
    return issued | copies


def leaks(text: str, app: App) -> list[str]:
    secrets = [SECRET, *PASSWORDS, *minted(app)]
    assert len(secrets) > 20  # the year minted tokens: the grep has something to look for
    return [s for s in secrets if s in text]


def test_a_year_of_mail_logs_no_secret_token_or_password(tmp_path, clock):
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        app = make_app(tmp_path, clock, bot_toml={"log_level": '"debug"'}, env=ENV)  # its first start logged too
        assert app.token_secret == SECRET.encode()
        live_a_year(app)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    text = captured.getvalue()
    assert "event=outcome" in text and "event=bounce" in text  # the flow was logged
    try:
        assert leaks(text, app) == []
    finally:
        app.engine.dispose()


def test_the_running_bot_logs_no_secret_token_or_password(tmp_path):
    port = free_port()
    config = make_config(tmp_path, port=port, env=ENV, bot_toml={"log_level": '"debug"'})
    bot = BotProcess(config)
    try:
        bot.first_line()
        post(port)
        bot.wait_for_log("event=outcome")
        bot.wait_for_log("event=sent", timeout=60)
    finally:
        bot.stop()
    app = App.create(load_settings(config, environ={}))
    try:
        assert leaks(bot.log(), app) == []
    finally:
        app.engine.dispose()


def test_the_bot_logging_in_with_passwords_logs_neither(tmp_path, mailbox):
    """IMAP to the real Dovecot and SMTP to a sink that requires AUTH, both with passwords, at debug level."""
    smtp_password = "smtp-pa55word-" + "q" * 12
    with SmtpSink(free_port(), password=("bot", smtp_password)) as sink:
        env = (f"TOKEN_SECRET={SECRET}\n" + imap_env(mailbox) +
               f"SMTP_HOST=127.0.0.1\nSMTP_PORT={sink.port}\nSMTP_TLS=none\nSMTP_USER=bot\n"
               f"SMTP_PASSWORD={smtp_password}\n")
        config = make_config(tmp_path, env=env, bot_toml={"log_level": '"debug"', "inbound": '"imap"',
                                                          "outbound": '"smtp"'})
        bot = BotProcess(config)
        try:
            bot.first_line()
            mailbox.append(corpus.load("post-utf8.eml", sender=("Mette Østergaard", "mette.ostergaard@herning.example.dk")))
            bot.wait_for_log("event=sent", timeout=60)
        finally:
            bot.stop()
        assert sink.received  # it logged in to both servers with the passwords
    log = bot.log()
    assert "event=imap" in log
    for secret in (mailbox.password, smtp_password, SECRET):
        assert secret not in log
