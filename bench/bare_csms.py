#!/usr/bin/env python3
"""A bare OCPP 1.6J central system on the `ocpp` package: the CPU baseline for ocpp_bench.

It answers BootNotification, Heartbeat, StatusNotification, Authorize, StartTransaction,
MeterValues and StopTransaction with no persistence and no logging, over the same
websockets server settings as citycse's adapter (sub-protocol `ocpp1.6`, a large backlog,
synchronous schema validation). Whatever citycse spends per message beyond this is the
cost of its oneM2M side.

    python bench/bare_csms.py --port 9000 [--host 127.0.0.1] [--speedups] [--control-port P]

`--control-port` is the baseline of interlock_bench.py: a line `lock` on that loopback TCP
port sends every connected charger RemoteStopTransaction for each session it started and
then ChangeAvailability Inoperative (what citycse's fire-alarm interlock sends), and
answers with the milliseconds it took to put every first call on the wire; `unlock` sends
ChangeAvailability Operative to all and answers when every charger has answered.

`--speedups` installs citycse's speed-ups of the package (ocpp_adapter/speedups.py: compiled
schema validation, memoised key renaming and handler signatures), to compare like with like;
the default is the package as it is.

It runs on uvloop, as `citycse serve` does (uvicorn with loop="uvloop").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import signal
import time
from datetime import UTC, datetime
from typing import Any

import ocpp.messages
import uvloop
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from websockets.asyncio.server import ServerConnection, serve

# The same choice as ocpp_adapter/server.py, so the baseline validates the same way.
ocpp.messages.ASYNC_VALIDATION = False

SUBPROTOCOL = "ocpp1.6"
BACKLOG = 4096
_transaction_ids = itertools.count(1)
connected: dict[str, BareChargePoint] = {}


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class BareChargePoint(ChargePoint):
    """Answers the charger's messages; remembers only its running sessions (for `lock`)."""

    def __init__(self, cp_id: str, connection: ServerConnection) -> None:
        super().__init__(cp_id, connection)
        self.sessions: set[int] = set()

    async def stop_and_lock(self) -> None:
        for transaction_id in list(self.sessions):
            await self.call(call.RemoteStopTransaction(transaction_id=transaction_id))
        await self.call(call.ChangeAvailability(connector_id=0, type="Inoperative"))

    async def unlock(self) -> None:
        await self.call(call.ChangeAvailability(connector_id=0, type="Operative"))

    @on("BootNotification")
    async def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        return call_result.BootNotification(current_time=utc_now(), interval=60, status="Accepted")

    @on("Heartbeat")
    async def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=utc_now())

    @on("StatusNotification")
    async def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on("Authorize")
    async def on_authorize(self, id_tag: str) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    async def on_start_transaction(self, **_: Any) -> call_result.StartTransaction:
        transaction_id = next(_transaction_ids)
        self.sessions.add(transaction_id)
        return call_result.StartTransaction(
            transaction_id=transaction_id, id_tag_info={"status": "Accepted"}
        )

    @on("MeterValues")
    async def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on("StopTransaction")
    async def on_stop_transaction(
        self, transaction_id: int, **_: Any
    ) -> call_result.StopTransaction:
        self.sessions.discard(transaction_id)
        return call_result.StopTransaction()


async def handle(connection: ServerConnection) -> None:
    if connection.subprotocol != SUBPROTOCOL or connection.request is None:
        await connection.close()
        return
    cp_id = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
    charge_point = connected[cp_id] = BareChargePoint(cp_id, connection)
    try:
        with contextlib.suppress(Exception):
            await charge_point.start()
    finally:
        if connected.get(cp_id) is charge_point:
            del connected[cp_id]


async def lock_all() -> float:
    """Every charger's first call on the wire in one turn of the loop, as the interlock does;
    the milliseconds that took."""
    began = time.perf_counter()
    tasks = [asyncio.create_task(cp.stop_and_lock()) for cp in list(connected.values())]
    await asyncio.sleep(0)
    sent_ms = (time.perf_counter() - began) * 1000
    await asyncio.gather(*tasks, return_exceptions=True)
    return sent_ms


async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """`lock` / `unlock`, one per line, each answered with one line."""
    while line := (await reader.readline()).strip():
        if line == b"lock":
            writer.write(f"{await lock_all():.3f}\n".encode())
        elif line == b"unlock":
            cps = list(connected.values())
            await asyncio.gather(*(cp.unlock() for cp in cps), return_exceptions=True)
            writer.write(b"ok\n")
        else:
            writer.write(b"unknown\n")
        await writer.drain()
    writer.close()


async def main(host: str, port: int, control_port: int | None) -> None:
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with serve(
        handle,
        host,
        port,
        subprotocols=[SUBPROTOCOL],
        ping_interval=30,
        ping_timeout=30,
        backlog=BACKLOG,
    ):
        print(f"bare_csms listening on ws://{host}:{port}", flush=True)
        if control_port is None:
            await stop.wait()
            return
        async with await asyncio.start_server(control, "127.0.0.1", control_port):
            await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--speedups", action="store_true")
    parser.add_argument("--control-port", type=int, default=None)
    args = parser.parse_args()
    if args.speedups:
        from ocpp_adapter import speedups

        speedups.install()
    uvloop.run(main(args.host, args.port, args.control_port))
