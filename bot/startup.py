"""Checking a config folder as a whole, and preparing the database for `run`.

`check_config` gathers every problem of every file (bot.toml, networks.toml, .env,
contacts.csv and the cross-checks between them) so `kkrbot config check` can print
them all at once and `kkrbot run` can refuse to start on any of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import inspect
from sqlmodel import Session, select

from bot.app import App
from bot.config.errors import ConfigError, ConfigProblem
from bot.config.settings import Settings, load_settings
from bot.core.logs import log_event
from bot.meetings.dates import planned_meetings
from bot.meetings.sync import sync_config
from bot.people.contacts import ContactsError, apply_rows, read_rows
from bot.store.db import session_scope, upgrade
from bot.store.models import Alias, Contact


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
    return ConfigCheck(settings, problems, cycle_warnings(settings, today or date.today()))


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
    if settings.database_url.startswith("sqlite") and not Path(settings.database_url.split("///", 1)[-1]).exists():
        return set()
    app_engine = App.create(settings).engine
    try:
        if not inspect(app_engine).has_table("contact"):
            return set()
        with Session(app_engine) as session:
            contacts = session.exec(select(Contact.email).where(Contact.active == True)).all()  # noqa: E712
            aliases = session.exec(select(Alias.address)).all()
        return set(contacts) | set(aliases)
    finally:
        app_engine.dispose()


def prepare_database(app: App) -> None:
    """Migrate; on the first start import contacts.csv; sync networks and meetings (one transaction)."""
    applied = upgrade(app.engine)
    if applied:
        log_event("migrated", revisions=",".join(applied))
    now = app.clock.now()
    with session_scope(app.engine) as session:
        first_start = session.exec(select(Contact.id).limit(1)).first() is None
        report = sync_config(session, app.settings, now)
        if first_start and app.settings.contacts_file.exists():
            rows = read_rows(app.settings.contacts_file.read_bytes(), app.settings.networks)
            imported = apply_rows(session, rows, app.settings.networks, now)
            sync_config(session, app.settings, now)  # now the chair, vice-chair and secretary exist
            log_event("contacts_imported", file=app.settings.contacts_file, added=len(imported.added))
    log_event("config_loaded", networks=len(app.settings.networks), meetings_added=len(report.meetings_added),
              meetings_changed=len(report.meetings_changed))
