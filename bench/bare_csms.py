#!/usr/bin/env python3
"""A bare OCPP 1.6J central system on the `ocpp` package: the CPU baseline for ocpp_bench.

It answers BootNotification, Heartbeat, StatusNotification, Authorize, StartTransaction,
MeterValues and StopTransaction with no persistence and no logging, over the same
websockets server settings as citycse's adapter (sub-protocol `ocpp1.6`, a large backlog,
synchronous schema validation). Whatever citycse spends per message beyond this is the
cost of its oneM2M side.

    python bench/bare_csms.py --port 9000 [--host 127.0.0.1] [--speedups]

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
from datetime import UTC, datetime
from typing import Any

import ocpp.messages
import uvloop
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from websockets.asyncio.server import ServerConnection, serve

# The same choice as ocpp_adapter/server.py, so the baseline validates the same way.
ocpp.messages.ASYNC_VALIDATION = False

SUBPROTOCOL = "ocpp1.6"
BACKLOG = 4096
_transaction_ids = itertools.count(1)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class BareChargePoint(ChargePoint):
    """Answers the charger's messages; remembers nothing."""

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
        return call_result.StartTransaction(
            transaction_id=next(_transaction_ids), id_tag_info={"status": "Accepted"}
        )

    @on("MeterValues")
    async def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on("StopTransaction")
    async def on_stop_transaction(self, **_: Any) -> call_result.StopTransaction:
        return call_result.StopTransaction()


async def handle(connection: ServerConnection) -> None:
    if connection.subprotocol != SUBPROTOCOL or connection.request is None:
        await connection.close()
        return
    cp_id = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
    with contextlib.suppress(Exception):
        await BareChargePoint(cp_id, connection).start()


async def main(host: str, port: int) -> None:
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
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--speedups", action="store_true")
    args = parser.parse_args()
    if args.speedups:
        from ocpp_adapter import speedups

        speedups.install()
    uvloop.run(main(args.host, args.port))
