"""Management commands: users, wallets, tariff and chargers, as oneM2M requests to a running
CSE with the admin originator; and `citycse ocpp`, the adapter as its own process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx

from ocpp_adapter import wallet
from ocpp_adapter.arguments import non_negative_decimal
from ocpp_adapter.billing import money
from ocpp_adapter.cse_client import CSEClient, CSEError, HttpClient
from ocpp_adapter.device_commands import add_device_commands
from ocpp_adapter.devices import valid_label_value
from ocpp_adapter.passwords import hash_password
from ocpp_adapter.tariffs import tariff_content
from ocpp_adapter.tree import (
    BASE,
    CHARGER_API,
    CREDENTIALS,
    LENIENT_LABEL,
    TARIFFS,
    TY_CIN,
    TY_CNT,
    USERS,
    add_instance,
    charger_path,
    create_user,
    ensure_evcs,
    instances,
    latest,
    normalize_id_tag,
    user_path,
)

DEFAULT_CSE_URL = "http://127.0.0.1:8080"


class CommandError(Exception):
    pass


def _amount(text: str) -> Decimal:
    return money(non_negative_decimal(text, "decimal amount"))


def _tag(text: str) -> str:
    tag = normalize_id_tag(text)
    if tag is None:
        raise argparse.ArgumentTypeError(f"not a valid idTag (1-20 characters): {text!r}")
    return tag


def _admin(args: argparse.Namespace) -> str:
    return args.admin_originator or os.environ.get("CITYCSE_ADMIN_ORIGINATOR") or "CAdmin"


async def _user(client: CSEClient, admin: str, tag: str) -> dict[str, Any] | None:
    reply = await client.retrieve(user_path(tag), admin)
    if reply.rsc == 4004:
        return None
    reply.expect(f"reading user {tag}", 2000)
    entry = await wallet.current(client, admin, tag)
    profile = await latest(client, f"{user_path(tag)}/profile", admin)
    return {
        "idTag": tag,
        "balance": str(entry.balance if entry is not None else money(0)),
        "budget": (profile or {}).get("con", {}).get("budget"),
    }


# -- commands -------------------------------------------------------------------------------


async def users_add(client: CSEClient, args: argparse.Namespace) -> Any:
    admin = _admin(args)
    tree = await ensure_evcs(client, admin)
    if not await create_user(client, admin, tree, args.id_tag):
        raise CommandError(f"user {args.id_tag} already exists")
    profile: dict[str, Any] = {"idTag": args.id_tag, "budget": None}
    if args.budget is not None:
        profile["budget"] = str(args.budget)
    if args.password:
        profile["password"] = hash_password(args.password)
    await add_instance(client, f"{user_path(args.id_tag)}/profile", admin, profile)
    await wallet.append(client, admin, args.id_tag, args.balance, "initial")
    return await _user(client, admin, args.id_tag)


async def users_show(client: CSEClient, args: argparse.Namespace) -> Any:
    admin = _admin(args)
    user = await _user(client, admin, args.id_tag)
    if user is None:
        raise CommandError(f"no user {args.id_tag}")
    path = user_path(args.id_tag)
    user["wallet"] = [c["con"] for c in await instances(client, f"{path}/wallet", admin)]
    user["transactions"] = [
        c["con"] for c in await instances(client, f"{path}/transactions", admin)
    ]
    return user


async def users_list(client: CSEClient, args: argparse.Namespace) -> Any:
    admin = _admin(args)
    reply = await client.retrieve(USERS, admin, rcn=8, query={"ty": TY_CNT})
    if reply.rsc == 4004:
        return []
    found = reply.expect("listing users", 2000).children("m2m:cnt", "m2m:cnt")
    users = [await _user(client, admin, cnt["rn"]) for cnt in found]
    return sorted((u for u in users if u is not None), key=lambda u: u["idTag"])


async def users_topup(client: CSEClient, args: argparse.Namespace) -> Any:
    admin = _admin(args)
    if args.amount <= 0:
        raise CommandError("the amount must be positive")
    if await _user(client, admin, args.id_tag) is None:
        raise CommandError(f"no user {args.id_tag}")
    await wallet.append(client, admin, args.id_tag, args.amount, "topup")
    return await _user(client, admin, args.id_tag)


async def tariff_set(client: CSEClient, args: argparse.Namespace) -> Any:
    admin = _admin(args)
    await ensure_evcs(client, admin)
    surges = [{"start": s, "end": e, "factor": f} for s, e, f in args.surge or []]
    try:
        con = tariff_content(args.price_per_kwh, surges, args.valid_from)
    except (ValueError, KeyError) as exc:
        raise CommandError(str(exc)) from None
    await add_instance(client, TARIFFS, admin, con)
    return con


async def chargers_list(client: CSEClient, args: argparse.Namespace) -> Any:
    admin = _admin(args)
    reply = await client.retrieve(BASE, admin, rcn=8, query={"ty": 2, "api": CHARGER_API})
    aes = reply.expect("listing chargers", 2000).children("m2m:cb", "m2m:ae")
    chargers = []
    for ae in aes:
        cp_id = next(
            (lbl.split(":", 1)[1] for lbl in ae.get("lbl", []) if lbl.startswith("chargePoint:")),
            ae["rn"],
        )
        info = await latest(client, f"{charger_path(cp_id)}/info", admin)
        status = await latest(client, f"{charger_path(cp_id)}/status", admin)
        boot = (info or {}).get("con", {})
        chargers.append(
            {
                "chargePointId": cp_id,
                "aei": ae.get("aei"),
                "vendor": boot.get("chargePointVendor"),
                "model": boot.get("chargePointModel"),
                "firmwareVersion": boot.get("firmwareVersion"),
                "lastStatus": (status or {}).get("con"),
            }
        )
    return sorted(chargers, key=lambda c: c["chargePointId"])


async def _charger_labels(client: CSEClient, admin: str, cp_id: str) -> tuple[str, list[str]]:
    """The path of a charger's AE and its labels."""
    path = charger_path(cp_id)
    reply = await client.retrieve(path, admin)
    if reply.rsc == 4004:
        raise CommandError(f"no charger {cp_id} (it registers on its first boot)")
    return path, reply.expect(f"reading {path}", 2000).resource("m2m:ae").get("lbl", [])


async def chargers_assign(client: CSEClient, args: argparse.Namespace) -> Any:
    """Put a charger in a site and a feeder: the `site:`/`feeder:` labels of its AE."""
    admin = _admin(args)
    path, labels = await _charger_labels(client, admin, args.charge_point_id)
    for prefix, value in (("site:", args.site), ("feeder:", args.feeder)):
        if value is None:
            continue
        if not valid_label_value(value):
            raise CommandError(f"not a valid {prefix.rstrip(':')} name: {value!r}")
        labels = [label for label in labels if not label.startswith(prefix)] + [prefix + value]
    reply = await client.update(path, admin, "m2m:ae", {"lbl": labels})
    reply.expect(f"labelling {path}", 2004)
    return {"chargePointId": args.charge_point_id, "labels": labels}


async def chargers_password(client: CSEClient, args: argparse.Namespace) -> Any:
    admin = _admin(args)
    if not args.set:
        raise CommandError("give the new password with --set")
    tree = await ensure_evcs(client, admin)
    attrs = {"rn": args.charge_point_id, "acpi": [tree.acp_ri]}
    reply = await client.create(CREDENTIALS, admin, TY_CNT, "m2m:cnt", attrs)
    reply.expect("creating the charger's credentials", 2001, 4105)
    record = {"chargePointId": args.charge_point_id, **hash_password(args.set)}
    await add_instance(client, f"{CREDENTIALS}/{args.charge_point_id}", admin, record)
    return {"chargePointId": args.charge_point_id, "password": "set"}


async def chargers_lenient(client: CSEClient, args: argparse.Namespace) -> Any:
    """Mark a charger lenient (label on its AE): takes effect on its next connection."""
    admin = _admin(args)
    path, labels = await _charger_labels(client, admin, args.charge_point_id)
    labels = [label for label in labels if label != LENIENT_LABEL]
    if args.on:
        labels.append(LENIENT_LABEL)
    reply = await client.update(path, admin, "m2m:ae", {"lbl": labels})
    reply.expect("labelling the charger", 2004)
    return {"chargePointId": args.charge_point_id, "lenient": args.on}


async def chargers_command(client: CSEClient, args: argparse.Namespace) -> Any:
    """Create a command CIN and wait for its result (see the README's commands section)."""
    admin = _admin(args)
    try:
        request = json.loads(args.request)
    except ValueError:
        raise CommandError('--request must be JSON, e.g. \'{"type": "Soft"}\'') from None
    con: dict[str, Any] = {"action": args.action, "request": request}
    if args.reason:
        con["reason"] = args.reason
    commands = f"{charger_path(args.charge_point_id)}/commands"
    attrs = {"cnf": "application/json:0", "con": con, "cr": None}
    reply = await client.create(commands, admin, TY_CIN, "m2m:cin", attrs)
    if reply.rsc == 4004:
        raise CommandError(f"no charger {args.charge_point_id}")
    ri = reply.expect("creating the command", 2001).resource("m2m:cin")["ri"]
    results = f"{charger_path(args.charge_point_id)}/results"
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        found = await instances(client, results, admin, label=f"command:{ri}")
        if found:
            return found[0]["con"]
        await asyncio.sleep(0.2)
    raise CommandError(f"command {ri} created; no result within {args.wait:g} s")


# -- wiring ---------------------------------------------------------------------------------


def _run(command: Callable[[CSEClient, argparse.Namespace], Awaitable[Any]]):
    def handler(args: argparse.Namespace) -> None:
        async def go() -> Any:
            client = HttpClient(args.cse_url)
            try:
                return await command(client, args)
            finally:
                await client.close()

        try:
            result = asyncio.run(go())
        except (CommandError, CSEError) as exc:
            print(f"citycse: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        except OSError as exc:
            print(f"citycse: cannot reach the CSE at {args.cse_url}: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        if getattr(args, "json", False):
            print(json.dumps(result, indent=2))
        else:
            _print_plain(result)

    return handler


def _print_plain(result: Any) -> None:
    rows = result if isinstance(result, list) else [result]
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items() if not isinstance(v, list | dict)))


def _common(parser: argparse.ArgumentParser, json_output: bool = True) -> None:
    parser.add_argument(
        "--cse-url",
        default=os.environ.get("CITYCSE_CSE_URL", DEFAULT_CSE_URL),
        help=f"the CSE to manage (env CITYCSE_CSE_URL; default {DEFAULT_CSE_URL})",
    )
    parser.add_argument(
        "--admin-originator", default=None, help="admin originator (default CAdmin)"
    )
    if json_output:
        parser.add_argument("--json", action="store_true", help="print JSON")


def _ocpp(args: argparse.Namespace) -> None:
    from cse.settings import Settings
    from ocpp_adapter.server import config_from_settings, run_standalone

    options = ("host", "port", "path", "unknown_chargers", "min_balance", "tls_cert", "tls_key",
               "command_max_age_seconds", "response_timeout_seconds")  # fmt: skip
    for option in options:
        value = getattr(args, option)
        if value is not None:
            os.environ[f"CITYCSE_OCPP_{option.upper()}"] = str(value)
    if args.admin_originator:
        os.environ["CITYCSE_ADMIN_ORIGINATOR"] = args.admin_originator
    settings = Settings()
    config = config_from_settings(settings)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_standalone(config, args.cse_url))
    except (ValueError, OSError, CSEError) as exc:
        print(f"citycse: the OCPP adapter cannot start: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except httpx.HTTPError as exc:
        print(f"citycse: cannot reach the CSE at {args.cse_url}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def add_commands(commands: argparse._SubParsersAction) -> None:
    """`citycse users|tariff|chargers|ocpp ...`"""
    users = commands.add_parser("users", help="EV charging users and their wallets")
    sub = users.add_subparsers(dest="users_command", required=True)
    p = sub.add_parser("add", help="register an RFID card with an opening balance")
    p.add_argument("--id-tag", type=_tag, required=True)
    p.add_argument("--balance", type=_amount, default=money(0))
    p.add_argument("--budget", type=_amount, default=None, help="default amount held per session")
    p.add_argument("--password", default=None, help="stored as a salted hash")
    _common(p)
    p.set_defaults(handler=_run(users_add))
    p = sub.add_parser("show", help="a user's balance, wallet history and transactions")
    p.add_argument("id_tag", type=_tag)
    _common(p)
    p.set_defaults(handler=_run(users_show))
    p = sub.add_parser("list", help="all users with their balances")
    _common(p)
    p.set_defaults(handler=_run(users_list))
    p = sub.add_parser("topup", help="add money to a wallet")
    p.add_argument("id_tag", type=_tag)
    p.add_argument("--amount", type=_amount, required=True)
    _common(p)
    p.set_defaults(handler=_run(users_topup))

    tariff = commands.add_parser("tariff", help="the price of energy")
    sub = tariff.add_subparsers(dest="tariff_command", required=True)
    p = sub.add_parser("set", help="set the tariff in force")
    p.add_argument("--price-per-kwh", type=_amount, required=True)
    p.add_argument(
        "--surge",
        nargs=3,
        action="append",
        metavar=("START", "END", "FACTOR"),
        help="a surge window (ISO 8601 times, UTC) and its price factor; repeatable",
    )
    p.add_argument(
        "--valid-from",
        metavar="TIME",
        help="when the tariff takes effect (ISO 8601; default: now); earlier tariffs keep "
        "pricing the energy delivered before it",
    )
    _common(p)
    p.set_defaults(handler=_run(tariff_set))

    chargers = commands.add_parser("chargers", help="charge points")
    sub = chargers.add_subparsers(dest="chargers_command", required=True)
    p = sub.add_parser("list", help="registered charge points and their last status")
    _common(p)
    p.set_defaults(handler=_run(chargers_list))
    p = sub.add_parser("assign", help="put a charger in a site and a feeder (its AE labels)")
    p.add_argument("charge_point_id")
    p.add_argument("--site", default=None)
    p.add_argument("--feeder", default=None)
    _common(p)
    p.set_defaults(handler=_run(chargers_assign))
    p = sub.add_parser("password", help="set a charger's HTTP Basic password (profile 1)")
    p.add_argument("charge_point_id")
    p.add_argument("--set", required=True, metavar="PASSWORD")
    _common(p)
    p.set_defaults(handler=_run(chargers_password))
    p = sub.add_parser(
        "lenient",
        help="accept schema violations of a charger whose required fields are usable (logged "
        "in its violations container); from its next connection",
    )
    p.add_argument("charge_point_id")
    switch = p.add_mutually_exclusive_group(required=True)
    switch.add_argument("--on", dest="on", action="store_true")
    switch.add_argument("--off", dest="on", action="store_false")
    _common(p)
    p.set_defaults(handler=_run(chargers_lenient))
    p = sub.add_parser(
        "command", help="send an OCPP call to a charger through its commands container"
    )
    p.add_argument("charge_point_id")
    p.add_argument("action", help="OCPP action, e.g. Reset")
    p.add_argument("--request", default="{}", help="the OCPP payload as JSON (camelCase)")
    p.add_argument("--reason", default=None)
    p.add_argument("--wait", type=float, default=40.0, help="seconds to wait for the result")
    _common(p)
    p.set_defaults(handler=_run(chargers_command))

    p = commands.add_parser("ocpp", help="run the OCPP adapter as its own process")
    _common(p, json_output=False)
    p.add_argument("--host", default=None, help="listen address (env CITYCSE_OCPP_HOST)")
    p.add_argument("--port", type=int, default=None, help="OCPP-J port (env CITYCSE_OCPP_PORT)")
    p.add_argument("--path", default=None, help="URL path prefix (env CITYCSE_OCPP_PATH)")
    p.add_argument("--unknown-chargers", default=None, choices=("accept", "pending", "reject"))
    p.add_argument("--min-balance", default=None, help="env CITYCSE_OCPP_MIN_BALANCE")
    p.add_argument("--tls-cert", default=None, help="serve wss:// (env CITYCSE_OCPP_TLS_CERT)")
    p.add_argument("--tls-key", default=None, help="TLS key (env CITYCSE_OCPP_TLS_KEY)")
    p.add_argument(
        "--command-max-age-seconds",
        type=float,
        default=None,
        help="commands older than this are not sent (env CITYCSE_OCPP_COMMAND_MAX_AGE_SECONDS)",
    )
    p.add_argument(
        "--response-timeout-seconds",
        type=float,
        default=None,
        help="how long a charger may take to answer (env CITYCSE_OCPP_RESPONSE_TIMEOUT_SECONDS)",
    )
    p.set_defaults(handler=_ocpp)

    add_device_commands(commands, _common)
