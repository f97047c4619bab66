"""The `citycse` command."""

import argparse
import logging
import os
import sys

from cse import migrate
from cse.settings import Settings
from ocpp_adapter.manage import add_commands

SERVE_OPTIONS = (
    ("--host", str, "address to listen on", "127.0.0.1"),
    ("--port", int, "HTTP port", "8080"),
    ("--db", str, "SQLAlchemy async database URL", "a SQLite file in ./citycse-data/"),
    ("--cse-id", str, "CSE-ID of this CSE", "id-in"),
    ("--cse-rn", str, "resource name of the CSEBase", "cse-in"),
    ("--sp-id", str, "M2M service provider ID, for absolute addresses", "citycse.example"),
    ("--admin-originator", str, "originator with full access", "CAdmin"),
    ("--workers", int, "number of worker processes", "1"),
    ("--log-level", str, "debug, info, warning or error", "info"),
    ("--acp-cache-seconds", float, "longest a policy change takes to reach other workers", "1.0"),
    ("--mqtt", str, "MQTT broker URL, mqtt://host:port or mqtts://host:port", "no MQTT"),
    ("--mqtt-username", str, "MQTT user name", "none"),
    ("--mqtt-password", str, "MQTT password", "none"),
    ("--mqtt-ca-file", str, "CA certificates to verify an mqtts:// broker", "system"),
    ("--mqtt-cert-file", str, "client certificate for mqtts://", "none"),
    ("--mqtt-key-file", str, "client key for mqtts://", "none"),
    ("--mqtt-share-group", str, "MQTT 5 shared subscription group of the workers", "citycse"),
    ("--ocpp-port", int, "OCPP-J port of the built-in OCPP adapter", "no OCPP adapter"),
    ("--ocpp-host", str, "address the OCPP adapter listens on", "127.0.0.1"),
    ("--ocpp-path", str, "URL path before /<chargePointId>", "/ocpp"),
    ("--ocpp-unknown-chargers", str, "accept, pending or reject unknown chargers", "pending"),
    ("--ocpp-min-balance", str, "wallet balance below which a card is Blocked", "1.00"),
    ("--ocpp-tls-cert", str, "PEM certificate (chain): serve wss:// (profile 2)", "plain ws://"),
    ("--ocpp-tls-key", str, "PEM private key of --ocpp-tls-cert", "none"),
    ("--ocpp-command-max-age-seconds", float, "commands older than this are not sent", "60"),
    ("--ocpp-response-timeout-seconds", float, "how long a charger may take to answer", "30"),
    ("--ocpp-overload-policy", str, "grid overload: block new sessions or limit power", "block"),
)
FLAGS = (("--mqtt-tls-insecure", "do not verify the mqtts:// broker's certificate"),)


def _env_name(option: str) -> str:
    return "CITYCSE_" + option.lstrip("-").replace("-", "_").upper()


def _add_options(parser: argparse.ArgumentParser, names: tuple[str, ...] | None = None) -> None:
    for option, kind, help_text, default in SERVE_OPTIONS:
        if names is None or option in names:
            parser.add_argument(
                option,
                type=kind,
                default=None,
                help=f"{help_text} (env {_env_name(option)}; default {default})",
            )
    if names is None:
        for option, help_text in FLAGS:
            parser.add_argument(
                option,
                action="store_true",
                default=None,
                help=f"{help_text} (env {_env_name(option)})",
            )


def _export(args: argparse.Namespace) -> Settings:
    """Command-line options win over the environment; workers read the environment."""
    for option, *_ in (*SERVE_OPTIONS, *FLAGS):
        value = getattr(args, option.lstrip("-").replace("-", "_"), None)
        if value is not None:
            os.environ[_env_name(option)] = str(value)
    return Settings()


def _upgrade_or_exit(settings: Settings) -> None:
    try:
        head = migrate.upgrade(settings.db)
    except migrate.SchemaTooNew as exc:
        print(f"citycse: refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.getLogger("citycse").info("event=schema_ready revision=%s", head)


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = _export(args)
    if settings.ocpp_port is not None and settings.workers > 1:
        print("citycse: --ocpp-port needs --workers 1 (or run `citycse ocpp`)", file=sys.stderr)
        raise SystemExit(2)
    _upgrade_or_exit(settings)
    uvicorn.run(
        "cse.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=False,
        backlog=4096,
        loop="uvloop",
        http="httptools",
    )


def db_upgrade(args: argparse.Namespace) -> None:
    settings = _export(args)
    _upgrade_or_exit(settings)
    print(f"citycse: database is at the newest schema ({settings.db.split('://', 1)[0]})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="citycse", description="citycse oneM2M CSE")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the CSE")
    _add_options(serve_parser)
    serve_parser.set_defaults(handler=serve)
    db_parser = commands.add_parser("db", help="database schema")
    db_commands = db_parser.add_subparsers(dest="db_command", required=True)
    upgrade_parser = db_commands.add_parser("upgrade", help="apply the schema migrations")
    _add_options(upgrade_parser, ("--db",))
    upgrade_parser.set_defaults(handler=db_upgrade)
    add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, (getattr(args, "log_level", None) or "INFO").upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    args.handler(args)
