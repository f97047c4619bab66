"""`citycse demo`: the paper's scenarios played against a real CSE, with a readable timeline.

It starts `citycse serve` (SQLite in a temporary folder) with the OCPP endpoint and, when a
mosquitto binary exists, a private broker and the MQTT binding for the devices (else the
devices speak HTTP). Then: users, three simulated chargers in two sites and two feeders, a
fire alarm and a grid feed, and the scenarios. Exit status 0 only if every expected outcome
happened."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from ocpp_adapter import wallet
from ocpp_adapter.charger_sim import SimulatedCharger, connected_charger, iso_at
from ocpp_adapter.cse_client import CSEClient, HttpClient
from ocpp_adapter.devices import iso
from ocpp_adapter.manage import chargers_assign, tariff_set, users_add
from ocpp_adapter.simulators import (
    alarm_content,
    forecast_content,
    publish,
    register_fire_alarm,
    register_grid_feed,
)

ADMIN = "CAdmin"
CSE_ID = "demo-in"
CSE_RN = "cse-in"
WAIT = 15.0
MOSQUITTO_PATHS = ("mosquitto", "/usr/sbin/mosquitto")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    failures: list[str] = field(default_factory=list)
    checks: int = 0

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:7.3f}s] {text}", flush=True)

    def section(self, title: str) -> None:
        print(f"\n== {title}", flush=True)

    def expect(self, what: str, ok: bool, detail: Any = "") -> None:
        self.checks += 1
        mark = "ok  " if ok else "FAIL"
        self.say(f"  {mark} {what}{f' ({detail})' if detail != '' else ''}")
        if not ok:
            self.failures.append(what)


@contextlib.contextmanager
def private_broker(workdir: Path, wanted: bool = True) -> Iterator[str | None]:
    """A private mosquitto on a free port, or None when there is no mosquitto binary (or
    none is wanted)."""
    binary = next((p for p in map(shutil.which, MOSQUITTO_PATHS) if p), None)
    if binary is None or not wanted:
        yield None
        return
    port = _free_port()
    config = workdir / "mosquitto.conf"
    user = f"user {os.environ.get('USER') or 'root'}\n" if os.geteuid() == 0 else ""
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n{user}"
    )
    process = subprocess.Popen(
        [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            time.sleep(0.1)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


@contextlib.contextmanager
def demo_cse(workdir: Path, broker: str | None) -> Iterator[tuple[str, str]]:
    """`citycse serve` in `workdir`; (base URL, OCPP URL). Its OCPP port is on loopback and
    lives only as long as the demo, so it accepts the simulated chargers without passwords."""
    port, ocpp_port = _free_port(), _free_port()
    command = [
        sys.executable, "-m", "cse", "serve", "--port", str(port),
        "--db", f"sqlite+aiosqlite:///{workdir / 'cse.db'}",
        "--cse-id", CSE_ID, "--cse-rn", CSE_RN, "--admin-originator", ADMIN,
        "--ocpp-port", str(ocpp_port), "--ocpp-overload-policy", "limit",
        "--ocpp-unknown-chargers", "accept", "--log-level", "warning",
    ]  # fmt: skip
    if broker:
        command += ["--mqtt", broker]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYCSE_")}
    with (workdir / "cse.log").open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=workdir, stdout=log_file, stderr=subprocess.STDOUT, env=env
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, workdir)
        yield base, f"ws://127.0.0.1:{ocpp_port}/ocpp"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_ready(base: str, process: subprocess.Popen, workdir: Path) -> None:
    headers = {"X-M2M-Origin": ADMIN, "X-M2M-RI": "ready", "X-M2M-RVI": "3"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("citycse exited:\n" + (workdir / "cse.log").read_text()[-3000:])
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/{CSE_RN}", headers=headers, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("citycse did not become ready")


def _args(**values: Any) -> argparse.Namespace:
    return argparse.Namespace(admin_originator=ADMIN, **values)


async def _device_client(base: str, broker: str | None, originator: str) -> CSEClient:
    if broker is None:
        return HttpClient(base)
    from ocpp_adapter.mqtt_client import MqttClient

    client = MqttClient(broker, CSE_ID, originator)
    await client.connect()
    return client


async def _next(charger: SimulatedCharger, prefix: str, timeout: float = WAIT) -> str | None:
    """The next call the charger received that starts with `prefix` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            what = await asyncio.wait_for(charger.events.get(), left)
        except TimeoutError:
            return None
        if what.startswith(prefix):
            return what
    return None


async def _balance(client: CSEClient, tag: str) -> Decimal:
    entry = await wallet.current(client, ADMIN, tag)
    return entry.balance if entry is not None else Decimal(0)


@contextlib.asynccontextmanager
async def _chargers(ocpp_url: str, timeline: Timeline) -> AsyncIterator[dict[str, Any]]:
    def heard(cp_id: str, what: str) -> None:
        timeline.say(f"{cp_id} <- {what}")

    async with contextlib.AsyncExitStack() as stack:
        chargers = {
            cp_id: await stack.enter_async_context(connected_charger(ocpp_url, cp_id, heard))
            for cp_id in ("north-1", "north-2", "south-1")
        }
        yield chargers


async def play(base: str, ocpp_url: str, broker: str | None, timeline: Timeline) -> None:
    client = HttpClient(base)
    try:
        await _play(client, base, ocpp_url, broker, timeline)
    finally:
        await client.close()


async def _play(
    client: CSEClient, base: str, ocpp_url: str, broker: str | None, t: Timeline
) -> None:
    t.section("setup")
    await tariff_set(client, _args(price_per_kwh=Decimal("0.30"), surge=None, valid_from=None))
    t.say("tariff 0.30 per kWh")
    users = {"ALICE": ("50.00", "10.00"), "BOB": ("0.50", None), "CAROL": ("50.00", None),
             "DAVE": ("50.00", "20.00")}  # fmt: skip
    for tag, (amount, budget) in users.items():
        await users_add(
            client,
            _args(id_tag=tag, balance=Decimal(amount),
                  budget=Decimal(budget) if budget else None, password=None),
        )  # fmt: skip
        t.say(f"user {tag}: balance {amount}" + (f", budget {budget}" if budget else ""))
    async with _chargers(ocpp_url, t) as chargers:
        places = {"north-1": ("north", "F1"), "north-2": ("north", "F1"),
                  "south-1": ("south", "F2")}  # fmt: skip
        for cp_id, (site, feeder) in places.items():
            assert await chargers[cp_id].boot() == "Accepted"
            await chargers_assign(client, _args(charge_point_id=cp_id, site=site, feeder=feeder))
            t.say(f"charger {cp_id} booted, site {site}, feeder {feeder}")
        transport = "MQTT (private mosquitto)" if broker else "HTTP (no MQTT broker)"
        alarm_client = await _device_client(base, broker, "Cfirealarm-north")
        grid_client = await _device_client(base, broker, "Cgridfeed-F2")
        try:
            alarm = await register_fire_alarm(alarm_client, "north", CSE_RN)
            t.say(f"fire alarm {alarm.aei} registered over {transport}: {alarm.container}")
            grid = await register_grid_feed(grid_client, "F2", CSE_RN)
            t.say(f"grid feed {grid.aei} registered over {transport}: {grid.container}")
            await asyncio.sleep(0.5)
            await _scenarios(client, chargers, alarm_client, alarm, grid_client, grid, t)
        finally:
            await alarm_client.close()
            await grid_client.close()
    t.section("final balances")
    expected = {"ALICE": "48.50", "BOB": "0.50", "CAROL": "49.40", "DAVE": "45.50"}
    for tag, want in expected.items():
        have = await _balance(client, tag)
        t.expect(f"{tag} balance {have}", have == Decimal(want), f"expected {want}")


async def _scenarios(
    client: CSEClient,
    chargers: dict[str, SimulatedCharger],
    alarm_client: CSEClient,
    alarm: Any,
    grid_client: CSEClient,
    grid: Any,
    t: Timeline,
) -> None:
    north1, north2, south1 = chargers["north-1"], chargers["north-2"], chargers["south-1"]
    t0 = float(int(time.time()))

    t.section("1. a normal session with refund (ALICE on north-1, budget 10.00)")
    tx, status = await north1.start_session("ALICE", 0, at=iso_at(-1200))
    t.expect("ALICE's StartTransaction accepted", status == "Accepted", f"tx {tx}")
    await north1.stop_session(tx, 5000)
    t.say("north-1 -> StopTransaction 5.000 kWh")
    t.expect("ALICE paid 1.50 and got 8.50 back",
             await _balance(client, "ALICE") == Decimal("48.50"))  # fmt: skip

    t.section("2. an unknown card")
    status = await north1.authorize("NOBODY")
    t.expect("Authorize NOBODY is Invalid", status == "Invalid", status)

    t.section("3. an insufficient balance (BOB has 0.50, the minimum is 1.00)")
    status = await north1.authorize("BOB")
    t.expect("Authorize BOB is Blocked", status == "Blocked", status)

    t.section("4. a fire alarm in site north stops north and not south")
    carol_tx, _ = await north2.start_session("CAROL", 0, at=iso_at(-600))
    north2.running[carol_tx] = 2000
    dave_tx, _ = await south1.start_session("DAVE", 0, at=iso(t0 - 3600))
    south1.running[dave_tx] = 10000
    t.say(f"CAROL charging on north-2 (tx {carol_tx}), DAVE on south-1 (tx {dave_tx})")
    t.say(f"{alarm.aei} -> alarm active")
    raised = time.monotonic()
    await publish(alarm_client, alarm, alarm_content(True, "smoke in the car park"))
    stop = await _next(north2, "RemoteStopTransaction")
    arrived = next((m for m, what in north2.calls if what == stop), raised)
    t.expect(f"north-2 got {stop}", stop == f"RemoteStopTransaction(tx={carol_tx})",
             f"{(arrived - raised) * 1000:.1f} ms after the alarm was published")  # fmt: skip
    t.expect("north-2 then Inoperative", await _next(north2, "ChangeAvailability") ==
             "ChangeAvailability(Inoperative)")  # fmt: skip
    t.expect("north-1 Inoperative", await _next(north1, "ChangeAvailability") ==
             "ChangeAvailability(Inoperative)")  # fmt: skip
    settled = await asyncio.wait_for(north2.stopped.get(), WAIT)
    t.expect(
        "CAROL's session settled: 0.60 charged, the rest refunded",
        settled == carol_tx and await _balance(client, "CAROL") == Decimal("49.40"),
    )
    status = await north1.authorize("ALICE")
    t.expect("Authorize on north-1 during the alarm is Blocked", status == "Blocked", status)
    t.expect("south-1 untouched, DAVE still charging",
             south1.events.empty() and dave_tx in south1.running)  # fmt: skip
    t.say(f"{alarm.aei} -> alarm clear")
    await publish(alarm_client, alarm, alarm_content(False))
    t.expect("north-1 Operative again", await _next(north1, "ChangeAvailability") ==
             "ChangeAvailability(Operative)")  # fmt: skip
    t.expect("Authorize on north-1 after the alarm is Accepted",
             await north1.authorize("ALICE") == "Accepted")  # fmt: skip

    t.section("5. a grid overload limits feeder F2; 6. a surge window prices DAVE's energy")
    surge = (t0 - 1800, t0, Decimal(2))
    overload = (time.time() - 1, time.time() + 3, Decimal(7400))
    t.say(f"{grid.aei} -> overload now for 3 s (7400 W), surge x2 over the last 30 min")
    await publish(grid_client, grid, forecast_content([overload], [surge]))
    limit = await _next(south1, "SetChargingProfile")
    t.expect("south-1 limited", limit == "SetChargingProfile(limit=7400.0 W)", limit)
    t.expect(
        "north chargers (feeder F1) not limited",
        all(not any("ChargingProfile" in w for _, w in c.calls) for c in (north1, north2)),
    )
    cleared = await _next(south1, "ClearChargingProfile", timeout=10)
    t.expect("south-1 limit cleared after the window", cleared == "ClearChargingProfile")
    await south1.stop_session(dave_tx, 10000, at=iso(t0))
    t.say("south-1 -> StopTransaction 10.000 kWh over the last hour")
    t.expect("DAVE paid 1.50 + 3.00 (second half at x2), 15.50 refunded",
             await _balance(client, "DAVE") == Decimal("45.50"))  # fmt: skip


async def _run(args: argparse.Namespace) -> int:
    for noisy in ("httpx", "ocpp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    timeline = Timeline()
    with tempfile.TemporaryDirectory(prefix="citycse-demo-") as folder:
        workdir = Path(folder)
        with (
            private_broker(workdir, wanted=not args.no_mqtt) as broker,
            demo_cse(workdir, broker) as (base, ocpp_url),
        ):
            timeline.say(f"citycse at {base}, OCPP at {ocpp_url}, MQTT {broker or 'off'}")
            try:
                await play(base, ocpp_url, broker, timeline)
            except Exception as exc:  # noqa: BLE001 - reported, and the demo fails
                timeline.expect(f"the demo ran to the end ({type(exc).__name__}: {exc})", False)
    print()
    if timeline.failures:
        print(f"demo FAILED: {len(timeline.failures)} of {timeline.checks} checks failed")
        return 1
    print(f"demo passed: {timeline.checks} checks")
    return 0


def _demo(args: argparse.Namespace) -> None:
    raise SystemExit(asyncio.run(_run(args)))


def add_demo_command(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "demo", help="play the EV-charging scenarios (fire alarm, grid, surge) on a fresh CSE"
    )
    p.add_argument(
        "--no-mqtt", action="store_true", help="devices speak HTTP even if mosquitto exists"
    )
    p.set_defaults(handler=_demo)
