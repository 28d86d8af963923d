"""Checking a config folder as a whole, and applying it to the database.

`check_config` gathers every problem of every file (bot.toml, networks.toml, .env,
contacts.csv and the cross-checks between them) so `kkrbot config check` can print
them all at once and `kkrbot run` can refuse to start on any of them.

`prepare_database` (at start) and `reload_config` (`kkrbot config reload`) apply a checked
config in one transaction and record it as a ConfigGeneration; `ConfigFollower` is how a
running bot takes up a reload: it sees the newer row and swaps in the new networks.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from bot.app import App
from bot.config.errors import ConfigError, ConfigProblem
from bot.config.settings import Settings, load_settings
from bot.core.logs import log_event
from bot.meetings.dates import planned_meetings
from bot.meetings.sync import SyncReport, sync_config
from bot.people.contacts import ContactsError, apply_rows, read_rows
from bot.people.forgotten import without_forgotten
from bot.store.audit import ADMIN, audit
from bot.store.db import exclusive, make_engine, pending_revisions, session_scope, upgrade
from bot.store.models import Alias, ConfigGeneration, Contact


@dataclass
class ConfigCheck:
    settings: Settings | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the networks' own rules: said, never refused


def check_config(config_dir: Path, environ: dict | None = None, today: date | None = None) -> ConfigCheck:
    try:
        settings = load_settings(config_dir, environ)
    except ConfigError as error:
        return ConfigCheck(None, [str(p) for p in error.problems])
    known = _known_addresses(settings)
    problems = list(known.problems)
    for network in settings.networks:
        for role, address in network.role_addresses.items():
            if known.addresses is not None and address not in known.addresses:
                problems.append(str(ConfigProblem(str(config_dir / "networks.toml"),
                                                  f"key network[{network.slug}].{role.replace('-', '_')}",
                                                  f"{address} is not a contact (nor an alias of one) "
                                                  f"in {known.source}")))
    return ConfigCheck(settings, problems,
                       cycle_warnings(settings, today or date.today()) + moderation_warnings(settings))


def moderation_warnings(settings: Settings) -> list[str]:
    """Moderation settings that cannot work as written: a post limit the receiver never lets through,
    or held posts with no secretary to ask (they wait for `kkrbot held` until they expire)."""
    warnings = []
    for network in settings.networks:
        where = f"networks.toml: network[{network.slug}]"
        if network.max_post_bytes and network.max_post_bytes > settings.limits.max_message_bytes:
            warnings.append(f"{where}.max_post_bytes: {network.max_post_bytes} is above bot.toml's "
                            f"max_message_bytes ({settings.limits.max_message_bytes}); larger mail is refused at "
                            "the door, never held")
        if not network.secretary:
            warnings.append(f"{where}: no secretary, so nobody is asked about held posts; "
                            "they wait for `kkrbot held` until they expire")
    return warnings


def cycle_warnings(settings: Settings, today: date) -> list[str]:
    """What the networks' own rules ask and the config does not give: at least 3 meetings and one
    physical meeting in the next twelve months, and a vice-chair within the two-year term."""
    year = planned_meetings(settings.networks, today, today + timedelta(days=365))
    warnings = []
    for network in settings.networks:
        meetings = [m for m in year if m.network == network.slug and m.status != "cancelled"
                    and today <= m.starts_at.date() <= today + timedelta(days=365)]
        where = f"networks.toml: network[{network.slug}]"
        if len(meetings) < 3:
            warnings.append(f"{where}: {len(meetings)} meeting(s) in the next twelve months; the network meets at "
                            "least 3 times a year")
        if not any(m.mode == "physical" for m in meetings):
            warnings.append(f"{where}: no physical meeting in the next twelve months; one a year should be")
        start = network.vice_chair_term_start
        if network.vice_chair and start and today > start.replace(year=start.year + 2) - timedelta(days=1):
            warnings.append(f"{where}: the vice-chair's two-year term began {start.isoformat()} and has run out")
    return warnings


@dataclass
class _Known:
    addresses: set[str] | None
    source: str
    problems: list[str] = field(default_factory=list)


def _known_addresses(settings: Settings) -> _Known:
    """Contacts from the database when it has any (it is the system of record), else the CSV."""
    from_db = _database_addresses(settings)
    if from_db:
        return _Known(from_db, "the database")
    path = settings.contacts_file
    try:
        rows = read_rows(path.read_bytes(), settings.networks)
    except FileNotFoundError:
        return _Known(set(), str(path), [f"{path}: file: is missing"])
    except ContactsError as error:
        return _Known(None, str(path), [f"{path}: {problem}" for problem in error.problems])
    return _Known({a for r in rows for a in (r.email, *r.aliases)}, str(path))


def _database_addresses(settings: Settings) -> set[str]:
    """The contacts in the database; none when there is no database yet, or it cannot be reached
    (a PostgreSQL server that is down): the check then reads the CSV, as before the first start."""
    if settings.database_url.startswith("sqlite") and not Path(settings.database_url.split("///", 1)[-1]).exists():
        return set()
    app_engine = make_engine(settings.database_url, settings.processing.busy_timeout_ms)
    try:
        if not inspect(app_engine).has_table("contact"):
            return set()
        with Session(app_engine) as session:
            contacts = session.exec(select(Contact.email).where(Contact.active == True)).all()  # noqa: E712
            aliases = session.exec(select(Alias.address)).all()
        return set(contacts) | set(aliases)
    except OperationalError as error:
        log_event("config_check_database_unreachable", error=type(error).__name__)
        return set()
    finally:
        app_engine.dispose()


def prepare_database(app: App) -> ConfigGeneration:
    """Migrate; on the first start import contacts.csv; apply the config (one transaction).
    One process at a time, when several start together on one PostgreSQL database."""
    with exclusive(app.engine):
        return _prepare_database(app)


def _prepare_database(app: App) -> ConfigGeneration:
    digests = config_digests(app.settings.config_dir)
    applied = upgrade(app.engine)
    if applied:
        log_event("migrated", revisions=",".join(applied))
    now = app.clock.now()
    with session_scope(app.engine) as session:
        first_start = session.exec(select(Contact.id).limit(1)).first() is None
        report, generation = apply_config(session, app.settings, now, "start", digests)
        if first_start and app.settings.contacts_file.exists():
            rows = read_rows(app.settings.contacts_file.read_bytes(), app.settings.networks)
            rows, _ = without_forgotten(session, app.token_secret, rows)
            imported = apply_rows(session, rows, app.settings.networks, now)
            sync_config(session, app.settings, now)  # now the chair, vice-chair and secretary exist
            log_event("contacts_imported", file=app.settings.contacts_file, added=len(imported.added))
    _log_applied("config_loaded", app.settings, report)
    return generation


class NotApplied(Exception):
    """`config reload` found a reason to apply nothing; the message says what to do."""


def reload_config(app: App, digests: dict[str, str]) -> SyncReport:
    """Apply an already checked config to the database in one transaction, for a running bot to take up.

    `digests` are of the files as they were before they were checked, so a file edited after the check
    is not taken up by the bot as if it had been checked (ConfigFollower compares)."""
    pending = pending_revisions(app.engine)
    if pending:
        raise NotApplied(f"the database lacks migrations {', '.join(pending)}: start the bot (or run "
                         "`kkrbot db upgrade`) first")
    with session_scope(app.engine) as session:
        report, _ = apply_config(session, app.settings, app.clock.now(), "reload", digests)
        audit(session, app.clock.now(), ADMIN, "config-reload", detail=f"networks.toml {digests['networks_digest'][:12]}")
    _log_applied("config_reloaded", app.settings, report)
    return report


def apply_config(session: Session, settings: Settings, now, source: str,
                 digests: dict[str, str]) -> tuple[SyncReport, ConfigGeneration]:
    """Bring networks, role holders and meetings in line with the config, and record that it was."""
    report = sync_config(session, settings, now)
    generation = ConfigGeneration(applied_at=now, source=source, **digests)
    session.add(generation)
    session.flush()
    return report, generation


def config_digests(config_dir: Path) -> dict[str, str]:
    return {"networks_digest": _digest(config_dir / "networks.toml"), "bot_digest": _digest(config_dir / "bot.toml")}


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return ""


def _log_applied(event: str, settings: Settings, report: SyncReport) -> None:
    log_event(event, networks=len(settings.networks), meetings_added=len(report.meetings_added),
              meetings_changed=len(report.meetings_changed), meetings_cancelled=len(report.meetings_cancelled),
              meetings_left_alone=",".join(report.meetings_left_alone))


class ConfigFollower:
    """A running bot's side of `config reload`: it takes up the newest ConfigGeneration.

    Only networks.toml is taken up while running (networks, addresses, roles, lead times,
    meetings); bot.toml and .env hold ports, folders and credentials that a restart applies,
    and the bot logs that it needs one. While the bot is behind a reload it cannot take up
    (networks.toml edited again after the reload checked it), it must not sync meetings
    from its old networks, or it would undo the reload: `behind` says so."""

    def __init__(self, app: App, started: ConfigGeneration, on_new: Callable[[Settings], None]):
        self.app, self.on_new = app, on_new
        self.generation, self.bot_digest = started.id, started.bot_digest
        self.refused: int | None = None

    def behind(self, session: Session) -> bool:
        return self._latest(session).id != self.generation

    def follow(self) -> bool:
        """Take up a newer reload if there is one; True when it was taken up."""
        with Session(self.app.engine) as session:
            latest = self._latest(session)
        if latest.id == self.generation or latest.id == self.refused:
            return False
        problem, fresh = self._load(latest)
        if problem:
            self.refused = latest.id
            log_event("config_reload_refused", generation=latest.id, reason=problem)
            return False
        self.app.settings = dataclasses.replace(self.app.settings, networks=fresh.networks)
        self.on_new(self.app.settings)
        self.generation = latest.id
        log_event("config_taken_up", generation=latest.id, networks=len(fresh.networks),
                  restart_needed_for="bot.toml" if latest.bot_digest != self.bot_digest else "")
        return True

    def _load(self, latest: ConfigGeneration) -> tuple[str, Settings | None]:
        config_dir = self.app.settings.config_dir
        if config_digests(config_dir)["networks_digest"] != latest.networks_digest:
            return "networks.toml changed after `kkrbot config reload` checked it; run the reload again", None
        try:
            return "", load_settings(config_dir, dict(self.app.settings.secrets.values))
        except ConfigError as error:
            return "; ".join(str(p) for p in error.problems), None

    @staticmethod
    def _latest(session: Session) -> ConfigGeneration:
        return session.exec(select(ConfigGeneration).order_by(ConfigGeneration.id.desc()).limit(1)).one()
