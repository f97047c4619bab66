"""Fixtures: real citycse servers (SQLite and PostgreSQL) and oneM2M clients."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.support.client import M2M, TY_AE, expect, unique
from tests.support.server import (
    Database,
    Server,
    ensure_postgres_running,
    make_database,
    postgres_binary_exists,
    start_server,
    tmpdir,
)

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]

_PG_STATE: dict[str, str | None] = {"checked": None, "skipped": None}


def postgres_or_skip() -> None:
    """Make sure PostgreSQL is up; skip only when no server binary exists at all."""
    if _PG_STATE["checked"] is None:
        if postgres_binary_exists():
            _PG_STATE["checked"] = ensure_postgres_running() or "ok"
        else:
            _PG_STATE["skipped"] = "no PostgreSQL server binary is installed"
            _PG_STATE["checked"] = "ok"
    if _PG_STATE["skipped"]:
        pytest.skip(_PG_STATE["skipped"])
    if _PG_STATE["checked"] != "ok":
        pytest.fail(f"PostgreSQL is installed but not usable: {_PG_STATE['checked']}")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if _PG_STATE["skipped"]:
        line = "!" * 78
        terminalreporter.write_line(line, red=True, bold=True)
        terminalreporter.write_line(
            f"WARNING: PostgreSQL tests were SKIPPED: {_PG_STATE['skipped']}.", red=True, bold=True
        )
        terminalreporter.write_line(
            "citycse was tested on SQLite only; install postgresql to test the production engine.",
            red=True,
            bold=True,
        )
        terminalreporter.write_line(line, red=True, bold=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        funcargs = getattr(item, "funcargs", {}) or {}
        for value in funcargs.values():
            if isinstance(value, Server):
                state = "running" if value.alive() else f"exited {value.process.returncode}"
                report.sections.append(
                    (f"citycse log ({value.backend}, {state})", value.log_tail())
                )
                break


@dataclass
class Started:
    server: Server
    db: Database


def launch(backend: str, extra_args: list[str] | None = None) -> Started:
    if backend == "postgresql":
        postgres_or_skip()
    workdir = tmpdir()
    db = make_database(backend, workdir)
    try:
        server = start_server(db, extra_args=extra_args)
    except BaseException:
        db.drop()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return Started(server, db)


def shutdown(started: Started) -> None:
    started.server.stop()
    try:
        started.db.drop()
    finally:
        shutil.rmtree(started.db.workdir, ignore_errors=True)


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def server(backend: str) -> Iterator[Server]:
    """One real citycse process per test module and database engine."""
    started = launch(backend)
    yield started.server
    shutdown(started)


@pytest.fixture
def server_factory(backend: str) -> Iterator[Callable[..., Server]]:
    """Start extra servers (with other options) for one test; all stopped afterwards."""
    started: list[Started] = []

    def factory(extra_args: list[str] | None = None) -> Server:
        s = launch(backend, extra_args)
        started.append(s)
        return s.server

    yield factory
    for s in started:
        shutdown(s)


@pytest.fixture(scope="module")
def m2m(server: Server) -> Iterator[M2M]:
    """A client with the admin originator."""
    client = M2M(server.base_url, origin=server.admin, cse_rn=server.cse_rn, cse_id=server.cse_id)
    yield client
    client.close()


@dataclass
class AE:
    rn: str
    ri: str
    aei: str
    origin: str
    path: str
    client: M2M
    attrs: dict


@pytest.fixture
def register(m2m: M2M) -> Iterator[Callable[..., AE]]:
    """Register AEs with their own C-originator; each comes with a client acting as that AE."""
    clients: list[M2M] = []

    def do(rn: str | None = None, **attrs) -> AE:
        rn = rn or unique("ae")
        origin = unique("C")
        body = {"rn": rn, "api": "Ntest.citycse", "rr": False, "srv": ["3"], **attrs}
        reply = expect(m2m.create(m2m.cse_rn, TY_AE, body, origin=origin), 2001, 201)
        res = reply.res("m2m:ae")
        client = m2m.as_(origin)
        clients.append(client)
        return AE(rn, res["ri"], res.get("aei", origin), origin, f"{m2m.cse_rn}/{rn}", client, res)

    yield do
    for client in clients:
        client.close()


@pytest.fixture
def ae(register) -> AE:
    """A freshly registered AE for this test."""
    return register()


@pytest.fixture
def name() -> Callable[[str], str]:
    return unique
