"""The `kkrbot` command line.

Anything a user can cause (a bad config, a bad CSV, a busy database, a missing
file) ends as one line on stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from sqlalchemy.exc import OperationalError

from bot.app import App
from bot.cli import reports
from bot.cli.demo import DemoError
from bot.cli.preview import PreviewError
from bot.config.settings import Settings, load_settings, resolve_config_dir
from bot.core.clock import clock_from_environment
from bot.core.logs import configure, log_event
from bot.people.contacts import ContactsError
from bot.privacy.forget import Refused
from bot.startup import NotApplied, check_config, config_digests, reload_config
from bot.store.backup import BackupError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="kkrbot runs a network's mailing list and meeting cycle by e-mail.")
config_app = typer.Typer(no_args_is_help=True, help="Check the config folder, or apply it to a running bot.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
contacts_app = typer.Typer(no_args_is_help=True, help="Contacts: import, export, list, clear-bounce.")
inbox_app = typer.Typer(help="Received mail by outcome; show or retry one.", invoke_without_command=True)
outbox_app = typer.Typer(help="Outgoing mail by status; retry one.", invoke_without_command=True)
report_app = typer.Typer(no_args_is_help=True, help="Reports from the database: attendance.")
held_app = typer.Typer(help="Posts held for moderation; approve or reject one.", invoke_without_command=True)
gdpr_app = typer.Typer(no_args_is_help=True, help="A person's data: export it, or forget them.")
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(contacts_app, name="contacts")
app.add_typer(inbox_app, name="inbox")
app.add_typer(outbox_app, name="outbox")
app.add_typer(report_app, name="report")
app.add_typer(held_app, name="held")
app.add_typer(gdpr_app, name="gdpr")


class UserError(Exception):
    """Something the user can fix; printed as one line."""


class ConfigRefused(Exception):
    """The config folder has problems; each is one line."""

    def __init__(self, problems: list[str]):
        self.problems = problems


@app.callback()
def main_options(ctx: typer.Context,
                 config: Optional[Path] = typer.Option(None, "--config", metavar="DIR",
                                                       help="Config folder (default: $KKRBOT_CONFIG or ./config).")) -> None:
    ctx.obj = resolve_config_dir(config)


def _settings(ctx: typer.Context, log_warnings: bool = False) -> Settings:
    check = check_config(ctx.obj)
    if check.problems:
        raise ConfigRefused(check.problems)
    configure(check.settings.log_level)
    for warning in check.warnings if log_warnings else ():  # `run` logs them; other commands stay quiet
        log_event("config_warning", level=logging.WARNING, detail=warning)
    return check.settings


def _app(ctx: typer.Context, create_secret: bool = False, log_warnings: bool = False) -> App:
    return App.create(_settings(ctx, log_warnings), clock_from_environment(), create_secret=create_secret)


# -- run, config, db -------------------------------------------------------------------

@app.command()
def run(ctx: typer.Context) -> None:
    """Run the bot: receive, process, schedule and send until Ctrl-C."""
    from bot.daemon import run as run_daemon

    run_daemon(_app(ctx, create_secret=True, log_warnings=True))


@config_app.command("check")
def config_check(ctx: typer.Context,
                 connect: bool = typer.Option(False, "--connect",
                                              help="Also log in to IMAP and SMTP once and say what worked.")) -> None:
    """Validate bot.toml, networks.toml, .env and contacts.csv; print every problem."""
    check = check_config(ctx.obj)
    if check.problems:
        for problem in check.problems:
            typer.echo(problem, err=True)
        typer.echo(f"{len(check.problems)} problem(s) in {ctx.obj}", err=True)
        raise typer.Exit(1)
    for warning in check.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"config OK: {ctx.obj} ({len(check.settings.networks)} networks"
               + (f", {len(check.warnings)} warning(s))" if check.warnings else ")"))
    if connect:
        _check_logins(check.settings)


def _check_logins(settings: Settings) -> None:
    """One line per server; a non-zero exit when any login failed."""
    from bot.cli.connect_check import check_logins

    checks = check_logins(settings)
    if not checks:
        typer.echo('nothing to connect to: inbound = "smtp" and outbound = "maildir", no IMAP_HOST or SMTP_HOST')
    for check in checks:
        typer.echo(check.line, err=not check.ok)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


@config_app.command("reload")
def config_reload(ctx: typer.Context) -> None:
    """Check the config, then apply networks.toml to the database in one transaction (or not at all);
    a running bot takes it up within seconds: moved meetings get updates, cancelled ones a CANCEL."""
    digests = config_digests(ctx.obj)  # before the check: a file edited after it is not taken up unchecked
    bot = App.create(_settings(ctx), clock_from_environment())
    for warning in check_config(ctx.obj).warnings:
        typer.echo(f"warning: {warning}", err=True)
    try:
        report = reload_config(bot, digests)
    except NotApplied as error:
        raise UserError(f"{error}; nothing was applied") from error
    typer.echo(reports.reloaded(report))


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending database migrations."""
    from bot.store.db import exclusive, upgrade

    engine = _app(ctx).engine
    with exclusive(engine):  # not while a starting bot process migrates the same database
        applied = upgrade(engine)
    typer.echo(f"applied {', '.join(applied)}" if applied else "database is up to date")


# -- contacts --------------------------------------------------------------------------

@contacts_app.command("import")
def contacts_import(ctx: typer.Context, file: Path = typer.Argument(..., exists=False)) -> None:
    """Sync contacts from a CSV file (all rows valid, or nothing changes)."""
    from bot.meetings.sync import sync_config
    from bot.people.contacts import apply_rows, read_rows
    from bot.people.forgotten import without_forgotten
    from bot.store.audit import ADMIN, audit
    from bot.store.db import session_scope, upgrade

    bot = _app(ctx)
    rows = read_rows(_read(file), bot.settings.networks)
    upgrade(bot.engine)
    with session_scope(bot.engine) as session:
        sync_config(session, bot.settings, bot.clock.now())
        rows, forgotten = without_forgotten(session, bot.token_secret, rows)
        report = apply_rows(session, rows, bot.settings.networks, bot.clock.now())
        sync_config(session, bot.settings, bot.clock.now())
        audit(session, bot.clock.now(), ADMIN, "contacts-import",
              detail=f"{file.name}: {len(report.added)} added, {len(report.updated)} updated, "
                     f"{len(report.deactivated)} deactivated, {len(forgotten)} forgotten skipped")
    for row in forgotten:
        typer.echo(f"warning: {file}: line {row.line}: this person was erased by `kkrbot gdpr forget`; "
                   "row skipped (remove it from the file)", err=True)
    reports.print_import(report, len(rows) + len(forgotten))


@contacts_app.command("export")
def contacts_export(ctx: typer.Context,
                    output: Optional[Path] = typer.Option(None, "-o", "--output", help="File (default: stdout)."),
                    excel: bool = typer.Option(False, "--excel", help="';' and UTF-8 with BOM, for Danish Excel.")) -> None:
    """Write the contacts in the import format."""
    from sqlmodel import Session

    from bot.people.contacts import export_csv

    bot = _app(ctx)
    with Session(bot.engine) as session:
        data = export_csv(session, bot.settings.networks, excel=excel)
    if output:
        output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)


@contacts_app.command("clear-bounce")
def contacts_clear_bounce(ctx: typer.Context, email: str = typer.Argument(...)) -> None:
    """Deliver to an address again after its bounces disabled it."""
    from bot.actions.bounces import clear
    from bot.store.db import session_scope

    bot = _app(ctx)
    with session_scope(bot.engine) as session:
        contact = clear(session, email, bot.clock.now())
    if contact is None:
        raise UserError(f"{email} is not a contact (nor an alias of one)")
    typer.echo(f"{contact.email}: delivery enabled; earlier bounces no longer count")


@contacts_app.command("list")
def contacts_list(ctx: typer.Context, network: Optional[str] = typer.Option(None, "--network")) -> None:
    """Show contacts, optionally of one network."""
    reports.print_contacts(_app(ctx), network)


# -- status, inbox, backup -------------------------------------------------------------

@app.command()
def status(ctx: typer.Context) -> None:
    """Networks, next meetings, inbound counts by outcome, outbox counts."""
    reports.print_status(_app(ctx))


@inbox_app.callback()
def inbox(ctx: typer.Context, outcome: Optional[str] = typer.Option(None, "--outcome"),
          limit: int = typer.Option(50, "--limit")) -> None:
    """Received mail, newest first, by outcome."""
    if ctx.invoked_subcommand is None:
        reports.print_inbox(_app(ctx), outcome, limit)


@inbox_app.command("show")
def inbox_show(ctx: typer.Context, message_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Headers, parse defects, the matching rule and the outcome of one message."""
    if not reports.print_inbound(_app(ctx), message_id):
        raise UserError(f"no inbound message #{message_id}")


@inbox_app.command("retry")
def inbox_retry(ctx: typer.Context, message_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Process a message again (e.g. one set aside as failed)."""
    from bot.actions.pipeline import retry

    if not retry(_app(ctx), message_id):
        raise UserError(f"no inbound message #{message_id}")
    typer.echo(f"#{message_id} queued again; the running bot picks it up")


@outbox_app.callback()
def outbox(ctx: typer.Context, status: Optional[str] = typer.Option(None, "--status",
                                                                   help="queued, sent, bounced or expired"),
           limit: int = typer.Option(50, "--limit")) -> None:
    """Outgoing mail, newest first."""
    if ctx.invoked_subcommand is None:
        reports.print_outbox(_app(ctx), status, limit)


@outbox_app.command("retry")
def outbox_retry(ctx: typer.Context, outbox_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Send a mail again now (also one that bounced or expired)."""
    from bot.outbound.outbox import retry_now
    from bot.store.db import session_scope

    bot = _app(ctx)
    with session_scope(bot.engine) as session:
        try:
            if not retry_now(session, outbox_id, bot.clock.now()):
                raise UserError(f"no outbox mail #{outbox_id}")
        except ValueError as error:
            raise UserError(str(error)) from error
    typer.echo(f"#{outbox_id} queued again; the running bot sends it")


@held_app.callback()
def held(ctx: typer.Context, network: Optional[str] = typer.Option(None, "--network", help="Network slug."),
         everything: bool = typer.Option(False, "--all", help="Also the posts already decided or expired.")) -> None:
    """Posts held for moderation, oldest first: who sent them, why they wait, until when."""
    if ctx.invoked_subcommand is None:
        from bot.cli.held import print_held

        bot = _app(ctx)
        if network and network not in {n.slug for n in bot.settings.networks}:
            raise UserError(f"no network {network!r} in networks.toml")
        _require_database(bot)
        print_held(bot, network, everything)


@held_app.command("approve")
def held_approve(ctx: typer.Context, held_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Relay a held post to the list, as the secretary's "Godkend" would; the sender is told."""
    typer.echo(_decide(ctx, held_id, approve=True))


@held_app.command("reject")
def held_reject(ctx: typer.Context, held_id: int = typer.Argument(..., metavar="ID"),
                reason: str = typer.Option("", "--reason", metavar="TEXT", help="Told to the sender.")) -> None:
    """Reject a held post, as the secretary's "Afvis" would; the sender gets a polite answer."""
    typer.echo(_decide(ctx, held_id, approve=False, reason=reason))


def _decide(ctx: typer.Context, held_id: int, approve: bool, reason: str = "") -> str:
    from bot.actions.moderation import ModerationError, decide_by_id

    bot = _app(ctx)
    _require_database(bot)
    try:
        return decide_by_id(bot, held_id, approve, " ".join(reason.split())[:500])
    except ModerationError as error:
        raise UserError(str(error)) from error


def _require_database(bot: App) -> None:
    """A read or a decision never creates the database: it needs the bot to have run once."""
    from bot.store.db import current_revision, pending_revisions

    if current_revision(bot.engine) is None:
        raise UserError("the database is empty: start the bot once (kkrbot run) first")
    if pending_revisions(bot.engine):
        raise UserError("the database needs `kkrbot db upgrade` first")


@report_app.command("attendance")
def report_attendance(
        ctx: typer.Context,
        network: Optional[str] = typer.Option(None, "--network", help="Network slug (default: all networks)."),
        year: Optional[int] = typer.Option(None, "--year", min=1, max=9998, help="Default: the current year."),
        csv_file: Optional[Path] = typer.Option(None, "--csv", metavar="FILE", help="Also write it as CSV (UTF-8)."),
        excel: bool = typer.Option(False, "--excel", help="With --csv: ';' and UTF-8 with BOM, for Danish Excel.")) -> None:
    """Per meeting and municipality: registered, tentative, apologies and attended (from the minutes)."""
    from zoneinfo import ZoneInfo

    from sqlmodel import Session

    from bot.cli.attendance import attendance_csv, print_attendance
    from bot.meetings.attendance_report import attendance_report, known_network
    from bot.store.db import current_revision

    bot = _app(ctx)
    zone = ZoneInfo(bot.settings.timezone)
    year = year or bot.clock.now().astimezone(zone).year
    if current_revision(bot.engine) is None:  # a read-only report does not create the database
        raise UserError("the database is empty: start the bot once (kkrbot run) first")
    with Session(bot.engine) as session:
        if network and not known_network(session, network):
            raise UserError(f"no network {network!r} in the database")
        meetings = attendance_report(session, year, zone, network)
    print_attendance(meetings, zone, f"Attendance {year}" + (f", {network}" if network else ""))
    if csv_file:
        csv_file.write_bytes(attendance_csv(meetings, zone, excel))
        typer.echo(f"written to {csv_file}")


@app.command()
def preview(ctx: typer.Context,
            network: Optional[str] = typer.Option(None, "--network", help="Network slug (default: the first)."),
            kind: str = typer.Option("agenda", "--kind", help="invitation, agenda, call, draft, reminder, ..."),
            lang: Optional[str] = typer.Option(None, "--lang", help="da, en or nb (default: the network's)."),
            maildir: Optional[Path] = typer.Option(None, "--maildir", help="Deliver into this Maildir instead.")) -> None:
    """Render the next mail of a kind as it would be sent, without sending anything."""
    from bot.cli.preview import KINDS, render_preview, show, to_maildir
    from bot.startup import prepare_database

    bot = _app(ctx, create_secret=True)
    prepare_database(bot)  # migrated, contacts imported, meetings in sync: as `run` would see them
    if kind not in KINDS:
        raise UserError(f"--kind must be one of {', '.join(KINDS)}")
    if lang and lang not in ("da", "en", "nb"):
        raise UserError("--lang must be da, en or nb")
    if network and network not in {n.slug for n in bot.settings.networks}:
        raise UserError(f"no network {network!r} in networks.toml")
    raw = render_preview(bot, network, kind, lang)
    if maildir:
        to_maildir(raw, maildir)
        typer.echo(f"delivered into {maildir}")
    else:
        typer.echo(show(raw))


@app.command()
def demo(ctx: typer.Context,
         network: Optional[str] = typer.Option(None, "--network", help="Network slug (default: the first)."),
         year: Optional[int] = typer.Option(None, "--year", min=2000, max=2999,
                                            help="A calendar year (default: the coming twelve months)."),
         maildir: Optional[Path] = typer.Option(None, "--maildir", metavar="DIR",
                                                help="A new folder for the mail (default: one it names).")) -> None:
    """A network's year on a simulated clock: simulated members answer, every mail goes into a Maildir."""
    from bot.cli.demo import run_demo

    settings = _demo_settings(ctx)
    configure("warning")  # the timeline is the output; the bot's own log lines only when something is wrong
    year_run = run_demo(settings, network, year, maildir)
    if year_run.unsent or year_run.outcomes.get("failed"):
        raise UserError("the year did not run cleanly (see above): please report it")


def _demo_settings(ctx: typer.Context) -> Settings:
    """The config files only: unlike the other commands, the demo never opens the configured database."""
    from bot.config.errors import ConfigError

    try:
        return load_settings(ctx.obj)
    except ConfigError as error:
        raise ConfigRefused([str(p) for p in error.problems]) from error


@app.command()
def backup(ctx: typer.Context, file: Path = typer.Argument(..., help="The .tar file to write.")) -> None:
    """Online backup of the database plus the token secret; safe while the bot runs."""
    from bot.store.backup import write_backup

    bot = _app(ctx)
    settings = bot.settings
    written = write_backup(settings.database_url, file, secret=bot.token_secret,
                           secret_file=settings.token_secret_file, busy_timeout_ms=settings.processing.busy_timeout_ms)
    typer.echo(f"backup written to {file} ({', '.join(written)})")


# -- data protection -------------------------------------------------------------------

@gdpr_app.command("export")
def gdpr_export(ctx: typer.Context, email: str = typer.Argument(...),
                output: Optional[Path] = typer.Option(None, "-o", "--output", help="File (default: stdout)."),
                with_bodies: bool = typer.Option(False, "--with-bodies", help="Also the raw mails and files.")) -> None:
    """Everything stored about a person (contact or sender), as JSON."""
    from bot.cli import gdpr

    text = gdpr.export(_ready(ctx), email, output, with_bodies)
    if output:
        typer.echo(f"written to {output}", err=True)
    else:
        sys.stdout.write(text)


@gdpr_app.command("forget")
def gdpr_forget(ctx: typer.Context, email: str = typer.Argument(...),
                yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")) -> None:
    """Erase a person everywhere; agendas and minutes keep them as "tidligere medlem"."""
    from bot.cli import gdpr

    bot = _ready(ctx)
    person = gdpr.person_for(bot, email)
    if not yes:
        if not sys.stdin.isatty():
            raise UserError("not on a terminal: add --yes to forget without being asked")
        typer.confirm(f"Erase {', '.join(person.addresses)} everywhere? This cannot be undone", abort=True)
    typer.echo(gdpr.erased_line(gdpr.erase(bot, email)))


@app.command("log")
def audit_log(ctx: typer.Context,
              email: Optional[str] = typer.Option(None, "--email", help="Entries by or naming this person."),
              network: Optional[str] = typer.Option(None, "--network", help="Network slug."),
              since: Optional[str] = typer.Option(None, "--since", help="YYYY-MM-DD, or days back: 7d."),
              limit: int = typer.Option(200, "--limit")) -> None:
    """The audit log: who did what, when, through which Message-ID (never a mail body)."""
    from bot.cli import gdpr

    bot = _ready(ctx)
    try:
        moment = gdpr.parse_since(since, bot.settings.timezone, bot.clock.now())
    except ValueError as error:
        raise UserError(f"--since {since!r}: give a date (2027-01-31) or days back (7d)") from error
    gdpr.print_log(bot, email, network, moment, limit)


def _ready(ctx: typer.Context) -> App:
    """The App over a database that exists and is migrated (these commands never create one)."""
    from bot.store.db import current_revision, pending_revisions

    bot = _app(ctx)
    if current_revision(bot.engine) is None:
        raise UserError("the database is empty: start the bot once (kkrbot run) first")
    if pending_revisions(bot.engine):
        raise UserError("the database lacks migrations: run `kkrbot db upgrade` first")
    return bot


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as error:
        raise UserError(f"{file}: {error.strerror}") from error


def main() -> None:
    """Entry point: run the Typer app and turn user-caused errors into one line."""
    os.umask(0o077)  # the database, the token secret, backups and sent mail are the bot's user's alone
    try:
        app()  # Typer handles --help, usage errors and exit codes; ours propagate to here
    except ConfigRefused as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print("kkrbot: the config has problems (see above); nothing was changed", file=sys.stderr)
        sys.exit(2)
    except ContactsError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"kkrbot: {len(error.problems)} bad row(s); nothing was imported", file=sys.stderr)
        sys.exit(2)
    except (UserError, BackupError, PreviewError, DemoError, Refused) as error:
        print(f"kkrbot: {error}", file=sys.stderr)
        sys.exit(1)
    except OperationalError as error:
        print(f"kkrbot: database error: {str(error.orig).splitlines()[0]}", file=sys.stderr)
        sys.exit(3)
    except OSError as error:  # a missing folder, a full disk, a port in use
        print(f"kkrbot: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
