"""`kkrbot report attendance`: the attendance report as a table, and as CSV for a spreadsheet.

The table has a total line per meeting ("28 registered, 20 attended"); the CSV has only the
municipality lines, so a spreadsheet's sums and pivot tables count nothing twice.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.table import Table

from bot.cli.reports import console, shown
from bot.meetings.attendance_report import Counts, MeetingAttendance

CSV_FIELDS = ("network", "date", "start", "municipality", "registered", "tentative", "apologies", "attended")


def print_attendance(meetings: list[MeetingAttendance], zone: ZoneInfo, title: str) -> None:
    """The meeting's date and network on its first line only, so each meeting reads as one block."""
    if not meetings:
        console.print(f"{title}: no meetings")
        return
    table = Table("meeting", "network", "municipality", title=title)
    for header in ("registered", "tentative", "apologies", "attended"):
        table.add_column(header, justify="right")
    for meeting in meetings:
        when = meeting.starts_at.astimezone(zone).strftime("%Y-%m-%d")
        heading = [when, meeting.network]
        for name, counts in meeting.by_municipality:
            table.add_row(*heading, shown(name or "-"), *_cells(counts))
            heading = ["", ""]
        table.add_row(*heading, "[bold]total[/bold]", *_cells(meeting.total), end_section=True)
    console.print(table)


def attendance_csv(meetings: list[MeetingAttendance], zone: ZoneInfo, excel: bool = False) -> bytes:
    """One line per meeting and municipality; a meeting nobody answered has one line with no municipality.

    `attended` is empty until the minutes said who came. `excel` writes `;` and UTF-8 with a BOM,
    as `contacts export --excel` does, so Danish Excel keeps æøå."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";" if excel else ",", lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for meeting in meetings:
        local = meeting.starts_at.astimezone(zone)
        for name, counts in meeting.by_municipality or (("", meeting.total),):
            writer.writerow([meeting.network, *_date_and_start(local), name, *_cells(counts, unknown="")])
    text = out.getvalue()
    return ("\ufeff" + text).encode("utf-8") if excel else text.encode("utf-8")


def _date_and_start(local: datetime) -> tuple[str, str]:
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M")


def _cells(counts: Counts, unknown: str = "-") -> list[str]:
    """The four counts as text; attended shows `unknown` until the minutes are in."""
    attended = unknown if counts.attended is None else str(counts.attended)
    return [str(counts.registered), str(counts.tentative), str(counts.apologies), attended]
