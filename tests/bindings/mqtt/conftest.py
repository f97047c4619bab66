"""Fixtures for the MQTT binding (TS-0010) suites: a real mosquitto broker, real citycse
processes connected to it, and a paho-mqtt client that speaks bare JSON primitives.

Broker: the mosquitto on 127.0.0.1:1883 when it answers, otherwise a private mosquitto on a
free port. Tests that restart the broker always get a private one of their own.

Every CSE started here has its own CSE-ID (`id-t<hex>`): two CSEs with the same ID on one
broker would share a subscription group and a client ID and steal each other's requests.
The CSEs use persistent sessions (clean start false, expiry 600 s), so teardown removes
their sessions from the broker (connect with the same client ID, clean start, disconnect)."""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.support.server import Database, Server, clean_env, free_port, port_open, wait_ready

REPO = Path(__file__).resolve().parents[3]
HOST = "127.0.0.1"
SHARED_PORT = int(os.environ.get("CITYCSE_TEST_MQTT_SHARED_PORT", "1883"))
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
ADMIN = "CAdmin"
CSE_RN = "cse-in"

TY_AE, TY_CNT, TY_CIN, TY_SUB = 2, 3, 4, 23
OP_CREATE, OP_RETRIEVE, OP_UPDATE, OP_DELETE, OP_NOTIFY = 1, 2, 3, 4, 5


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def new_cse_id() -> str:
    return f"id-t{uuid.uuid4().hex[:10]}"


# --- brokers ----------------------------------------------------------------------------------


def broker_answers(host: str, port: int, timeout: float = 3.0) -> bool:
    """True when an MQTT 5 CONNECT to host:port is accepted."""
    if not port_open(host, port):
        return False
    accepted = threading.Event()
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=unique("probe-"), protocol=mqtt.MQTTv5
    )

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            accepted.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
    except OSError:
        return False
    client.loop_start()
    try:
        return accepted.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()


@dataclass
class BrokerInfo:
    host: str
    port: int
    private: PrivateBroker | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


class PrivateBroker:
    """A mosquitto of our own on a free port, with persistence, that can be stopped and
    started again on the same port (queued QoS 1 messages survive a graceful restart)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "mosquitto.log"
        (workdir / "data").mkdir(exist_ok=True)
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} {HOST}\n"
            "allow_anonymous true\n"
            # As root, mosquitto would switch to the `mosquitto` user, which cannot write
            # the persistence file into our private directory.
            f"user {getpass.getuser()}\n"
            "persistence true\n"
            f"persistence_location {workdir / 'data'}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 100000\n"
            f"log_dest file {self.log_path}\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
        )

    @property
    def info(self) -> BrokerInfo:
        return BrokerInfo(HOST, self.port, self)

    def start(self, timeout: float = 15.0) -> None:
        assert self.process is None or self.process.poll() is not None
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log_tail()}")
            if broker_answers(HOST, self.port, timeout=1.0):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"mosquitto did not answer on {HOST}:{self.port}: {self.log_tail()}")

    def stop(self) -> None:
        """Graceful stop (SIGTERM): mosquitto writes its persistence file on the way out."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return "<no mosquitto log>"


def mosquitto_usable() -> bool:
    return os.access(MOSQUITTO, os.X_OK)


@contextlib.contextmanager
def private_broker() -> Iterator[PrivateBroker]:
    if not mosquitto_usable():
        pytest.skip(f"no mosquitto binary at {MOSQUITTO}")
    workdir = Path(tempfile.mkdtemp(prefix="citycse-mosq-"))
    broker = PrivateBroker(workdir)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def broker() -> Iterator[BrokerInfo]:
    """The shared mosquitto on 127.0.0.1:1883 if it answers, else a private one."""
    if broker_answers(HOST, SHARED_PORT):
        yield BrokerInfo(HOST, SHARED_PORT)
        return
    if not mosquitto_usable():
        pytest.skip("no MQTT broker on 127.0.0.1:1883 and no mosquitto binary to start one")
    with private_broker() as own:
        yield own.info


@pytest.fixture
def own_broker() -> Iterator[PrivateBroker]:
    """A private mosquitto for this test only (tests that stop and start the broker)."""
    with private_broker() as own:
        yield own


# --- CSE processes ----------------------------------------------------------------------------


def purge_session(host: str, port: int, client_id: str) -> None:
    """Remove a persistent session from the broker: connect with clean start, leave."""
    done = threading.Event()
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
    )
    client.on_connect = lambda *_args: done.set()
    try:
        client.connect(host, port, keepalive=10, clean_start=True)
    except OSError:
        return
    client.loop_start()
    done.wait(5)
    client.disconnect()
    client.loop_stop()


@dataclass
class MqttCse:
    """A citycse process connected to a broker; can be stopped and restarted on the same
    HTTP port and CSE-ID, so that its MQTT client IDs (and sessions) stay the same."""

    broker: BrokerInfo
    cse_id: str
    workdir: Path
    port: int
    workers: int = 1
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    server: Server | None = None

    @property
    def csi(self) -> str:
        return "/" + self.cse_id

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "cse.log"

    @property
    def client_ids(self) -> list[str]:
        base = f"C::{self.cse_id}"
        return [base] + [f"{base}::{slot}" for slot in range(1, self.workers)]

    def start(self) -> None:
        db = Database("sqlite", f"sqlite+aiosqlite:///{self.workdir / 'cse.db'}", self.workdir)
        cmd = [
            sys.executable, "-m", "cse", "serve",
            "--host", HOST,
            "--port", str(self.port),
            "--db", db.url,
            "--cse-id", self.cse_id,
            "--cse-rn", CSE_RN,
            "--admin-originator", ADMIN,
            "--workers", str(self.workers),
            "--mqtt", self.broker.url,
            *self.extra_args,
        ]  # fmt: skip
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log_file:
            process = subprocess.Popen(
                cmd,
                cwd=REPO,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=clean_env(self.env),
                start_new_session=True,
            )
        self.server = Server(
            "sqlite", db, self.port, self.log_path, process, self.cse_id, CSE_RN, ADMIN, cmd
        )
        wait_ready(self.server)
        self.wait_connected()

    def wait_connected(self, timeout: float = 20.0) -> None:
        """The CSE is connected to the broker and its request subscription is active.

        One worker logs `event=mqtt_connected`; worker processes of `--workers N` do not
        log (uvicorn's workers have no logging setup), so there we wait until every worker
        holds its client-ID slot lock. Then a request over MQTT must be answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.workers == 1:
                text = self.log_path.read_bytes()[self._log_offset :].decode(errors="replace")
                if "event=mqtt_connected " in text:
                    break
            elif all(self.slot_held(slot) for slot in range(self.workers)):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"CSE did not connect to MQTT:\n{self.log_tail()}")
        probe = MqttClient(self.broker, self.cse_id)
        try:
            while time.monotonic() < deadline:
                rqi = probe.send(primitive(OP_RETRIEVE, CSE_RN, ADMIN))
                if probe.wait_for(lambda m, rqi=rqi: rqi.encode() in m.payload, timeout=1.0):
                    return
        finally:
            probe.close()
        raise RuntimeError(f"CSE does not answer over MQTT:\n{self.log_tail()}")

    def slot_lock_path(self, slot: int) -> Path:
        return (
            Path(tempfile.gettempdir()) / "citycse-mqtt" / f"{self.cse_id}-{self.port}-{slot}.lock"
        )

    def slot_held(self, slot: int) -> bool:
        """True when a running worker holds the file lock of this client-ID slot."""
        path = self.slot_lock_path(slot)
        if not path.exists():
            return False
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    _log_offset: int = 0

    def alive(self) -> bool:
        return self.server is not None and self.server.alive()

    def stop(self) -> None:
        if self.server is None:
            return
        process = self.server.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def purge_sessions(self) -> None:
        for client_id in self.client_ids:
            purge_session(self.broker.host, self.broker.port, client_id)
        for slot in range(self.workers):
            with contextlib.suppress(OSError):
                self.slot_lock_path(slot).unlink()

    def log_tail(self, limit: int = 12000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError as exc:
            return f"<no server log: {exc}>"

    def http_get(self, path: str, origin: str = ADMIN, **params: Any) -> httpx.Response:
        return httpx.get(
            f"{self.base_url}/{path}",
            params=params,
            headers={"X-M2M-Origin": origin, "X-M2M-RI": unique("h"), "X-M2M-RVI": "3"},
            timeout=10,
        )


def launch_cse(broker: BrokerInfo, workers: int = 1, **kwargs: Any) -> MqttCse:
    cse = MqttCse(
        broker=broker,
        cse_id=new_cse_id(),
        workdir=Path(tempfile.mkdtemp(prefix="citycse-mqtt-test-")),
        port=free_port(),
        workers=workers,
        **kwargs,
    )
    try:
        cse.start()
    except BaseException:
        retire_cse(cse)
        raise
    return cse


def restart_cse(cse: MqttCse) -> None:
    cse.stop()
    cse.start()


def retire_cse(cse: MqttCse) -> None:
    cse.stop()
    cse.purge_sessions()
    shutil.rmtree(cse.workdir, ignore_errors=True)


@pytest.fixture
def cse_factory(broker: BrokerInfo) -> Iterator[Callable[..., MqttCse]]:
    """Start CSEs for one test; stopped, and their broker sessions purged, afterwards."""
    started: list[MqttCse] = []

    def factory(on: BrokerInfo | None = None, **kwargs: Any) -> MqttCse:
        cse = launch_cse(on or broker, **kwargs)
        started.append(cse)
        return cse

    yield factory
    for cse in started:
        retire_cse(cse)


@pytest.fixture(scope="module")
def cse(broker: BrokerInfo) -> Iterator[MqttCse]:
    """One CSE per test module, on the broker, with short notification retry timings."""
    started = launch_cse(
        broker,
        env={
            "CITYCSE_NOTIFICATION_BACKOFF_MAX_SECONDS": "0.5",
            "CITYCSE_NOTIFICATION_TIMEOUT_SECONDS": "3",
        },
    )
    yield started
    retire_cse(started)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ARG001
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for value in (getattr(item, "funcargs", {}) or {}).values():
            if isinstance(value, MqttCse):
                state = "running" if value.alive() else "stopped"
                report.sections.append((f"citycse log ({value.cse_id}, {state})", value.log_tail()))
            if isinstance(value, PrivateBroker):
                report.sections.append(("mosquitto log", value.log_tail()))


# --- the MQTT client --------------------------------------------------------------------------


@dataclass
class Message:
    topic: str
    payload: bytes
    received: float

    @property
    def json(self) -> Any:
        return orjson.loads(self.payload)

    @property
    def kind(self) -> str:
        parts = self.topic.split("/")
        return parts[2] if len(parts) > 2 else ""


def primitive(op: int, to: str, fr: str | None, **params: Any) -> dict[str, Any]:
    """A bare JSON request primitive with a fresh rqi (unless given) and rvi 3."""
    body: dict[str, Any] = {"op": op, "to": to, "rqi": params.pop("rqi", unique("rq")), "rvi": "3"}
    if fr is not None:
        body["fr"] = fr
    body.update(params)
    return body


class MqttClient:
    """An MQTT 5 client for tests: publishes requests, collects everything it receives."""

    def __init__(
        self,
        broker: BrokerInfo,
        cse_id: str,
        *,
        client_id: str | None = None,
        persistent: bool = False,
        topics: tuple[str, ...] = (),
    ) -> None:
        self.broker = broker
        self.cse_id = cse_id
        self.client_id = client_id or unique("A::test-")
        self.persistent = persistent
        self.messages: list[Message] = []
        self.cond = threading.Condition()
        self.acked: set[int] = set()
        self.ack_reasons: dict[
            int, int
        ] = {}  # mid -> PUBACK reason code (0 success, 16 no subscribers)
        self.connects = 0
        self.subacks = 0
        self._connected = threading.Event()
        self.topics = [
            f"/oneM2M/resp/+/{cse_id}/+",
            f"/oneM2M/reg_resp/+/{cse_id}/+",
            f"/oneM2M/req/{cse_id}/+/+",
            *topics,
        ]
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5
        )
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        self.client = client
        properties = None
        if persistent:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = 600
        client.connect(
            broker.host,
            broker.port,
            keepalive=10,
            clean_start=not persistent,
            properties=properties,
        )
        client.loop_start()
        if not self._connected.wait(10):
            raise RuntimeError("test client could not connect to the broker")
        self._wait_subacks(1)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            return
        self.connects += 1
        client.subscribe([(topic, 1) for topic in self.topics])
        self._connected.set()

    def _on_disconnect(self, *_args: Any) -> None:
        self._connected.clear()

    def _on_subscribe(self, *_args: Any) -> None:
        with self.cond:
            self.subacks += 1
            self.cond.notify_all()

    def _wait_subacks(self, goal: int, timeout: float = 10) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.subacks >= goal, timeout), "no SUBACK"

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        with self.cond:
            self.messages.append(Message(message.topic, bytes(message.payload), time.monotonic()))
            self.cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        with self.cond:
            self.acked.add(mid)
            self.ack_reasons[mid] = getattr(reason, "value", 0)
            self.cond.notify_all()

    def close(self, purge: bool = True) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        if self.persistent and purge:
            purge_session(self.broker.host, self.broker.port, self.client_id)

    def subscribe(self, topic: str) -> None:
        """Subscribe now (and after reconnects); returns once the broker granted it."""
        with self.cond:
            goal = self.subacks + 1
        self.topics.append(topic)
        self.client.subscribe(topic, 1)
        self._wait_subacks(goal)

    # -- sending ---------------------------------------------------------------------------

    def topic(self, originator: str, kind: str = "req", serialization: str = "json") -> str:
        return f"/oneM2M/{kind}/{originator}/{self.cse_id}/{serialization}"

    def publish(self, topic: str, payload: bytes | str | dict) -> mqtt.MQTTMessageInfo:
        if isinstance(payload, dict):
            payload = orjson.dumps(payload)
        return self.client.publish(topic, payload, qos=1)

    def send(self, body: dict[str, Any], kind: str = "req", sender: str | None = None) -> str:
        """Publish a request primitive on the topic of its `fr` (or `sender`)."""
        self.publish(self.topic(sender or body["fr"], kind), body)
        return body["rqi"]

    def request(
        self,
        body: dict[str, Any],
        kind: str = "req",
        sender: str | None = None,
        timeout: float = 10,
    ) -> dict[str, Any]:
        rqi = self.send(body, kind, sender)
        return self.response(rqi, timeout=timeout)

    # -- receiving -------------------------------------------------------------------------

    def wait_for(
        self, predicate: Callable[[Message], bool], timeout: float = 10, count: int = 1
    ) -> list[Message]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [m for m in self.messages if predicate(m)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    return found
                self.cond.wait(left)

    def responses(self, rqi: str) -> list[dict[str, Any]]:
        with self.cond:
            out = []
            for m in self.messages:
                if m.kind in ("resp", "reg_resp"):
                    with contextlib.suppress(orjson.JSONDecodeError):
                        body = m.json
                        if isinstance(body, dict) and body.get("rqi") == rqi:
                            out.append(body)
            return out

    def response(self, rqi: str, timeout: float = 10) -> dict[str, Any]:
        def match(m: Message) -> bool:
            if m.kind not in ("resp", "reg_resp"):
                return False
            try:
                return m.json.get("rqi") == rqi
            except (orjson.JSONDecodeError, AttributeError):
                return False

        found = self.wait_for(match, timeout)
        assert found, f"no response for rqi {rqi} within {timeout}s"
        return found[0].json

    def on_topic(self, topic: str) -> list[Message]:
        with self.cond:
            return [m for m in self.messages if m.topic == topic]


@pytest.fixture
def mq(broker: BrokerInfo, cse: MqttCse) -> Iterator[MqttClient]:
    client = MqttClient(broker, cse.cse_id)
    yield client
    client.close()


def ok(response: dict[str, Any], rsc: int) -> dict[str, Any]:
    assert response.get("rsc") == rsc, f"expected rsc {rsc}, got {response}"
    return response


@dataclass
class MqttAE:
    aei: str
    rn: str
    path: str
    attrs: dict[str, Any]


def register_ae(
    client: MqttClient, originator: str | None = None, **attrs: Any
) -> tuple[MqttAE, dict[str, Any]]:
    """Register an AE over MQTT on the reg_req topic; returns it and the raw response."""
    originator = originator or unique("C")
    rn = attrs.pop("rn", unique("ae"))
    body = primitive(
        OP_CREATE,
        CSE_RN,
        originator,
        ty=TY_AE,
        pc={"m2m:ae": {"rn": rn, "api": "Nmqtt.test", "rr": True, "srv": ["3"], **attrs}},
    )
    response = client.request(body, kind="reg_req")
    ok(response, 2001)
    ae = response["pc"]["m2m:ae"]
    return MqttAE(ae["aei"], rn, f"{CSE_RN}/{rn}", ae), response
