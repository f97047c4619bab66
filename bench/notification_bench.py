#!/usr/bin/env python3
"""Notification benchmark of citycse (issue 3, "Speed").

Starts `python -m cse serve` (SQLite in a temporary directory, one worker) and an HTTP
notification receiver in a separate process, then measures:

  latency c=1 / c=16   time from a content-instance create's response (as its client reads
                       it) to the notification's arrival at the receiver: p50/p99/max, lost
  create throughput    wrk (bench/onem2m.lua, mode=create, -c16) on a container with no
                       subscription and on one with one subscription, alternated; the cost
  fan-out 1000         one content instance in a container with 1,000 subscriptions (1,000
                       distinct receiver URLs): time until all 1,000 notifications arrived
  SSE latency          time from the create's response to the event on /sse/notifications

Clocks: the receiver and the clients stamp arrivals with CLOCK_MONOTONIC, which on Linux is
one clock for every process of the machine. Everything runs on loopback.

    python bench/notification_bench.py [--quick] [--only latency,throughput,fanout,sse]
                                       [--json out.json] [--quiet-load 1.0]

Other benchmarks may share this machine: the load average is printed with every phase
(and --quiet-load waits, up to a minute, for the 1-minute load to drop below a value).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench.common import HOST, ServerProcess, cse_answers, free_port, serve_command  # noqa: E402

LUA_SCRIPT = HERE / "onem2m.lua"
CSE_RN = "cse-in"
ADMIN = "CAdmin"
AE_ORIGIN = "Cntfbench"
PICKUP_ORIGIN = "Cntfsse"

PHASES = {"latency", "throughput", "fanout", "sse"}
TARGETS = {
    "latency_c16_p99_ms": 10.0,
    "subscription_cost_pct": 20.0,
    "fanout_1000_s": 1.0,
}


def now_ns() -> int:
    return time.monotonic_ns()


def load_average() -> float:
    return os.getloadavg()[0]


def wait_for_low_load(threshold: float, max_wait: float = 60.0) -> None:
    if threshold <= 0:
        return
    deadline = time.monotonic() + max_wait
    while load_average() > threshold and time.monotonic() < deadline:
        time.sleep(2)


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


# =========================================================================== receiver process


class _ReceiverProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1 server: answers every POST with 200 and records notifications;
    GET /_dump returns (and forgets) the records, GET /_count their number."""

    records: list[tuple[str, Any, int, str]] = []
    verifications = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            lines = head.split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            self.rqi = ""
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "x-m2m-ri":
                    self.rqi = value.strip()
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            self.handle(method, path, body)

    def handle(self, method: str, path: str, body: bytes) -> None:
        arrived = now_ns()
        payload = b""
        if method == "POST":
            try:
                sgn = json.loads(body).get("m2m:sgn", {})
            except ValueError:
                sgn = {}
            if sgn.get("vrq"):
                _ReceiverProtocol.verifications += 1
            else:
                rep = (sgn.get("nev") or {}).get("rep") or {}
                con = (rep.get("m2m:cin") or {}).get("con")
                _ReceiverProtocol.records.append((path, con, arrived, self.rqi))
        elif path.startswith("/_dump"):
            payload = json.dumps(_ReceiverProtocol.records).encode()
            _ReceiverProtocol.records = []
        elif path.startswith("/_count"):
            payload = str(len(_ReceiverProtocol.records)).encode()
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nX-M2M-RSC: 2000\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
        )


def receiver_main(port: int) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_ReceiverProtocol, HOST, port, backlog=4096)
        print("READY", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


# =========================================================================== HTTP client


class Connection:
    """One keep-alive HTTP/1.1 connection, requests one after another (no pipelining)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        return self

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        response_headers = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                response_headers[name.strip().lower()] = value.strip()
        length = int(response_headers.get("content-length", "0"))
        data = await self.reader.readexactly(length) if length else b""
        return status, response_headers, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()


_rqi = 0


def m2m_headers(origin: str, ty: int | None = None) -> dict[str, str]:
    global _rqi
    _rqi += 1
    headers = {"X-M2M-Origin": origin, "X-M2M-RI": f"nb{_rqi}", "X-M2M-RVI": "3"}
    headers["Content-Type"] = "application/json" + (f";ty={ty}" if ty else "")
    return headers


async def create(
    conn: Connection, path: str, ty: int, root: str, body: dict, origin: str = AE_ORIGIN
) -> dict:
    status, headers, data = await conn.request(
        "POST", path, m2m_headers(origin, ty), json.dumps({root: body}).encode()
    )
    if headers.get("x-m2m-rsc") != "2001":
        raise RuntimeError(f"create {root} under {path}: HTTP {status} {data[:300]!r}")
    return json.loads(data)[root]


# =========================================================================== processes


@dataclass
class Processes:
    workdir: Path
    cse_port: int = field(default_factory=free_port)
    receiver_port: int = field(default_factory=free_port)
    cse: ServerProcess | None = None
    receiver: subprocess.Popen | None = None

    def start(self) -> None:
        self.receiver = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--receiver", str(self.receiver_port)],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.receiver.stdout is not None
        if self.receiver.stdout.readline().strip() != b"READY":
            raise RuntimeError("the receiver did not start")
        db_url = f"sqlite+aiosqlite:///{self.workdir / 'cse.db'}"
        self.cse = ServerProcess(
            serve_command(self.cse_port, db_url),
            self.workdir / "cse.log",
            ready=lambda: cse_answers(self.cse_port),
        )
        self.cse.start()

    def log_tail(self) -> str:
        return self.cse.log_tail() if self.cse is not None else ""

    def stop(self) -> None:
        if self.cse is not None:
            self.cse.stop(timeout=20)
        if self.receiver is not None and self.receiver.poll() is None:
            self.receiver.terminate()
            try:
                self.receiver.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.receiver.pid, signal.SIGKILL)
                self.receiver.wait(timeout=10)


# =========================================================================== phases


class Bench:
    def __init__(self, procs: Processes, quick: bool, quiet_load: float) -> None:
        self.procs = procs
        self.quick = quick
        self.quiet_load = quiet_load
        self.port = procs.cse_port
        self.rx = f"http://{HOST}:{procs.receiver_port}"
        self.results: dict[str, Any] = {}
        self.loads: dict[str, float] = {}

    async def receiver_dump(self) -> list[tuple[str, Any, int, str]]:
        conn = await Connection(self.procs.receiver_port).open()
        try:
            _, _, data = await conn.request("GET", "/_dump", {})
            return [tuple(r) for r in json.loads(data)]
        finally:
            await conn.close()

    async def receiver_count(self) -> int:
        conn = await Connection(self.procs.receiver_port).open()
        try:
            _, _, data = await conn.request("GET", "/_count", {})
            return int(data)
        finally:
            await conn.close()

    async def wait_for_receiver(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while await self.receiver_count() < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def phase(self, name: str) -> None:
        wait_for_low_load(self.quiet_load)
        self.loads[name] = load_average()
        print(f"-- {name} (load average {self.loads[name]:.2f})", file=sys.stderr, flush=True)

    async def setup(self) -> None:
        conn = await Connection(self.port).open()
        ae = {"rn": "ntfbench", "api": "Nbench", "rr": False, "srv": ["3"]}
        await create(conn, f"/{CSE_RN}", 2, "m2m:ae", ae, origin=AE_ORIGIN)
        sse_ae = {"rn": "ntfsse", "api": "Nbench", "rr": False, "srv": ["3"]}
        self.sse_aei = (await create(conn, f"/{CSE_RN}", 2, "m2m:ae", sse_ae, PICKUP_ORIGIN))["aei"]
        self.base = f"/{CSE_RN}/ntfbench"
        for rn in ("lat1", "lat16", "tp0", "tp1", "fan"):
            await create(conn, self.base, 3, "m2m:cnt", {"rn": rn})
        for rn, path in (("lat1", "/l1"), ("lat16", "/l16"), ("tp1", "/tp")):
            sub = {"rn": "s", "nu": [self.rx + path], "enc": {"net": [3], "chty": [4]}}
            await create(conn, f"{self.base}/{rn}", 23, "m2m:sub", sub)
        await create(conn, f"/{CSE_RN}/ntfsse", 3, "m2m:cnt", {"rn": "s"}, PICKUP_ORIGIN)
        sub = {"rn": "s", "nu": [self.sse_aei], "enc": {"net": [3], "chty": [4]}}
        await create(conn, f"/{CSE_RN}/ntfsse/s", 23, "m2m:sub", sub, PICKUP_ORIGIN)
        await conn.close()
        await self.receiver_dump()

    # -- latency -----------------------------------------------------------------------------

    async def latency(self, concurrency: int, total: int) -> dict[str, Any]:
        name = f"latency_c{concurrency}"
        self.phase(name)
        path = f"{self.base}/lat{concurrency}"
        responded: dict[str, int] = {}
        failures = 0
        counter = iter(range(total))

        async def worker(k: int) -> None:
            nonlocal failures
            conn = await Connection(self.port).open()
            try:
                for i in counter:
                    con = f"{name}-{i}"
                    body = json.dumps({"m2m:cin": {"con": con}}).encode()
                    _, headers, _ = await conn.request(
                        "POST", path, m2m_headers(AE_ORIGIN, 4), body
                    )
                    if headers.get("x-m2m-rsc") == "2001":
                        responded[con] = now_ns()
                    else:
                        failures += 1
            finally:
                await conn.close()

        started = now_ns()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = (now_ns() - started) / 1e9
        await self.wait_for_receiver(len(responded), 15)
        records = await self.receiver_dump()
        arrived: dict[str, int] = {}
        duplicates = 0
        for _, con, t, _ in records:
            if con in arrived:
                duplicates += 1
            else:
                arrived[con] = t
        latencies = [(arrived[c] - t) / 1e6 for c, t in responded.items() if c in arrived]
        result = {
            "creates": len(responded),
            "create_failures": failures,
            "creates_per_s": round(len(responded) / elapsed, 1),
            "lost": len(responded) - len([c for c in responded if c in arrived]),
            "duplicates": duplicates,
            "before_response": sum(1 for v in latencies if v < 0),
            "p50_ms": round(percentile(latencies, 50), 3),
            "p90_ms": round(percentile(latencies, 90), 3),
            "p99_ms": round(percentile(latencies, 99), 3),
            "max_ms": round(max(latencies), 3),
        }
        self.results[name] = result
        print(f"   {result}", file=sys.stderr, flush=True)
        return result

    # -- throughput ----------------------------------------------------------------------------

    def wrk_create(self, container: str, seconds: int) -> dict[str, Any]:
        cmd = [
            "wrk", "-t1", "-c16", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA_SCRIPT),
            f"http://{HOST}:{self.port}", "--",
            "mode=create", f"path={self.base}/{container}", f"origin={AE_ORIGIN}",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, cwd=HERE)
        for line in proc.stdout.splitlines():
            if line.startswith("BENCH_JSON "):
                data = json.loads(line[len("BENCH_JSON ") :])
                data["ops"] = data["created"] / (data["duration_us"] / 1e6)
                return data
        raise RuntimeError(f"wrk failed: {proc.stdout[-1000:]} {proc.stderr[-1000:]}")

    async def wait_for_quiet_receiver(self, timeout: float = 60) -> None:
        """Wait until no notification has arrived for a second (the backlog is drained)."""
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            count = await self.receiver_count()
            if count == last:
                return
            last = count
            await asyncio.sleep(1)

    def outbox_states(self) -> dict[str, int]:
        """Rows of the CSE's outbox by state (read-only look at the SQLite file)."""
        names = {0: "pending", 1: "delivered", 2: "dropped", 3: "awaiting_pickup"}
        db = sqlite3.connect(f"file:{self.procs.workdir / 'cse.db'}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute("SELECT state, count(*) FROM notifications GROUP BY state").fetchall()
        finally:
            db.close()
        return {names.get(state, str(state)): n for state, n in rows}

    async def throughput(self, rounds: int, seconds: int) -> dict[str, Any]:
        self.phase("create_throughput")
        self.wrk_create("tp0", 2)  # warm-up
        self.wrk_create("tp1", 2)
        await self.wait_for_quiet_receiver()
        await self.receiver_dump()
        ops0, ops1, created1 = [], [], 0
        for _ in range(rounds):
            ops0.append(self.wrk_create("tp0", seconds)["ops"])
            run = self.wrk_create("tp1", seconds)
            ops1.append(run["ops"])
            created1 += run["created"]
        drain_started = time.monotonic()
        await self.wait_for_receiver(created1, 60)
        drain_s = time.monotonic() - drain_started
        records = [r for r in await self.receiver_dump() if r[0] == "/tp"]
        received = len({rqi for _, _, _, rqi in records})
        best0, best1 = max(ops0), max(ops1)
        med0, med1 = sorted(ops0)[len(ops0) // 2], sorted(ops1)[len(ops1) // 2]
        result = {
            "ops_no_subscription": [round(v) for v in ops0],
            "ops_one_subscription": [round(v) for v in ops1],
            "cost_pct_best": round(100 * (1 - best1 / best0), 1),
            "cost_pct_median": round(100 * (1 - med1 / med0), 1),
            "notifications_expected": created1,
            "notifications_received": received,
            "duplicates": len(records) - received,
            "backlog_drained_after_s": round(drain_s, 1),
            "lost": max(0, created1 - received),
            "outbox": self.outbox_states(),
        }
        self.results["create_throughput"] = result
        print(f"   {result}", file=sys.stderr, flush=True)
        return result

    # -- fan-out -------------------------------------------------------------------------------

    async def fanout(self, subscriptions: int, repeats: int) -> dict[str, Any]:
        self.phase("fanout")
        conn = await Connection(self.port).open()
        path = f"{self.base}/fan"
        made = time.monotonic()
        for i in range(subscriptions):
            sub = {"nu": [f"{self.rx}/f/{i}"], "enc": {"net": [3], "chty": [4]}}
            await create(conn, path, 23, "m2m:sub", sub)
        setup_s = time.monotonic() - made
        await asyncio.sleep(1)
        await self.receiver_dump()
        runs = []
        for r in range(repeats):
            con = f"fan-{r}"
            body = json.dumps({"m2m:cin": {"con": con}}).encode()
            await conn.close()
            conn = await Connection(self.port).open()  # the old one may have idled out
            sent = now_ns()
            _, headers, _ = await conn.request("POST", path, m2m_headers(AE_ORIGIN, 4), body)
            responded = now_ns()
            assert headers.get("x-m2m-rsc") == "2001"
            await self.wait_for_receiver(subscriptions, 20)
            records = [rec for rec in await self.receiver_dump() if rec[1] == con]
            paths = {p for p, _, _, _ in records}
            last = max(t for _, _, t, _ in records) if records else responded
            runs.append(
                {
                    "received": len(paths),
                    "create_response_ms": round((responded - sent) / 1e6, 2),
                    "all_arrived_after_request_s": round((last - sent) / 1e9, 3),
                    "all_arrived_after_response_s": round((last - responded) / 1e9, 3),
                }
            )
            await asyncio.sleep(0.5)
        await conn.close()
        times = sorted(run["all_arrived_after_request_s"] for run in runs)
        result = {
            "subscriptions": subscriptions,
            "setup_s": round(setup_s, 1),
            "runs": runs,
            "median_s": times[len(times) // 2],
            "lost": sum(subscriptions - run["received"] for run in runs),
        }
        self.results["fanout"] = result
        print(f"   {result}", file=sys.stderr, flush=True)
        return result

    # -- SSE -----------------------------------------------------------------------------------

    async def sse_latency(self, total: int) -> dict[str, Any]:
        import httpx

        self.phase("sse_latency")
        arrived: dict[str, int] = {}
        got_all = asyncio.Event()

        async def listen() -> None:
            async with (
                httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
                client.stream(
                    "GET",
                    f"http://{HOST}:{self.port}/sse/notifications",
                    headers={"X-M2M-Origin": self.sse_aei},
                ) as response,
            ):
                ready.set()
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        stamp = now_ns()
                        sgn = json.loads(line[5:]).get("m2m:sgn", {})
                        con = sgn["nev"]["rep"]["m2m:cin"]["con"]
                        arrived.setdefault(con, stamp)
                        if len(arrived) >= total + 1:
                            got_all.set()
                            return

        ready = asyncio.Event()
        task = asyncio.create_task(listen())
        await ready.wait()
        conn = await Connection(self.port).open()
        path = f"/{CSE_RN}/ntfsse/s"
        responded: dict[str, int] = {}
        for i in range(total + 1):
            con = f"sse-{i}"
            body = json.dumps({"m2m:cin": {"con": con}}).encode()
            await conn.request("POST", path, m2m_headers(PICKUP_ORIGIN, 4), body)
            responded[con] = now_ns()
            # sequential: wait for the event before the next create (no queueing)
            deadline = time.monotonic() + 5
            while con not in arrived and time.monotonic() < deadline:
                await asyncio.sleep(0.0005)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(got_all.wait(), 10)
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await conn.close()
        responded.pop("sse-0")  # warm-up
        latencies = [(arrived[c] - t) / 1e6 for c, t in responded.items() if c in arrived]
        result = {
            "events": len(latencies),
            "lost": len(responded) - len(latencies),
            "p50_ms": round(percentile(latencies, 50), 3),
            "p99_ms": round(percentile(latencies, 99), 3),
            "max_ms": round(max(latencies), 3),
        }
        self.results["sse_latency"] = result
        print(f"   {result}", file=sys.stderr, flush=True)
        return result


def print_report(bench: Bench) -> None:
    r = bench.results
    print()
    print(f"citycse notification benchmark (SQLite, 1 worker, {os.cpu_count()} CPUs)")
    for name in ("latency_c1", "latency_c16"):
        if name in r:
            x = r[name]
            print(
                f"{name:<14} p50 {x['p50_ms']:7.2f} ms  p90 {x['p90_ms']:7.2f} ms  "
                f"p99 {x['p99_ms']:7.2f} ms  max {x['max_ms']:7.2f} ms  lost {x['lost']}  "
                f"dup {x['duplicates']}  ({x['creates']} creates at {x['creates_per_s']}/s; "
                f"load {bench.loads[name]:.2f})"
            )
    if "create_throughput" in r:
        x = r["create_throughput"]
        print(
            f"create c=16    0 subs {x['ops_no_subscription']} ops/s, 1 sub "
            f"{x['ops_one_subscription']} ops/s -> cost {x['cost_pct_best']} % (best) / "
            f"{x['cost_pct_median']} % (median); notifications lost {x['lost']} of "
            f"{x['notifications_expected']} (backlog drained {x['backlog_drained_after_s']} s "
            f"after the last create)  (load {bench.loads['create_throughput']:.2f})"
        )
    if "fanout" in r:
        x = r["fanout"]
        runs = ", ".join(
            f"{run['all_arrived_after_request_s']} s ({run['received']} arrived, create answered "
            f"in {run['create_response_ms']} ms)"
            for run in x["runs"]
        )
        print(f"fan-out {x['subscriptions']}   {runs}  (load {bench.loads['fanout']:.2f})")
    if "sse_latency" in r:
        x = r["sse_latency"]
        print(
            f"SSE latency    p50 {x['p50_ms']:.2f} ms  p99 {x['p99_ms']:.2f} ms  max "
            f"{x['max_ms']:.2f} ms  lost {x['lost']}  (load {bench.loads['sse_latency']:.2f})"
        )
    print()
    checks = []
    if "latency_c16" in r:
        x = r["latency_c16"]
        checks.append(
            ("p99 < 10 ms at c=16, none lost", x["p99_ms"] < 10 and x["lost"] == 0, x["p99_ms"])
        )
    if "create_throughput" in r:
        x = r["create_throughput"]
        checks.append(
            ("one subscription costs < 20 %", x["cost_pct_best"] < 20, x["cost_pct_best"])
        )
    if "fanout" in r:
        x = r["fanout"]
        checks.append(
            ("1,000-way fan-out < 1 s", x["median_s"] < 1 and x["lost"] == 0, x["median_s"])
        )
    for text, passed, value in checks:
        print(f"  [{'PASS' if passed else 'FAIL'}] {text}: {value}")


async def run(args: argparse.Namespace) -> Bench:
    workdir = Path(tempfile.mkdtemp(prefix="citycse-ntfbench-"))
    procs = Processes(workdir)
    try:
        procs.start()
        bench = Bench(procs, args.quick, args.quiet_load)
        await bench.setup()
        n1, n16 = (200, 1000) if args.quick else (1000, 5000)
        only = set(args.only.split(",")) if args.only else PHASES
        if "latency" in only:
            await bench.latency(1, n1)
            await bench.latency(16, n16)
        if "throughput" in only:
            await bench.throughput(1 if args.quick else 3, 4 if args.quick else 8)
        if "fanout" in only:
            await bench.fanout(1000, 2 if args.quick else 3)
        if "sse" in only:
            await bench.sse_latency(100 if args.quick else 300)
        return bench
    except Exception:
        print(procs.log_tail(), file=sys.stderr)
        raise
    finally:
        procs.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer requests, shorter phases")
    parser.add_argument(
        "--only", help=f"comma-separated subset of the phases {','.join(sorted(PHASES))}"
    )
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument(
        "--quiet-load", type=float, default=0.0,
        help="before each phase wait (up to 60 s) until the 1-min load average is below this",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.receiver:
        receiver_main(args.receiver)
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed", file=sys.stderr)
        return 2
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    bench = asyncio.run(run(args))
    print_report(bench)
    if args.json:
        args.json.write_text(json.dumps({"results": bench.results, "load": bench.loads}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
