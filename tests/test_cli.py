"""The `citycse` command line: help, `db upgrade`, and refusing a database newer than the code."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import postgres_or_skip
from tests.support.server import (
    clean_env,
    create_pg_database,
    drop_pg_database,
    free_port,
    pg_exec_in,
    pg_fetch,
    tmpdir,
)

OPTIONS = [
    "--host",
    "--port",
    "--db",
    "--cse-id",
    "--cse-rn",
    "--sp-id",
    "--admin-originator",
    "--workers",
]


def run(
    args: list[str], cwd: Path | None = None, env: dict | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, env=clean_env(env), capture_output=True, text=True, timeout=timeout
    )


def citycse() -> list[str]:
    exe = shutil.which("citycse")
    assert exe, "the citycse console script is not installed (pip install -e .)"
    return [exe]


@pytest.fixture
def workdir():
    path = tmpdir("citycse-cli-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Db:
    """A fresh empty database on one engine, with raw SQL access for the tests."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend = backend
        self.pg_name = None
        if backend == "sqlite":
            self.file = workdir / "cli.db"
            self.url = f"sqlite+aiosqlite:///{self.file}"
        else:
            self.pg_name = create_pg_database()
            self.url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.pg_name}"

    def query(self, sql: str) -> list[tuple]:
        if self.pg_name:
            return [tuple(r) for r in pg_fetch(self.pg_name, sql)]
        with sqlite3.connect(self.file) as conn:
            return conn.execute(sql).fetchall()

    def execute(self, sql: str) -> None:
        if self.pg_name:
            pg_exec_in(self.pg_name, sql)
        else:
            with sqlite3.connect(self.file) as conn:
                conn.execute(sql)
                conn.commit()

    def tables(self) -> set[str]:
        if self.pg_name:
            rows = self.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        else:
            rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r[0] for r in rows}

    def drop(self) -> None:
        if self.pg_name:
            drop_pg_database(self.pg_name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db(request, workdir):
    if request.param == "postgresql":
        postgres_or_skip()
    database = Db(request.param, workdir)
    yield database
    database.drop()


def test_top_level_help_lists_the_commands() -> None:
    result = run([*citycse(), "--help"])
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout and "db" in result.stdout


@pytest.mark.parametrize(
    "command", [["citycse", "serve", "--help"], [sys.executable, "-m", "cse", "serve", "--help"]]
)
def test_serve_help_lists_every_option(command: list[str]) -> None:
    if command[0] == "citycse":
        command = [*citycse(), *command[1:]]
    result = run(command)
    assert result.returncode == 0, result.stderr
    missing = [opt for opt in OPTIONS if opt not in result.stdout]
    assert not missing, f"options missing from help: {missing}\n{result.stdout}"


def test_db_upgrade_help() -> None:
    result = run([*citycse(), "db", "upgrade", "--help"])
    assert result.returncode == 0 and "--db" in result.stdout


def test_db_upgrade_creates_the_schema(db, workdir) -> None:
    result = run([*citycse(), "db", "upgrade", "--db", db.url], cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    tables = db.tables()
    assert "alembic_version" in tables
    assert len(tables - {"alembic_version"}) >= 1, tables
    (revision,) = db.query("SELECT version_num FROM alembic_version")[0]
    assert revision
    # idempotent
    again = run([*citycse(), "db", "upgrade", "--db", db.url], cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert db.query("SELECT version_num FROM alembic_version")[0][0] == revision


def test_db_upgrade_reads_the_environment(db, workdir) -> None:
    result = run([*citycse(), "db", "upgrade"], cwd=workdir, env={"CITYCSE_DB": db.url})
    assert result.returncode == 0, result.stderr
    assert "alembic_version" in db.tables()
    assert not (workdir / "citycse-data").exists() or not any((workdir / "citycse-data").iterdir())


def test_serve_refuses_a_database_newer_than_the_code(db, workdir) -> None:
    assert run([*citycse(), "db", "upgrade", "--db", db.url], cwd=workdir).returncode == 0
    future = "f" + uuid.uuid4().hex[:11]
    db.execute(f"UPDATE alembic_version SET version_num = '{future}'")
    port = free_port()
    result = run(
        [*citycse(), "serve", "--db", db.url, "--port", str(port)], cwd=workdir, timeout=60
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert future in output or "newer" in output.lower(), output
    assert "Traceback" not in output, f"a clear message, not a traceback:\n{output}"
    # the database was left alone
    assert db.query("SELECT version_num FROM alembic_version")[0][0] == future


def test_db_upgrade_refuses_a_database_newer_than_the_code(db, workdir) -> None:
    assert run([*citycse(), "db", "upgrade", "--db", db.url], cwd=workdir).returncode == 0
    db.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    result = run([*citycse(), "db", "upgrade", "--db", db.url], cwd=workdir)
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr


def test_serve_upgrades_an_empty_database_and_honours_env_options(db, workdir) -> None:
    port = free_port()
    env = {
        "CITYCSE_DB": db.url,
        "CITYCSE_PORT": str(port),
        "CITYCSE_CSE_ID": "city-1",
        "CITYCSE_CSE_RN": "city",
        "CITYCSE_ADMIN_ORIGINATOR": "CBoss",
        "CITYCSE_HOST": "127.0.0.1",
    }
    log = (workdir / "serve.log").open("w")
    proc = subprocess.Popen(
        [*citycse(), "serve"], cwd=workdir, env=clean_env(env), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        import time

        deadline = time.monotonic() + 60
        reply = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                reply = httpx.get(
                    f"http://127.0.0.1:{port}/city",
                    headers={"X-M2M-Origin": "CBoss", "X-M2M-RI": "1", "X-M2M-RVI": "3"},
                )
                if reply.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert reply is not None and reply.status_code == 200, (workdir / "serve.log").read_text()
        cb = reply.json()["m2m:cb"]
        assert cb["rn"] == "city" and cb["csi"] == "/city-1"
        assert "alembic_version" in db.tables()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_serve_rejects_an_invalid_option_value(workdir) -> None:
    result = run([*citycse(), "serve", "--port", "not-a-port"], cwd=workdir)
    assert result.returncode != 0
    assert "port" in (result.stdout + result.stderr).lower()
