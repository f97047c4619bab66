"""`citycse sim fire-alarm|grid`: device simulators from a shell; `citycse demo`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ocpp_adapter.arguments import non_negative_decimal
from ocpp_adapter.cse_client import CSEClient, CSEError, HttpClient
from ocpp_adapter.devices import valid_label_value
from ocpp_adapter.simulators import (
    RegisteredDevice,
    alarm_content,
    fire_alarm_name,
    forecast_content,
    grid_feed_name,
    publish,
    register_fire_alarm,
    register_grid_feed,
)
from ocpp_adapter.tariffs import parse_time
from ocpp_adapter.tree import BASE

ALARM_WORDS = {"active": True, "on": True, "1": True, "clear": False, "off": False, "0": False}


def _area(text: str) -> str:
    if not valid_label_value(text):
        raise argparse.ArgumentTypeError(f"not a valid name: {text!r}")
    return text


def _time(text: str) -> float:
    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None


def _window(start: str, end: str, value: str) -> tuple[float, float, Decimal]:
    """An overload or surge window from the command line: two times and a number."""
    return _time(start), _time(end), non_negative_decimal(value)


async def _device_client(args: argparse.Namespace, originator: str) -> CSEClient:
    if args.mqtt:
        from ocpp_adapter.mqtt_client import MqttClient

        client = MqttClient(args.mqtt, args.cse_id, originator)
        await client.connect()
        return client
    return HttpClient(args.cse_url)


async def _cse_rn(client: CSEClient, originator: str) -> str:
    reply = await client.retrieve(BASE, originator)
    return reply.expect("reading the CSEBase", 2000).resource("m2m:cb")["rn"]


def _report(args: argparse.Namespace, device: RegisteredDevice, **extra: Any) -> None:
    summary = {**device.summary(), **extra}
    if args.json:
        print(json.dumps(summary))
    else:
        print("  ".join(f"{k}={v}" for k, v in summary.items()), flush=True)


async def sim_fire_alarm(args: argparse.Namespace) -> None:
    originator = "C" + fire_alarm_name(args.site)
    client = await _device_client(args, originator)
    try:
        device = await register_fire_alarm(client, args.site, await _cse_rn(client, originator))
        if args.state is not None:
            active = args.state == "active"
            ri = await publish(client, device, alarm_content(active, args.detail))
            _report(args, device, reading=ri, active=active)
            return
        _report(args, device)
        print("type 'active' or 'clear' (end with Ctrl-D)", file=sys.stderr, flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            word = line.strip().lower()
            if word not in ALARM_WORDS:
                print(f"unknown state {word!r}: active or clear", file=sys.stderr, flush=True)
                continue
            ri = await publish(client, device, alarm_content(ALARM_WORDS[word], args.detail))
            print(f"reading={ri} active={ALARM_WORDS[word]}", flush=True)
    finally:
        await client.close()


async def sim_grid(args: argparse.Namespace) -> None:
    originator = "C" + grid_feed_name(args.feeder)
    client = await _device_client(args, originator)
    try:
        device = await register_grid_feed(client, args.feeder, await _cse_rn(client, originator))
        overloads, surges = args.overload, args.surge
        for start, end, _ in [*overloads, *surges]:
            if end <= start:
                raise ValueError("a window must end after it starts")
        ri = await publish(client, device, forecast_content(overloads, surges))
        _report(args, device, reading=ri)
    finally:
        await client.close()


def _runner(command: Callable[[argparse.Namespace], Any]) -> Callable[[argparse.Namespace], None]:
    def handler(args: argparse.Namespace) -> None:
        try:
            asyncio.run(command(args))
        except (CSEError, ValueError, OSError, TimeoutError) as exc:
            print(f"citycse: {exc}", file=sys.stderr)
            raise SystemExit(1) from None

    return handler


def _device_options(parser: argparse.ArgumentParser, common: Callable) -> None:
    common(parser)
    parser.add_argument("--mqtt", default=None, help="publish over MQTT: mqtt://host:port")
    parser.add_argument(
        "--cse-id",
        default=os.environ.get("CITYCSE_CSE_ID", "id-in"),
        help="the CSE-ID in the MQTT topics (default id-in)",
    )


def add_device_commands(commands: argparse._SubParsersAction, common: Callable) -> None:
    """`citycse sim fire-alarm|grid` and `citycse demo`."""
    sim = commands.add_parser("sim", help="device simulators (fire alarm, grid feed)")
    sub = sim.add_subparsers(dest="sim_command", required=True)

    p = sub.add_parser("fire-alarm", help="a fire alarm of a site")
    p.add_argument("--site", type=_area, required=True)
    p.add_argument(
        "--state",
        choices=("active", "clear"),
        default=None,
        help="write this one reading and exit (else read states from stdin)",
    )
    p.add_argument("--detail", default=None, help="free text carried with the reading")
    _device_options(p, common)
    p.set_defaults(handler=_runner(sim_fire_alarm))

    p = sub.add_parser("grid", help="a grid feed of a feeder: overload and surge windows")
    p.add_argument("--feeder", type=_area, required=True)
    p.add_argument(
        "--overload",
        nargs=3,
        action="append",
        metavar=("START", "END", "LIMIT_W"),
        type=str,
        help="an overload window (ISO 8601 times) and its power limit in W; repeatable",
    )
    p.add_argument(
        "--surge",
        nargs=3,
        action="append",
        metavar=("START", "END", "FACTOR"),
        type=str,
        help="a surge window (ISO 8601 times) and its price factor (>= 1); repeatable",
    )
    _device_options(p, common)
    p.set_defaults(handler=_runner(_parsed_grid))

    from ocpp_adapter.demo import add_demo_command  # demo uses the management commands

    add_demo_command(commands)


async def _parsed_grid(args: argparse.Namespace) -> None:
    try:
        args.overload = [_window(*window) for window in args.overload or []]
        args.surge = [_window(*window) for window in args.surge or []]
    except argparse.ArgumentTypeError as exc:
        raise ValueError(str(exc)) from None
    await sim_grid(args)
