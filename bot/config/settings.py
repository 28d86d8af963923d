"""All settings, read in one place, validated, and frozen.

Sources: `bot.toml` and `networks.toml` in the config folder, secrets from the
process environment over `.env` (the environment wins, so systemd's
`EnvironmentFile=` works). Nothing else in kkrbot reads files of config or the
environment. Relative paths are resolved against the config folder's parent
(the checkout, for the shipped `config/`).
"""
from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from email_validator import EmailNotValidError, validate_email

from bot.config.errors import Problems, Table, load_toml
from bot.config.networks import (
    RETENTION_DEFAULT_DAYS,
    RETENTION_MAX_DAYS,
    RETENTION_MIN_DAYS,
    NetworkConfig,
    load_networks,
)

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
LOG_LEVELS = ("debug", "info", "warning", "error")
OAUTH2_KEYS = ("OAUTH2_TENANT_ID", "OAUTH2_CLIENT_ID", "OAUTH2_CLIENT_SECRET", "OAUTH2_CERTIFICATE",
               "OAUTH2_TOKEN_COMMAND", "OAUTH2_AUTHORITY", "OAUTH2_SCOPE")
SECRET_KEYS = ("IMAP_HOST", "IMAP_PORT", "IMAP_USER", "IMAP_PASSWORD", "IMAP_TLS", "IMAP_AUTH",
               "SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_PASSWORD", "SMTP_TLS", "SMTP_AUTH",
               *OAUTH2_KEYS, "DATABASE_URL", "TOKEN_SECRET")
TLS_MODES = ("starttls", "implicit", "none")
AUTH_MODES = ("password", "xoauth2")
# Per process, from the environment only (a systemd template unit sets them for each instance):
# the receiver's port, over bot.toml, and the instance's name among several processes.
RECEIVER_PORT_KEY, INSTANCE_KEY = "KKRBOT_RECEIVER_PORT", "KKRBOT_INSTANCE"


@dataclass(frozen=True)
class Receiver:
    host: str = "127.0.0.1"
    port: int = 2525


@dataclass(frozen=True)
class Limits:
    max_message_bytes: int = 25 * 1024 * 1024
    max_attachment_bytes: int = 10 * 1024 * 1024  # per file kept as an appendix
    max_nesting: int = 3  # forwarded messages opened inside forwarded messages


@dataclass(frozen=True)
class Imap:
    """Reading the list's mailbox (inbound = "imap"); host and credentials live in .env."""

    mailbox: str = "INBOX"
    folder: str = "kkrbot"  # parent of processed/rejected/held/failed
    idle: bool = True
    poll_seconds: int = 60
    batch_size: int = 100


@dataclass(frozen=True)
class Outbox:
    connections: int = 4  # parallel SMTP connections (outbound = "smtp")
    batch_size: int = 200
    deadline_days: int = 5  # temporary failures are retried this long, then the administrator is told
    retry_base_seconds: int = 60  # the first retry after a temporary failure; doubling, at most 2 hours
    max_per_minute: int = 0  # mails handed to the server per minute (Exchange Online: 30); 0 = no limit
    # How long a process's claim on a batch lasts: longer than sending a batch takes. When a process dies,
    # the batch it had claimed goes to another process (or its own restart, which takes it back at once).
    claim_seconds: int = 600


@dataclass(frozen=True)
class Bounces:
    threshold: int = 3  # bounces within window_days that disable a contact's delivery
    window_days: int = 14


@dataclass(frozen=True)
class Processing:
    """How often a message whose handling raised is retried before it is set aside."""

    max_attempts: int = 5
    retry_base_seconds: int = 60
    busy_timeout_ms: int = 5000


@dataclass(frozen=True)
class Secrets:
    """Values from the environment / `.env`; never logged (repr hides them)."""

    values: dict = field(default_factory=dict, repr=False)

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.values.get(key)
        return value if value not in (None, "") else default

    def __repr__(self) -> str:
        return f"Secrets(keys={sorted(k for k, v in self.values.items() if v)})"


@dataclass(frozen=True)
class Settings:
    config_dir: Path
    data_dir: Path
    timezone: str
    log_level: str
    from_name: str
    admin_address: str
    authserv_id: str
    inbound: str
    outbound: str
    receiver: Receiver
    limits: Limits
    processing: Processing
    imap: Imap
    outbox: Outbox
    bounces: Bounces
    networks: tuple[NetworkConfig, ...]
    secrets: Secrets
    retention_days: int = RETENTION_DEFAULT_DAYS  # the default for networks that set none
    instance: str = ""  # KKRBOT_INSTANCE: this process's name among several on one database

    @property
    def contacts_file(self) -> Path:
        return self.config_dir / "contacts.csv"

    @property
    def database_url(self) -> str:
        """DATABASE_URL, else the SQLite file under data_dir. `postgresql://` means psycopg 3,
        the driver kkrbot ships (SQLAlchemy would otherwise look for psycopg2)."""
        url = self.secrets.get("DATABASE_URL") or f"sqlite:///{self.data_dir / 'kkrbot.sqlite3'}"
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+psycopg://" + url[len(plain):]
        return url

    @property
    def on_postgresql(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def process_name(self) -> str:
        """Who holds a lease or a claim: host and instance, stable across restarts of one instance, so a
        restarted process takes back at once what it held. SQLite has one process: "main". On PostgreSQL
        without KKRBOT_INSTANCE, host and pid: two processes must never share a name."""
        default = "main" if not self.on_postgresql else f"pid{os.getpid()}"
        return f"{socket.gethostname()}/{self.instance or default}"

    @property
    def token_secret_file(self) -> Path:
        return self.data_dir / "token_secret"

    @property
    def sent_dir(self) -> Path:
        return self.data_dir / "sent"

    def network(self, slug: str) -> NetworkConfig:
        for network in self.networks:
            if network.slug == slug:
                return network
        raise KeyError(slug)

    def retention_for(self, slug: str | None) -> int:
        """How many days a network's raw mail and finished outbox rows are kept (bot.toml's for none)."""
        network = next((n for n in self.networks if n.slug == slug), None)
        return network.retention_days if network and network.retention_days else self.retention_days

    def unverified_posts(self, network: NetworkConfig) -> str:
        """What happens to a member's post without a trusted DMARC verdict: the network's setting,
        else hold where a trusted mail server is named (authserv_id), relay where none is."""
        return network.unverified_posts or ("hold" if self.authserv_id else "relay")

    def max_post_bytes(self, network: NetworkConfig) -> int:
        """The largest post relayed without a person's approval: the network's, else the largest mail taken in."""
        return network.max_post_bytes or self.limits.max_message_bytes


def resolve_config_dir(option: str | os.PathLike | None, environ: dict | None = None) -> Path:
    """`--config DIR`, else `KKRBOT_CONFIG`, else the checkout's `config/`."""
    environ = os.environ if environ is None else environ
    chosen = option or environ.get("KKRBOT_CONFIG")
    return Path(chosen).expanduser().resolve() if chosen else DEFAULT_CONFIG_DIR


def load_settings(config_dir: Path, environ: dict | None = None) -> Settings:
    """Read and validate everything; raise ConfigError listing every problem."""
    problems = Problems()
    bot_file = config_dir / "bot.toml"
    data, source = load_toml(bot_file, problems)
    top = Table(data, file=str(bot_file), path="", problems=problems, source=source)
    timezone = _timezone(top)
    settings = Settings(
        config_dir=config_dir,
        data_dir=_path(config_dir, top.text("data_dir", "var")),
        timezone=timezone,
        log_level=top.choice("log_level", LOG_LEVELS, "info"),
        from_name=top.text("from_name", "kkrbot"),
        admin_address=_address(top, "admin_address"),
        authserv_id=top.text("authserv_id", ""),
        inbound=top.choice("inbound", ("smtp", "imap"), "smtp"),
        outbound=top.choice("outbound", ("maildir", "smtp"), "maildir"),
        receiver=_receiver(top, os.environ if environ is None else environ, problems),
        limits=_limits(top),
        processing=_processing(top),
        imap=_imap(top),
        outbox=_outbox(top),
        bounces=_bounces(top),
        networks=load_networks(config_dir / "networks.toml", problems, timezone),
        secrets=_secrets(config_dir, environ, problems),
        retention_days=top.integer("retention_days", RETENTION_DEFAULT_DAYS, RETENTION_MIN_DAYS, RETENTION_MAX_DAYS),
        instance=(os.environ if environ is None else environ).get(INSTANCE_KEY, ""),
    )
    top.reject_unknown()
    _check_cross(settings, problems)
    problems.raise_if_any()
    return settings


def _path(config_dir: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (config_dir.parent / path).resolve()


def _timezone(top: Table) -> str:
    name = top.text("timezone", "Europe/Copenhagen")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        top.problem("timezone", f"{name!r} is not a known timezone (e.g. Europe/Copenhagen)")
        return "Europe/Copenhagen"
    return name


def _address(top: Table, key: str) -> str:
    value = top.text(key)
    if not value:
        return ""
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        top.problem(key, f"{value!r} is not an e-mail address ({error})")
        return ""


def _section(top: Table, key: str) -> Table:
    return top.child(key, top.subtable(key), header=key)


def _receiver(top: Table, environ, problems: Problems) -> Receiver:
    sub = _section(top, "receiver")
    receiver = Receiver(host=sub.text("host", Receiver.host), port=sub.integer("port", Receiver.port, 1, 65535))
    sub.reject_unknown()
    override = environ.get(RECEIVER_PORT_KEY)
    if override:  # each of several processes on one machine listens on its own port
        if not override.isdigit() or not 1 <= int(override) <= 65535:
            problems.add("environment", f"key {RECEIVER_PORT_KEY}", f"{override!r} is not a port number")
        else:
            receiver = Receiver(host=receiver.host, port=int(override))
    return receiver


def _limits(top: Table) -> Limits:
    sub = _section(top, "limits")
    limits = Limits(max_message_bytes=sub.integer("max_message_bytes", Limits.max_message_bytes, 1024),
                    max_attachment_bytes=sub.integer("max_attachment_bytes", Limits.max_attachment_bytes, 1024),
                    max_nesting=sub.integer("max_nesting", Limits.max_nesting, 0, 20))
    sub.reject_unknown()
    return limits


def _imap(top: Table) -> Imap:
    sub = _section(top, "imap")
    imap = Imap(mailbox=sub.text("mailbox", Imap.mailbox), folder=sub.text("folder", Imap.folder),
                idle=sub.flag("idle", Imap.idle), poll_seconds=sub.integer("poll_seconds", Imap.poll_seconds, 1, 3600),
                batch_size=sub.integer("batch_size", Imap.batch_size, 1, 1000))
    sub.reject_unknown()
    return imap


def _outbox(top: Table) -> Outbox:
    sub = _section(top, "outbox")
    outbox = Outbox(connections=sub.integer("connections", Outbox.connections, 1, 32),
                    batch_size=sub.integer("batch_size", Outbox.batch_size, 1, 5000),
                    deadline_days=sub.integer("deadline_days", Outbox.deadline_days, 1, 30),
                    retry_base_seconds=sub.integer("retry_base_seconds", Outbox.retry_base_seconds, 1, 3600),
                    max_per_minute=sub.integer("max_per_minute", Outbox.max_per_minute, 0, 100_000),
                    claim_seconds=sub.integer("claim_seconds", Outbox.claim_seconds, 5, 86400))
    sub.reject_unknown()
    return outbox


def _bounces(top: Table) -> Bounces:
    sub = _section(top, "bounces")
    bounces = Bounces(threshold=sub.integer("threshold", Bounces.threshold, 1, 100),
                      window_days=sub.integer("window_days", Bounces.window_days, 1, 365))
    sub.reject_unknown()
    return bounces


def _processing(top: Table) -> Processing:
    sub = _section(top, "processing")
    processing = Processing(
        max_attempts=sub.integer("max_attempts", Processing.max_attempts, 1, 100),
        retry_base_seconds=sub.integer("retry_base_seconds", Processing.retry_base_seconds, 1),
        busy_timeout_ms=sub.integer("busy_timeout_ms", Processing.busy_timeout_ms, 0, 600_000),
    )
    sub.reject_unknown()
    return processing


def _secrets(config_dir: Path, environ: dict | None, problems: Problems) -> Secrets:
    env_file = config_dir.parent / ".env"
    values = {k: v for k, v in dotenv_values(env_file).items() if k in SECRET_KEYS} if env_file.exists() else {}
    environ = os.environ if environ is None else environ
    values.update({k: environ[k] for k in SECRET_KEYS if environ.get(k)})
    for key in ("IMAP_TLS", "SMTP_TLS"):
        if values.get(key) and values[key] not in TLS_MODES:
            problems.add(str(env_file), f"key {key}", f"{values[key]!r} is not one of {', '.join(TLS_MODES)}")
    for key in ("IMAP_AUTH", "SMTP_AUTH"):
        if values.get(key) and values[key] not in AUTH_MODES:
            problems.add(str(env_file), f"key {key}", f"{values[key]!r} is not one of {', '.join(AUTH_MODES)}")
    for key in ("IMAP_PORT", "SMTP_PORT"):
        if values.get(key) and not str(values[key]).isdigit():
            problems.add(str(env_file), f"key {key}", f"{values[key]!r} is not a port number")
    secret = values.get("TOKEN_SECRET")
    if secret and len(secret) < 32:
        problems.add(str(env_file), "key TOKEN_SECRET", "must be at least 32 characters (leave it unset to have one generated)")
    return Secrets(values)


def _check_cross(settings: Settings, problems: Problems) -> None:
    """Checks that need more than one file: inbound/outbound need their secrets."""
    env_file = str(settings.config_dir.parent / ".env")
    secrets = settings.secrets
    if settings.inbound == "imap":
        needed = ("IMAP_HOST", "IMAP_USER") + (() if secrets.get("IMAP_AUTH") == "xoauth2" else ("IMAP_PASSWORD",))
        for key in needed:
            if not secrets.get(key):
                problems.add(env_file, f"key {key}", 'is required when bot.toml has inbound = "imap"')
    if settings.outbound == "smtp" and not secrets.get("SMTP_HOST"):
        problems.add(env_file, "key SMTP_HOST", 'is required when bot.toml has outbound = "smtp"')
    if settings.outbound == "smtp" and secrets.get("SMTP_AUTH") == "xoauth2" and not secrets.get("SMTP_USER"):
        problems.add(env_file, "key SMTP_USER", "is required when SMTP_AUTH = xoauth2 (the mailbox that sends)")
    using = [key for key, part in (("IMAP_AUTH", "imap"), ("SMTP_AUTH", "smtp"))
             if secrets.get(key) == "xoauth2" and part in (settings.inbound, settings.outbound)]
    if using:
        _check_oauth2(secrets, f"{using[0]} = xoauth2", env_file, problems)
    if settings.on_postgresql and not settings.secrets.get("TOKEN_SECRET"):
        # A secret generated under one process's data_dir would not be the others': every reply
        # to mail another process sent would then fail to authenticate.
        problems.add(env_file, "key TOKEN_SECRET", "is required with PostgreSQL (DATABASE_URL): every bot process "
                     "must use the same one, so set it in the environment or .env")


def _check_oauth2(secrets: Secrets, why: str, env_file: str, problems: Problems) -> None:
    """A token source is named: OAUTH2_TOKEN_COMMAND, or Entra's tenant, client and one credential.
    Values are never echoed: they are secrets."""
    if secrets.get("OAUTH2_TOKEN_COMMAND"):
        entra = [key for key in OAUTH2_KEYS[:4] if secrets.get(key)]
        if entra:
            problems.add(env_file, f"key {entra[0]}", "set either OAUTH2_TOKEN_COMMAND or the Entra settings "
                                                     "(OAUTH2_TENANT_ID, ...), not both")
        return
    for key in ("OAUTH2_TENANT_ID", "OAUTH2_CLIENT_ID"):
        if not secrets.get(key):
            problems.add(env_file, f"key {key}", f"is required when {why} (or set OAUTH2_TOKEN_COMMAND)")
    secret, certificate = secrets.get("OAUTH2_CLIENT_SECRET"), secrets.get("OAUTH2_CERTIFICATE")
    if bool(secret) == bool(certificate):
        problems.add(env_file, "key OAUTH2_CLIENT_SECRET", f"set exactly one of OAUTH2_CLIENT_SECRET and "
                                                          f"OAUTH2_CERTIFICATE when {why}")
    if certificate and not Path(certificate).expanduser().is_file():
        problems.add(env_file, "key OAUTH2_CERTIFICATE", f"{certificate!r} is not a readable file (a PEM file "
                                                         "with the private key and the certificate)")
    authority = secrets.get("OAUTH2_AUTHORITY")
    if authority and not authority.startswith("https://"):
        problems.add(env_file, "key OAUTH2_AUTHORITY", "must be an https:// address (e.g. "
                                                       "https://login.microsoftonline.com)")


def new_token_secret() -> str:
    return secrets.token_urlsafe(48)
