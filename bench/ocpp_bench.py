#!/usr/bin/env python3
"""OCPP load benchmark: N simulated 1.6J charge points against `citycse serve --ocpp-port`.

Starts a real citycse (SQLite in a temporary directory, or a fresh PostgreSQL database)
with the OCPP adapter, registers one user (RFID card with a large wallet) per charger, and
connects N charge points built on the `ocpp` package over real websockets from separate
load processes. Each charger boots and starts a transaction; then, per phase, it sends
MeterValues and Heartbeats:

- realistic: MeterValues every `--meter-interval` s and a Heartbeat every
  `--heartbeat-interval` s, each charger at its own random phase;
- stressed: as fast as answers come back, `--inflight` calls outstanding per charger
  (one Heartbeat per six MeterValues, the realistic mix).

Per phase it prints messages/s, p50/p99/max call latency, errors, the server's CPU per
message (process CPU from /proc/<pid>/stat before and after) and its RSS per connection.
`--bare` runs the same load against bench/bare_csms.py, the CPU baseline.

    python bench/ocpp_bench.py --chargers 100 1000 --modes realistic stressed
    python bench/ocpp_bench.py --chargers 1000 --bare
    python bench/ocpp_bench.py --chargers 5000 --procs 4 --db postgresql

See bench/README.md ("OCPP load benchmark") for the figures and how to read them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing as mp
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import uvloop  # noqa: E402
from ocpp.messages import Call, CallError, MessageType, unpack  # noqa: E402
from ocpp.routing import on  # noqa: E402
from ocpp.v16 import ChargePoint, call_result  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from bench import common  # noqa: E402
from bench.common import HOST, BenchError, process_cpu_seconds  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
ADMIN = "CAdmin"
OCPP_PATH = "/ocpp"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
BALANCE = Decimal("1000000.00")
BUDGET = Decimal("100000.00")
PRICE_PER_KWH = Decimal("0.30")
WH_PER_METER_VALUE = 30  # about 11 kW for 10 s
METER_VALUES_PER_HEARTBEAT = 6
RESPONSE_TIMEOUT = 30.0
CONNECTS_IN_FLIGHT = 50  # handshakes + boot + start at once per load process


# --------------------------------------------------------------------- process figures


def process_rss_bytes(pid: int) -> int:
    stat = common.read_stat(pid)
    return stat.rss_pages * PAGE if stat is not None else 0


def load_average() -> float:
    return os.getloadavg()[0]


def raise_open_files_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY else min(max(soft, wanted), hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ----------------------------------------------------------------------------- servers


def citycse_command(db_url: str, http_port: int, ocpp_port: int, log_level: str) -> list[str]:
    return common.serve_command(
        http_port, db_url,
        "--ocpp-port", str(ocpp_port), "--ocpp-host", HOST, "--ocpp-unknown-chargers", "accept",
        log_level=log_level,
    )  # fmt: skip


class Database:
    """A fresh database per run: a SQLite file, or a PostgreSQL database dropped after."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.pg_name = (
            f"citycse_ocppbench_{uuid.uuid4().hex[:10]}" if kind == "postgresql" else None
        )
        if kind == "sqlite":
            self.url = f"sqlite+aiosqlite:///{workdir / 'cse.db'}"
        else:
            self.url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.pg_name}"

    def _pg(self, sql: str) -> None:
        import asyncpg

        async def run() -> None:
            conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(run())

    def create(self) -> None:
        if self.pg_name:
            self._pg(f'CREATE DATABASE "{self.pg_name}"')

    def drop(self) -> None:
        if self.pg_name:
            self._pg(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


# --------------------------------------------------------------------------- the tree


def id_tag(index: int) -> str:
    return f"BENCH{index:06d}"


def charger_id(index: int) -> str:
    return f"bench-{index:06d}"


async def register_users(cse_url: str, count: int, concurrency: int = 16) -> None:
    """One user per charger with a wallet that no benchmark can exhaust, and the tariff."""
    from ocpp_adapter import wallet
    from ocpp_adapter.cse_client import HttpClient
    from ocpp_adapter.tariffs import tariff_content
    from ocpp_adapter.tree import TARIFFS, add_instance, create_user, ensure_evcs, user_path

    client = HttpClient(cse_url, timeout=120)
    try:
        tree = await ensure_evcs(client, ADMIN)
        await add_instance(client, TARIFFS, ADMIN, tariff_content(PRICE_PER_KWH))
        gate = asyncio.Semaphore(concurrency)

        async def add(tag: str) -> None:
            async with gate:
                if not await create_user(client, ADMIN, tree, tag):
                    return
                profile = {"idTag": tag, "budget": str(BUDGET)}
                await add_instance(client, f"{user_path(tag)}/profile", ADMIN, profile)
                await wallet.append(client, ADMIN, tag, BALANCE, "initial")

        await asyncio.gather(*(add(id_tag(i)) for i in range(count)))
    finally:
        await client.close()


def wait_for_http(cse_url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            headers = {"X-M2M-Origin": ADMIN, "X-M2M-RI": "ready", "X-M2M-RVI": "3"}
            if httpx.get(cse_url + "/-", headers=headers).status_code == 200:
                return
        time.sleep(0.2)
    raise BenchError(f"{cse_url} not answering")


# ------------------------------------------------------------------- simulated chargers


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CallFailed(Exception):
    pass


class SimulatedChargePoint(ChargePoint):
    """A 1.6 charge point that can have several calls outstanding (the package's own
    `call()` allows one), so a stressed phase can keep `k` in flight. Frames are the
    package's `Call` messages; requests are not schema-validated here (load-side CPU)."""

    def __init__(self, cp_id: str, connection: Any, tag: str) -> None:
        super().__init__(cp_id, connection, response_timeout=RESPONSE_TIMEOUT)
        self.tag = tag
        self.transaction_id: int | None = None
        self.meter_wh = 0
        self.remote_stops = 0
        self._waiting: dict[str, asyncio.Future] = {}

    async def route_message(self, raw_msg: str) -> None:
        msg = unpack(raw_msg)
        if msg.message_type_id == MessageType.Call:
            await super().route_message(raw_msg)
            return
        future = self._waiting.pop(msg.unique_id, None)
        if future is not None and not future.done():
            future.set_result(msg)

    async def request(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        unique_id = uuid.uuid4().hex
        future = asyncio.get_running_loop().create_future()
        self._waiting[unique_id] = future
        try:
            await self._connection.send(Call(unique_id, action, payload).to_json())
            answer = await asyncio.wait_for(future, RESPONSE_TIMEOUT)
        finally:
            self._waiting.pop(unique_id, None)
        if isinstance(answer, CallError):
            raise CallFailed(f"{action}: {answer.error_code} {answer.error_description}")
        return answer.payload

    def fail_waiting(self, error: BaseException) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)

    def meter_values_payload(self) -> dict[str, Any]:
        self.meter_wh += WH_PER_METER_VALUE
        sampled = [
            {
                "value": str(self.meter_wh),
                "context": "Sample.Periodic",
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
            },
            {
                "value": "11000",
                "context": "Sample.Periodic",
                "measurand": "Power.Active.Import",
                "unit": "W",
            },
        ]
        return {
            "connectorId": 1,
            "transactionId": self.transaction_id,
            "meterValue": [{"timestamp": utc_now(), "sampledValue": sampled}],
        }

    @on("RemoteStopTransaction")
    async def on_remote_stop_transaction(
        self, transaction_id: int
    ) -> call_result.RemoteStopTransaction:
        self.remote_stops += 1
        return call_result.RemoteStopTransaction(status="Accepted")


@dataclass
class Tally:
    """What one load process saw in a phase."""

    sent: int = 0
    answered: int = 0
    errors: int = 0
    latencies_ms: array | None = None
    first_error: str = ""

    def __post_init__(self) -> None:
        if self.latencies_ms is None:
            self.latencies_ms = array("d")


async def timed_request(cp: SimulatedChargePoint, action: str, tally: Tally) -> None:
    payload = cp.meter_values_payload() if action == "MeterValues" else {}
    tally.sent += 1
    began = time.perf_counter()
    try:
        await cp.request(action, payload)
    except Exception as exc:  # noqa: BLE001 - every failure is an error of the run
        tally.errors += 1
        tally.first_error = tally.first_error or f"{action}: {type(exc).__name__}: {exc}"
        return
    tally.latencies_ms.append((time.perf_counter() - began) * 1000)
    tally.answered += 1


async def bring_up(url: str, cp_id: str, tag: str, compression: str | None) -> SimulatedChargePoint:
    """Connect, boot, start a transaction; the charge point with its reader running."""
    connection = await connect(
        url,
        subprotocols=["ocpp1.6"],
        open_timeout=120,
        ping_interval=None,
        compression=compression,
        max_queue=None,
    )
    cp = SimulatedChargePoint(cp_id, connection, tag)
    reader = asyncio.get_running_loop().create_task(cp.start())
    cp.reader = reader  # type: ignore[attr-defined]
    boot = await cp.request(
        "BootNotification", {"chargePointVendor": "citycse", "chargePointModel": "bench"}
    )
    if boot.get("status") != "Accepted":
        raise CallFailed(f"BootNotification answered {boot}")
    await cp.request("StatusNotification", {
        "connectorId": 1, "errorCode": "NoError", "status": "Preparing",
    })  # fmt: skip
    started = await cp.request("StartTransaction", {
        "connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": utc_now(),
    })  # fmt: skip
    if started.get("idTagInfo", {}).get("status") != "Accepted":
        raise CallFailed(f"StartTransaction answered {started}")
    cp.transaction_id = started["transactionId"]
    return cp


async def realistic_load(
    cp: SimulatedChargePoint, end: float, meter_every: float, beat_every: float, tally: Tally
) -> None:
    """MeterValues and Heartbeats on a fixed schedule from a random phase, until `end`."""
    loop = asyncio.get_running_loop()
    now = time.time()
    schedule = [
        (now + random.uniform(0, meter_every), meter_every, "MeterValues"),
        (now + random.uniform(0, beat_every), beat_every, "Heartbeat"),
    ]
    pending: set[asyncio.Task] = set()
    while True:
        schedule.sort()
        due, every, action = schedule[0]
        if due >= end:
            break
        await asyncio.sleep(max(0.0, due - time.time()))
        task = loop.create_task(timed_request(cp, action, tally))
        pending.add(task)
        task.add_done_callback(pending.discard)
        schedule[0] = (due + every, every, action)
    if pending:
        await asyncio.gather(*pending)


async def stressed_load(cp: SimulatedChargePoint, end: float, inflight: int, tally: Tally) -> None:
    async def lane() -> None:
        for n in itertools.count():
            if time.time() >= end:
                return
            action = "Heartbeat" if n % (METER_VALUES_PER_HEARTBEAT + 1) == 0 else "MeterValues"
            await timed_request(cp, action, tally)

    await asyncio.gather(*(lane() for _ in range(inflight)))


@dataclass
class Phase:
    mode: str
    duration: float
    meter_every: float
    beat_every: float
    inflight: int


async def load_process_main(
    url: str, indexes: list[int], compression: str | None, control: Any, results: Any
) -> None:
    gate = asyncio.Semaphore(CONNECTS_IN_FLIGHT)

    async def up(index: int) -> SimulatedChargePoint:
        async with gate:
            return await bring_up(f"{url}/{charger_id(index)}", charger_id(index),
                                  id_tag(index), compression)  # fmt: skip

    outcome = await asyncio.gather(*(up(i) for i in indexes), return_exceptions=True)
    chargers = [cp for cp in outcome if isinstance(cp, SimulatedChargePoint)]
    failures = [repr(e) for e in outcome if not isinstance(e, SimulatedChargePoint)]
    results.put(("ready", len(chargers), failures[:3], len(failures)))
    loop = asyncio.get_running_loop()
    while True:
        order = await loop.run_in_executor(None, control.get)
        if order is None:
            break
        phase, start_at = order
        await asyncio.sleep(max(0.0, start_at - time.time()))
        end = start_at + phase.duration
        tally = Tally()
        if phase.mode == "realistic":
            work = (realistic_load(cp, end, phase.meter_every, phase.beat_every, tally)
                    for cp in chargers)  # fmt: skip
        else:
            work = (stressed_load(cp, end, phase.inflight, tally) for cp in chargers)
        await asyncio.gather(*work)
        dropped = sum(1 for cp in chargers if cp.reader.done())  # type: ignore[attr-defined]
        results.put((
            "done", tally.sent, tally.answered, tally.errors, tally.latencies_ms.tobytes(),
            tally.first_error, dropped, sum(cp.remote_stops for cp in chargers),
        ))  # fmt: skip
    for cp in chargers:
        cp.fail_waiting(ConnectionError("benchmark over"))
        await cp._connection.close()


def load_process(url: str, indexes: list[int], compression: str | None, control, results):
    raise_open_files_limit(len(indexes) + 256)
    try:
        uvloop.run(load_process_main(url, indexes, compression, control, results))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        results.put(("crashed", repr(exc)))


# ------------------------------------------------------------------------------ phases


@dataclass
class PhaseResult:
    target: str
    db: str
    chargers: int
    mode: str
    inflight: int
    seconds: float
    messages: int
    msgs_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    errors: int
    server_cpu_s: float
    cpu_ms_per_msg: float
    server_cores: float
    rss_mb: float
    rss_kb_per_conn: float
    load_cpu_cores: float
    other_cpu_cores: float
    loadavg_before: float
    idle_cores: float = 0.0
    net_cpu_ms_per_msg: float = 0.0
    note: str = ""


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(0, math.ceil(fraction * len(sorted_values)) - 1)
    return sorted_values[rank]


class LoadFleet:
    """N chargers spread over P load processes, connected once, driven phase by phase."""

    def __init__(self, url: str, count: int, procs: int, compression: str | None) -> None:
        ctx = mp.get_context("fork")
        self.results = ctx.Queue()
        self.controls = [ctx.Queue() for _ in range(procs)]
        slices = [list(range(count))[i::procs] for i in range(procs)]
        self.processes = [
            ctx.Process(
                target=load_process,
                args=(url, part, compression, control, self.results),
                daemon=True,
            )
            for part, control in zip(slices, self.controls, strict=True)
        ]

    def _collect(self, kind: str, timeout: float) -> list[tuple]:
        replies = []
        deadline = time.monotonic() + timeout
        while len(replies) < len(self.processes):
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"load processes did not report {kind!r} in {timeout:.0f} s")
            try:
                reply = self.results.get(timeout=min(left, 5))
            except Exception:  # noqa: BLE001 - queue.Empty: look at the processes
                if not any(p.is_alive() for p in self.processes):
                    raise BenchError("every load process exited") from None
                continue
            if reply[0] == "crashed":
                raise BenchError(f"a load process crashed: {reply[1]}")
            replies.append(reply)
        return replies

    def connect(self, timeout: float) -> int:
        for process in self.processes:
            process.start()
        replies = self._collect("ready", timeout)
        failed = sum(r[3] for r in replies)
        if failed:
            examples = [e for r in replies for e in r[2]][:3]
            raise BenchError(f"{failed} chargers failed to come up: {examples}")
        return sum(r[1] for r in replies)

    def run(self, phase: Phase, start_at: float) -> list[tuple]:
        for control in self.controls:
            control.put((phase, start_at))
        return self._collect("done", phase.duration + RESPONSE_TIMEOUT + 120)

    def cpu_seconds(self) -> float:
        return sum(process_cpu_seconds(p.pid) for p in self.processes if p.pid is not None)

    def close(self) -> None:
        for control in self.controls:
            control.put(None)
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()


def measure_phase(
    fleet: LoadFleet, server: common.ServerProcess, phase: Phase, base: dict[str, Any]
) -> PhaseResult:
    loadavg = load_average()
    start_at = time.time() + 1.0
    time.sleep(max(0.0, start_at - time.time()))
    cpu0, busy0, wall0 = process_cpu_seconds(server.pid), common.machine_busy_seconds(), time.time()
    load0 = fleet.cpu_seconds()
    replies = fleet.run(phase, start_at)
    cpu1, busy1, wall1 = process_cpu_seconds(server.pid), common.machine_busy_seconds(), time.time()
    load_cpu = fleet.cpu_seconds() - load0
    latencies: list[float] = []
    for reply in replies:
        chunk = array("d")
        chunk.frombytes(reply[4])
        latencies.extend(chunk)
    latencies.sort()
    answered = sum(r[2] for r in replies)
    errors = sum(r[3] for r in replies) + sum(r[6] for r in replies)
    server_cpu = cpu1 - cpu0
    wall = wall1 - wall0
    notes = [r[5] for r in replies if r[5]][:1]
    stops = sum(r[7] for r in replies)
    if stops:
        notes.append(f"{stops} RemoteStopTransaction")
    rss = process_rss_bytes(server.pid)

    def ms(value: float | None) -> float | None:
        return round(value, 2) if value is not None else None

    return PhaseResult(
        **base,
        mode=phase.mode,
        inflight=phase.inflight if phase.mode == "stressed" else 0,
        seconds=round(wall, 1),
        messages=answered,
        msgs_per_s=round(answered / phase.duration, 1),
        p50_ms=ms(percentile(latencies, 0.50)),
        p99_ms=ms(percentile(latencies, 0.99)),
        max_ms=ms(latencies[-1] if latencies else None),
        errors=errors,
        server_cpu_s=round(server_cpu, 2),
        cpu_ms_per_msg=round(server_cpu * 1000 / max(answered, 1), 3),
        server_cores=round(server_cpu / wall, 2),
        rss_mb=round(rss / 2**20, 1),
        rss_kb_per_conn=0.0,  # set by the caller: measured once, after connecting
        load_cpu_cores=round(load_cpu / wall, 2),
        other_cpu_cores=round(max(0.0, (busy1 - busy0) - server_cpu - load_cpu) / wall, 2),
        loadavg_before=round(loadavg, 2),
        note="; ".join(notes),
    )


@contextlib.contextmanager
def profiled(directory: Path | None, pid: int, name: str, seconds: float):
    """py-spy samples the server's GIL holder during the phase (collapsed stacks, for flame
    graphs): where Python CPU goes. Sampling slows the server: take figures from runs
    without it."""
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{name}.txt"
    spy = subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
         "--duration", str(int(seconds) + 1), "--output", str(out), "--gil"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()
        print(f"# py-spy profile: {out}", flush=True)


def idle_cores(pid: int, seconds: float) -> float:
    """The server's CPU with every charger connected and silent (pings, timers): the part of
    a slow phase's CPU that is not per message."""
    time.sleep(2.0)
    before, began = process_cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (process_cpu_seconds(pid) - before) / (time.monotonic() - began)


def run_target(args: argparse.Namespace, count: int) -> list[PhaseResult]:
    """One fresh server and database, N chargers, every requested phase."""
    workdir = Path(tempfile.mkdtemp(prefix="ocppbench-"))
    ocpp_port, http_port = common.free_port(), common.free_port()
    db = Database(args.db, workdir)
    target = ("bare+su" if args.bare_speedups else "bare") if args.bare else "citycse"
    if args.bare:
        command = common.bare_csms_command(ocpp_port, args.bare_speedups)
    else:
        db.create()
        command = citycse_command(db.url, http_port, ocpp_port, args.log_level)
    server = common.ServerProcess(
        command, workdir / "server.log", ready=lambda: common.port_open(ocpp_port)
    )
    procs = args.procs or max(1, math.ceil(count / 1250))
    fleet: LoadFleet | None = None
    results: list[PhaseResult] = []
    try:
        server.start()
        if not args.bare:
            began = time.monotonic()
            wait_for_http(f"http://{HOST}:{http_port}")
            asyncio.run(register_users(f"http://{HOST}:{http_port}", count))
            print(f"# {count} users registered in {time.monotonic() - began:.0f} s", flush=True)
        time.sleep(1.0)
        rss_idle = process_rss_bytes(server.pid)
        fleet = LoadFleet(f"ws://{HOST}:{ocpp_port}{OCPP_PATH}", count, procs, args.compression)
        began = time.monotonic()
        connected = fleet.connect(timeout=max(300.0, count * 0.2))
        rss_connected = process_rss_bytes(server.pid)
        print(f"# {connected} chargers up (boot + start) in {time.monotonic() - began:.0f} s "
              f"over {procs} load process(es)", flush=True)  # fmt: skip
        per_conn_kb = round((rss_connected - rss_idle) / 1024 / max(connected, 1), 1)
        idle = idle_cores(server.pid, args.idle_seconds)
        print(f"# server idle with {connected} chargers connected: {idle:.3f} cores", flush=True)
        for mode in args.modes:
            phase = Phase(
                mode=mode,
                duration=args.duration if mode == "realistic" else args.stress_duration,
                meter_every=args.meter_interval,
                beat_every=args.heartbeat_interval,
                inflight=args.inflight,
            )
            base = {"target": target, "db": "-" if args.bare else args.db, "chargers": count}
            with profiled(args.py_spy, server.pid, f"{target}-{count}-{mode}", phase.duration):
                result = measure_phase(fleet, server, phase, base)
            result.rss_kb_per_conn = per_conn_kb
            result.idle_cores = round(idle, 3)
            net = result.server_cpu_s - idle * result.seconds
            result.net_cpu_ms_per_msg = round(net * 1000 / max(result.messages, 1), 3)
            results.append(result)
            print(format_row(result), flush=True)
    except BenchError:
        print(f"--- server log (tail)\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        if fleet is not None:
            fleet.close()
        server.stop()
        db.drop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"# kept {workdir}", flush=True)
    return results


# ------------------------------------------------------------------------------ report

HEADER = (
    f"{'target':<8} {'db':<10} {'chargers':>8} {'mode':<10} {'k':>2} {'msg/s':>8} "
    f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6} {'CPU ms/msg':>10} {'net':>6} "
    f"{'srv cores':>9} {'RSS MB':>7} {'KB/conn':>7} {'load cores':>10} {'other':>5} "
    f"{'loadavg':>7}"
)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_row(r: PhaseResult) -> str:
    k = str(r.inflight) if r.inflight else "-"
    row = (
        f"{r.target:<8} {r.db:<10} {r.chargers:>8} {r.mode:<10} {k:>2} {r.msgs_per_s:>8.1f} "
        f"{_ms(r.p50_ms):>7} {_ms(r.p99_ms):>7} {_ms(r.max_ms):>7} {r.errors:>6} "
        f"{r.cpu_ms_per_msg:>10.3f} {r.net_cpu_ms_per_msg:>6.3f} {r.server_cores:>9.2f} "
        f"{r.rss_mb:>7.1f} "
        f"{r.rss_kb_per_conn:>7.1f} {r.load_cpu_cores:>10.2f} {r.other_cpu_cores:>5.2f} "
        f"{r.loadavg_before:>7.2f}"
    )
    return row + (f"  # {r.note}" if r.note else "")


def git_revision() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, timeout=10)  # fmt: skip
        return done.stdout.strip() or None
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--modes", nargs="+", choices=["realistic", "stressed"],
                        default=["realistic", "stressed"])  # fmt: skip
    parser.add_argument("--bare", action="store_true", help="load bench/bare_csms.py instead")
    parser.add_argument("--bare-speedups", action="store_true",
                        help="bare_csms.py --speedups")  # fmt: skip
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--duration", type=float, default=60.0, help="realistic phase, s")
    parser.add_argument("--stress-duration", type=float, default=20.0, help="stressed phase, s")
    parser.add_argument("--meter-interval", type=float, default=10.0)
    parser.add_argument("--heartbeat-interval", type=float, default=60.0)
    parser.add_argument("--inflight", type=int, default=1, help="stressed: calls per charger")
    parser.add_argument("--procs", type=int, default=0,
                        help="load processes (default: one per 1,250 chargers)")  # fmt: skip
    parser.add_argument("--compression", choices=["deflate", "none"], default="none",
                        help="permessage-deflate offered by the chargers")  # fmt: skip
    parser.add_argument("--log-level", default="warning", help="citycse --log-level")
    parser.add_argument("--idle-seconds", type=float, default=10.0,
                        help="measure the idle server this long before the phases")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--py-spy", type=Path, metavar="DIR",
                        help="py-spy profile of the server per phase, into DIR")  # fmt: skip
    args = parser.parse_args(argv)
    args.compression = None if args.compression == "none" else "deflate"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit = raise_open_files_limit(max(args.chargers) * 2 + 1024)
    print(f"# ocpp_bench {git_revision() or ''} target={'bare' if args.bare else 'citycse'} "
          f"db={args.db} cores={os.cpu_count()} nofile={limit} loadavg={load_average():.2f} "
          f"compression={args.compression or 'none'}", flush=True)  # fmt: skip
    print(HEADER, flush=True)
    rows: list[PhaseResult] = []
    status = 0
    for count in args.chargers:
        try:
            rows.extend(run_target(args, count))
        except BenchError as exc:
            print(f"# {count} chargers: FAILED: {exc}", file=sys.stderr, flush=True)
            status = 1
    if args.json:
        report = {"revision": git_revision(), "args": {k: str(v) for k, v in vars(args).items()},
                  "rows": [asdict(r) for r in rows]}  # fmt: skip
        args.json.write_text(json.dumps(report, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
