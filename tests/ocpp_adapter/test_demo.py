"""`citycse demo` as a user runs it: one command, a timeline, exit status 0."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from ocpp_adapter.demo import MOSQUITTO_PATHS
from tests.support.server import clean_env, tmpdir


@pytest.mark.parametrize("transport", ["mqtt", "http"])
def test_demo_plays_every_scenario_and_exits_zero(transport: str) -> None:
    if transport == "mqtt" and not any(map(shutil.which, MOSQUITTO_PATHS)):
        pytest.skip("no mosquitto binary: the demo would use HTTP devices")
    extra = ["--no-mqtt"] if transport == "http" else []
    done = subprocess.run(
        [sys.executable, "-m", "cse", "demo", *extra],
        capture_output=True, text=True, timeout=240, env=clean_env(), cwd=tmpdir(),
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for section in ("1. a normal session with refund", "2. an unknown card",
                    "3. an insufficient balance", "4. a fire alarm in site north",
                    "5. a grid overload limits feeder F2", "final balances"):  # fmt: skip
        assert f"== {section}" in out
    assert "FAIL" not in out
    devices = "MQTT (private mosquitto)" if transport == "mqtt" else "HTTP (no MQTT broker)"
    assert f"registered over {devices}" in out
    assert "north-2 <- RemoteStopTransaction" in out
    assert "south-1 <- SetChargingProfile(limit=7400.0 W)" in out
    assert "south-1 <- ChangeAvailability" not in out
    assert "ok   DAVE balance 45.50" in out
    assert out.rstrip().endswith("checks") and "demo passed" in out
