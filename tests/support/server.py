"""Start a real citycse server as a subprocess, on SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_ADMIN_URL = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"

CSE_ID = "id-in"
CSE_RN = "cse-in"
ADMIN = "CAdmin"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test process environment without any CITYCSE_* setting that could leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYCSE_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


# --- PostgreSQL -----------------------------------------------------------------------------


def postgres_binary_exists() -> bool:
    if shutil.which("postgres") or shutil.which("pg_ctl"):
        return True
    return any(Path("/usr/lib/postgresql").glob("*/bin/postgres"))


def ensure_postgres_running() -> str | None:
    """Start the local cluster if it is down. Returns None when up, else a reason."""
    if port_open(PG_HOST, PG_PORT):
        return None
    clusters = (
        sorted(p.name for p in Path("/etc/postgresql").glob("*"))
        if Path("/etc/postgresql").is_dir()
        else []
    )
    if not clusters or not shutil.which("pg_ctlcluster"):
        return "PostgreSQL is down and no cluster under /etc/postgresql can be started"
    for version in clusters:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if port_open(PG_HOST, PG_PORT):
            return None
        time.sleep(0.3)
    return "PostgreSQL did not start listening on 127.0.0.1:5432"


async def _pg_execute(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pg_execute(sql: str) -> None:
    asyncio.run(_pg_execute(sql))


async def _pg_fetch(dbname: str, sql: str) -> list:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{dbname}", timeout=10)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def pg_fetch(dbname: str, sql: str) -> list:
    return asyncio.run(_pg_fetch(dbname, sql))


def pg_exec_in(dbname: str, sql: str) -> None:
    async def run() -> None:
        import asyncpg

        conn = await asyncpg.connect(
            f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{dbname}", timeout=10
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def create_pg_database() -> str:
    name = f"citycse_t_{uuid.uuid4().hex[:12]}"
    pg_execute(f'CREATE DATABASE "{name}"')
    return name


def drop_pg_database(name: str) -> None:
    pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- databases ------------------------------------------------------------------------------


@dataclass
class Database:
    backend: str
    url: str
    workdir: Path
    pg_name: str | None = None

    def drop(self) -> None:
        if self.pg_name:
            drop_pg_database(self.pg_name)


def make_database(backend: str, workdir: Path) -> Database:
    if backend == "sqlite":
        return Database(backend, f"sqlite+aiosqlite:///{workdir / 'cse.db'}", workdir)
    name = create_pg_database()
    return Database(
        backend, f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}", workdir, name
    )


# --- the server -----------------------------------------------------------------------------


@dataclass
class Server:
    backend: str
    db: Database
    port: int
    log_path: Path
    process: subprocess.Popen
    cse_id: str = CSE_ID
    cse_rn: str = CSE_RN
    admin: str = ADMIN
    extra_args: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, limit: int = 12000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"<no server log: {exc}>"
        return text[-limit:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def wait_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"citycse exited with {server.process.returncode} before it was ready.\n"
                f"--- server log ---\n{server.log_tail()}"
            )
        try:
            resp = httpx.get(
                f"{server.base_url}/{server.cse_rn}",
                headers={"X-M2M-Origin": server.admin, "X-M2M-RI": "ready", "X-M2M-RVI": "3"},
                timeout=2.0,
            )
            if resp.status_code == 200 and "m2m:cb" in resp.json():
                return
            last = f"{resp.status_code} {resp.text[:200]}"
        except (httpx.HTTPError, ValueError) as exc:
            last = repr(exc)
        time.sleep(0.15)
    server.stop()
    raise RuntimeError(
        f"citycse not ready after {timeout}s (last: {last}).\n"
        f"--- server log ---\n{server.log_tail()}"
    )


def start_server(
    db: Database,
    *,
    extra_args: list[str] | None = None,
    cse_id: str = CSE_ID,
    cse_rn: str = CSE_RN,
    admin: str = ADMIN,
    port: int | None = None,
) -> Server:
    """Start citycse on `port` (a free one when None) and wait until it answers."""
    extra_args = list(extra_args or [])
    fixed_port = port
    for _attempt in range(3):
        port = fixed_port or free_port()
        log_path = Path(tempfile.mkstemp(prefix="citycse-", suffix=".log", dir=db.workdir)[1])
        log_file = log_path.open("wb")
        cmd = [
            sys.executable, "-m", "cse", "serve",
            "--host", "127.0.0.1",
            "--port", str(port),
            "--db", db.url,
            "--cse-id", cse_id,
            "--cse-rn", cse_rn,
            "--admin-originator", admin,
            *extra_args,
        ]  # fmt: skip
        process = subprocess.Popen(
            cmd,
            cwd=db.workdir,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=clean_env(),
            start_new_session=True,
        )
        log_file.close()
        server = Server(db.backend, db, port, log_path, process, cse_id, cse_rn, admin, extra_args)
        try:
            wait_ready(server)
            return server
        except RuntimeError:
            text = server.log_tail()
            if "address already in use" in text.lower():
                continue
            raise
    raise RuntimeError("could not find a free port for citycse")


def tmpdir(prefix: str = "citycse-test-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
