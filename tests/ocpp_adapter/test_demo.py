"""`citycse demo` as a user runs it: one command, a timeline, exit status 0."""

from __future__ import annotations

import subprocess
import sys

from tests.support.server import clean_env, tmpdir


def test_demo_plays_every_scenario_and_exits_zero() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cse", "demo"],
        capture_output=True, text=True, timeout=240, env=clean_env(), cwd=tmpdir(),
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for section in ("1. a normal session with refund", "2. an unknown card",
                    "3. an insufficient balance", "4. a fire alarm in site north",
                    "5. a grid overload limits feeder F2", "final balances"):  # fmt: skip
        assert f"== {section}" in out
    assert "FAIL" not in out
    assert "north-2 <- RemoteStopTransaction" in out
    assert "south-1 <- SetChargingProfile(limit=7400.0 W)" in out
    assert "south-1 <- ChangeAvailability" not in out
    assert "ok   DAVE balance 45.50" in out
    assert out.rstrip().endswith("checks") and "demo passed" in out
