#!/usr/bin/env python3
"""Fire-alarm interlock benchmark of citycse (issue 6, "Speed").

For each size N (default 10, 100, 500, 1000): a fresh `python -m cse serve` (SQLite in a
temporary directory, the OCPP adapter in the same process), N simulated chargers on the
`ocpp` package in this process, all in one site, each with a running session. Then a fire
alarm (an AE writing over HTTP) raises its alarm, and the bench measures the time from
just before the alarm's content-instance create is sent to the RemoteStopTransaction
arriving at each charger: the first, the median, the 99th percentile and the last (= every
charger reached). The chargers then behave like real ones (StopTransaction, settlement)
unless `--no-settle`. Repeated `--repeat` times per size (clear, new sessions, alarm).

    python bench/interlock_bench.py [--sizes 10,100,500,1000] [--repeat 3] [--json out.json]
    python bench/interlock_bench.py --bare ...     # the baseline: bench/bare_csms.py

`--bare` runs the same chargers against bench/bare_csms.py, a central system on the same
`ocpp` package with no oneM2M side, which sends the same calls when told over its control
port: the time a central system needs on this machine to reach the chargers at all.

Clocks: CLOCK_MONOTONIC of this process for both ends; the server is another process on
loopback. The chargers share this process's event loop, so their own CPU (receiving and
validating 1,000 messages) is part of the figure, as it would be for a real site's
chargers only in the sense that each real charger has its own CPU: the figure is an upper
bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import ocpp.messages

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from ocpp_adapter.charger_sim import SimulatedCharger, connected_charger  # noqa: E402
from ocpp_adapter.cse_client import HttpClient  # noqa: E402
from ocpp_adapter.demo import ADMIN, CSE_RN, demo_cse  # noqa: E402
from ocpp_adapter.manage import chargers_assign, tariff_set, users_add  # noqa: E402
from ocpp_adapter.simulators import (  # noqa: E402
    RegisteredDevice,
    alarm_content,
    register_fire_alarm,
)

ocpp.messages.ASYNC_VALIDATION = False
CARD = "BENCHCARD"
SITE = "bench"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _args(**values: object) -> argparse.Namespace:
    return argparse.Namespace(admin_originator=ADMIN, **values)


async def _setup(client: HttpClient, ids: list[str]) -> None:
    await tariff_set(client, _args(price_per_kwh=Decimal("0.30"), surge=None, valid_from=None))
    await users_add(
        client,
        _args(id_tag=CARD, balance=Decimal("1000000"), budget=Decimal("1.00"), password=None),
    )
    for batch in range(0, len(ids), 50):
        await asyncio.gather(
            *(chargers_assign(client, _args(charge_point_id=cp_id, site=SITE, feeder=None))
              for cp_id in ids[batch : batch + 50])
        )  # fmt: skip


# -- the chargers, in worker processes ----------------------------------------------------


def _fleet_main(ocpp_url: str, ids: list[str], settle: bool, conn: Connection) -> None:
    asyncio.run(_fleet(ocpp_url, ids, settle, conn))


async def _fleet(ocpp_url: str, ids: list[str], settle: bool, conn: Connection) -> None:
    """One worker's chargers: connected, then driven by commands from the bench."""
    ocpp.messages.ASYNC_VALIDATION = False
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        chargers = [
            await stack.enter_async_context(connected_charger(ocpp_url, cp_id)) for cp_id in ids
        ]
        for charger in chargers:
            charger.auto_stop = settle
        conn.send("connected")
        while True:
            command, argument = await loop.run_in_executor(None, conn.recv)
            try:
                if command == "quit":
                    return
                if command == "boot":
                    await _in_batches(chargers, lambda c: c.boot())
                    conn.send("ok")
                elif command == "sessions":
                    await _in_batches(chargers, _start_one)
                    conn.send("ok")
                elif command == "arrivals":
                    conn.send(await _arrivals(chargers, *argument))
            except Exception as exc:  # noqa: BLE001 - reported to the bench
                conn.send(f"error: {type(exc).__name__}: {exc}")


async def _in_batches(
    chargers: list[SimulatedCharger], action: Callable[[SimulatedCharger], Awaitable[Any]]
) -> None:
    for batch in range(0, len(chargers), 50):
        await asyncio.gather(*(action(c) for c in chargers[batch : batch + 50]))


async def _start_one(charger: SimulatedCharger) -> None:
    transaction_id, status = await charger.start_session(CARD, 0)
    if status != "Accepted":
        raise RuntimeError(f"{charger.id}: session not accepted ({status})")
    charger.running[transaction_id] = 1000


async def _arrivals(chargers: list[SimulatedCharger], prefix: str, since: float) -> list[float]:
    """Arrival times (CLOCK_MONOTONIC) of the first call starting with `prefix` after
    `since`, one per charger."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        arrivals = [
            next((m for m, what in c.calls if m >= since and what.startswith(prefix)), None)
            for c in chargers
        ]
        if all(a is not None for a in arrivals):
            return [a for a in arrivals if a is not None]
        await asyncio.sleep(0.01)
    raise RuntimeError(f"not every charger received {prefix}")


class Fleet:
    """The chargers of one run, spread over worker processes (each real charger has its
    own CPU; one process for a thousand would measure the bench, not the CSE)."""

    def __init__(self, ocpp_url: str, size: int, processes: int, settle: bool) -> None:
        self.ids = [f"b{index:04d}" for index in range(size)]
        context = multiprocessing.get_context("spawn")
        self.workers = []
        for part in range(processes):
            ids = self.ids[part::processes]
            if not ids:
                continue
            mine, theirs = context.Pipe()
            process = context.Process(
                target=_fleet_main, args=(ocpp_url, ids, settle, theirs), daemon=True
            )
            process.start()
            self.workers.append((process, mine))

    async def ask(self, command: str, argument: object = None) -> list:
        loop = asyncio.get_running_loop()
        if command != "connected":
            for _, conn in self.workers:
                conn.send((command, argument))
        answers = await asyncio.gather(
            *(loop.run_in_executor(None, conn.recv) for _, conn in self.workers)
        )
        for answer in answers:
            if isinstance(answer, str) and answer.startswith("error"):
                raise RuntimeError(answer)
        return answers

    async def arrivals(self, prefix: str, since: float) -> list[float]:
        return [t for part in await self.ask("arrivals", (prefix, since)) for t in part]

    def close(self) -> None:
        for process, conn in self.workers:
            with contextlib.suppress(OSError):
                conn.send(("quit", None))
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


class CityAlarm:
    """citycse: a fire-alarm AE raises and clears its alarm over HTTP; the interlock service
    inside the CSE stops and locks the chargers of its site."""

    def __init__(self, base: str) -> None:
        self.client = HttpClient(base)
        self.raw = httpx.AsyncClient(base_url=base, timeout=30)
        self.alarm: RegisteredDevice | None = None
        self.reading = ""

    async def prepare(self, ids: list[str]) -> None:
        await _setup(self.client, ids)
        self.alarm = await register_fire_alarm(self.client, SITE, CSE_RN)
        await asyncio.sleep(1.0)

    async def raise_alarm(self) -> float:
        """The moment just before the alarm's create was sent."""
        assert self.alarm is not None
        started, self.reading = await _post_alarm(self.raw, self.alarm, True)
        return started

    async def clear(self) -> None:
        assert self.alarm is not None
        await _post_alarm(self.raw, self.alarm, False)

    async def dispatch_ms(self) -> float | None:
        return await _dispatch_ms(self.raw, self.reading)

    async def close(self) -> None:
        await self.raw.aclose()
        await self.client.close()


class BareAlarm:
    """The baseline: bench/bare_csms.py told over its control port to send the same calls
    (RemoteStopTransaction for each session, then ChangeAvailability) to every charger."""

    def __init__(self, control_port: int) -> None:
        self.control_port = control_port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.sent_ms: float | None = None

    async def prepare(self, ids: list[str]) -> None:  # noqa: ARG002 - nothing to register
        self.streams = await asyncio.open_connection("127.0.0.1", self.control_port)

    async def _ask(self, line: bytes) -> str:
        assert self.streams is not None
        reader, writer = self.streams
        writer.write(line + b"\n")
        await writer.drain()
        return (await reader.readline()).decode().strip()

    async def raise_alarm(self) -> float:
        started = time.monotonic()
        self.sent_ms = round(float(await self._ask(b"lock")), 3)
        return started

    async def clear(self) -> None:
        await self._ask(b"unlock")

    async def dispatch_ms(self) -> float | None:
        return self.sent_ms

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


@contextlib.contextmanager
def bare_csms(folder: Path) -> Iterator[tuple[str, int]]:
    """bench/bare_csms.py on free loopback ports: (its OCPP URL, its control port)."""
    ocpp_port, control_port = common.free_port(), common.free_port()
    command = common.bare_csms_command(ocpp_port, control_port=control_port)
    server = common.ServerProcess(
        command, folder / "bare.log", lambda: common.port_open(control_port)
    )
    server.start()
    try:
        yield f"ws://127.0.0.1:{ocpp_port}/ocpp", control_port
    finally:
        server.stop()


async def run_size(size: int, repeat: int, settle: bool, processes: int, bare: bool) -> dict:
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="citycse-ilbench-")))
        alarm: CityAlarm | BareAlarm
        if bare:
            ocpp_url, control_port = stack.enter_context(bare_csms(folder))
            alarm = BareAlarm(control_port)
        else:
            base, ocpp_url = stack.enter_context(demo_cse(folder, None))
            alarm = CityAlarm(base)
        fleet = Fleet(ocpp_url, size, processes, settle)
        try:
            await fleet.ask("connected")
            await fleet.ask("boot")
            await alarm.prepare(fleet.ids)
            runs = []
            for _ in range(repeat):
                await fleet.ask("sessions")
                await asyncio.sleep(0.5)
                runs.append(await _one_alarm(alarm, fleet))
                clear = time.monotonic()
                await alarm.clear()
                await fleet.arrivals("ChangeAvailability(Operative)", clear)
                await asyncio.sleep(0.5)
            return {"chargers": size, "chargerProcesses": processes, "bare": bare, "runs": runs}
        finally:
            fleet.close()
            await alarm.close()


async def _post_alarm(
    raw: httpx.AsyncClient, alarm: RegisteredDevice, active: bool
) -> tuple[float, str]:
    headers = {"X-M2M-Origin": alarm.aei, "X-M2M-RI": f"a{time.time_ns()}", "X-M2M-RVI": "3",
               "Content-Type": "application/json;ty=4"}  # fmt: skip
    body = json.dumps({"m2m:cin": {"cnf": "application/json:0", "con": alarm_content(active)}})
    started = time.monotonic()
    response = await raw.post(f"/{alarm.container}", content=body, headers=headers)
    if response.status_code != 201:
        raise RuntimeError(f"alarm create failed: {response.status_code} {response.text}")
    return started, response.json()["m2m:cin"]["ri"]


async def _dispatch_ms(raw: httpx.AsyncClient, reading: str) -> float | None:
    """How long the interlock took to put every first call on the wire (its audit record)."""
    headers = {"X-M2M-Origin": ADMIN, "X-M2M-RI": f"q{time.time_ns()}", "X-M2M-RVI": "3"}
    params = {"rcn": "8", "ty": "4", "lbl": f"trigger:{reading}"}
    for _ in range(600):
        response = await raw.get(f"/{CSE_RN}/interlocks/actions", params=params, headers=headers)
        found = response.json().get("m2m:cnt", {}).get("m2m:cin", [])
        if found:
            return found[0]["con"].get("firstCallsSentMs")
        await asyncio.sleep(0.05)
    return None


async def _one_alarm(alarm: CityAlarm | BareAlarm, fleet: Fleet) -> dict:
    since = time.monotonic()
    started = await alarm.raise_alarm()
    created = time.monotonic()
    arrivals = await fleet.arrivals("RemoteStopTransaction", since)
    await fleet.arrivals("ChangeAvailability(Inoperative)", since)
    latencies = [(a - started) * 1000 for a in arrivals]
    return {
        "create_ms": round((created - started) * 1000, 2),
        "first_ms": round(min(latencies), 2),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "all_ms": round(max(latencies), 2),
        "server_dispatch_ms": await alarm.dispatch_ms(),
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,500,1000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-settle", action="store_true", help="chargers do not stop")
    parser.add_argument("--charger-processes", type=int, default=4)
    parser.add_argument(
        "--bare", action="store_true", help="the same chargers and calls from bench/bare_csms.py"
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        result = await run_size(
            size, args.repeat, not args.no_settle, args.charger_processes, args.bare
        )
        results.append(result)
        for run in result["runs"]:
            print(
                f"{'bare' if args.bare else 'citycse'} chargers={size:5d}  "
                f"create={run['create_ms']:7.2f} ms  "
                f"first={run['first_ms']:7.2f}  p50={run['p50_ms']:7.2f}  "
                f"p99={run['p99_ms']:7.2f}  all={run['all_ms']:7.2f} ms  "
                f"dispatch={run['server_dispatch_ms']} ms  "
                f"load={os.getloadavg()[0]:.2f}",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
