"""contacts.csv: read (UTF-8 or Windows-1252, `,` or `;`), validate every row, sync, export.

SQLite is the system of record; the file is how an administrator edits it. An
import validates every row first and applies nothing if any row is wrong. It then
syncs: people missing from the file are deactivated (never deleted, their history
stays), and an opted-out membership is never re-subscribed.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session, select

from bot.config.networks import REGIONS, NetworkConfig
from bot.store.models import KKR_CONSULTANT, KL, MEDCOM, MEMBER, Alias, Contact, Membership, Network

CSV_FIELDS = ("name", "email", "organisation", "municipality", "region", "role", "networks", "aliases")
CSV_ROLES = {"kkr-repræsentant": MEMBER, "kommune": MEMBER, "kl": KL, "medcom": MEDCOM,
             "kkr-konsulent": KKR_CONSULTANT}
CAPPED_KINDS = ("kkr-repræsentant", "kommune")  # KL and MedCom decide their own numbers
REGION_REQUIRED = ("kkr-repræsentant", "kommune", "kkr-konsulent")


class ContactsError(Exception):
    """The file cannot be imported; `problems` lists every bad row by line number."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class ContactRow:
    line: int
    name: str
    email: str
    organisation: str
    municipality: str
    region: str
    kind: str
    networks: tuple[str, ...]
    aliases: tuple[str, ...]


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    opted_out_kept: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deactivated)


# -- reading -------------------------------------------------------------------------

def decode(data: bytes) -> str:
    """UTF-8 (a BOM is dropped), else Windows-1252, which is what Danish Excel writes."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_rows(data: bytes, networks: tuple[NetworkConfig, ...]) -> list[ContactRow]:
    """Parse and validate the whole file; raise ContactsError naming every bad line."""
    text = decode(data)
    first_line = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    problems = _header_problems(reader.fieldnames or [])
    if problems:
        raise ContactsError(problems)
    rows = []
    for record in reader:
        line = reader.line_num
        row, row_problems = _row(line, record, {n.slug: n for n in networks})
        problems += row_problems
        if row:
            rows.append(row)
    problems += _cross_row_problems(rows, {n.slug: n for n in networks})
    if problems:
        raise ContactsError(sorted(problems, key=_line_number))
    return rows


def _line_number(problem: str) -> int:
    head = problem.split(":", 1)[0]
    return int(head.split()[-1]) if head.split()[-1].isdigit() else 0


def _header_problems(fieldnames: list[str]) -> list[str]:
    names = [(name or "").strip().lower() for name in fieldnames]
    missing = [f for f in CSV_FIELDS[:-1] if f not in names]
    unknown = [n for n in names if n and n not in CSV_FIELDS]
    problems = []
    if missing:
        problems.append(f"line 1: missing column(s) {', '.join(missing)}; expected {', '.join(CSV_FIELDS)}")
    if unknown:
        problems.append(f"line 1: unknown column(s) {', '.join(unknown)}")
    return problems


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(";") if part.strip())


def _row(line: int, record: dict, networks: dict[str, NetworkConfig]) -> tuple[ContactRow | None, list[str]]:
    get = {(k or "").strip().lower(): (v or "").strip() if isinstance(v, str) else "" for k, v in record.items()}
    problems: list[str] = []
    say = lambda message: problems.append(f"line {line}: {message}")  # noqa: E731
    email = _valid_address(get.get("email", ""), say, "email")
    aliases = tuple(a for a in (_valid_address(a, say, "alias") for a in _split(get.get("aliases"))) if a)
    kind = get.get("role", "").lower()
    region = get.get("region", "")
    slugs = tuple(s.lower() for s in _split(get.get("networks")))
    if not get.get("name"):
        say("name is empty")
    if kind not in CSV_ROLES:
        say(f"role {get.get('role')!r} is not one of {', '.join(CSV_ROLES)}")
    if region and region not in REGIONS:
        say(f"region {region!r} is not one of {', '.join(REGIONS)}")
    elif not region and kind in REGION_REQUIRED:
        say(f"region is required for role {kind}")
    for slug in slugs:
        if slug not in networks:
            say(f"network {slug!r} is not in networks.toml")
        elif region and kind in CAPPED_KINDS and region not in networks[slug].regions:
            say(f"region {region} is not covered by network {slug}")
    if kind == "kkr-konsulent" and slugs:
        say("a KKR consultant gets minutes by region: leave networks empty")
    elif kind in CSV_ROLES and kind != "kkr-konsulent" and not slugs:
        say("networks is empty: name at least one network slug")
    if problems or not email:
        return None, problems
    return ContactRow(line, get["name"], email, get.get("organisation", ""), get.get("municipality", ""),
                      region, kind, slugs, aliases), problems


def _valid_address(value: str, say, what: str) -> str | None:
    if not value:
        say(f"{what} is empty")
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        say(f"{what} {value!r} is not an e-mail address ({error})")
        return None


def _cross_row_problems(rows: list[ContactRow], networks: dict[str, NetworkConfig]) -> list[str]:
    problems = []
    owner: dict[str, ContactRow] = {}
    for row in rows:
        for address in (row.email, *row.aliases):
            if address in owner and owner[address] is not row:
                other = owner[address]
                what = "alias" if address != row.email else "email"
                problems.append(f"line {row.line}: {what} {address} already belongs to "
                                f"{other.name} (line {other.line})")
            owner.setdefault(address, row)
    problems += _region_cap_problems(rows, networks)
    return problems


def _region_cap_problems(rows: list[ContactRow], networks: dict[str, NetworkConfig]) -> list[str]:
    seats: dict[tuple[str, str], list[ContactRow]] = defaultdict(list)
    for row in rows:
        if row.kind in CAPPED_KINDS:
            for slug in row.networks:
                seats[(slug, row.region)].append(row)
    problems = []
    for (slug, region), holders in seats.items():
        cap = networks[slug].region_cap
        for row in holders[cap:]:
            problems.append(f"line {row.line}: network {slug} already has {cap} members from region "
                            f"{region} (lines {', '.join(str(r.line) for r in holders[:cap])}); "
                            f"KL and MedCom do not count")
    return problems


# -- applying ------------------------------------------------------------------------

def apply_rows(session: Session, rows: list[ContactRow], networks: tuple[NetworkConfig, ...],
               now: datetime) -> ImportReport:
    """Sync the database to the validated rows; the caller commits."""
    report = ImportReport()
    network_ids = {n.slug: n.id for n in session.exec(select(Network))}
    existing = {c.email: c for c in session.exec(select(Contact))}
    seen: set[int] = set()
    for row in rows:
        contact = _upsert_contact(session, existing.get(row.email), row, now, report)
        seen.add(contact.id)
        _sync_aliases(session, contact, row.aliases, report)
        wanted = _wanted_memberships(row, networks, network_ids)
        _sync_memberships(session, contact, wanted, report)
    for contact in existing.values():
        if contact.id not in seen and contact.active:
            contact.active = False
            contact.updated_at = now
            report.deactivated.append(contact.email)
            _sync_memberships(session, contact, set(), report)
    return report


def _upsert_contact(session: Session, contact: Contact | None, row: ContactRow, now: datetime,
                    report: ImportReport) -> Contact:
    values = dict(name=row.name, organisation=row.organisation, municipality=row.municipality,
                  region=row.region, kind=row.kind, active=True)
    if contact is None:
        contact = Contact(email=row.email, created_at=now, updated_at=now, **values)
        session.add(contact)
        session.flush()
        report.added.append(row.email)
        return contact
    if any(getattr(contact, k) != v for k, v in values.items()):
        for key, value in values.items():
            setattr(contact, key, value)
        contact.updated_at = now
        report.updated.append(row.email)
    return contact


def _sync_aliases(session: Session, contact: Contact, aliases: tuple[str, ...], report: ImportReport) -> None:
    current = {a.address: a for a in session.exec(select(Alias).where(Alias.contact_id == contact.id))}
    if set(current) == set(aliases):
        return
    for address, alias in current.items():
        if address not in aliases:
            session.delete(alias)
    session.flush()
    for address in aliases:
        if address not in current:
            taken = session.get(Alias, address)
            if taken:  # it belonged to someone who left the file; now it is this person's
                session.delete(taken)
                session.flush()
            session.add(Alias(address=address, contact_id=contact.id))
    if contact.email not in report.added and contact.email not in report.updated:
        report.updated.append(contact.email)


def _wanted_memberships(row: ContactRow, networks: tuple[NetworkConfig, ...],
                        network_ids: dict[str, int]) -> set[tuple[int, str]]:
    role = CSV_ROLES[row.kind]
    if role == KKR_CONSULTANT:
        return {(network_ids[n.slug], role) for n in networks if row.region in n.regions and n.slug in network_ids}
    return {(network_ids[slug], role) for slug in row.networks if slug in network_ids}


def _sync_memberships(session: Session, contact: Contact, wanted: set[tuple[int, str]],
                      report: ImportReport) -> None:
    query = select(Membership).where(Membership.contact_id == contact.id, Membership.source == "csv")
    current = {(m.network_id, m.role): m for m in session.exec(query)}
    changed = False
    for key, membership in current.items():
        active = key in wanted
        if membership.active != active:
            membership.active, changed = active, True
        if active and membership.opted_out and contact.email not in report.opted_out_kept:
            report.opted_out_kept.append(contact.email)
    for network_id, role in wanted - set(current):
        session.add(Membership(network_id=network_id, contact_id=contact.id, role=role, source="csv"))
        changed = True
    if changed and contact.email not in report.added + report.updated + report.deactivated:
        report.updated.append(contact.email)


# -- exporting -----------------------------------------------------------------------

def export_csv(session: Session, networks: tuple[NetworkConfig, ...], excel: bool = False) -> bytes:
    """The active contacts in the import format: import → export → import changes nothing.

    `excel` writes `;` and UTF-8 with a BOM, so Danish Excel opens it with æøå intact.
    """
    order = {n.slug: i for i, n in enumerate(networks)}
    slugs = {n.id: n.slug for n in session.exec(select(Network))}
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";" if excel else ",", lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    contacts = session.exec(select(Contact).where(Contact.active == True).order_by(Contact.id))  # noqa: E712
    for contact in contacts:
        writer.writerow(_export_row(session, contact, slugs, order))
    text = out.getvalue()
    return ("\ufeff" + text).encode("utf-8") if excel else text.encode("utf-8")


def _export_row(session: Session, contact: Contact, slugs: dict[int, str], order: dict[str, int]) -> list[str]:
    query = select(Membership).where(Membership.contact_id == contact.id, Membership.source == "csv",
                                     Membership.active == True, Membership.role != KKR_CONSULTANT)  # noqa: E712
    networks = sorted({slugs[m.network_id] for m in session.exec(query)}, key=lambda s: order.get(s, 999))
    aliases = sorted(a.address for a in session.exec(select(Alias).where(Alias.contact_id == contact.id)))
    return [contact.name, contact.email, contact.organisation, contact.municipality, contact.region,
            contact.kind, ";".join(networks), ";".join(aliases)]

