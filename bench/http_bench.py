#!/usr/bin/env python3
"""HTTP benchmark of citycse, driven by wrk.

Starts `python -m cse serve` on a fresh database (SQLite file in a temporary
directory, or a fresh PostgreSQL database that is dropped afterwards), runs the
phases of issue 2's "Speed" section with wrk (one wrk thread, Lua script
bench/onem2m.lua) and prints ops/s, p50/p99 latency, errors and the CPU used by
the server's process tree (and by PostgreSQL and wrk) per phase.

    python bench/http_bench.py [--db sqlite|postgresql] [--workers 1|2]
                               [--duration 10] [--json out.json]

See bench/README.md for how to read the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench import common  # noqa: E402
from bench.common import HOST, BenchError  # noqa: E402

LUA_SCRIPT = HERE / "onem2m.lua"
CSE_RN = "cse-in"
ADMIN = "CAdmin"
AE_ORIGIN = "Cbench"
AE_PATH = f"/{CSE_RN}/benchae"
LABEL = "needle"

# Targets of issue 2 (SQLite, one worker, this 2-core machine).
TARGETS = {
    "create_c16_ops": 3000.0,
    "create_c16_p99_ms": 20.0,
    "la_c16_ops": 8000.0,
    "fill_s": 5.0,
    "discovery_p50_ms": 5.0,
}


# More CPU than this (cores) used by other processes during a phase marks the row with "!".
OTHER_LOAD_WARN = 0.15


# --------------------------------------------------------------------------- CPU


ProcKey = tuple[int, int]  # (pid, start time): a pid reused by a new process is a new key


# PostgreSQL processes that serve every database; a backend shows its database in its title.
PG_SHARED_TITLES = (
    "checkpointer",
    "walwriter",
    "background writer",
    "autovacuum launcher",
    "logical replication launcher",
    "stats collector",
    "archiver",
)


def _postgres_is_ours(pid: int, db_name: str) -> bool | None:
    """True for the postmaster, the shared processes and the backends of `db_name`;
    False for backends of other databases; None if the process is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            title = fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return None
    if not title.startswith("postgres:"):
        return True  # the postmaster
    words = title[len("postgres:") :].split()
    if words and words[0].endswith(":"):  # Debian's cluster name, "15/main:"
        words = words[1:]
    rest = " ".join(words)
    return rest.startswith(PG_SHARED_TITLES) or db_name in words


@dataclass
class CpuSample:
    server: dict[ProcKey, float]  # CPU seconds of the server and all its descendants
    postgres: dict[ProcKey, tuple[float, bool]]  # every PostgreSQL process: (CPU s, ours)
    clients: float  # CPU seconds of waited-for children of this script (wrk)
    machine: float  # busy CPU seconds of the whole machine (all cores)
    wall: float


def cpu_delta(before: dict[ProcKey, float], after: dict[ProcKey, float]) -> float:
    """CPU used between two samples by processes alive at the second one (a process that
    started meanwhile counts in full; the server's processes live for the whole run)."""
    return sum(cpu - before.get(key, 0.0) for key, cpu in after.items())


def postgres_delta(
    before: dict[ProcKey, tuple[float, bool]], after: dict[ProcKey, tuple[float, bool]]
) -> float:
    """CPU used by PostgreSQL for us between two samples.

    The postmaster's figure includes the CPU of the backends it has reaped, so a backend
    that exits during the phase (connection churn) still counts: its whole lifetime lands
    in the postmaster's figure, and what it had used before the phase is taken off here.
    A backend of another database that starts and exits within the phase is counted too.
    """
    used = sum(cpu - before.get(key, (0.0, True))[0] for key, (cpu, ours) in after.items() if ours)
    return used - sum(cpu for key, (cpu, _) in before.items() if key not in after)


def cpu_sample(server_pid: int, pg_db_name: str | None) -> CpuSample:
    stats = common.all_stats()
    server = {
        (pid, stats[pid].start): stats[pid].cpu for pid in common.process_tree(stats, server_pid)
    }
    postgres: dict[ProcKey, tuple[float, bool]] = {}
    if pg_db_name:
        for pid, stat in stats.items():
            if stat.comm != "postgres":
                continue
            ours = _postgres_is_ours(pid, pg_db_name)
            if ours is not None:
                parent = stats.get(stat.ppid)
                is_postmaster = parent is None or parent.comm != "postgres"
                reaped = stat.reaped if is_postmaster else 0.0
                postgres[(pid, stat.start)] = (stat.cpu + reaped, ours)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSample(
        server=server,
        postgres=postgres,
        clients=usage.ru_utime + usage.ru_stime,
        machine=common.machine_busy_seconds(),
        wall=time.monotonic(),
    )


# ------------------------------------------------------------------ HTTP (setup)


class Client:
    """A tiny keep-alive oneM2M client for setup and checks (not for load)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None
        self.counter = 0

    def request(
        self,
        method: str,
        path: str,
        origin: str = AE_ORIGIN,
        ty: int | None = None,
        body: dict | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, dict[str, str], dict]:
        self.counter += 1
        headers = {
            "X-M2M-Origin": origin,
            "X-M2M-RI": f"setup-{self.counter}",
            "X-M2M-RVI": "3",
            "Accept": "application/json",
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json" + (f";ty={ty}" if ty else "")
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        parsed = json.loads(raw) if raw else {}
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed

    def expect(self, status: int, *args, **kwargs) -> tuple[dict[str, str], dict]:
        got, headers, body = self.request(*args, **kwargs)
        if got != status:
            raise BenchError(f"{args[0]} {args[1]}: expected HTTP {status}, got {got}: {body}")
        return headers, body

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --------------------------------------------------------------------- databases


def _check_loopback(url: str) -> None:
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise BenchError(f"refusing a non-loopback database host: {host}")


async def _pg_execute(admin_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _pg_sessions(admin_url: str, db_name: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        value = await conn.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = $1", db_name
        )
    finally:
        await conn.close()
    return int(value or 0)


class Database:
    """A fresh database for one run; `url` is what the server gets."""

    def __init__(self, kind: str, workdir: Path, pg_admin_url: str) -> None:
        self.kind = kind
        self.pg_admin_url = pg_admin_url
        self.pg_name: str | None = None
        if kind == "sqlite":
            self.url = f"sqlite+aiosqlite:///{workdir / 'cse.db'}"
        else:
            _check_loopback(pg_admin_url)
            self.pg_name = f"citycse_bench_{secrets.token_hex(4)}"
            parts = urllib.parse.urlsplit(pg_admin_url)
            self.url = urllib.parse.urlunsplit(
                ("postgresql+asyncpg", parts.netloc, "/" + self.pg_name, "", "")
            )

    def create(self) -> None:
        if self.pg_name:
            asyncio.run(_pg_execute(self.pg_admin_url, f'CREATE DATABASE "{self.pg_name}"'))

    def sessions_ended(self) -> int | None:
        """Sessions of the bench database that have ended so far (PostgreSQL >= 14)."""
        if not self.pg_name:
            return None
        try:
            return asyncio.run(_pg_sessions(self.pg_admin_url, self.pg_name))
        except Exception:  # noqa: BLE001 - a diagnostic only
            return None

    def drop(self) -> None:
        if self.pg_name:
            asyncio.run(
                _pg_execute(
                    self.pg_admin_url, f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'
                )
            )


# --------------------------------------------------------------------------- wrk


@dataclass
class PhaseResult:
    phase: str
    concurrency: int
    requests: int
    seconds: float
    ops_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    errors: int
    non2xx: int
    socket_errors: dict = field(default_factory=dict)
    server_cpu_cores: float = 0.0
    server_cpu_ms_per_op: float = 0.0
    postgres_cpu_cores: float | None = None
    postgres_cpu_ms_per_op: float | None = None
    wrk_cpu_cores: float = 0.0
    pg_sessions_ended: int | None = None  # connections closed during the phase (churn)
    other_cpu_cores: float = 0.0  # the rest of the machine: anything here disturbs the figures
    note: str = ""


def _parse_wrk_output(out: str) -> dict:
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON ") :])
    raise BenchError(f"no BENCH_JSON line in wrk output:\n{out[-2000:]}")


class Runner:
    def __init__(
        self,
        server: common.ServerProcess,
        port: int,
        db: Database,
        quiet_wait: float,
        verbose: bool,
    ) -> None:
        self.server = server
        self.db = db
        self.db_kind = db.kind
        self.pg_db_name = db.pg_name
        self.sessions_ended: int | None = None
        self.quiet_wait = quiet_wait
        self.verbose = verbose
        self.url = f"http://{HOST}:{port}"
        self.results: list[PhaseResult] = []

    def _wrk(
        self, conc: int, seconds: float, script_args: list[str]
    ) -> tuple[dict, CpuSample, CpuSample]:
        cmd = [
            "wrk",
            "-t1",
            f"-c{conc}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA_SCRIPT),
            self.url,
            "--",
            *script_args,
        ]
        if self.quiet_wait > 0:
            load = common.wait_for_quiet(self.quiet_wait, OTHER_LOAD_WARN)
            if load >= OTHER_LOAD_WARN:
                print(
                    f"  (machine still busy: {load:.2f} cores before this phase)", file=sys.stderr
                )
        sessions_before = self.db.sessions_ended()
        before = cpu_sample(self.server.pid, self.pg_db_name)
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + 60, cwd=HERE, check=False
        )
        after = cpu_sample(self.server.pid, self.pg_db_name)
        sessions_after = self.db.sessions_ended()
        self.sessions_ended = None
        if sessions_before is not None and sessions_after is not None:
            self.sessions_ended = sessions_after - sessions_before
        if self.verbose:
            print(proc.stdout, proc.stderr, file=sys.stderr)
        if proc.returncode != 0:
            raise BenchError(f"wrk failed ({proc.returncode}): {proc.stderr[-2000:]}")
        if proc.stderr.strip():
            print(f"  wrk: {proc.stderr.strip()[:600]}", file=sys.stderr)
        return _parse_wrk_output(proc.stdout), before, after

    def _record(
        self,
        name: str,
        conc: int,
        data: dict,
        before: CpuSample,
        after: CpuSample,
        requests: int | None = None,
        seconds: float | None = None,
        latency: bool = True,
        note: str = "",
    ) -> PhaseResult:
        wall = after.wall - before.wall
        requests = data["requests"] if requests is None else requests
        seconds = data["duration_us"] / 1e6 if seconds is None else seconds
        sock = data.get("errors", {})
        socket_errors = sum(v for k, v in sock.items() if k != "status")
        lat = data.get("latency_us") if latency else None
        server_cpu = cpu_delta(before.server, after.server)
        pg_cpu = postgres_delta(before.postgres, after.postgres)
        wrk_cpu = after.clients - before.clients
        other = (after.machine - before.machine) - server_cpu - wrk_cpu
        if self.db_kind == "postgresql":
            other -= pg_cpu
        result = PhaseResult(
            phase=name,
            concurrency=conc,
            requests=requests,
            seconds=round(seconds, 3),
            ops_per_s=round(requests / seconds, 1) if seconds > 0 else 0.0,
            p50_ms=lat and lat["p50"] / 1000,
            p99_ms=lat and lat["p99"] / 1000,
            p999_ms=lat and lat["p999"] / 1000,
            max_ms=lat and lat["max"] / 1000,
            errors=data.get("non2xx", 0) + socket_errors,
            non2xx=data.get("non2xx", 0),
            socket_errors=sock,
            server_cpu_cores=round(server_cpu / wall, 3),
            server_cpu_ms_per_op=round(server_cpu * 1000 / max(requests, 1), 3),
            postgres_cpu_cores=round(pg_cpu / wall, 3) if self.db_kind == "postgresql" else None,
            postgres_cpu_ms_per_op=(
                round(pg_cpu * 1000 / max(requests, 1), 3) if self.db_kind == "postgresql" else None
            ),
            wrk_cpu_cores=round(wrk_cpu / wall, 3),
            other_cpu_cores=round(max(0.0, other) / wall, 3),
            pg_sessions_ended=self.sessions_ended,
            note=note,
        )
        self.results.append(result)
        print("  " + format_row(result), flush=True)
        return result

    def timed(
        self,
        name: str,
        conc: int,
        seconds: float,
        mode: str,
        path: str,
        origin: str = AE_ORIGIN,
        note: str = "",
    ) -> PhaseResult:
        data, before, after = self._wrk(
            conc, seconds, [f"mode={mode}", f"path={path}", f"origin={origin}"]
        )
        return self._record(name, conc, data, before, after, note=note)

    def warmup(self, seconds: float, cnt_path: str) -> None:
        if seconds > 0:
            self._wrk(16, seconds, ["mode=create", f"path={cnt_path}", f"origin={AE_ORIGIN}"])
            self._wrk(16, seconds, ["mode=retrieve", f"path={cnt_path}/la", f"origin={AE_ORIGIN}"])

    def fill(self, conc: int, count: int, path: str, label_at: int, limit_s: float) -> PhaseResult:
        data, before, after = self._wrk(
            conc,
            limit_s,
            [
                "mode=fill",
                f"path={path}",
                f"origin={AE_ORIGIN}",
                f"count={count}",
                f"label_at={label_at}",
            ],
        )
        wall = after.wall - before.wall
        note = f"wall {wall:.2f} s for {data.get('created', 0)} instances (target < 5 s)"
        if data.get("created", 0) + data.get("non2xx", 0) < count:
            note += f"; stopped by the {limit_s:.0f} s limit"
        return self._record(
            f"fill {count}",
            conc,
            data,
            before,
            after,
            requests=data.get("created", 0),
            seconds=wall,
            latency=False,
            note=note,
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


HEADER = (
    f"{'phase':<26} {'conc':>4} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} "
    f"{'srv CPU':>7} {'ms/op':>6} {'pg CPU':>6} {'pg ms/op':>8} {'wrk CPU':>7} {'other':>5}"
)


def format_row(r: PhaseResult) -> str:
    pg = "-" if r.postgres_cpu_cores is None else f"{r.postgres_cpu_cores:.2f}"
    pg_op = "-" if r.postgres_cpu_ms_per_op is None else f"{r.postgres_cpu_ms_per_op:.3f}"
    return (
        f"{r.phase:<26} {r.concurrency:>4} {r.ops_per_s:>9.0f} {_ms(r.p50_ms):>8} "
        f"{_ms(r.p99_ms):>8} {r.errors:>6} {r.server_cpu_cores:>7.2f} "
        f"{r.server_cpu_ms_per_op:>6.3f} {pg:>6} {pg_op:>8} {r.wrk_cpu_cores:>7.2f} "
        f"{r.other_cpu_cores:>5.2f}{'!' if r.other_cpu_cores > OTHER_LOAD_WARN else ' '}"
    )


# ------------------------------------------------------------------------- phases


def setup_tree(client: Client, mni: int) -> dict[str, str]:
    client.expect(
        201,
        "POST",
        f"/{CSE_RN}",
        origin=AE_ORIGIN,
        ty=2,
        body={"m2m:ae": {"rn": "benchae", "api": "Nbench", "rr": False, "srv": ["3"]}},
    )
    paths = {}
    for rn, attrs in (("c0", {"mni": 1000}), ("c1", {"mni": mni} if mni else {}), ("c2", {})):
        client.expect(201, "POST", AE_PATH, ty=3, body={"m2m:cnt": {"rn": rn, **attrs}})
        paths[rn] = f"{AE_PATH}/{rn}"
    headers, _ = client.expect(201, "POST", paths["c1"], ty=4, body={"m2m:cin": {"con": "first"}})
    location = headers.get("content-location", "")
    # Content-Location may be structured (/cse-in/...) or unstructured (an ri).
    paths["cin"] = location if location.startswith("/") else f"/{location}"
    client.expect(200, "GET", paths["cin"])
    return paths


def check_discovery(client: Client, path: str) -> None:
    _, body = client.expect(200, "GET", f"{path}?fu=1&lbl={LABEL}")
    uris = body.get("m2m:uril")
    if not isinstance(uris, list) or len(uris) != 1:
        raise BenchError(f"label discovery should find exactly one instance, got {body}")


def container_cni(client: Client, path: str) -> int:
    _, body = client.expect(200, "GET", path)
    return int(body["m2m:cnt"].get("cni", -1))


def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="citycse-bench-"))
    db = Database(args.db, workdir, args.pg_admin_url)
    port = common.free_port()
    server = common.ServerProcess(
        common.serve_command(port, db.url, workers=args.workers),
        workdir / "server.log",
        ready=lambda: common.cse_answers(port),
    )
    runner = Runner(server, port, db, args.quiet_wait, args.verbose)
    started = time.time()
    failure = None
    db.create()
    try:
        print(
            f"citycse bench: db={args.db} workers={args.workers} port={port} "
            f"duration={args.duration}s",
            flush=True,
        )
        server.start()
        client = Client(port)
        paths = setup_tree(client, args.mni)
        d = args.duration
        runner.warmup(args.warmup, paths["c0"])
        print("  " + HEADER, flush=True)
        c1_note = f"container c1, mni={args.mni or 'none'} (grows)"
        for conc in (1, 16, 64):
            runner.timed("create cin", conc, d, "create", paths["c1"], note=c1_note)
        cni = container_cni(client, paths["c1"])
        runner.timed(
            "retrieve la", 16, d, "retrieve", paths["c1"] + "/la", note=f"c1 holds {cni} instances"
        )
        runner.timed("retrieve cin by path", 16, d, "retrieve", paths["cin"])
        runner.timed("retrieve cnt by path", 16, d, "retrieve", paths["c1"])
        runner.fill(16, args.fill_count, paths["c2"], args.fill_count // 2, limit_s=120)
        filled = container_cni(client, paths["c2"])
        if filled != args.fill_count:
            raise BenchError(
                f"c2 holds {filled} instances after the fill, expected {args.fill_count}"
            )
        check_discovery(client, paths["c2"])
        disc = f"{paths['c2']}?fu=1&lbl={LABEL}"
        for conc in (1, 16):
            runner.timed(
                "discovery lbl (1 hit)", conc, d, "retrieve", disc, note=f"1 hit among {filled}"
            )
        client.close()
    except (BenchError, subprocess.TimeoutExpired, OSError) as exc:
        failure = str(exc)
        print(f"citycse bench: FAILED: {exc}", file=sys.stderr)
        print(f"--- server log (tail)\n{server.log_tail()}", file=sys.stderr)
    finally:
        server.stop()
        try:
            db.drop()
        except Exception as exc:  # noqa: BLE001 - report, keep the results
            print(f"citycse bench: could not drop {db.pg_name}: {exc}", file=sys.stderr)
        if args.keep:
            print(f"citycse bench: kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return {
        "db": args.db,
        "workers": args.workers,
        "duration_s": args.duration,
        "mni_c1": args.mni or None,
        "fill_count": args.fill_count,
        "quiet_wait_s": args.quiet_wait,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "git": _git_revision(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "wrk": _wrk_version(),
        },
        "failure": failure,
        "results": [asdict(r) for r in runner.results],
    }


def _git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def _wrk_version() -> str | None:
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False)
        return (out.stdout + out.stderr).splitlines()[0].strip()
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return None


def print_report(report: dict) -> None:
    print()
    print(
        f"citycse HTTP bench — db={report['db']} workers={report['workers']} "
        f"phase={report['duration_s']}s git={report['git']}"
    )
    print(HEADER)
    for row in report["results"]:
        r = PhaseResult(**row)
        notes = [r.note] if r.note else []
        if r.pg_sessions_ended:
            notes.append(f"{r.pg_sessions_ended} PostgreSQL connections closed")
        print(format_row(r) + (f"   # {'; '.join(notes)}" if notes else ""))
    print(
        "srv CPU / pg CPU / wrk CPU / other: cores busy during the phase (2 = the whole"
        " machine); ms/op: CPU milliseconds per operation"
    )
    if any(PhaseResult(**row).other_cpu_cores > OTHER_LOAD_WARN for row in report["results"]):
        print(
            f"! other processes used more than {OTHER_LOAD_WARN} cores during this phase:"
            " its figures are disturbed; rerun on a quiet machine"
        )
    if report["db"] == "sqlite" and report["workers"] == 1:
        print_targets(report["results"])
    if report["failure"]:
        print(f"FAILED: {report['failure']}")


def print_targets(rows: list[dict]) -> None:
    def find(phase: str, conc: int) -> dict | None:
        return next(
            (r for r in rows if r["phase"].startswith(phase) and r["concurrency"] == conc), None
        )

    checks = []
    create = find("create cin", 16)
    if create:
        checks.append(
            (
                "creates/s at c16 >= 3000",
                create["ops_per_s"],
                TARGETS["create_c16_ops"],
                create["ops_per_s"] >= TARGETS["create_c16_ops"],
            )
        )
        checks.append(
            (
                "create p99 at c16 < 20 ms",
                create["p99_ms"],
                TARGETS["create_c16_p99_ms"],
                create["p99_ms"] < TARGETS["create_c16_p99_ms"],
            )
        )
    la = find("retrieve la", 16)
    if la:
        checks.append(
            (
                "la retrieves/s at c16 >= 8000",
                la["ops_per_s"],
                TARGETS["la_c16_ops"],
                la["ops_per_s"] >= TARGETS["la_c16_ops"],
            )
        )
    fill = find("fill", 16)
    if fill:
        checks.append(
            (
                "fill 10,000 < 5 s",
                fill["seconds"],
                TARGETS["fill_s"],
                fill["seconds"] < TARGETS["fill_s"],
            )
        )
    disc = find("discovery", 1)
    if disc:
        checks.append(
            (
                "discovery p50 at c1 < 5 ms",
                disc["p50_ms"],
                TARGETS["discovery_p50_ms"],
                disc["p50_ms"] < TARGETS["discovery_p50_ms"],
            )
        )
    print("issue 2 targets (SQLite, 1 worker):")
    for label, value, target, ok in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {label:<32} measured {value:.2f} (target {target:g})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1, choices=range(1, 9), metavar="N")
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per timed phase (default 10)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds of unreported create and la load first (default 2)",
    )
    parser.add_argument(
        "--mni",
        type=int,
        default=0,
        help="mni of the create container c1 (default: none, it grows)",
    )
    parser.add_argument("--fill-count", type=int, default=10_000)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each phase wait up to this many seconds for the rest of the machine"
        f" to use less than {OTHER_LOAD_WARN} cores (default 30; 0 = do not wait)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument(
        "--pg-admin-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="existing PostgreSQL database used to create/drop the bench DB",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server log)")
    parser.add_argument("--verbose", action="store_true", help="print wrk's own output")
    args = parser.parse_args(argv)
    if not (1 <= args.duration <= 600):
        parser.error("--duration must be between 1 and 600 seconds")
    if not (100 <= args.fill_count <= 1_000_000):
        parser.error("--fill-count must be between 100 and 1,000,000")
    if shutil.which("wrk") is None:
        print(
            "citycse bench: wrk is not installed. Install it with\n"
            "    sudo apt-get install wrk        (Debian/Ubuntu)\n"
            "or build it from https://github.com/wg/wrk",
            file=sys.stderr,
        )
        return 2
    if args.db == "postgresql":
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            print(
                "citycse bench: asyncpg is needed for --db postgresql (pip install asyncpg)",
                file=sys.stderr,
            )
            return 2
    report = run(args)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 1 if report["failure"] else 0


if __name__ == "__main__":
    sys.exit(main())
