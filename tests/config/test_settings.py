"""Config errors: each kind names the file, the line or key, and what is wrong."""
from __future__ import annotations

import pytest

from bot.config.errors import ConfigError
from bot.config.settings import load_settings
from bot.startup import check_config
from tests.support.config import make_config, set_keys, shipped_networks
from tests.support.process import kkrbot


def problems_of(tmp_path, **kwargs) -> list[str]:
    config = make_config(tmp_path, **kwargs)
    return check_config(config, environ={}).problems


def networks_with(old: str, new: str) -> str:
    text = shipped_networks()
    assert old in text, old
    return text.replace(old, new, 1)


def test_the_shipped_config_is_valid(tmp_path):
    assert problems_of(tmp_path) == []


def test_toml_syntax_error_names_file_and_line(tmp_path):
    [problem] = problems_of(tmp_path, networks_toml=networks_with('region_cap = 3', 'region_cap = = 3'))
    assert "networks.toml: line 10: TOML syntax error" in problem


@pytest.mark.parametrize("old, new, expected", [
    ('slug = "it-teknik"', 'slug = "IT Teknik"', "line 48, key network[2].slug: 'IT Teknik' is not valid"),
    ('chair = "lars.moeller@odense.example.dk"', 'chair = "lars.moeller"',
     "line 52, key network[it-teknik].chair: 'lars.moeller' is not an e-mail address"),
    ('language = "da"', 'language = "sv"', "key network[it-netvaerk].language: 'sv' is not one of da, en, nb"),
    ('region_cap = 3', 'region_cap = "tre"', "key network[it-netvaerk].region_cap: must be a whole number"),
    ('"Nordjylland"]', '"Bornholm"]', "key network[it-netvaerk].regions: 'Bornholm' is not a region"),
    ('language = "da"', 'language = "da"\ntimezone = "Europe/Kobenhavn"',
     "network[it-netvaerk].timezone: 'Europe/Kobenhavn' is not a known timezone"),
    ('rrule = "FREQ=MONTHLY;INTERVAL=4;BYDAY=+2TH"', 'rrule = "FREQ=SOMETIMES"',
     "line 25, key network[it-netvaerk].meetings.rrule: 'FREQ=SOMETIMES' is not an RFC 5545 RRULE"),
    ('first = 2026-12-10', 'first = "next thursday"', "meetings.first: must be a date like 2027-02-11"),
    ('end = "13:00"', 'end = "09:00"', "network[it-netvaerk].meetings.end: must be after start"),
    ('start = "10:00"', 'start = "25:00"', 'meetings.start: must be a time like "10:00"'),
    ('mode = "physical"', 'mode = "hybrid"', "meetings.mode: 'hybrid' is not one of physical, virtual"),
    ('place = "KL, Weidekampsgade 10, 2300 København S"', '',
     "network[it-netvaerk].meetings.place: is required for a physical meeting series"),
    ('original = 2027-04-08\n', '', "meetings.moved[1].original: is required"),
    ('parent = "it-netvaerk"', 'parent = "it-netvaerket"',
     "network[it-teknik].parent: names 'it-netvaerket', which is not another network"),
    ('network = "it-netvaerk", days = 14', 'network = "sundhed", days = 14',
     "network[kontaktudvalg].meets_before: names 'sundhed'"),
    ('address = "it-teknik@lists.example.dk"', 'address = "it-netvaerk@lists.example.dk"',
     "network[it-teknik].address: the local part of 'it-netvaerk@lists.example.dk' must be the slug"),
    ('slug = "it-teknik"\nname', 'slug = "it-netvaerk"\nname', "'it-netvaerk' is also used by network"),
    ('secretary = "anne.hansen@kl.example.dk"', 'secretary = "ukendt@kl.example.dk"',
     "key network[it-netvaerk].secretary: ukendt@kl.example.dk is not a contact (nor an alias of one)"),
    ('region_cap = 3', 'region_cap = 3\nmoderator = "x@y.dk"', "line 11, key network[it-netvaerk].moderator: is not a known setting"),
    ('name = "Kommunalt it-netværk på sundhedsområdet"\n', '', "key network[it-netvaerk].name: is required"),
    ('region_cap = 3', 'region_cap = 3\nmoderation_days = 0', "key network[it-netvaerk].moderation_days: 0 is out of range"),
    ('region_cap = 3', 'region_cap = 3\nmax_post_bytes = "1 MB"', "network[it-netvaerk].max_post_bytes: must be a whole number"),
])
def test_each_networks_error_is_reported_with_file_line_or_key(tmp_path, old, new, expected):
    problems = problems_of(tmp_path, networks_toml=networks_with(old, new))
    assert any(expected in p and "networks.toml" in p for p in problems), problems


@pytest.mark.parametrize("key, value, expected", [
    ("inbound", '"pop3"', "bot.toml: line 10, key inbound: 'pop3' is not one of smtp, imap"),
    ("timezone", '"Mars/Olympus"', "bot.toml: line 4, key timezone: 'Mars/Olympus' is not a known timezone"),
    ("admin_address", '"drift"', "key admin_address: 'drift' is not an e-mail address"),
    ("receiver.port", "99999", "key receiver.port: 99999 is out of range"),
    ("limits.max_message_bytes", '"25 MB"', "key limits.max_message_bytes: must be a whole number"),
    ("limits.max_attachment", "10", "key limits.max_attachment: is not a known setting"),
    ("log_level", '"verbose"', "key log_level: 'verbose' is not one of debug, info, warning, error"),
])
def test_each_bot_toml_error_is_reported(tmp_path, key, value, expected):
    problems = problems_of(tmp_path, bot_toml={key: value})
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("env, expected", [
    ("", ""),
    ("IMAP_TLS=sometimes\n", ".env: key IMAP_TLS: 'sometimes' is not one of starttls, implicit, none"),
    ("SMTP_PORT=smtp\n", ".env: key SMTP_PORT: 'smtp' is not a port number"),
    ("TOKEN_SECRET=short\n", ".env: key TOKEN_SECRET: must be at least 32 characters"),
])
def test_env_errors_are_reported(tmp_path, env, expected):
    problems = problems_of(tmp_path, env=env)
    assert (expected == "" and problems == []) or any(expected in p for p in problems), problems


def test_imap_inbound_needs_its_secrets_and_smtp_outbound_its_host(tmp_path):
    problems = problems_of(tmp_path, bot_toml={"inbound": '"imap"', "outbound": '"smtp"'})
    assert any('.env: key IMAP_HOST: is required when bot.toml has inbound = "imap"' in p for p in problems)
    assert any('.env: key SMTP_HOST: is required when bot.toml has outbound = "smtp"' in p for p in problems)


def test_postgresql_needs_the_token_secret_set_for_every_process(tmp_path):
    """One process's generated secret would not be the others': replies to their mail would fail."""
    config = make_config(tmp_path, env="DATABASE_URL=postgresql://kkrbot@127.0.0.1:1/kkrbot\n")
    problems = check_config(config, environ={}).problems
    assert problems == [f"{tmp_path / '.env'}: key TOKEN_SECRET: is required with PostgreSQL (DATABASE_URL): "
                        "every bot process must use the same one, so set it in the environment or .env"]
    assert check_config(config, environ={"TOKEN_SECRET": "c" * 40}).problems == []  # the server is down: CSV
    settings = load_settings(config, environ={"TOKEN_SECRET": "c" * 40})
    assert settings.database_url == "postgresql+psycopg://kkrbot@127.0.0.1:1/kkrbot"  # the driver kkrbot ships


def test_each_process_may_listen_on_its_own_port(tmp_path):
    config = make_config(tmp_path, port=2525)
    assert load_settings(config, environ={"KKRBOT_RECEIVER_PORT": "2601"}).receiver.port == 2601
    assert load_settings(config, environ={}).receiver.port == 2525
    with pytest.raises(ConfigError) as error:
        load_settings(config, environ={"KKRBOT_RECEIVER_PORT": "26o1"})
    assert "environment: key KKRBOT_RECEIVER_PORT: '26o1' is not a port number" in str(error.value)


def test_the_environment_overrides_the_env_file(tmp_path):
    config = make_config(tmp_path, env="TOKEN_SECRET=" + "a" * 40 + "\n")
    settings = load_settings(config, environ={"TOKEN_SECRET": "b" * 40})
    assert settings.secrets.get("TOKEN_SECRET") == "b" * 40
    assert "b" * 40 not in repr(settings)


def test_settings_are_frozen(tmp_path):
    settings = load_settings(make_config(tmp_path), environ={})
    with pytest.raises(AttributeError):
        settings.timezone = "UTC"


def test_config_check_prints_every_problem_at_once_and_run_refuses_to_start(tmp_path):
    config = make_config(tmp_path, bot_toml={"inbound": '"pop3"', "log_level": '"loud"'},
                         networks_toml=networks_with('language = "da"', 'language = "sv"'))
    check = kkrbot(config, "config", "check")
    assert check.returncode == 1
    lines = check.stderr.strip().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("3 problem(s)"), check.stderr
    assert "Traceback" not in check.stderr
    run = kkrbot(config, "run", timeout=30)
    assert run.returncode == 2 and "nothing was changed" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "var").exists()  # nothing half-applied: not even a database


def test_config_errors_are_raised_together(tmp_path):
    config = make_config(tmp_path, bot_toml={"inbound": '"pop3"', "log_level": '"loud"'})
    with pytest.raises(ConfigError) as error:
        load_settings(config, environ={})
    assert len(error.value.problems) == 2


def test_a_missing_config_folder_is_one_line(tmp_path):
    result = kkrbot(tmp_path / "nowhere", "config", "check")
    assert result.returncode == 1 and "bot.toml: file: is missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_dir_option_and_relative_data_dir(tmp_path):
    config = make_config(tmp_path)
    set_keys(config / "bot.toml", {"data_dir": '"state"'})
    assert load_settings(config, environ={}).data_dir == tmp_path / "state"


def test_the_networks_own_rules_are_warnings_that_never_stop_the_bot(tmp_path):
    """Fewer than 3 meetings or none physical in twelve months, a vice-chair past the two-year term."""
    from datetime import date

    from bot.startup import check_config

    config = make_config(tmp_path)
    check = check_config(config, environ={}, today=date(2028, 1, 10))
    assert check.problems == []
    by_network = {w.split("]")[0].split("[")[1]: w for w in check.warnings if "vice-chair" in w}
    assert "it-netvaerk" in by_network and "2026-01-01" in by_network["it-netvaerk"]  # term began 2026-01-01
    assert any("it-teknik" in w and "no physical meeting" in w for w in check.warnings)
    assert not any("it-netvaerk" in w and "meeting(s)" in w for w in check.warnings)  # it meets 3 times
    early = check_config(config, environ={}, today=date(2027, 1, 10))
    assert not any("vice-chair" in w for w in early.warnings)
    result = kkrbot(config, "config", "check")
    assert result.returncode == 0 and "warning: networks.toml: network[it-teknik]" in result.stderr


def test_moderation_days_and_max_post_bytes_default_inherit_and_warn(tmp_path):
    """14 days and bot.toml's max_message_bytes unless set; a sub-group takes its parent's; a post limit the
    receiver never lets through is a warning of `config check`."""
    networks = networks_with('region_cap = 3', 'region_cap = 3\nmoderation_days = 7\nmax_post_bytes = 99999999')
    config = make_config(tmp_path, networks_toml=networks)
    check = check_config(config, environ={})
    settings = check.settings
    assert check.problems == []
    assert [(n.slug, n.moderation_days, settings.max_post_bytes(n)) for n in settings.networks] == [
        ("it-netvaerk", 7, 99999999), ("it-teknik", 7, 99999999), ("kontaktudvalg", 14, 26214400)]
    assert [w for w in check.warnings if "max_post_bytes" in w] == [
        "networks.toml: network[it-netvaerk].max_post_bytes: 99999999 is above bot.toml's max_message_bytes "
        "(26214400); larger mail is refused at the door, never held",
        "networks.toml: network[it-teknik].max_post_bytes: 99999999 is above bot.toml's max_message_bytes "
        "(26214400); larger mail is refused at the door, never held"]
    result = kkrbot(config, "config", "check")
    assert result.returncode == 0 and "max_post_bytes: 99999999 is above" in result.stderr
