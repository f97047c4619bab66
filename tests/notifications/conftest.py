"""Fixtures for the notification suites: real citycse processes (SQLite and PostgreSQL), a real
HTTP notification receiver that can refuse, fail, stall or go down, an SSE client and a
long-polling client. Self-contained: nothing here depends on tests/conftest.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_URL = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"
ADMIN = "CAdmin"
CSE_ID = "id-in"
CSE_RN = "cse-in"

TY_ACP, TY_AE, TY_CNT, TY_CIN, TY_PCH, TY_SUB = 1, 2, 3, 4, 15, 23
ROOTS = {
    TY_ACP: "m2m:acp",
    TY_AE: "m2m:ae",
    TY_CNT: "m2m:cnt",
    TY_CIN: "m2m:cin",
    TY_PCH: "m2m:pch",
    TY_SUB: "m2m:sub",
}

# Short timings so that retries, drops and long polls fit in a test run.
FAST_ENV = {
    "CITYCSE_NOTIFICATION_RETRY_SECONDS": "60",
    "CITYCSE_NOTIFICATION_BACKOFF_MAX_SECONDS": "0.5",
    "CITYCSE_NOTIFICATION_TIMEOUT_SECONDS": "2",
    "CITYCSE_POLLING_CHANNEL_TIMEOUT_SECONDS": "2",
    "CITYCSE_EXPIRY_SWEEP_SECONDS": "0.5",
    "CITYCSE_ACP_CACHE_SECONDS": "0",
}


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.02) -> Any:
    """Poll `predicate` until it returns something truthy; returns it (or the last value)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


# --- PostgreSQL ---------------------------------------------------------------------------


def postgres_binary() -> bool:
    if shutil.which("postgres") or shutil.which("pg_ctl"):
        return True
    return any(Path("/usr/lib/postgresql").glob("*/bin/postgres"))


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((PG_HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _ensure_postgres() -> None:
    if _port_open(PG_PORT):
        return
    if shutil.which("pg_ctlcluster") and Path("/etc/postgresql").is_dir():
        for version in sorted(p.name for p in Path("/etc/postgresql").iterdir()):
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                capture_output=True,
                timeout=60,
            )
    if not wait_until(lambda: _port_open(PG_PORT), 30, 0.3):
        pytest.fail("PostgreSQL is installed but does not listen on 127.0.0.1:5432")


def _pg(sql: str) -> None:
    async def run() -> None:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


# --- the CSE process ----------------------------------------------------------------------


@dataclass
class CSE:
    """A citycse server process on a database that outlives the process (for restarts)."""

    backend: str
    db_url: str
    workdir: Path
    env: dict[str, str]
    pg_name: str | None = None
    port: int = 0
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the process; a restart keeps the port (clients keep working) if it is free."""
        for attempt in range(3):
            if not self.port or attempt:
                self.port = free_port()
            self.starts += 1
            self.log_path = self.workdir / f"cse-{self.starts}.log"
            env = {k: v for k, v in os.environ.items() if not k.startswith("CITYCSE_")}
            env.update({"PYTHONUNBUFFERED": "1", **self.env})
            with self.log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "cse",
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(self.port),
                        "--db",
                        self.db_url,
                        "--cse-id",
                        CSE_ID,
                        "--cse-rn",
                        CSE_RN,
                        "--admin-originator",
                        ADMIN,
                    ],  # fmt: skip
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            if self._wait_ready():
                return
            if "address already in use" not in self.log().lower():
                break
        raise RuntimeError(f"citycse did not start:\n{self.log()}")

    def _wait_ready(self, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                r = httpx.get(
                    f"{self.url}/{CSE_RN}",
                    headers={"X-M2M-Origin": ADMIN, "X-M2M-RI": "ready", "X-M2M-RVI": "3"},
                    timeout=2,
                )
                if r.status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop(kill=True)
        return False

    def stop(self, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            os.killpg(self.process.pid, signal.SIGKILL)
        else:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-8000:] if self.log_path else ""
        except OSError:
            return ""

    def destroy(self) -> None:
        self.stop()
        if self.pg_name:
            with contextlib.suppress(Exception):  # best-effort cleanup
                _pg(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        shutil.rmtree(self.workdir, ignore_errors=True)


def make_cse(backend: str, env: dict[str, str] | None = None) -> CSE:
    workdir = Path(tempfile.mkdtemp(prefix="citycse-ntf-"))
    settings = {**FAST_ENV, **(env or {})}
    if backend == "sqlite":
        cse = CSE(backend, f"sqlite+aiosqlite:///{workdir / 'cse.db'}", workdir, settings)
    else:
        if not postgres_binary():
            shutil.rmtree(workdir, ignore_errors=True)
            pytest.skip("no PostgreSQL server binary is installed")
        _ensure_postgres()
        name = f"citycse_ntf_{uuid.uuid4().hex[:12]}"
        _pg(f'CREATE DATABASE "{name}"')
        url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
        cse = CSE(backend, url, workdir, settings, pg_name=name)
    try:
        cse.start()
    except BaseException:
        cse.destroy()
        raise
    return cse


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def cse_backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def cse(cse_backend: str) -> Iterator[CSE]:
    """One citycse process per database engine, shared by the notification suites (tests that
    restart it get it back on the same port)."""
    server = make_cse(cse_backend)
    yield server
    server.destroy()


@pytest.fixture
def cse_factory(cse_backend: str) -> Iterator[Callable[..., CSE]]:
    """Own CSE processes for tests that stop and restart them."""
    made: list[CSE] = []

    def factory(env: dict[str, str] | None = None) -> CSE:
        server = make_cse(cse_backend, env)
        made.append(server)
        return server

    yield factory
    for server in made:
        server.destroy()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ARG001
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for value in (getattr(item, "funcargs", {}) or {}).values():
            if isinstance(value, CSE):
                report.sections.append((f"citycse log ({value.backend})", value.log()[-4000:]))


# --- a oneM2M client -----------------------------------------------------------------------


@dataclass
class Reply:
    http: httpx.Response

    @property
    def status(self) -> int:
        return self.http.status_code

    @property
    def rsc(self) -> int | None:
        value = self.http.headers.get("X-M2M-RSC")
        return int(value) if value and value.isdigit() else None

    @property
    def body(self) -> Any:
        try:
            return self.http.json()
        except ValueError:
            return None

    def __repr__(self) -> str:
        req = self.http.request
        return (
            f"{req.method} {req.url} -> HTTP {self.status} rsc={self.rsc} {self.http.text[:400]!r}"
        )


class M2M:
    """oneM2M over HTTP (TS-0009) for one originator; follows its CSE across restarts."""

    def __init__(self, server: CSE | str, origin: str = ADMIN) -> None:
        self.server = server
        self.origin = origin
        self.http = httpx.Client(timeout=30, transport=httpx.HTTPTransport(retries=2))

    @property
    def base_url(self) -> str:
        return self.server if isinstance(self.server, str) else self.server.url

    def close(self) -> None:
        self.http.close()

    def _headers(self, origin: str | None, ty: int | None = None) -> dict[str, str]:
        headers = {
            "X-M2M-Origin": origin or self.origin,
            "X-M2M-RI": unique("rq"),
            "X-M2M-RVI": "3",
        }
        headers["Content-Type"] = "application/json" + (f";ty={ty}" if ty else "")
        return headers

    def create(self, path: str, ty: int, body: dict, origin: str | None = None) -> Reply:
        return Reply(
            self.http.post(
                f"{self.base_url}/{path}",
                content=json.dumps({ROOTS[ty]: body}),
                headers=self._headers(origin, ty),
            )
        )

    def retrieve(self, path: str, origin: str | None = None, **kw: Any) -> Reply:
        return Reply(self.http.get(f"{self.base_url}/{path}", headers=self._headers(origin), **kw))

    def update(self, path: str, ty: int, body: dict, origin: str | None = None) -> Reply:
        return Reply(
            self.http.put(
                f"{self.base_url}/{path}",
                content=json.dumps({ROOTS[ty]: body}),
                headers=self._headers(origin),
            )
        )

    def delete(self, path: str, origin: str | None = None) -> Reply:
        return Reply(self.http.delete(f"{self.base_url}/{path}", headers=self._headers(origin)))


def ok(reply: Reply, rsc: int) -> dict:
    assert reply.rsc == rsc, f"expected rsc {rsc}: {reply}"
    return reply.body


@dataclass
class AE:
    rn: str
    aei: str
    path: str


@dataclass
class Tree:
    """Helpers to build resources on one CSE."""

    cse: CSE
    m2m: M2M

    def ae(self, poa: list[str] | None = None, rr: bool | None = None) -> AE:
        rn, origin = unique("ae"), unique("C")
        body: dict[str, Any] = {"rn": rn, "api": "Ntest.ntf", "srv": ["3"]}
        body["rr"] = bool(poa) if rr is None else rr
        if poa:
            body["poa"] = poa
        res = ok(self.m2m.create(CSE_RN, TY_AE, body, origin=origin), 2001)["m2m:ae"]
        return AE(rn, res["aei"], f"{CSE_RN}/{rn}")

    def cnt(self, parent: str, origin: str | None = None, **attrs: Any) -> str:
        rn = unique("cnt")
        ok(self.m2m.create(parent, TY_CNT, {"rn": rn, **attrs}, origin=origin), 2001)
        return f"{parent}/{rn}"

    def cin(self, parent: str, con: Any, origin: str | None = None) -> Reply:
        return self.m2m.create(parent, TY_CIN, {"con": con}, origin=origin)

    def sub(self, parent: str, nu: list[str], origin: str | None = None, **attrs: Any) -> Reply:
        return self.m2m.create(parent, TY_SUB, {"rn": unique("sub"), "nu": nu, **attrs}, origin)

    def sub_ok(self, parent: str, nu: list[str], origin: str | None = None, **attrs: Any) -> dict:
        reply = self.sub(parent, nu, origin, **attrs)
        return ok(reply, 2001)["m2m:sub"]


@pytest.fixture(scope="session")
def m2m(cse: CSE) -> Iterator[M2M]:
    client = M2M(cse)
    yield client
    client.close()


@pytest.fixture(scope="session")
def tree(cse: CSE, m2m: M2M) -> Tree:
    return Tree(cse, m2m)


# --- the HTTP receiver ----------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic() on arrival

    @property
    def sgn(self) -> dict:
        return self.body.get("m2m:sgn", {}) if isinstance(self.body, dict) else {}

    @property
    def rqi(self) -> str | None:
        return self.headers.get("x-m2m-ri")

    @property
    def is_verification(self) -> bool:
        return bool(self.sgn.get("vrq"))


@dataclass
class Receiver:
    """A real HTTP server recording every request. `mode`: ok, fail (HTTP 500), forbid
    (HTTP 403), refuse4101 (HTTP 403 with X-M2M-RSC 4101), slow (sleeps `delay`). With a
    `gate`, every notification waits until the gate is set. `down()` closes the listening
    socket; `up()` listens again on the same port."""

    port: int = field(default_factory=free_port)
    mode: str = "ok"
    delay: float = 0.0
    verification_mode: str | None = None  # answer to vrq, if not `mode`
    fail_once: set = field(default_factory=set)  # `con`s answered with HTTP 500 the first time
    gate: threading.Event | None = None  # notifications wait until this event is set
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _connections: set = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ntf"

    def up(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with receiver.lock:
                    receiver._connections.add(self.connection)

            def finish(self) -> None:
                with receiver.lock:
                    receiver._connections.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                item = Received(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    time.monotonic(),
                )
                mode = receiver.mode
                if item.is_verification and receiver.verification_mode:
                    mode = receiver.verification_mode
                if mode == "slow":
                    time.sleep(receiver.delay)
                if receiver.gate is not None and not item.is_verification:
                    receiver.gate.wait(15)
                con = _con_of(body)
                with receiver.lock:
                    if isinstance(con, str | int) and con in receiver.fail_once:
                        receiver.fail_once.discard(con)
                        mode = "fail"
                    receiver.received.append(item)
                status, rsc = {
                    "ok": (200, "2000"),
                    "slow": (200, "2000"),
                    "fail": (500, "5000"),
                    "forbid": (403, None),
                    "refuse4101": (403, "4101"),
                }[mode]
                self.send_response(status)
                if rsc:
                    self.send_header("X-M2M-RSC", rsc)
                self.send_header("X-M2M-RI", item.rqi or "")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def down(self) -> None:
        """Stop listening and cut every open (keep-alive) connection."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def all(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def notifications(self) -> list[Received]:
        """Everything but verification requests."""
        return [r for r in self.all() if not r.is_verification]

    def verifications(self) -> list[Received]:
        return [r for r in self.all() if r.is_verification]

    def wait(self, count: int, timeout: float = 10) -> list[Received]:
        wait_until(lambda: len(self.notifications()) >= count, timeout)
        return self.notifications()

    def quiet(self, seconds: float) -> list[Received]:
        """Wait a while and return what arrived (to show that nothing more came)."""
        time.sleep(seconds)
        return self.notifications()

    def clear(self) -> None:
        with self.lock:
            self.received.clear()


def _con_of(body: Any) -> Any:
    try:
        return body["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"]
    except (KeyError, TypeError):
        return None


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def factory(**kw: Any) -> Receiver:
        receiver = Receiver(**kw).up()
        made.append(receiver)
        return receiver

    yield factory
    for receiver in made:
        receiver.down()


@pytest.fixture
def receiver(receiver_factory) -> Receiver:
    return receiver_factory()


def reps(items: list[Received]) -> list[Any]:
    """The `rep` of each notification."""
    return [r.sgn.get("nev", {}).get("rep") for r in items]


def cons(items: list[Received]) -> list[Any]:
    """The `con` of each content instance notification."""
    return [(r.sgn.get("nev", {}).get("rep") or {}).get("m2m:cin", {}).get("con") for r in items]


# --- SSE and long-polling clients -------------------------------------------------------------


@dataclass
class Event:
    id: str | None
    event: str | None
    data: Any
    at: float


class SSEClient:
    """A streaming client for server-sent events, reading on a thread."""

    def __init__(self, url: str, params: dict | None = None, headers: dict | None = None) -> None:
        self.url, self.params, self.headers = url, params or {}, headers or {}
        self.events: list[Event] = []
        self.comments: list[tuple[str, float]] = []
        self.status: int | None = None
        self.error: BaseException | None = None
        self.response_headers: dict[str, str] = {}
        self._socket: socket.socket | None = None
        self._opened = threading.Event()
        self._stop = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=None))
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, timeout: float = 10) -> SSEClient:
        self.opened_at = time.monotonic()
        self._thread.start()
        assert self._opened.wait(timeout), f"SSE stream {self.url} did not answer"
        return self

    def _run(self) -> None:
        try:
            with self._client.stream(
                "GET", self.url, params=self.params, headers=self.headers
            ) as r:
                stream = r.extensions.get("network_stream")
                self._socket = stream.get_extra_info("socket") if stream is not None else None
                self.status = r.status_code
                self.response_headers = dict(r.headers)
                if r.status_code != 200:
                    r.read()
                    self.body = r.text
                    self._opened.set()
                    return
                self._opened.set()
                fields: dict[str, str] = {}
                for line in r.iter_lines():
                    if self._stop.is_set():
                        return
                    if line == "":
                        if "data" in fields:
                            try:
                                data = json.loads(fields["data"])
                            except ValueError:
                                data = fields["data"]
                            self.events.append(
                                Event(fields.get("id"), fields.get("event"), data, time.monotonic())
                            )
                        fields = {}
                    elif line.startswith(":"):
                        self.comments.append((line, time.monotonic()))
                    else:
                        key, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        fields[key] = fields[key] + "\n" + value if key in fields else value
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            if not self._stop.is_set():
                self.error = exc
            self._opened.set()

    def wait(self, count: int, timeout: float = 10) -> list[Event]:
        wait_until(lambda: len(self.events) >= count, timeout)
        return list(self.events)

    def close(self) -> None:
        """Disconnect (shutting the socket down wakes the reading thread at once)."""
        self._stop.set()
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
        self._client.close()


@pytest.fixture
def sse() -> Iterator[Callable[..., SSEClient]]:
    opened: list[SSEClient] = []

    def open_(url: str, params: dict | None = None, headers: dict | None = None) -> SSEClient:
        client = SSEClient(url, params, headers).start()
        opened.append(client)
        return client

    yield open_
    for client in opened:
        client.close()


def long_poll(
    base_url: str, pcu_path: str, origin: str, timeout: float = 30
) -> tuple[Reply, float]:
    """GET <pch>/pcu; returns the reply and how long the CSE held it."""
    started = time.monotonic()
    r = httpx.get(
        f"{base_url}/{pcu_path}",
        headers={"X-M2M-Origin": origin, "X-M2M-RI": unique("poll"), "X-M2M-RVI": "3"},
        timeout=timeout,
    )
    return Reply(r), time.monotonic() - started


def metrics(base_url: str) -> dict[tuple[str, str], float]:
    """/metrics as {(metric, subscription): value}."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    out: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name, _, labels = name_labels.partition("{")
        sub = (
            labels.split('subscription="', 1)[1].split('"', 1)[0]
            if "subscription=" in labels
            else ""
        )
        out[(name, sub)] = float(value)
    return out
