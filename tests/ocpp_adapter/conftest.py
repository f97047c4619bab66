"""Fixtures for the OCPP adapter: a real citycse server with --ocpp-port and the management
CLI. The charge points that connect to it are in tests/support/chargers.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import postgres_or_skip
from tests.support.client import M2M
from tests.support.server import (
    Database,
    Server,
    clean_env,
    free_port,
    make_database,
    start_server,
    tmpdir,
)

OCPP_PATH = "/ocpp"


@dataclass
class OcppCSE:
    """A running citycse with the OCPP adapter, and how to reach both sides."""

    server: Server
    db: Database
    ocpp_port: int
    extra: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def ocpp_url(self, cp_id: str) -> str:
        scheme = "wss" if "--ocpp-tls-cert" in self.extra else "ws"
        return f"{scheme}://127.0.0.1:{self.ocpp_port}{OCPP_PATH}/{cp_id}"

    def admin(self) -> M2M:
        return M2M(self.base_url, origin=self.server.admin)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "cse", *args, "--cse-url", self.base_url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=clean_env())
        if check:
            assert done.returncode == 0, f"{command} failed: {done.stderr}"
        return done

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def restart(self) -> None:
        self.server.stop()
        self.server = start_server(self.db, extra_args=self._args())

    def _args(self) -> list[str]:
        return ["--ocpp-port", str(self.ocpp_port), *self.extra]


def launch_ocpp(
    backend: str, extra: list[str] | None = None, unknown_chargers: str | None = "accept"
) -> OcppCSE:
    """A citycse with the adapter; unknown chargers accepted unless `unknown_chargers` says
    otherwise (None: the default policy)."""
    if backend == "postgresql":
        postgres_or_skip()
    workdir = tmpdir()
    db = make_database(backend, workdir)
    policy = ["--ocpp-unknown-chargers", unknown_chargers] if unknown_chargers else []
    cse = OcppCSE(server=None, db=db, ocpp_port=free_port(), extra=[*policy, *(extra or [])])  # type: ignore[arg-type]
    cse.server = start_server(db, extra_args=cse._args())
    return cse


def shutdown_ocpp(cse: OcppCSE) -> None:
    cse.server.stop()
    try:
        cse.db.drop()
    finally:
        shutil.rmtree(cse.db.workdir, ignore_errors=True)


@contextmanager
def priced_ocpp_cse(backend: str) -> Iterator[OcppCSE]:
    """A citycse with the adapter on `backend`, tariff 0.30 per kWh, shut down afterwards."""
    cse = launch_ocpp(backend)
    try:
        cse.cli("tariff", "set", "--price-per-kwh", "0.30")
        yield cse
    finally:
        shutdown_ocpp(cse)


@pytest.fixture(scope="module")
def ocpp_cse() -> Iterator[OcppCSE]:
    """One citycse (SQLite) with the adapter for a test module; tariff 0.30 per kWh."""
    with priced_ocpp_cse("sqlite") as cse:
        yield cse


@pytest.fixture
def postgresql_ocpp_cse() -> Iterator[OcppCSE]:
    """A citycse of its own on PostgreSQL (skipped without a PostgreSQL server); tariff 0.30."""
    with priced_ocpp_cse("postgresql") as cse:
        yield cse


@pytest.fixture
def fresh_ocpp_cse() -> Iterator[OcppCSE]:
    """A citycse of its own, for tests that stop and restart it."""
    with priced_ocpp_cse("sqlite") as cse:
        yield cse
