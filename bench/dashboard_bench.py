#!/usr/bin/env python3
"""Dashboard benchmark of citycse (issue 7, "Speed").

Starts `python -m cse serve --ocpp-port` (SQLite in a temporary directory), connects N
simulated chargers over OCPP-J 1.6 (the `ocpp` package over real websockets) and opens the
dashboard in headless chromium (Debian's `chromium`, driven by Playwright). Then:

  load       time from opening the page until its model of N chargers is loaded and drawn
  traffic    every charger sends StatusNotification and MeterValues in a loop for --seconds;
             each one is one content instance in the tree and one event on /sse/changes
  figures    messages/s the chargers got answered; live updates/s the page applied; frames/s;
             the longest gap between two animation frames; long tasks (> 50 ms) and their
             total; the main thread's lag (a 50 ms timer's lateness, p50/p99/max); and
             whether the page ends with every charger's latest status (in its model, and in the rows
             of the table page it shows)
  capacity   --inject status events pushed straight into the page's live queue, as fast as
             it takes them: the update rate the page itself sustains, with frames and lag

    python bench/dashboard_bench.py [--chargers 1000] [--seconds 30] [--pause 1.0]
                                    [--json out.json] [--keep]

The CSE, the chargers and the browser share this machine: the figures include their
competition for the CPU (the load average is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ocpp.v16 import ChargePoint, call
from playwright.async_api import async_playwright
from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import HOST, ServerProcess, cse_answers, free_port, serve_command  # noqa: E402

CONNECT_CONCURRENCY = 50

PROBE = """
window.__probe = {
  longTasks: 0, longTaskMs: 0, longTaskAt: [], maxFrameGap: 0, frames: 0, lags: [],
};
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    window.__probe.longTasks += 1;
    window.__probe.longTaskMs += entry.duration;
    window.__probe.longTaskAt.push([Math.round(entry.startTime), Math.round(entry.duration)]);
  }
}).observe({ entryTypes: ["longtask"] });
let lastFrame = performance.now();
requestAnimationFrame(function frame(now) {
  window.__probe.maxFrameGap = Math.max(window.__probe.maxFrameGap, now - lastFrame);
  window.__probe.frames += 1;
  lastFrame = now;
  requestAnimationFrame(frame);
});
let expected = performance.now() + 50;
setInterval(() => {
  const now = performance.now();
  window.__probe.lags.push(Math.max(0, now - expected));
  expected = now + 50;
}, 50);
window.__probeReset = () => {
  const fresh = { longTasks: 0, longTaskMs: 0, longTaskAt: [], maxFrameGap: 0, frames: 0 };
  fresh.lags = [];
  Object.assign(window.__probe, fresh);
};
"""

READ_PROBE = """() => {
  const p = window.__probe;
  const lags = [...p.lags].sort((a, b) => a - b);
  const at = (q) => Math.min(lags.length - 1, Math.floor(q * lags.length));
  const pick = (q) => (lags.length ? lags[at(q)] : 0);
  const d = window.citycseDashboard;
  return { longTasks: p.longTasks, longTaskMs: p.longTaskMs, longTaskAt: p.longTaskAt,
    maxFrameGap: p.maxFrameGap,
    frames: p.frames, lagP50: pick(0.5), lagP99: pick(0.99), lagMax: lags.at(-1) || 0,
    updates: d.model.updatesApplied, chargers: d.model.chargers.size, loads: d.stats.loads,
    backlog: d.stats.backlog, notices: document.querySelector("#notices").innerText,
    rows: document.querySelectorAll("#chargers tbody tr").length };
}"""


# Page capacity: status events of the real chargers pushed straight into the page's live
# queue (in bursts of 500 per task), to find the rate the page itself sustains.
INJECT = """async ([total, chargers]) => {
  const d = window.citycseDashboard;
  const ids = [...d.model.chargers.values()].map((c) => c.rn);
  const statuses = ["Available", "Preparing", "Charging", "Finishing"];
  const start = performance.now();
  const applied = d.model.updatesApplied;
  for (let i = 0; i < total; i += 1) {
    const rn = ids[i % ids.length];
    const con = { connectorId: 1, errorCode: "NoError", status: statuses[i % 4] };
    const ct = new Date().toISOString().replace(/[-:]/g, "").slice(0, 15);
    const cin = { ri: `cin${i}`, ct, con };
    const data = { srn: `cse-in/${rn}/status/cin${i}`, ty: 4, "m2m:cin": cin };
    d.receive("create", JSON.stringify(data));
    if (i % 500 === 499) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  while (d.model.updatesApplied - applied < total) {
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
  return performance.now() - start;
}"""


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Charger(ChargePoint):
    """A charger that reports a status and a meter reading, then the next, in a loop."""

    def __init__(self, cp_id: str, connection: Any) -> None:
        super().__init__(cp_id, connection, response_timeout=60)
        self.sent = 0
        self.last_status = "Available"

    async def boot(self) -> None:
        await self.call(
            call.BootNotification(charge_point_model="Bench", charge_point_vendor="citycse"),
            suppress=False,
        )
        await self.report_status("Available")

    async def report_status(self, status: str) -> None:
        await self.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status=status),
            suppress=False,
        )
        self.last_status = status
        self.sent += 1

    async def report_meter(self, wh: int) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        sampled = [{"value": str(wh), "measurand": "Energy.Active.Import.Register"}]
        await self.call(
            call.MeterValues(
                connector_id=1, meter_value=[{"timestamp": stamp, "sampled_value": sampled}]
            ),
            suppress=False,
        )
        self.sent += 1

    async def traffic(self, until: float, pause: float) -> None:
        wh = 0
        statuses = ("Preparing", "Charging", "SuspendedEV", "Available")
        step = 0
        while time.monotonic() < until:
            await self.report_status(statuses[step % len(statuses)])
            wh += 250
            await self.report_meter(wh)
            step += 1
            await asyncio.sleep(pause)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="citycse-dashboard-bench-"))
        self.port = free_port()
        self.ocpp_port = free_port()
        self.server = ServerProcess(
            serve_command(
                self.port, f"sqlite+aiosqlite:///{self.workdir / 'cse.db'}",
                "--ocpp-port", str(self.ocpp_port), "--ocpp-unknown-chargers", "accept",
            ),
            self.workdir / "cse.log",
            ready=lambda: cse_answers(self.port),
            cwd=self.workdir,
        )  # fmt: skip
        self.chargers: list[Charger] = []
        self.sockets: list[Any] = []
        self.readers: list[asyncio.Task] = []

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start_cse(self) -> None:
        self.server.start(timeout=60)

    def stop_cse(self) -> None:
        self.server.stop(timeout=15)

    async def connect_chargers(self) -> None:
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(index: int) -> None:
            async with gate:
                cp_id = f"B{index:05d}"
                ws = await connect(
                    f"ws://{HOST}:{self.ocpp_port}/ocpp/{cp_id}",
                    subprotocols=["ocpp1.6"],
                    open_timeout=60,
                )
                charger = Charger(cp_id, ws)
                self.sockets.append(ws)
                self.readers.append(asyncio.create_task(charger.start()))
                await charger.boot()
                self.chargers.append(charger)

        await asyncio.gather(*(one(i) for i in range(self.args.chargers)))

    async def close_chargers(self) -> None:
        for reader in self.readers:
            reader.cancel()
        for ws in self.sockets:
            with contextlib.suppress(Exception):
                await ws.close()

    async def run(self) -> dict[str, Any]:
        figures: dict[str, Any] = {"chargers": self.args.chargers, "seconds": self.args.seconds}
        self.start_cse()
        began = time.monotonic()
        await self.connect_chargers()
        figures["connect_and_boot_s"] = round(time.monotonic() - began, 1)
        print(f"{len(self.chargers)} chargers booted in {figures['connect_and_boot_s']} s "
              f"(load {load_average()})")  # fmt: skip

        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            raise SystemExit("chromium is not installed (apt-get install chromium)")
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
            )
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            await page.add_init_script(PROBE)
            began = time.monotonic()
            await page.goto(f"{self.base_url}/dashboard")
            await page.wait_for_selector("body[data-loaded]", timeout=300_000)
            await page.wait_for_function(
                f"window.citycseDashboard.model.chargers.size >= {self.args.chargers}"
            )
            figures["page_load_s"] = round(time.monotonic() - began, 2)
            print(f"page loaded with {self.args.chargers} chargers in {figures['page_load_s']} s")

            await page.evaluate("window.__probeReset()")
            start = await page.evaluate(READ_PROBE)
            sent_before = sum(c.sent for c in self.chargers)
            began = time.monotonic()
            until = began + self.args.seconds
            await asyncio.gather(*(c.traffic(until, self.args.pause) for c in self.chargers))
            elapsed = time.monotonic() - began
            sent = sum(c.sent for c in self.chargers) - sent_before
            await asyncio.sleep(2)  # let the last events reach the page
            end = await page.evaluate(READ_PROBE)
            figures.update(self.traffic_figures(start, end, sent, elapsed))
            figures["statuses_shown_right"] = await self.statuses_shown(page)

            await page.evaluate("window.__probeReset()")
            total = self.args.inject
            took_ms = await page.evaluate(INJECT, [total, self.args.chargers])
            probe = await page.evaluate(READ_PROBE)
            figures["page_capacity"] = {
                "events": total,
                "updates_per_s": round(total / (took_ms / 1000), 1),
                "frames_per_s": round(probe["frames"] / (took_ms / 1000), 1),
                "max_frame_gap_ms": round(probe["maxFrameGap"], 1),
                "main_thread_lag_ms": {"p99": round(probe["lagP99"], 1), "max": probe["lagMax"]},
            }
            await page.screenshot(path=str(self.workdir / "dashboard-1000.png"))
            await browser.close()
        figures["load_average"] = load_average()
        return figures

    @staticmethod
    def traffic_figures(start: dict, end: dict, sent: int, elapsed: float) -> dict[str, Any]:
        updates = end["updates"] - start["updates"]
        return {
            "messages_answered": sent,
            "messages_per_s": round(sent / elapsed, 1),
            "page_updates_applied": updates,
            "page_updates_per_s": round(updates / elapsed, 1),
            "frames_per_s": round(end["frames"] / elapsed, 1),
            "max_frame_gap_ms": round(end["maxFrameGap"], 1),
            "long_tasks": end["longTasks"],
            "long_task_ms_total": round(end["longTaskMs"], 1),
            "long_tasks_at_ms_and_duration": end["longTaskAt"],
            "main_thread_lag_ms": {
                "p50": round(end["lagP50"], 1),
                "p99": round(end["lagP99"], 1),
                "max": round(end["lagMax"], 1),
            },
            "rows": end["rows"],
            "page_reloads_during_traffic": end["loads"] - start["loads"],
            "backlog_left": end["backlog"],
            "notices": end["notices"],
        }

    async def statuses_shown(self, page: Any) -> str:
        shown = await page.evaluate(
            "() => Object.fromEntries([...window.citycseDashboard.model.chargers.values()]"
            ".map((c) => [c.id, (c.connectors.get(1) || {}).status]))"
        )
        right = sum(1 for c in self.chargers if shown.get(c.id) == c.last_status)
        rows = await page.evaluate(
            "() => [...document.querySelectorAll('#chargers tbody tr')]"
            ".map((r) => [r.dataset.cp, r.querySelector('.status').textContent])"
        )
        last = {c.id: c.last_status for c in self.chargers}
        drawn = sum(1 for cp_id, text in rows if text.strip() == f"1: {last[cp_id]}")
        return f"model {right}/{len(self.chargers)}, rows drawn {drawn}/{len(rows)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--pause", type=float, default=1.0, help="each charger's pause per loop")
    parser.add_argument("--inject", type=int, default=50_000, help="events of the capacity phase")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the server log and screenshot")
    args = parser.parse_args()
    bench = Bench(args)
    try:
        figures = asyncio.run(bench.run())
    finally:
        bench.stop_cse()
        if not args.keep:
            shutil.rmtree(bench.workdir, ignore_errors=True)
        else:
            print(f"kept {bench.workdir}")
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
