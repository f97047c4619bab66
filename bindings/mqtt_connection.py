"""One session with an MQTT broker, with paho-mqtt's protocol engine driven by the event loop.

paho's own network thread would hand every message across threads twice (in and out) and
make the event loop and that thread take turns on the GIL. Here the event loop watches the
socket instead: paho reads when the socket is readable, writes what it queued in the next
turn of the loop (or when the socket is writable again), and a timer runs its keepalive. A
lost connection is re-established with exponential backoff; the persistent session gives
back the subscriptions and the messages in flight. Only the connect itself (name lookup,
TCP and TLS handshakes) runs on a thread, so that an unreachable broker never blocks the
loop; nothing is published while it runs."""

import asyncio
import contextlib
import logging
import socket
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

log = logging.getLogger("citycse.mqtt")

QOS = 1
MIN_RECONNECT_DELAY_SECONDS = 1.0
MAX_RECONNECT_DELAY_SECONDS = 30.0
HOUSEKEEPING_INTERVAL_SECONDS = 1.0
PUBLISH_TIMEOUT_SECONDS = 10.0
QUICK_ACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class PublishFailed(Exception):
    """The broker did not take a message."""


class MqttConnection:
    """Keeps a configured paho client connected and runs it on the event loop.

    `subscriptions` gives the topic filters to (re)subscribe after every CONNACK; `deliver`
    receives each incoming message (topic, payload) on the event loop."""

    def __init__(
        self,
        client: mqtt.Client,
        name: str,
        subscriptions: Callable[[], list[str]],
        deliver: Callable[[str, bytes], None],
    ) -> None:
        self.client = client
        self.name = name
        self.connected = asyncio.Event()
        self._subscriptions = subscriptions
        self._deliver = deliver
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._acks: dict[int, asyncio.Future] = {}
        self._held: deque[tuple[str, bytes, asyncio.Future | None]] = deque()
        self._socket: Any = None
        self._watching_writes = False
        self._flush_scheduled = False
        self._lost: asyncio.Future | None = None
        self._accepted = False
        self._tasks: list[asyncio.Task] = []
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; `connected` is set once the broker accepted."""
        self._tasks = [
            asyncio.create_task(self._stay_connected(), name=f"mqtt-session-{self.name}"),
            asyncio.create_task(self._housekeeping(), name=f"mqtt-keepalive-{self.name}"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._socket is not None:
            self.client.disconnect()
            self._flush()  # writes the DISCONNECT, after which paho closes the socket
            self._detach()

    async def _stay_connected(self) -> None:
        delay = MIN_RECONNECT_DELAY_SECONDS
        while True:
            try:
                await self._loop.run_in_executor(None, self.client.reconnect)
            except Exception as error:  # noqa: BLE001 - any failure to connect is retried
                log.warning(
                    "event=mqtt_connect_failed broker=%s error=%r retry_in_s=%.0f",
                    self.name,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY_SECONDS)
                continue
            self._attach()
            await self._lost
            self.connected.clear()
            if self._accepted:  # the broker had taken this connection: back off afresh
                self._accepted = False
                delay = MIN_RECONNECT_DELAY_SECONDS
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RECONNECT_DELAY_SECONDS)

    async def _housekeeping(self) -> None:
        """paho's keepalive: PINGREQ when idle, and a dead broker noticed."""
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_SECONDS)
            if self._socket is not None:
                self.client.loop_misc()

    def _attach(self) -> None:
        self._lost = self._loop.create_future()
        self._socket = self.client.socket()
        if self._socket is None:  # closed again before it could be watched
            self._lost.set_result(None)
            return
        with contextlib.suppress(OSError, AttributeError):
            # paho leaves Nagle on: a response written after its PUBACK would wait ~40 ms
            self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._loop.add_reader(self._socket, self._read)
        self._flush()

    def _detach(self) -> None:
        if self._socket is None:
            return
        self._loop.remove_reader(self._socket)
        if self._watching_writes:
            self._loop.remove_writer(self._socket)
            self._watching_writes = False
        self._socket = None
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    # -- socket events -----------------------------------------------------------------

    def _read(self) -> None:
        self.client.loop_read()
        self._acknowledge_promptly()
        pending = getattr(self._socket, "pending", None)
        if pending is not None and pending():  # TLS keeps decrypted bytes the loop cannot see
            self._loop.call_soon(self._read)

    def _acknowledge_promptly(self) -> None:
        """Ask the kernel to ACK what we read at once instead of delaying the ACK up to 40 ms.

        A broker with Nagle's algorithm on (mosquitto's default, `set_tcp_nodelay false`)
        holds its next small packet to us until our ACK of the previous one arrives, so each
        request after a PUBACK would wait for our delayed ACK. Linux leaves quick-ACK mode on
        its own, hence once per read; elsewhere the option does not exist."""
        if QUICK_ACK is not None and self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.setsockopt(socket.IPPROTO_TCP, QUICK_ACK, 1)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._socket is None:
            return
        self.client.loop_write()
        if self._socket is None:  # the write found the connection gone
            return
        if self.client.want_write() and not self._watching_writes:
            self._loop.add_writer(self._socket, self._flush)
            self._watching_writes = True
        elif not self.client.want_write() and self._watching_writes:
            self._loop.remove_writer(self._socket)
            self._watching_writes = False

    def _on_socket_register_write(self, _client: mqtt.Client, _userdata: Any, _sock: Any) -> None:
        """paho queued a packet: write it (and whatever joins it) in the loop's next turn."""
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        if threading.get_ident() == self._loop_thread:
            self._loop.call_soon(self._flush)
        else:  # the CONNECT, queued by the connect on its thread
            self._loop.call_soon_threadsafe(self._flush)

    def _on_socket_close(self, _client: mqtt.Client, _userdata: Any, _sock: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            self._detach()
        else:
            self._loop.call_soon_threadsafe(self._detach)

    # -- protocol events (on the loop) -------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _properties: Any
    ) -> None:
        if reason.is_failure:
            log.warning("event=mqtt_connect_refused broker=%s reason=%s", self.name, reason)
            return
        client.subscribe([(topic, QOS) for topic in self._subscriptions()])
        log.info("event=mqtt_connected broker=%s", self.name)
        self._accepted = True
        self.connected.set()
        while self._held:
            topic, payload, acknowledged = self._held.popleft()
            try:
                self._submit(topic, payload, acknowledged)
            except PublishFailed as error:  # a reply nobody awaits: the sender asks again
                log.warning("event=mqtt_publish_failed topic=%s error=%s", topic, error)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _properties: Any
    ) -> None:
        log.warning("event=mqtt_disconnected broker=%s reason=%s", self.name, reason)
        self.connected.clear()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: Any) -> None:
        self._deliver(message.topic, message.payload)

    def _on_publish(
        self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: Any, _properties: Any
    ) -> None:
        future = self._acks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    # -- publishing --------------------------------------------------------------------

    async def publish(self, topic: str, payload: bytes, wait: bool = False) -> None:
        """Publish at QoS 1; with `wait`, until the broker acknowledged it. While the
        connection is down the message waits for the next CONNACK."""
        acknowledged = self._loop.create_future() if wait else None
        message = (topic, payload, acknowledged)
        if self.connected.is_set():
            self._submit(*message)
        else:
            self._held.append(message)
        if acknowledged is None:
            return
        try:
            await asyncio.wait_for(acknowledged, PUBLISH_TIMEOUT_SECONDS)
        except TimeoutError:
            self._forget(message)
            raise PublishFailed("the broker did not acknowledge the publish") from None

    def _forget(self, message: tuple[str, bytes, asyncio.Future | None]) -> None:
        """A message given up on: still held, it is never sent (its sender tries again);
        already with paho, its acknowledgement is no longer awaited."""
        with contextlib.suppress(ValueError):
            self._held.remove(message)
        for mid, future in list(self._acks.items()):
            if future is message[2]:
                del self._acks[mid]

    def _submit(self, topic: str, payload: bytes, acknowledged: asyncio.Future | None) -> None:
        info = self.client.publish(topic, payload, qos=QOS)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            error = PublishFailed(f"MQTT publish failed: {mqtt.error_string(info.rc)}")
            if acknowledged is None:
                raise error
            acknowledged.set_exception(error)
            return
        if acknowledged is None:
            return
        if info.is_published():
            acknowledged.set_result(None)
        else:
            self._acks[info.mid] = acknowledged
