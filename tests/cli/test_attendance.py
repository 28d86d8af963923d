"""`kkrbot report attendance`: the table it prints and the CSV it writes, from real rows in a real database."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.support.attendance import report_app
from tests.support.process import kkrbot

HEADER = ["meeting", "network", "municipality", "registered", "tentative", "apologies", "attended"]
APRIL_ROWS = [["2027-04-15", "it-netvaerk", "Aarhus", "1", "0", "1", "1"],  # registered and apologies
              ["", "", "Herning", "1", "0", "0", "0"],
              ["", "", "KL", "0", "0", "0", "1"],
              ["", "", "København", "1", "0", "0", "1"],
              ["", "", "MedCom", "1", "0", "0", "1"],
              ["", "", "Odense", "0", "1", "0", "1"],  # tentative: its own column
              ["", "", "Vejle", "0", "0", "1", "0"],
              ["", "", "total", "4", "1", "2", "5"]]
JUNE_ROWS = [["2027-06-03", "it-netvaerk", "total", "0", "0", "0", "-"]]  # nobody answered, no minutes
DECEMBER_ROWS = [["2026-12-10", "it-netvaerk", "Aarhus", "1", "0", "0", "-"], ["", "", "total", "1", "0", "0", "-"]]


@pytest.fixture
def config(tmp_path, clock):
    bot = report_app(tmp_path, clock)
    bot.engine.dispose()
    return bot.settings.config_dir


def table_rows(stdout: str) -> list[list[str]]:
    """The cells of a Rich table's lines (header and body), without its borders."""
    return [[cell.strip() for cell in line.split(line[0])[1:-1]]
            for line in stdout.splitlines() if line[:1] in ("┃", "│")]


def test_the_table_counts_per_meeting_and_municipality_with_a_total(config):
    result = kkrbot(config, "report", "attendance", "--network", "it-netvaerk", "--year", "2027")
    assert result.returncode == 0, result.stderr
    assert "Attendance 2027, it-netvaerk" in result.stdout
    rows = table_rows(result.stdout)
    assert rows[0] == HEADER
    assert rows[1:] == APRIL_ROWS + JUNE_ROWS + [["2027-12-09", "it-netvaerk", "total", "0", "0", "0", "-"]]


def test_all_networks_by_default_and_the_year_filters(config):
    every = table_rows(kkrbot(config, "report", "attendance", "--year", "2027").stdout)
    assert {row[1] for row in every[1:]} - {""} == {"it-netvaerk", "it-teknik", "kontaktudvalg"}
    assert ["2027-01-05", "it-teknik", "Odense", "1", "0", "0", "-"] in every
    assert "2026-12-10" not in [row[0] for row in every]
    december = table_rows(kkrbot(config, "report", "attendance", "--network", "it-netvaerk", "--year", "2026").stdout)
    assert december[1:] == DECEMBER_ROWS
    assert kkrbot(config, "report", "attendance", "--year", "2020").stdout == "Attendance 2020: no meetings\n"


def test_the_default_year_is_this_year(config):
    this_year = str(datetime.now(ZoneInfo("Europe/Copenhagen")).year)
    default = kkrbot(config, "report", "attendance")
    assert f"Attendance {this_year}" in default.stdout
    assert default.stdout == kkrbot(config, "report", "attendance", "--year", this_year).stdout


def test_the_csv_has_one_line_per_meeting_and_municipality_with_danish_names_intact(config, tmp_path):
    target = tmp_path / "fremmøde.csv"
    result = kkrbot(config, "report", "attendance", "--network", "it-netvaerk", "--year", "2027", "--csv", str(target))
    assert result.returncode == 0 and f"written to {target}" in result.stdout
    lines = list(csv.reader(io.StringIO(target.read_bytes().decode("utf-8"), newline="")))
    assert lines[0] == ["network", "date", "start", "municipality", "registered", "tentative", "apologies", "attended"]
    assert lines[1:] == [
        ["it-netvaerk", "2027-04-15", "10:00", "Aarhus", "1", "0", "1", "1"],
        ["it-netvaerk", "2027-04-15", "10:00", "Herning", "1", "0", "0", "0"],
        ["it-netvaerk", "2027-04-15", "10:00", "KL", "0", "0", "0", "1"],
        ["it-netvaerk", "2027-04-15", "10:00", "København", "1", "0", "0", "1"],
        ["it-netvaerk", "2027-04-15", "10:00", "MedCom", "1", "0", "0", "1"],
        ["it-netvaerk", "2027-04-15", "10:00", "Odense", "0", "1", "0", "1"],
        ["it-netvaerk", "2027-04-15", "10:00", "Vejle", "0", "0", "1", "0"],
        ["it-netvaerk", "2027-06-03", "13:00", "", "0", "0", "0", ""],  # nobody answered; attended unknown
        ["it-netvaerk", "2027-12-09", "10:00", "", "0", "0", "0", ""]]


def test_excel_csv_has_semicolons_and_a_byte_order_mark(config, tmp_path):
    target = tmp_path / "excel.csv"
    kkrbot(config, "report", "attendance", "--year", "2027", "--csv", str(target), "--excel")
    data = target.read_bytes()
    assert data.startswith("\ufeffnetwork;date;start;".encode())
    assert "it-netvaerk;2027-04-15;10:00;København;1;0;0;1\r\n".encode() in data


def test_mistakes_are_one_line(config, tmp_path):
    unknown = kkrbot(config, "report", "attendance", "--network", "nope")
    assert (unknown.returncode, unknown.stderr) == (1, "kkrbot: no network 'nope' in the database\n")


@pytest.mark.sqlite_only  # no database file yet
def test_before_the_first_start_the_report_says_so(config, tmp_path):
    (tmp_path / "var" / "kkrbot.sqlite3").unlink()
    empty = kkrbot(config, "report", "attendance")
    assert (empty.returncode, empty.stderr) == (1, "kkrbot: the database is empty: start the bot once (kkrbot run) first\n")


def test_the_report_is_in_the_help(config):
    assert " report " in kkrbot(config, "--help").stdout
    assert "attendance" in kkrbot(config, "report", "--help").stdout
