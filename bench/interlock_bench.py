#!/usr/bin/env python3
"""Fire-alarm interlock benchmark of citycse (issue 6, "Speed").

For each size N (default 10, 100, 500, 1000): a fresh `python -m cse serve` (SQLite in a
temporary directory, the OCPP adapter in the same process), N simulated chargers on the
`ocpp` package in this process, all in one site, each with a running session. Then a fire
alarm (an AE writing over HTTP) raises its alarm, and the bench measures the time from
just before the alarm's content-instance create is sent to the RemoteStopTransaction
arriving at each charger: the first, the median, the 99th percentile and the last (= every
charger reached). The chargers then behave like real ones (StopTransaction, settlement)
unless `--no-settle`. Repeated `--repeat` times per size (clear, new sessions, alarm).

    python bench/interlock_bench.py [--sizes 10,100,500,1000] [--repeat 3] [--json out.json]

Clocks: CLOCK_MONOTONIC of this process for both ends; the server is another process on
loopback. The chargers share this process's event loop, so their own CPU (receiving and
validating 1,000 messages) is part of the figure, as it would be for a real site's
chargers only in the sense that each real charger has its own CPU: the figure is an upper
bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx
import ocpp.messages

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocpp_adapter.charger_sim import SimulatedCharger, connected_charger  # noqa: E402
from ocpp_adapter.cse_client import HttpClient  # noqa: E402
from ocpp_adapter.demo import ADMIN, CSE_RN, demo_cse  # noqa: E402
from ocpp_adapter.manage import chargers_assign, tariff_set, users_add  # noqa: E402
from ocpp_adapter.simulators import alarm_content, register_fire_alarm  # noqa: E402

ocpp.messages.ASYNC_VALIDATION = False
CARD = "BENCHCARD"
SITE = "bench"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _args(**values: object) -> argparse.Namespace:
    return argparse.Namespace(admin_originator=ADMIN, **values)


async def _setup(client: HttpClient, chargers: list[SimulatedCharger]) -> None:
    await tariff_set(client, _args(price_per_kwh=Decimal("0.30"), surge=None))
    await users_add(
        client,
        _args(id_tag=CARD, balance=Decimal("1000000"), budget=Decimal("1.00"),
                    password=None),
    )  # fmt: skip
    for batch in range(0, len(chargers), 50):
        group = chargers[batch : batch + 50]
        await asyncio.gather(*(c.boot() for c in group))
        await asyncio.gather(
            *(chargers_assign(client, _args(charge_point_id=c.id, site=SITE, feeder=None))
              for c in group)
        )  # fmt: skip


async def _start_sessions(chargers: list[SimulatedCharger]) -> None:
    for batch in range(0, len(chargers), 50):
        group = chargers[batch : batch + 50]
        results = await asyncio.gather(*(c.start_session(CARD, 0) for c in group))
        for charger, (transaction_id, status) in zip(group, results, strict=True):
            if status != "Accepted":
                raise RuntimeError(f"{charger.id}: session not accepted ({status})")
            charger.running[transaction_id] = 1000


async def _wait_for(chargers: list[SimulatedCharger], prefix: str, since: float) -> list[float]:
    """Arrival times (monotonic) of the first call starting with `prefix` after `since`."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        arrivals = [
            next((m for m, what in c.calls if m >= since and what.startswith(prefix)), None)
            for c in chargers
        ]
        if all(a is not None for a in arrivals):
            return [a for a in arrivals if a is not None]
        await asyncio.sleep(0.01)
    missing = sum(1 for c in chargers if not any(m >= since and w.startswith(prefix)
                                                  for m, w in c.calls))  # fmt: skip
    raise RuntimeError(f"{missing} chargers never received {prefix}")


async def run_size(size: int, repeat: int, settle: bool) -> dict:
    with (
        tempfile.TemporaryDirectory(prefix="citycse-ilbench-") as folder,
        demo_cse(Path(folder), None) as (base, ocpp_url),
    ):
        client = HttpClient(base)
        device = HttpClient(base)
        raw = httpx.AsyncClient(base_url=base, timeout=30)
        try:
            async with contextlib.AsyncExitStack() as stack:
                chargers = []
                for index in range(size):
                    charger = await stack.enter_async_context(
                        connected_charger(ocpp_url, f"b{index:04d}")
                    )
                    charger.auto_stop = settle
                    chargers.append(charger)
                await _setup(client, chargers)
                alarm = await register_fire_alarm(device, SITE, CSE_RN)
                await asyncio.sleep(1.0)
                runs = []
                for _ in range(repeat):
                    await _start_sessions(chargers)
                    await asyncio.sleep(0.5)
                    runs.append(await _one_alarm(raw, alarm, chargers))
                    clear = time.monotonic()
                    await _post_alarm(raw, alarm, False)
                    await _wait_for(chargers, "ChangeAvailability(Operative)", clear)
                    await asyncio.sleep(0.5)
                return {"chargers": size, "runs": runs}
        finally:
            await raw.aclose()
            await client.close()
            await device.close()


async def _post_alarm(raw: httpx.AsyncClient, alarm, active: bool) -> float:  # noqa: ANN001
    headers = {"X-M2M-Origin": alarm.aei, "X-M2M-RI": f"a{time.time_ns()}", "X-M2M-RVI": "3",
               "Content-Type": "application/json;ty=4"}  # fmt: skip
    body = json.dumps({"m2m:cin": {"cnf": "application/json:0", "con": alarm_content(active)}})
    started = time.monotonic()
    response = await raw.post(f"/{alarm.container}", content=body, headers=headers)
    if response.status_code != 201:
        raise RuntimeError(f"alarm create failed: {response.status_code} {response.text}")
    return started


async def _one_alarm(raw: httpx.AsyncClient, alarm, chargers: list[SimulatedCharger]) -> dict:  # noqa: ANN001
    since = time.monotonic()
    started = await _post_alarm(raw, alarm, True)
    created = time.monotonic()
    arrivals = await _wait_for(chargers, "RemoteStopTransaction", since)
    await _wait_for(chargers, "ChangeAvailability(Inoperative)", since)
    latencies = [(a - started) * 1000 for a in arrivals]
    return {
        "create_ms": round((created - started) * 1000, 2),
        "first_ms": round(min(latencies), 2),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "all_ms": round(max(latencies), 2),
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,500,1000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-settle", action="store_true", help="chargers do not stop")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        result = await run_size(size, args.repeat, not args.no_settle)
        results.append(result)
        for run in result["runs"]:
            print(
                f"chargers={size:5d}  create={run['create_ms']:7.2f} ms  "
                f"first={run['first_ms']:7.2f}  p50={run['p50_ms']:7.2f}  "
                f"p99={run['p99_ms']:7.2f}  all={run['all_ms']:7.2f} ms  "
                f"load={os.getloadavg()[0]:.2f}",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
