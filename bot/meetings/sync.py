"""Bring the database in line with networks.toml: networks, role holders, meetings.

Runs at start (and on `config reload`) inside one transaction, so a config is never
half-applied. Meetings are keyed by their series id, so moving one updates it in
place; a change of time, place, mode or status raises its iCalendar SEQUENCE. A future
meeting that is no longer in the config at all (an extra date deleted, a series rule
changed) is cancelled, as a member would expect. A meeting that has begun is history:
the config never changes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, select

from bot.config.networks import NetworkConfig
from bot.config.settings import Settings
from bot.meetings.dates import CANCELLED, PlannedMeeting, planned_meetings
from bot.people.addresses import find_contact
from bot.store.models import CHAIR, SECRETARY, VICE_CHAIR, Meeting, Membership, Network

ROLE_KEYS = {"chair": CHAIR, "vice-chair": VICE_CHAIR, "secretary": SECRETARY}
PAST_DAYS, FUTURE_DAYS = 60, 400  # the window of meetings kept in the database


@dataclass
class SyncReport:
    networks_added: list[str] = field(default_factory=list)
    meetings_added: list[str] = field(default_factory=list)
    meetings_changed: list[str] = field(default_factory=list)
    meetings_cancelled: list[str] = field(default_factory=list)  # gone from the config: cancelled
    meetings_left_alone: list[str] = field(default_factory=list)  # changed in the config after they began
    unknown_role_holders: list[str] = field(default_factory=list)


def sync_config(session: Session, settings: Settings, now: datetime) -> SyncReport:
    report = SyncReport()
    networks = _sync_networks(session, settings.networks, report)
    for config in settings.networks:
        _sync_roles(session, networks[config.slug], config, report)
    today = now.date()
    planned = planned_meetings(settings.networks, today - timedelta(days=PAST_DAYS),
                               today + timedelta(days=FUTURE_DAYS))
    _sync_meetings(session, networks, planned, now, report)
    return report


def _sync_networks(session: Session, configs: tuple[NetworkConfig, ...], report: SyncReport) -> dict[str, Network]:
    existing = {n.slug: n for n in session.exec(select(Network))}
    for config in configs:
        network = existing.get(config.slug)
        if network is None:
            network = Network(slug=config.slug, name=config.name, address=config.address)
            session.add(network)
            existing[config.slug] = network
            report.networks_added.append(config.slug)
        network.name, network.address, network.language = config.name, config.address, config.language
        network.parent_slug, network.active = config.parent, True
    for slug, network in existing.items():
        network.active = any(c.slug == slug for c in configs)
    session.flush()
    return existing


def _sync_roles(session: Session, network: Network, config: NetworkConfig, report: SyncReport) -> None:
    wanted = {}
    for key, address in config.role_addresses.items():
        contact = find_contact(session, address)
        if contact is None:
            report.unknown_role_holders.append(f"{config.slug}.{key}: {address}")
        else:
            wanted[(contact.id, ROLE_KEYS[key])] = config.vice_chair_term_start if key == "vice-chair" else None
    query = select(Membership).where(Membership.network_id == network.id, Membership.source == "config")
    current = {(m.contact_id, m.role): m for m in session.exec(query)}
    for key, membership in current.items():
        membership.active = key in wanted
        if key in wanted:
            membership.term_start = wanted[key]
    for (contact_id, role), term_start in wanted.items():
        if (contact_id, role) not in current:
            session.add(Membership(network_id=network.id, contact_id=contact_id, role=role,
                                   source="config", term_start=term_start))


def _sync_meetings(session: Session, networks: dict[str, Network], planned: list[PlannedMeeting],
                   now: datetime, report: SyncReport) -> None:
    ids = [p.series_id for p in planned]
    existing = {m.series_id: m for m in session.exec(select(Meeting).where(Meeting.series_id.in_(ids)))}
    for plan in planned:
        meeting = existing.get(plan.series_id)
        values = dict(starts_at=plan.starts_at, ends_at=plan.ends_at, status=plan.status,
                      mode=plan.mode, place=plan.place, video_link=plan.video_link)
        if meeting is None:
            session.add(Meeting(network_id=networks[plan.network].id, series_id=plan.series_id,
                                original_date=plan.original_date, updated_at=now, **values))
            report.meetings_added.append(plan.series_id)
        elif any(getattr(meeting, k) != v for k, v in values.items()):
            if meeting.starts_at <= now:
                report.meetings_left_alone.append(plan.series_id)
            else:
                _change(meeting, values, now)
                report.meetings_changed.append(plan.series_id)
    _cancel_vanished(session, networks, set(ids), now, report)


def _cancel_vanished(session: Session, networks: dict[str, Network], planned: set[str], now: datetime,
                     report: SyncReport) -> None:
    """A coming meeting of an active network that the config no longer has is cancelled."""
    active = [n.id for n in networks.values() if n.active]
    coming = select(Meeting).where(Meeting.network_id.in_(active), Meeting.starts_at > now,
                                   Meeting.starts_at <= now + timedelta(days=FUTURE_DAYS),
                                   Meeting.status != CANCELLED)
    for meeting in session.exec(coming):
        if meeting.series_id not in planned:
            _change(meeting, dict(status=CANCELLED), now)
            report.meetings_cancelled.append(meeting.series_id)


def _change(meeting: Meeting, values: dict, now: datetime) -> None:
    """Apply a change, keeping what calendars had (for the update's wording) and raising SEQUENCE."""
    meeting.previous = {k: getattr(meeting, k).isoformat() if k.endswith("_at") else getattr(meeting, k)
                        for k in ("starts_at", "ends_at", "mode", "place", "video_link")}
    for key, value in values.items():
        setattr(meeting, key, value)
    meeting.sequence += 1
    meeting.updated_at = now
