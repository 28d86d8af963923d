"""networks.toml: each network, its people by e-mail, and its meeting series.

A sub-group (`parent`) inherits regions, language, timezone, lead times, region cap
and secretary from its parent unless it sets them; a network that "meets N days
before" another (`meets_before`) takes its dates from that network's meetings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr
from email_validator import EmailNotValidError, validate_email

from bot.config.errors import MISSING, Problems, Table, load_toml

REGIONS = ("Hovedstaden", "Sjælland", "Syddanmark", "Midtjylland", "Nordjylland")
LANGUAGES = ("da", "en", "nb")
UNVERIFIED_POSTS = ("hold", "relay")
AGENDA_APPROVAL = ("silent-consent", "required")
MODES = ("physical", "virtual")
# Raw mail must outlive its handling (retries, a relayed post's copies within the outbox deadline).
RETENTION_MIN_DAYS, RETENTION_MAX_DAYS, RETENTION_DEFAULT_DAYS = 30, 3650, 365
# slug + "+bounce-" + a 24-character token must fit RFC 5321's 64-octet local part.
SLUG_PATTERN = r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?"
SLUG_MAX = 32


@dataclass(frozen=True)
class LeadTimes:
    """Days before (or, for minutes reminders, after) a meeting that each mail goes out."""

    invitation: int = 60
    call: int = 21
    draft: int = 10
    agenda: int = 7
    reminder: int = 1
    minutes_reminder: int = 7


@dataclass(frozen=True)
class Venue:
    """Where a meeting happens; None in an override means "as the series"."""

    mode: str | None = None
    place: str | None = None
    video_link: str | None = None


@dataclass(frozen=True)
class MeetingChange:
    """An extra meeting, or a moved one (then `original` is its date in the series)."""

    day: date
    original: date | None = None
    start: time | None = None
    end: time | None = None
    venue: Venue = Venue()


@dataclass(frozen=True)
class MeetingSeries:
    rrule: str | None = None
    first: date | None = None
    start: time = time(10, 0)
    end: time = time(13, 0)
    venue: Venue = Venue(mode="physical", place="", video_link="")
    extra: tuple[MeetingChange, ...] = ()
    moved: tuple[MeetingChange, ...] = ()
    cancelled: tuple[date, ...] = ()


@dataclass(frozen=True)
class NetworkConfig:
    slug: str
    name: str
    address: str
    regions: tuple[str, ...]
    language: str
    timezone: str
    region_cap: int
    chair: str | None
    vice_chair: str | None
    vice_chair_term_start: date | None
    secretary: str | None
    lead_times: LeadTimes
    meetings: MeetingSeries
    parent: str | None = None
    meets_before: str | None = None
    meets_before_days: int = 0
    list_archive: str | None = None
    unverified_posts: str | None = None  # hold or relay a member's post without a trusted DMARC verdict
    agenda_approval: str = "silent-consent"  # or "required": the agenda waits for the chair's Godkend
    moderation_days: int = 14  # a held post nobody decides on expires after this, and its sender is told
    max_post_bytes: int | None = None  # a larger post is held for moderation (None: bot.toml's max_message_bytes)
    retention_days: int | None = None  # raw mail and finished outbox rows kept this long (None: bot.toml's)

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1]

    @property
    def role_addresses(self) -> dict[str, str]:
        roles = {"chair": self.chair, "vice-chair": self.vice_chair, "secretary": self.secretary}
        return {role: address for role, address in roles.items() if address}


@dataclass
class _Draft:
    """A network as written, before inheritance from its parent is applied."""

    config: NetworkConfig
    table: Table
    given: set[str] = field(default_factory=set)


def load_networks(path: Path, problems: Problems, default_timezone: str) -> tuple[NetworkConfig, ...]:
    data, source = load_toml(path, problems)
    top = Table(data, file=str(path), path="", problems=problems, source=source)
    entries = top.items("network", [])
    top.reject_unknown()
    drafts = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            top.problem("network", f"entry {index + 1} must be a [[network]] table")
            continue
        line = source.header_line("network", index) if source else 0
        table = Table(entry, file=str(path), path=f"network[{index + 1}]", problems=problems,
                      source=source, line=line or 0)
        drafts.append(_read_network(table, default_timezone))
    networks = _inherit(drafts, problems, str(path))
    _check_unique(networks, drafts, problems)
    return tuple(networks)


def _read_network(table: Table, default_timezone: str) -> _Draft:
    slug = table.text("slug", pattern=SLUG_PATTERN,
                      hint=f"lowercase letters, digits and '-', at most {SLUG_MAX} characters")
    valid_slug = isinstance(slug, str) and re.fullmatch(SLUG_PATTERN, slug)
    if valid_slug:
        table.path = f"network[{slug}]"
    address = _address(table, "address")
    if address and valid_slug and address.split("@")[0] != slug:
        table.problem("address", f"the local part of {address!r} must be the slug {slug!r}")
    config = NetworkConfig(
        slug=slug or "",
        name=table.text("name"),
        address=address or "",
        regions=_regions(table),
        language=table.choice("language", LANGUAGES, "da"),
        timezone=_timezone(table, default_timezone),
        region_cap=table.integer("region_cap", 3, minimum=1, maximum=50),
        chair=_address(table, "chair", None),
        vice_chair=_address(table, "vice_chair", None),
        vice_chair_term_start=table.day("vice_chair_term_start", None),
        secretary=_address(table, "secretary", None),
        lead_times=_lead_times(table),
        meetings=_series(table),
        parent=table.text("parent", None),
        list_archive=table.text("list_archive", None),
        unverified_posts=table.choice("unverified_posts", UNVERIFIED_POSTS, None),
        agenda_approval=table.choice("agenda_approval", AGENDA_APPROVAL, "silent-consent"),
        moderation_days=table.integer("moderation_days", 14, minimum=1, maximum=365),
        max_post_bytes=table.integer("max_post_bytes", None, minimum=1024),
        retention_days=table.integer("retention_days", None, minimum=RETENTION_MIN_DAYS, maximum=RETENTION_MAX_DAYS),
        **_meets_before(table),
    )
    given = set(table.data)
    table.reject_unknown()
    return _Draft(config, table, given)


def _address(table: Table, key: str, default: Any = MISSING) -> str | None:
    value = table.text(key, default)
    if not value or value is default:
        return value
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        table.problem(key, f"{value!r} is not an e-mail address ({error})")
        return None


def _regions(table: Table) -> tuple[str, ...]:
    regions = table.items("regions", list(REGIONS))
    for region in regions:
        if region not in REGIONS:
            table.problem("regions", f"{region!r} is not a region (one of {', '.join(REGIONS)})")
    return tuple(r for r in regions if r in REGIONS)


def _timezone(table: Table, default: str) -> str:
    name = table.text("timezone", default)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        table.problem("timezone", f"{name!r} is not a known timezone (e.g. Europe/Copenhagen)")
        return default
    return name


def _lead_times(table: Table) -> LeadTimes:
    sub = table.child("lead_times", table.subtable("lead_times"), header="network.lead_times")
    defaults = LeadTimes()
    values = {name: sub.integer(name, getattr(defaults, name), minimum=0, maximum=365)
              for name in LeadTimes.__dataclass_fields__}
    sub.reject_unknown()
    return LeadTimes(**values)


def _meets_before(table: Table) -> dict:
    value = table.subtable("meets_before")
    if not value:
        return {}
    sub = table.child("meets_before", value)
    result = {"meets_before": sub.text("network"), "meets_before_days": sub.integer("days", minimum=1, maximum=120)}
    sub.reject_unknown()
    return result


def _series(table: Table) -> MeetingSeries:
    sub = table.child("meetings", table.subtable("meetings"), header="network.meetings")
    rule = sub.text("rrule", None)
    first = sub.day("first", None)
    if rule and first is None:
        sub.problem("first", "is required with rrule: the date of the first meeting in the series")
    if rule and first:
        _check_rrule(sub, rule, first)
    series = MeetingSeries(
        rrule=rule, first=first,
        start=sub.time_of_day("start", time(10, 0)), end=sub.time_of_day("end", time(13, 0)),
        venue=_venue(sub, "physical"),
        extra=tuple(_change(sub, "extra", i, e) for i, e in enumerate(sub.items("extra", []))),
        moved=tuple(_change(sub, "moved", i, e) for i, e in enumerate(sub.items("moved", []))),
        cancelled=tuple(sub.as_date("cancelled", d) for d in sub.items("cancelled", [])),
    )
    if series.end <= series.start:
        sub.problem("end", "must be after start")
    sub.reject_unknown()
    return series


def _check_rrule(table: Table, rule: str, first: date) -> None:
    from datetime import datetime

    try:
        rrulestr(rule, dtstart=datetime.combine(first, time(0, 0)))
    except (ValueError, TypeError) as error:
        table.problem("rrule", f"{rule!r} is not an RFC 5545 RRULE ({error})")


def _venue(table: Table, default_mode: str | None) -> Venue:
    mode = table.choice("mode", MODES, default_mode)
    place = table.text("place", None if default_mode is None else "")
    link = table.text("video_link", None if default_mode is None else "")
    if mode == "virtual" and default_mode and not link:
        table.problem("video_link", "is required for a virtual meeting series")
    if mode == "physical" and default_mode and not place:
        table.problem("place", "is required for a physical meeting series")
    return Venue(mode=mode, place=place, video_link=link)


def _change(parent: Table, key: str, index: int, entry: Any) -> MeetingChange:
    if not isinstance(entry, dict):
        parent.problem(key, f"entry {index + 1} must be a table")
        return MeetingChange(day=date(1970, 1, 1))
    header = f"network.meetings.{key}"
    sub = parent.child(f"{key}[{index + 1}]", entry, header=header, occurrence=index)
    change = MeetingChange(
        day=sub.day("date"),
        original=sub.day("original") if key == "moved" else None,
        start=sub.time_of_day("start", None), end=sub.time_of_day("end", None),
        venue=_venue(sub, None),
    )
    sub.reject_unknown()
    return change


def _inherit(drafts: list[_Draft], problems: Problems, file: str) -> list[NetworkConfig]:
    """Fill a sub-group's unset fields from its parent; check parent and meets_before exist."""
    by_slug = {d.config.slug: d for d in drafts}
    inheritable = {"regions", "language", "timezone", "region_cap", "secretary", "lead_times", "unverified_posts",
                   "agenda_approval", "moderation_days", "max_post_bytes", "retention_days"}
    result = []
    for draft in drafts:
        config = draft.config
        for key, target in (("parent", config.parent), ("meets_before", config.meets_before)):
            if target and (target not in by_slug or target == config.slug):
                draft.table.problem(key, f"names {target!r}, which is not another network in this file")
        parent = by_slug.get(config.parent) if config.parent else None
        if parent and parent.config.parent:
            draft.table.problem("parent", "a sub-group's parent must not itself be a sub-group")
        if parent:
            inherited = {k: getattr(parent.config, k) for k in inheritable if k not in draft.given}
            config = replace(config, **inherited)
        if config.meets_before and config.meetings.rrule:
            draft.table.problem("meetings.rrule", "a network that meets_before another takes its dates from it; remove rrule")
        result.append(config)
    return result


def _check_unique(networks: list[NetworkConfig], drafts: list[_Draft], problems: Problems) -> None:
    seen: dict[str, str] = {}
    for config, draft in zip(networks, drafts):
        for key, value in (("slug", config.slug), ("address", config.address)):
            if value and value in seen:
                draft.table.problem(key, f"{value!r} is also used by network {seen[value]!r}")
            seen.setdefault(value, config.slug)
