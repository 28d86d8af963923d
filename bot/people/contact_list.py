"""A network's contact list, as members ask for it by mail: who is on it, by region, and as CSV.

On the list is everyone with an active membership of the network: members (opted out
or paused too: they are still the network's contact persons), the chair, vice-chair
and secretary, and the KKR consultants of the regions it covers. Each person is one
row, whatever number of roles they hold. The CSV is what Danish Excel opens with a
double click: `;` between fields, UTF-8 with a BOM (or æøå turn into mojibake), CRLF
line ends. Column names, role names and the file name come from the templates, in the
network's language, like any other text in a mail (templates/<lang>/_contact_list.txt).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlmodel import Session, select

from bot.config.networks import REGIONS
from bot.outbound.compose import Attachment
from bot.outbound.templates import template_module
from bot.store.models import CHAIR, SECRETARY, VICE_CHAIR, Contact, Membership, Network

DUTIES = (CHAIR, VICE_CHAIR, SECRETARY)  # named next to the person's role on the list
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a cell Excel would run as a formula


@dataclass(frozen=True)
class ListedContact:
    name: str
    organisation: str
    municipality: str
    region: str
    role: str  # the contacts.csv role: kkr-repræsentant, kommune, kl, medcom, kkr-konsulent
    email: str
    duties: tuple[str, ...]  # chair, vice-chair, secretary in this network

    def as_context(self) -> dict:
        return {"name": self.name, "organisation": self.organisation, "municipality": self.municipality,
                "region": self.region, "role": self.role, "email": self.email, "duties": list(self.duties)}


def contact_list_letter(session: Session, network_slug: str, lang: str) -> tuple[dict, Attachment]:
    """What a `contacts` mail carries: the template's context and the CSV attachment."""
    listed = network_contacts(session, network_slug)
    attachment = Attachment(csv_filename(lang, network_slug), "text/csv", contacts_csv(listed, lang))
    return {"groups": by_region(listed), "count": len(listed), "filename": attachment.filename}, attachment


def network_contacts(session: Session, network_slug: str) -> list[ListedContact]:
    """Everyone on the network's contact list, in region order (nationwide last), then by name."""
    query = (select(Contact, Membership.role).join(Membership, Membership.contact_id == Contact.id).join(Network)
             .where(Network.slug == network_slug, Membership.active == True, Contact.active == True)  # noqa: E712
             .order_by(Contact.id))
    roles: dict[int, tuple[Contact, set[str]]] = {}
    for contact, role in session.exec(query):
        roles.setdefault(contact.id, (contact, set()))[1].add(role)
    listed = [_listed(contact, held) for contact, held in roles.values()]
    return sorted(listed, key=lambda c: (_region_order(c.region), c.name.lower(), c.email))


def _listed(contact: Contact, held: set[str]) -> ListedContact:
    return ListedContact(contact.name, contact.organisation, contact.municipality, contact.region, contact.kind,
                         contact.email, tuple(d for d in DUTIES if d in held))


def _region_order(region: str) -> int:
    return REGIONS.index(region) if region in REGIONS else len(REGIONS)


def by_region(contacts: list[ListedContact]) -> list[dict]:
    """The template's groups: [{"region": "Hovedstaden" or "" (nationwide), "contacts": [...]}]."""
    groups: list[dict] = []
    for contact in contacts:
        if not groups or groups[-1]["region"] != contact.region:
            groups.append({"region": contact.region, "contacts": []})
        groups[-1]["contacts"].append(contact.as_context())
    return groups


def contacts_csv(contacts: list[ListedContact], lang: str) -> bytes:
    """The list as a CSV file for Danish Excel, with the column and role names of `lang`."""
    labels = template_module(lang, "_contact_list.txt")
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(labels.columns)
    for c in contacts:
        role = str(labels.role_with_duties(c.as_context()))
        writer.writerow([_cell(v) for v in (c.name, c.organisation, c.municipality,
                                             c.region or str(labels.nationwide), role, c.email)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def csv_filename(lang: str, network_slug: str) -> str:
    return f"{template_module(lang, '_contact_list.txt').filename}-{network_slug}.csv"


def _cell(value: str) -> str:
    """A value Excel shows as text, never runs: a leading =, +, -, @ gets an apostrophe (OWASP)."""
    return "'" + value if value.startswith(FORMULA_START) else value
