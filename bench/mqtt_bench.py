#!/usr/bin/env python3
"""MQTT benchmark of citycse (TS-0010 binding): content-instance creates through a broker.

Starts `python -m cse serve` (SQLite file in a temporary directory, one worker, a unique
CSE-ID so that no other CSE on the broker is disturbed) connected to the broker, registers
AEs over MQTT and measures round trips (publish the request primitive -> receive the
response primitive) of `create cin` in these closed-loop phases:

    c1            one connection, one originator, 1 request in flight
    c16 1conn     one connection, one originator, 16 in flight (the CSE runs the requests
                  of one sender in order, so these queue behind each other)
    c16 1conn/16o one connection, 16 originators, one in flight each
    c16 16conn    16 connections, one originator each, one in flight each

For each phase: creates/s, p50/p99/max latency, errors (rsc != 2001, or no answer within
10 s), CPU cores used by the server's process tree, the broker and this script (from
/proc), and what the rest of the machine used ("other"). At the end the containers' `cni`
must equal the number of successful creates.

    python bench/mqtt_bench.py [--broker mqtt://127.0.0.1:1883] [--duration 10]
                               [--warmup 2] [--quiet-wait 30] [--json out.json] [--keep]
                               [--private-broker nodelay|default] [--phases c1,...]
                               [--client raw|paho] [--client-protocol 311|5]

Only loopback brokers are accepted. See the "MQTT" section of bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import select
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import paho.mqtt.client as mqtt

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench import common  # noqa: E402
from bench.common import BenchError  # noqa: E402

CSE_RN = "cse-in"
ADMIN = "CAdmin"
TIMEOUT_S = 10.0
OTHER_LOAD_WARN = 0.15
PHASE_KEYS = {
    "create cin c1": "c1",
    "create cin c16 1conn": "c16-1conn",
    "create cin c16 1conn/16orig": "c16-1conn-16orig",
    "create cin c16 16conn": "c16-16conn",
}
TARGETS = {"c16_ops": 1500.0, "c16_p99_ms": 20.0}
QUICK_ACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


# --------------------------------------------------------------------------- CPU


@dataclass
class Cpu:
    server: float
    broker: float
    me: float
    machine: float
    wall: float


def cpu_sample(server_pid: int, broker_pids: list[int]) -> Cpu:
    stats = common.all_stats()
    server = sum(stats[pid].cpu for pid in common.process_tree(stats, server_pid))
    broker = sum(stats[p].cpu for p in broker_pids if p in stats)
    times = os.times()
    return Cpu(
        server, broker, times.user + times.system, common.machine_busy_seconds(), time.monotonic()
    )


def broker_pids(exclude: set[int]) -> list[int]:
    """mosquitto processes other than `exclude` (we cannot always tell which one listens
    on the port; on this machine there is one shared broker)."""
    return [
        pid
        for pid, stat in common.all_stats().items()
        if stat.comm == "mosquitto" and pid not in exclude
    ]


class PrivateBroker:
    """A mosquitto of our own on a free loopback port, with TCP_NODELAY (`set_tcp_nodelay
    true`; mosquitto's default is false, which adds ~40 ms Nagle/delayed-ACK stalls)."""

    def __init__(self, workdir: Path, nodelay: bool) -> None:
        self.port = common.free_port()
        config = workdir / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"set_tcp_nodelay {'true' if nodelay else 'false'}\nuser {getpass.getuser()}\n"
            "max_queued_messages 100000\n"
        )
        self.proc = subprocess.Popen(
            [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        raise BenchError("private mosquitto did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


# ------------------------------------------------------------------------ client


class NetLoop:
    """One network thread for every bench connection (paho's loop_start would start one
    thread per connection; 17 threads fighting over the GIL cost the bench more CPU per
    request than the server spends)."""

    def __init__(self) -> None:
        self.clients: list[mqtt.Client] = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, name="mqtt-net", daemon=True)
        self.thread.start()

    def add(self, client: mqtt.Client) -> None:
        with self.lock:
            self.clients.append(client)

    def remove(self, client: mqtt.Client) -> None:
        with self.lock:
            if client in self.clients:
                self.clients.remove(client)

    def stop(self) -> None:
        self.running = False
        self.thread.join(timeout=5)

    def _run(self) -> None:
        last_misc = 0.0
        while self.running:
            with self.lock:
                clients = list(self.clients)
            socks = {}
            for client in clients:
                sock = client.socket()
                if sock is not None:
                    socks[sock] = client
            if not socks:
                time.sleep(0.01)
                continue
            writers = [s for s, c in socks.items() if c.want_write()]
            try:
                readable, writable, _ = select.select(list(socks), writers, [], 0.02)
            except (OSError, ValueError):
                continue
            for sock in readable:
                socks[sock].loop_read()
            for sock in writable:
                socks[sock].loop_write()
            # Requests published from a callback are queued; send them right away.
            for client in socks.values():
                if client.want_write():
                    client.loop_write()
            now = time.monotonic()
            if now - last_misc > 1.0:
                last_misc = now
                for client in clients:
                    client.loop_misc()


NET: NetLoop | None = None
CLIENT_PROTOCOL = mqtt.MQTTv311


class Conn:
    """One MQTT connection. `drive` keeps `depth` creates in flight per originator: the
    next request is published from the response callback (closed loop)."""

    def __init__(self, host: str, port: int, cse_id: str) -> None:
        self.cse_id = cse_id
        self.client_id = f"A::bench-{uuid.uuid4().hex[:10]}"
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=CLIENT_PROTOCOL
        )
        self.client.max_inflight_messages_set(1000)
        # The bench's own sockets must not add Nagle delays to what it measures.
        self.client.on_socket_open = lambda _c, _u, sock: sock.setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )
        self.lock = threading.Lock()
        self.waiting: dict[str, tuple[float, str]] = {}  # rqi -> (sent, originator)
        self.replies: dict[str, dict] = {}  # setup requests
        self.setup_done = threading.Condition(self.lock)
        self.running = False
        self.recording = False
        self.latencies: list[float] = []
        self.errors = 0
        self.first_errors: list[str] = []
        self.ok = 0
        self.paths: dict[str, str] = {}  # originator -> container path
        connected = threading.Event()
        self.client.on_connect = lambda *a: connected.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=30)
        assert NET is not None
        NET.add(self.client)
        if not connected.wait(10):
            raise BenchError("cannot connect to the broker")
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.subscribe(
            [(f"/oneM2M/resp/+/{cse_id}/json", 1), (f"/oneM2M/reg_resp/+/{cse_id}/json", 1)]
        )
        if not subscribed.wait(10):
            raise BenchError("no SUBACK")

    def close(self) -> None:
        self.client.disconnect()
        time.sleep(0.05)
        assert NET is not None
        NET.remove(self.client)

    # setup: synchronous request/response
    def call(self, kind: str, originator: str, primitive: dict) -> dict:
        rqi = primitive["rqi"]
        topic = f"/oneM2M/{kind}/{originator}/{self.cse_id}/json"
        self._publish(topic, orjson.dumps(primitive))
        with self.setup_done:
            if not self.setup_done.wait_for(lambda: rqi in self.replies, TIMEOUT_S):
                raise BenchError(f"no answer to {primitive['op']} {primitive['to']}")
            return self.replies.pop(rqi)

    def _send(self, originator: str) -> None:
        rqi = uuid.uuid4().hex[:16]
        body = {
            "op": 1, "to": self.paths[originator], "fr": originator, "rqi": rqi, "rvi": "3",
            "ty": 4, "pc": {"m2m:cin": {"con": "0123456789abcdef"}},
        }  # fmt: skip
        with self.lock:
            self.waiting[rqi] = (time.perf_counter(), originator)
        self._publish(f"/oneM2M/req/{originator}/{self.cse_id}/json", orjson.dumps(body))

    def _publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    def _on_message(self, _c, _u, message) -> None:  # noqa: ANN001
        self._deliver(message.payload)

    def _deliver(self, payload: bytes) -> None:
        now = time.perf_counter()
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.errors += 1
            return
        rqi = body.get("rqi", "")
        with self.lock:
            entry = self.waiting.pop(rqi, None)
            if entry is None:
                self.replies[rqi] = body
                self.setup_done.notify_all()
                return
            sent, originator = entry
            if self.recording:
                if body.get("rsc") == 2001:
                    self.latencies.append(now - sent)
                else:
                    self.errors += 1
                    if len(self.first_errors) < 3:
                        self.first_errors.append(payload[:300].decode(errors="replace"))
            if body.get("rsc") == 2001:
                self.ok += 1
            running = self.running
        if running:
            self._send(originator)

    def start(self, originators: list[str], depth: int) -> None:
        self.running = True
        for originator in originators:
            for _ in range(depth):
                self._send(originator)

    def drain(self) -> int:
        """Stop sending; wait for outstanding answers. Returns how many never came."""
        self.running = False
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            with self.lock:
                if not self.waiting:
                    return 0
            time.sleep(0.02)
        with self.lock:
            lost = len(self.waiting)
            self.waiting.clear()
            return lost


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


class RawLoop:
    """One selector thread reading every RawConn socket."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, name="mqtt-raw", daemon=True)
        self.thread.start()

    def add(self, conn: RawConn) -> None:
        with self.lock:
            self.selector.register(conn.sock, selectors.EVENT_READ, conn)

    def remove(self, conn: RawConn) -> None:
        with self.lock, contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn.sock)

    def stop(self) -> None:
        self.running = False
        self.thread.join(timeout=5)

    def _run(self) -> None:
        while self.running:
            with self.lock:
                has = bool(self.selector.get_map())
            if not has:
                time.sleep(0.01)
                continue
            for key, _ in self.selector.select(0.05):
                try:
                    key.data.on_readable()
                except OSError:
                    if key.data.sock.fileno() != -1:
                        raise  # not a connection that was closed while the select ran


RAW: RawLoop | None = None


class RawConn(Conn):
    """The same closed-loop client over a minimal MQTT 3.1.1 implementation on a plain
    socket (CONNECT, SUBSCRIBE, PUBLISH QoS 1, PUBACK): paho's per-message cost in Python
    would otherwise make the load generator, not the CSE, the limit on a 2-core machine.

    Like the CSE it sets TCP_NODELAY and acknowledges every read at once (TCP_QUICKACK): a
    broker with Nagle on (mosquitto's default) holds a response behind the PUBACK it just
    sent us until our delayed ACK comes, ~40 ms, which would measure the client's socket
    options, not the CSE."""

    def __init__(self, host: str, port: int, cse_id: str) -> None:
        self.cse_id = cse_id
        self.client_id = f"A::bench-{uuid.uuid4().hex[:10]}"
        self.lock = threading.Lock()
        self.send_lock = threading.Lock()
        self.waiting = {}
        self.replies = {}
        self.setup_done = threading.Condition(self.lock)
        self.running = False
        self.recording = False
        self.latencies = []
        self.errors = 0
        self.first_errors = []
        self.ok = 0
        self.paths = {}
        self.next_id = 0
        self.buffer = bytearray()
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = _string("MQTT") + bytes([4, 0x02]) + (60).to_bytes(2, "big")
        body += _string(self.client_id)
        self.sock.sendall(b"\x10" + _varint(len(body)) + body)
        if self._read_exact(4) != b"\x20\x02\x00\x00":
            raise BenchError("broker refused the bench connection")
        filters = [f"/oneM2M/resp/+/{cse_id}/json", f"/oneM2M/reg_resp/+/{cse_id}/json"]
        body = (1).to_bytes(2, "big") + b"".join(_string(f) + b"\x01" for f in filters)
        self.sock.sendall(b"\x82" + _varint(len(body)) + body)
        header = self._read_exact(2)
        suback = self._read_exact(header[1])
        if header[0] != 0x90 or any(code > 2 for code in suback[2:]):
            raise BenchError(f"subscription refused: {suback!r}")
        self.sock.settimeout(None)
        self.sock.setblocking(False)
        assert RAW is not None
        RAW.add(self)

    def _read_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise BenchError("broker closed the connection")
            data += chunk
        return data

    def close(self) -> None:
        assert RAW is not None
        RAW.remove(self)
        with contextlib.suppress(OSError):
            self.sock.setblocking(True)
            self.sock.sendall(b"\xe0\x00")
            self.sock.close()

    def _write(self, data: bytes) -> None:
        with self.send_lock:
            view = memoryview(data)
            while view:
                try:
                    sent = self.sock.send(view)
                except BlockingIOError:
                    select.select([], [self.sock], [], 1.0)
                    continue
                view = view[sent:]

    def _publish(self, topic: str, payload: bytes) -> None:
        with self.send_lock:
            self.next_id = self.next_id % 65535 + 1
            packet_id = self.next_id
        body = _string(topic) + packet_id.to_bytes(2, "big") + payload
        self._write(b"\x32" + _varint(len(body)) + body)

    def on_readable(self) -> None:
        try:
            chunk = self.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # closed by close() while the selector was looking at it
            return
        if not chunk:
            raise BenchError("broker closed the connection")
        if QUICK_ACK is not None:  # see RawConn: a broker with Nagle on waits for our ACK
            self.sock.setsockopt(socket.IPPROTO_TCP, QUICK_ACK, 1)
        buf = self.buffer
        buf += chunk
        acks = bytearray()
        deliveries = []
        pos = 0
        while True:
            if len(buf) - pos < 2:
                break
            length, shift, i = 0, 0, pos + 1
            while True:
                if i >= len(buf):
                    length = -1
                    break
                byte = buf[i]
                length |= (byte & 0x7F) << shift
                shift += 7
                i += 1
                if not byte & 0x80:
                    break
            if length < 0 or len(buf) - i < length:
                break
            kind, flags = buf[pos] >> 4, buf[pos] & 0x0F
            packet = bytes(buf[i : i + length])
            pos = i + length
            if kind == 3:  # PUBLISH
                topic_len = int.from_bytes(packet[:2], "big")
                rest = 2 + topic_len
                if (flags >> 1) & 0x03:
                    acks += b"\x40\x02" + packet[rest : rest + 2]
                    rest += 2
                deliveries.append(packet[rest:])
        del buf[:pos]
        if acks:
            self._write(bytes(acks))
        for payload in deliveries:
            self._deliver(payload)


CLIENT_KIND = "raw"


def make_conn(host: str, port: int, cse_id: str) -> Conn:
    return RawConn(host, port, cse_id) if CLIENT_KIND == "raw" else Conn(host, port, cse_id)


def register(conn: Conn, originator: str) -> str:
    """An AE for `originator` with a container; returns the container's path."""
    rn = f"ae{originator.lower()}"
    reply = conn.call("reg_req", originator, {
        "op": 1, "to": CSE_RN, "fr": originator, "rqi": uuid.uuid4().hex, "rvi": "3", "ty": 2,
        "pc": {"m2m:ae": {"rn": rn, "api": "Nbench", "rr": False, "srv": ["3"]}},
    })  # fmt: skip
    if reply.get("rsc") != 2001:
        raise BenchError(f"AE registration failed: {reply}")
    reply = conn.call("req", originator, {
        "op": 1, "to": f"{CSE_RN}/{rn}", "fr": originator, "rqi": uuid.uuid4().hex, "rvi": "3",
        "ty": 3, "pc": {"m2m:cnt": {"rn": "data"}},
    })  # fmt: skip
    if reply.get("rsc") != 2001:
        raise BenchError(f"container create failed: {reply}")
    return f"{CSE_RN}/{rn}/data"


def cni(conn: Conn, originator: str, path: str) -> int:
    reply = conn.call("req", originator, {
        "op": 2, "to": path, "fr": originator, "rqi": uuid.uuid4().hex, "rvi": "3",
    })  # fmt: skip
    return reply["pc"]["m2m:cnt"]["cni"]


# ------------------------------------------------------------------------ phases


@dataclass
class Result:
    phase: str
    conc: int
    ops: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    srv_cpu: float
    srv_ms_per_op: float
    broker_cpu: float
    bench_cpu: float
    other: float
    load_before: str = ""
    first_errors: list[str] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_phase(
    name: str,
    plan: list[tuple[Conn, list[str], int]],
    duration: float,
    warmup: float,
    server_pid: int,
    brokers: list[int],
) -> Result:
    conns = [c for c, _, _ in plan]
    for conn in conns:
        conn.latencies.clear()
        conn.errors = 0
        conn.first_errors.clear()
        conn.recording = False
    for conn, originators, depth in plan:
        conn.start(originators, depth)
    time.sleep(warmup)
    before = cpu_sample(server_pid, brokers)
    for conn in conns:
        with conn.lock:
            conn.recording = True
    time.sleep(duration)
    for conn in conns:
        with conn.lock:
            conn.recording = False
    after = cpu_sample(server_pid, brokers)
    lost = sum(conn.drain() for conn in conns)
    wall = after.wall - before.wall
    latencies = [x for conn in conns for x in conn.latencies]
    srv = (after.server - before.server) / wall
    brk = (after.broker - before.broker) / wall
    me = (after.me - before.me) / wall
    machine = (after.machine - before.machine) / wall
    ops = len(latencies) / wall
    return Result(
        phase=name,
        conc=sum(len(o) * d for _, o, d in plan),
        ops=ops,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        max_ms=max(latencies, default=float("nan")) * 1000,
        errors=sum(conn.errors for conn in conns) + lost,
        srv_cpu=srv,
        srv_ms_per_op=srv * 1000 / ops if ops else float("nan"),
        broker_cpu=brk,
        bench_cpu=me,
        other=max(0.0, machine - srv - brk - me),
        first_errors=[e for conn in conns for e in conn.first_errors][:3],
    )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--quiet-wait", type=float, default=30.0)
    parser.add_argument(
        "--private-broker",
        choices=("nodelay", "default"),
        help="start a private mosquitto (set_tcp_nodelay true, or mosquitto's default "
        "false) on a free port instead of using --broker",
    )
    parser.add_argument(
        "--phases", help="comma-separated subset of: " + ",".join(PHASE_KEYS.values())
    )
    parser.add_argument(
        "--client",
        choices=("raw", "paho"),
        default="raw",
        help="load generator: a minimal MQTT 3.1.1 client on plain sockets (default, cheap) "
        "or paho-mqtt (about 1 ms of bench CPU per request)",
    )
    parser.add_argument(
        "--client-protocol",
        choices=("311", "5"),
        default="311",
        help="MQTT version of the bench's clients (3.1.1 costs the bench less CPU; the CSE "
        "always speaks MQTT 5)",
    )
    parser.add_argument("--json")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    parts = urlsplit(args.broker)
    if parts.scheme != "mqtt" or parts.hostname not in ("127.0.0.1", "localhost"):
        print("mqtt_bench: only mqtt://127.0.0.1:<port> brokers are benchmarked", file=sys.stderr)
        return 2
    host, port = "127.0.0.1", parts.port or 1883

    global NET, RAW, CLIENT_PROTOCOL, CLIENT_KIND
    NET = NetLoop()
    RAW = RawLoop()
    CLIENT_PROTOCOL = mqtt.MQTTv5 if args.client_protocol == "5" else mqtt.MQTTv311
    CLIENT_KIND = args.client
    workdir = Path(tempfile.mkdtemp(prefix="citycse-mqtt-bench-"))
    private = None
    if args.private_broker:
        private = PrivateBroker(workdir, args.private_broker == "nodelay")
        port = private.port
    cse_id, cse_port = f"id-bench{uuid.uuid4().hex[:8]}", common.free_port()
    server = common.ServerProcess(
        common.serve_command(
            cse_port, f"sqlite+aiosqlite:///{workdir / 'cse.db'}", "--mqtt", f"mqtt://{host}:{port}",
            cse_id=cse_id,
        ),
        workdir / "cse.log",
        ready=lambda: common.cse_answers(cse_port),
    )  # fmt: skip
    conns: list[Conn] = []
    results: list[Result] = []
    try:
        server.start()
        # Ready when a CSEBase retrieve over MQTT is answered.
        probe = make_conn(host, port, cse_id)
        conns.append(probe)
        deadline = time.monotonic() + 90
        while True:
            if server.exited():
                raise BenchError(f"server exited:\n{server.log_tail()}")
            try:
                probe.call("req", ADMIN, {
                    "op": 2, "to": CSE_RN, "fr": ADMIN, "rqi": uuid.uuid4().hex, "rvi": "3",
                })  # fmt: skip
                break
            except BenchError:
                if time.monotonic() > deadline:
                    raise
        single = probe
        one = f"Cb{uuid.uuid4().hex[:8]}"
        single.paths[one] = register(single, one)
        many = [f"Cb{uuid.uuid4().hex[:8]}" for _ in range(16)]
        for originator in many:
            single.paths[originator] = register(single, originator)
        sixteen = []
        for originator in many:
            conn = make_conn(host, port, cse_id)
            conn.paths[originator] = single.paths[originator]
            conns.append(conn)
            sixteen.append(conn)
        brokers = [private.proc.pid] if private else broker_pids(exclude=set())
        pid = server.pid

        phases = [
            ("create cin c1", [(single, [one], 1)]),
            ("create cin c16 1conn", [(single, [one], 16)]),
            ("create cin c16 1conn/16orig", [(single, many, 1)]),
            ("create cin c16 16conn", [(c, list(c.paths), 1) for c in sixteen]),
        ]
        if args.phases:
            wanted = set(args.phases.split(","))
            phases = [(n, p) for n, p in phases if PHASE_KEYS[n] in wanted]
        kind = f"private mosquitto ({args.private_broker})" if private else "shared broker"
        kind = f"{args.client} clients, {kind}"
        print(f"citycse MQTT bench: cse-id {cse_id}, {kind} {host}:{port}, "
              f"{args.duration:g} s phases, load average {load_average()}")  # fmt: skip
        for name, plan in phases:
            quiet = common.wait_for_quiet(args.quiet_wait, OTHER_LOAD_WARN)
            result = run_phase(name, plan, args.duration, args.warmup, pid, brokers)
            result.load_before = f"{load_average()} (busy {quiet:.2f} cores before)"
            results.append(result)
            print(f"  {name}: {result.ops:.0f}/s p99 {result.p99_ms:.2f} ms", flush=True)

        # Consistency: every answered create exists once.
        created = sum(c.ok for c in conns)
        stored = sum(cni(single, o, p) for o, p in single.paths.items())
        consistent = created == stored
    except BenchError as exc:
        print(f"mqtt_bench: {exc}\n{server.log_tail()}", file=sys.stderr)
        return 1
    finally:
        for conn in conns:
            conn.close()
        NET.stop()
        RAW.stop()
        server.stop()
        # Remove the CSE's persistent session from the broker.
        cleaner = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"C::{cse_id}",
            protocol=mqtt.MQTTv5,
        )  # fmt: skip
        try:
            cleaner.connect(host, port, clean_start=True)
            cleaner.loop_start()
            time.sleep(0.3)
            cleaner.disconnect()
            cleaner.loop_stop()
        except OSError:
            pass
        lock = Path(tempfile.gettempdir()) / "citycse-mqtt" / f"{cse_id}-{cse_port}-0.lock"
        lock.unlink(missing_ok=True)
        if private is not None:
            private.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    head = (
        f"{'phase':<28}{'conc':>5}{'ops/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'errors':>7}{'srv CPU':>8}{'ms/op':>7}{'mqtt CPU':>9}{'bench CPU':>10}{'other':>7}"
    )
    print()
    print(head)
    for r in results:
        flag = "!" if r.other > OTHER_LOAD_WARN else ""
        print(
            f"{r.phase:<28}{r.conc:>5}{r.ops:>8.0f}{r.p50_ms:>8.2f}{r.p99_ms:>8.2f}"
            f"{r.max_ms:>8.1f}{r.errors:>7}{r.srv_cpu:>8.2f}{r.srv_ms_per_op:>7.3f}"
            f"{r.broker_cpu:>9.2f}{r.bench_cpu:>10.2f}{r.other:>6.2f}{flag}"
        )
        for error in r.first_errors:
            print(f"    error: {error}")
    print(f"\ncreates answered 2001: {created}, sum of cni: {stored} "
          f"({'consistent' if consistent else 'MISMATCH'})")  # fmt: skip
    best16 = [r for r in results if r.conc == 16]
    verdicts = []
    for r in best16:
        verdicts.append(
            f"  {r.phase}: {r.ops:.0f}/s (target >= {TARGETS['c16_ops']:.0f}) "
            f"{'ok' if r.ops >= TARGETS['c16_ops'] else 'MISSED'}, p99 {r.p99_ms:.2f} ms "
            f"(target < {TARGETS['c16_p99_ms']:.0f}) "
            f"{'ok' if r.p99_ms < TARGETS['c16_p99_ms'] else 'MISSED'}"
        )
    print("targets (16 in flight):\n" + "\n".join(verdicts))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "broker": f"{host}:{port}",
                    "private_broker": args.private_broker,
                    "duration": args.duration,
                    "results": [asdict(r) for r in results],
                    "created": created,
                    "stored": stored,
                    "median_c16_ops": statistics.median(r.ops for r in best16) if best16 else 0,
                },
                indent=2,
            )
        )
    errors = sum(r.errors for r in results)
    return 0 if consistent and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
