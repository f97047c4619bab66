"""Fixtures for the OCPP adapter: a real citycse server with --ocpp-port, charge points
built on the `ocpp` package over real websockets, and the management CLI."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from websockets.asyncio.client import connect

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


@pytest.fixture(scope="module")
def ocpp_cse() -> Iterator[OcppCSE]:
    """One citycse (SQLite) with the adapter for a test module; tariff 0.30 per kWh."""
    cse = launch_ocpp("sqlite")
    cse.cli("tariff", "set", "--price-per-kwh", "0.30")
    yield cse
    shutdown_ocpp(cse)


@pytest.fixture
def fresh_ocpp_cse() -> Iterator[OcppCSE]:
    """A citycse of its own, for tests that stop and restart it."""
    cse = launch_ocpp("sqlite")
    cse.cli("tariff", "set", "--price-per-kwh", "0.30")
    yield cse
    shutdown_ocpp(cse)


class TestChargePoint(ChargePoint):
    """The charge point side: answers the central system's calls and records them in
    `received` as (action, camelCase payload). `answers` overrides an answer's status."""

    __test__ = False

    def __init__(self, cp_id: str, connection: Any) -> None:
        super().__init__(cp_id, connection, response_timeout=15)
        self.remote_stops: asyncio.Queue[int] = asyncio.Queue()
        self.received: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
        self.answers: dict[str, str] = {}
        self.configuration = {"HeartbeatInterval": "300", "MeterValueSampleInterval": "60"}

    def _got(self, action: str, default: str, **payload: Any) -> str:
        self.received.put_nowait((action, snake_to_camel_case(payload)))
        return self.answers.get(action, default)

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        self.remote_stops.put_nowait(transaction_id)
        status = self._got("RemoteStopTransaction", "Accepted", transaction_id=transaction_id)
        return call_result.RemoteStopTransaction(status=status)

    @on("RemoteStartTransaction")
    async def on_remote_start(self, **payload: Any) -> call_result.RemoteStartTransaction:
        status = self._got("RemoteStartTransaction", "Accepted", **payload)
        return call_result.RemoteStartTransaction(status=status)

    @on("ChangeAvailability")
    async def on_change_availability(self, **payload: Any) -> call_result.ChangeAvailability:
        return call_result.ChangeAvailability(
            self._got("ChangeAvailability", "Accepted", **payload)
        )

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **payload: Any) -> call_result.SetChargingProfile:
        return call_result.SetChargingProfile(
            self._got("SetChargingProfile", "Accepted", **payload)
        )

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **payload: Any) -> call_result.ClearChargingProfile:
        status = self._got("ClearChargingProfile", "Accepted", **payload)
        return call_result.ClearChargingProfile(status)

    @on("Reset")
    async def on_reset(self, **payload: Any) -> call_result.Reset:
        return call_result.Reset(self._got("Reset", "Accepted", **payload))

    @on("UnlockConnector")
    async def on_unlock_connector(self, **payload: Any) -> call_result.UnlockConnector:
        return call_result.UnlockConnector(self._got("UnlockConnector", "Unlocked", **payload))

    @on("TriggerMessage")
    async def on_trigger_message(self, **payload: Any) -> call_result.TriggerMessage:
        return call_result.TriggerMessage(self._got("TriggerMessage", "Accepted", **payload))

    @on("GetConfiguration")
    async def on_get_configuration(self, key: list | None = None) -> call_result.GetConfiguration:
        self._got("GetConfiguration", "", key=key)
        wanted = key or list(self.configuration)
        known = [
            {"key": k, "readonly": False, "value": self.configuration[k]}
            for k in wanted
            if k in self.configuration
        ]
        unknown = [k for k in wanted if k not in self.configuration]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeConfiguration")
    async def on_change_configuration(
        self, key: str, value: str
    ) -> call_result.ChangeConfiguration:
        status = self._got("ChangeConfiguration", "Accepted", key=key, value=value)
        if status == "Accepted":
            self.configuration[key] = value
        return call_result.ChangeConfiguration(status)

    async def send(self, payload: Any) -> Any:
        return await self.call(payload, suppress=False)

    async def boot(self) -> str:
        result = await self.send(
            call.BootNotification(charge_point_model="T1", charge_point_vendor="TestCo")
        )
        return result.status


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@contextlib.asynccontextmanager
async def charge_point(
    cse: OcppCSE,
    cp_id: str,
    password: str | None = None,
    ssl: Any = None,
    kind: type[TestChargePoint] | None = None,
) -> AsyncIterator[TestChargePoint]:
    headers = basic_auth(cp_id, password) if password is not None else None
    async with connect(
        cse.ocpp_url(cp_id), subprotocols=["ocpp1.6"], additional_headers=headers, ssl=ssl
    ) as ws:
        cp = (kind or TestChargePoint)(cp_id, ws)
        reader = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
