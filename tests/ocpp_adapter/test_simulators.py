"""`citycse sim` and `citycse chargers assign`: devices that register and publish over MQTT
(a real mosquitto of the tests' own) or HTTP, and what the chargers of their site or feeder
receive."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.bindings.mqtt.conftest import private_broker
from tests.ocpp_adapter.conftest import OcppCSE
from tests.ocpp_adapter.test_interlocks import actions, at, boot_in, eventually, next_item
from tests.support.chargers import simulated_charger
from tests.support.server import clean_env, free_port, make_database, start_server, tmpdir


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    """The URL of a mosquitto started for this module on a free port, so that the tests
    need no broker on the machine (skipped only where no mosquitto is installed)."""
    with private_broker() as own:
        yield own.info.url


@pytest.fixture(scope="module")
def mqtt_cse(broker: str) -> Iterator[OcppCSE]:
    """A citycse with the adapter and the MQTT binding on the module's mosquitto, under a
    CSE-ID of its own."""
    workdir = tmpdir()
    db = make_database("sqlite", workdir)
    ocpp_port = free_port()
    cse_id = f"sim-{uuid.uuid4().hex[:8]}"
    extra = ["--ocpp-port", str(ocpp_port), "--mqtt", broker, "--ocpp-unknown-chargers", "accept"]
    server = start_server(db, extra_args=extra, cse_id=cse_id)
    cse = OcppCSE(server=server, db=db, ocpp_port=ocpp_port)
    cse.cli("tariff", "set", "--price-per-kwh", "0.30")
    yield cse
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def run_sim(cse: OcppCSE, *args: str, broker: str | None) -> subprocess.CompletedProcess:
    """`citycse sim`: its devices publish over MQTT to `broker`, or over HTTP when None."""
    transport = ["--mqtt", broker, "--cse-id", cse.server.cse_id] if broker else []
    command = [sys.executable, "-m", "cse", "sim", *args, *transport, "--cse-url", cse.base_url]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=clean_env())


def sim_json(cse: OcppCSE, *args: str, broker: str | None) -> dict[str, Any]:
    done = run_sim(cse, *args, "--json", broker=broker)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


async def test_fire_alarm_over_mqtt_locks_and_releases_its_site(
    mqtt_cse: OcppCSE, broker: str
) -> None:
    async with simulated_charger(mqtt_cse, "mq1") as cp:
        await boot_in(mqtt_cse, cp, "MQ")
        alarm = await asyncio.to_thread(
            sim_json, mqtt_cse, "fire-alarm", "--site", "MQ", "--state", "active", broker=broker
        )
        assert alarm["aei"] == "Cfirealarm-MQ"
        assert alarm["container"] == f"{mqtt_cse.server.cse_rn}/firealarm-MQ/alarm"
        assert await next_item(cp.availability) == (0, "Inoperative")
        assert await cp.authorize("ANYONE") == "Blocked"
        await asyncio.to_thread(
            sim_json, mqtt_cse, "fire-alarm", "--site", "MQ", "--state", "clear", broker=broker
        )
        assert await next_item(cp.availability) == (0, "Operative")
    # Registering again (a second run) reuses the AE and its container.
    again = await asyncio.to_thread(
        sim_json, mqtt_cse, "fire-alarm", "--site", "MQ", "--state", "clear", broker=broker
    )
    assert again["container"] == alarm["container"]


async def test_grid_feed_over_mqtt_blocks_its_feeder(mqtt_cse: OcppCSE, broker: str) -> None:
    mqtt_cse.cli("users", "add", "--id-tag", "MQCARD", "--balance", "30.00")
    async with simulated_charger(mqtt_cse, "mq2") as cp:
        await boot_in(mqtt_cse, cp, "MQ2", feeder="MQF")
        feed = await asyncio.to_thread(
            sim_json, mqtt_cse, "grid", "--feeder", "MQF", "--overload", at(-1), at(10), "5000",
            broker=broker,
        )  # fmt: skip
        assert feed["aei"] == "Cgridfeed-MQF"
        blocks = await eventually(lambda: actions(mqtt_cse, "overload-block"))
        assert blocks[-1]["trigger"]["resource"] == feed["reading"]
        assert await cp.authorize("MQCARD") == "Blocked"


async def test_interactive_fire_alarm_reads_states_from_stdin(mqtt_cse: OcppCSE) -> None:
    command = [sys.executable, "-m", "cse", "sim", "fire-alarm", "--site", "TTY",
               "--cse-url", mqtt_cse.base_url]  # fmt: skip
    async with simulated_charger(mqtt_cse, "tty1") as cp:
        await boot_in(mqtt_cse, cp, "TTY")
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=clean_env(),
        )  # fmt: skip
        try:
            assert process.stdin is not None
            process.stdin.write("active\n")
            process.stdin.flush()
            assert await next_item(cp.availability) == (0, "Inoperative")
            process.stdin.write("maybe\nclear\n")
            process.stdin.flush()
            assert await next_item(cp.availability) == (0, "Operative")
            out, err = await asyncio.to_thread(process.communicate, "", 30)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 0, err
        assert "unknown state 'maybe'" in err
        assert out.count("reading=") == 2


def test_bad_device_input_is_refused_with_a_message(mqtt_cse: OcppCSE) -> None:
    backwards = run_sim(mqtt_cse, "grid", "--feeder", "X", "--surge", at(60), at(0), "2",
                        broker=None)  # fmt: skip
    assert backwards.returncode == 1 and "end after it starts" in backwards.stderr
    low = run_sim(mqtt_cse, "grid", "--feeder", "X", "--surge", at(0), at(60), "0.5", broker=None)
    assert low.returncode == 1 and "surge factor is at least 1" in low.stderr
    not_a_time = run_sim(mqtt_cse, "grid", "--feeder", "X", "--overload", "soon", at(60), "1",
                         broker=None)  # fmt: skip
    assert not_a_time.returncode == 1 and "ISO 8601" in not_a_time.stderr
    bad_site = run_sim(mqtt_cse, "fire-alarm", "--site", "a b", "--state", "active", broker=None)
    assert bad_site.returncode == 2 and "not a valid name" in bad_site.stderr


def test_assigning_an_unknown_charger_fails_cleanly(mqtt_cse: OcppCSE) -> None:
    done = mqtt_cse.cli("chargers", "assign", "nosuch", "--site", "A", check=False)
    assert done.returncode != 0 and "no charger nosuch" in done.stderr
