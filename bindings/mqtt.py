"""The MQTT binding (TS-0010): request primitives from a broker, responses back to it, and
notifications to `mqtt://` targets and to AEs that are reached over MQTT.

paho-mqtt speaks the protocol, driven by the event loop (see `mqtt_connection`); every
request is executed by the dispatcher like any HTTP request and answered on the response
topic.
Several CSE workers share the request topics through an MQTT 5 shared subscription
(`$share/<group>/...`), so each request is executed by exactly one of them."""

import asyncio
import fcntl
import logging
import ssl
import tempfile
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bindings.json_primitive import request_from_primitive, response_primitive
from bindings.mqtt_connection import MqttConnection, PublishFailed
from cse.addressing import cse_relative_id
from cse.constants import Operation, ResourceType
from cse.constants import ResponseStatusCode as RSC
from cse.delivery import DeliveryFailed, NotificationService
from cse.dispatcher import Dispatcher
from cse.errors import BadRequest, M2MError
from cse.primitives import Response
from cse.settings import Settings

log = logging.getLogger("citycse.mqtt")

SESSION_EXPIRY_SECONDS = 600
KEEPALIVE_SECONDS = 30
MAX_SLOTS = 64
REPLAY_CACHE_SIZE = 10_000
SERIALIZATIONS = ("json",)


def topic_id(identifier: str) -> str:
    """An ID as it appears in a topic (TS-0010 6.4.2): no leading `/`, `/` becomes `:`."""
    if identifier.startswith("//"):
        return ":" + identifier[2:].replace("/", ":")
    return identifier.lstrip("/").replace("/", ":")


def id_from_topic(part: str) -> str:
    """The inverse of `topic_id`: `Cabc` stays, `id-in:Cabc` is `/id-in/Cabc`."""
    if part.startswith(":"):
        return "//" + part[1:].replace(":", "/")
    if ":" in part:
        return "/" + part.replace(":", "/")
    return part


def _loopback_alias(host: str | None) -> str | None:
    return "127.0.0.1" if host == "localhost" else host


class Broker:
    """Where the binding connects, from `mqtt://host:port` or `mqtts://host:port`."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"--mqtt must be mqtt://host[:port] or mqtts://host[:port], got {url}")
        self.url = url
        self.tls = parts.scheme == "mqtts"
        self.host = parts.hostname
        self.port = parts.port or (8883 if self.tls else 1883)
        self.username = parts.username
        self.password = parts.password

    @property
    def address(self) -> str:
        """The broker's URL without credentials, as an AE's point of access."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def is_same(self, url: str) -> bool:
        parts = urlsplit(url)
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        return _loopback_alias(parts.hostname) == _loopback_alias(self.host) and port == self.port


class MqttBinding:
    def __init__(
        self, settings: Settings, dispatcher: Dispatcher, notifications: NotificationService
    ) -> None:
        if settings.mqtt is None:
            raise ValueError("the MQTT binding needs a broker URL")
        self.settings = settings
        self.dispatcher = dispatcher
        self.notifications = notifications
        self.broker = Broker(settings.mqtt)
        self.cse_topic_id = topic_id(settings.cse_id)
        self._never_connected = asyncio.Event()
        self._connection: MqttConnection | None = None
        self._slot_lock: Any = None
        self._inbox: dict[str, deque[tuple[str, bytes]]] = {}
        self._workers: dict[str, asyncio.Task] = {}
        self._replies: OrderedDict[tuple[str, str], tuple[str, bytes]] = OrderedDict()

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def connected(self) -> asyncio.Event:
        """Set while the broker has accepted the connection (never before `start`)."""
        if self._connection is None:
            return self._never_connected
        return self._connection.connected

    @property
    def request_filters(self) -> list[str]:
        """Plain topic filters for one worker; a shared subscription for several. (Mosquitto
        does not restore shared subscriptions of a persistent session after it restarts, so
        a single CSE keeps the plain ones and with them the requests queued meanwhile.)"""
        filters = [
            f"/oneM2M/req/+/{self.cse_topic_id}/+",
            f"/oneM2M/reg_req/+/{self.cse_topic_id}/+",
        ]
        if self.settings.workers > 1:
            group = self.settings.mqtt_share_group
            filters = [f"$share/{group}/{topic}" for topic in filters]
        return filters

    async def start(self) -> None:
        client_id = self.settings.mqtt_client_id or self._client_id_slot()
        self._connection = MqttConnection(
            self._paho_client(client_id),
            f"{self.broker.host}:{self.broker.port}",
            lambda: self.request_filters,
            self._enqueue,
        )
        self._connection.start()
        for scheme in ("mqtt", "mqtts"):
            self.notifications.register_transport(scheme, self.deliver_notification)
        log.info(
            "event=mqtt_connecting broker=%s:%d client_id=%s",
            self.broker.host,
            self.broker.port,
            client_id,
        )

    def _paho_client(self, client_id: str) -> mqtt.Client:
        """A paho client with this CSE's identity, credentials and TLS, set up to resume its
        persistent session (TS-0010: clean session false)."""
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        username = self.settings.mqtt_username or self.broker.username
        if username:
            client.username_pw_set(username, self.settings.mqtt_password or self.broker.password)
        if self.broker.tls:
            client.tls_set(
                ca_certs=self.settings.mqtt_ca_file,
                certfile=self.settings.mqtt_cert_file,
                keyfile=self.settings.mqtt_key_file,
                cert_reqs=ssl.CERT_NONE if self.settings.mqtt_tls_insecure else ssl.CERT_REQUIRED,
            )
            client.tls_insecure_set(self.settings.mqtt_tls_insecure)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        client.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=KEEPALIVE_SECONDS,
            clean_start=False,
            properties=properties,
        )
        return client

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.stop()
        if self._slot_lock is not None:
            self._slot_lock.close()

    def _client_id_slot(self) -> str:
        """A client ID that is stable across restarts and unique among this CSE's workers.

        TS-0010 asks for persistent sessions (clean session false). A worker whose ID
        changed on every start would leave its old session in the shared subscription, and
        the broker would keep handing it requests that nobody reads. So each worker takes
        the first free numbered slot (a file lock) and keeps its ID for the next start."""
        folder = Path(tempfile.gettempdir()) / "citycse-mqtt"
        folder.mkdir(exist_ok=True)
        for slot in range(MAX_SLOTS):
            handle = (folder / f"{self.cse_topic_id}-{self.settings.port}-{slot}.lock").open("w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            self._slot_lock = handle
            base = f"C::{self.cse_topic_id}"
            return base if slot == 0 else f"{base}::{slot}"
        raise RuntimeError("no free MQTT client slot: too many workers of this CSE")

    # -- requests ----------------------------------------------------------------------

    def _enqueue(self, topic: str, payload: bytes) -> None:
        """Requests of one sender run in the order they were published; senders run
        concurrently (a device's "create container, then write into it" stays in order)."""
        sender = topic.split("/")[3] if topic.count("/") >= 3 else ""
        queue = self._inbox.setdefault(sender, deque())
        queue.append((topic, payload))
        if sender not in self._workers:
            self._workers[sender] = asyncio.create_task(self._drain(sender))

    async def _drain(self, sender: str) -> None:
        queue = self._inbox[sender]
        try:
            while queue:
                topic, payload = queue.popleft()
                try:
                    await self._handle(topic, payload)
                except Exception:
                    log.exception("event=mqtt_request_failed topic=%s", topic)
        finally:
            del self._workers[sender]
            del self._inbox[sender]

    async def publish(self, topic: str, payload: bytes, wait: bool = False) -> None:
        """Publish at QoS 1; with `wait`, until the broker acknowledged it."""
        assert self._connection is not None
        try:
            await self._connection.publish(topic, payload, wait)
        except PublishFailed as error:
            raise DeliveryFailed(str(error)) from None

    async def _handle(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        if len(parts) != 6 or parts[1] != "oneM2M" or parts[2] not in ("req", "reg_req"):
            log.warning("event=mqtt_bad_topic topic=%s", topic)
            return
        _, _, kind, sender, receiver, serialization = parts
        reply_kind = "resp" if kind == "req" else "reg_resp"
        reply_topic = f"/oneM2M/{reply_kind}/{sender}/{receiver}/json"
        rqi = ""
        try:
            if serialization not in SERIALIZATIONS:
                raise M2MError(
                    f"serialization {serialization!r} is not supported; use json",
                    RSC.UNSUPPORTED_MEDIA_TYPE,
                )
            try:
                primitive = orjson.loads(payload)
            except orjson.JSONDecodeError:
                raise BadRequest("the payload is not valid JSON") from None
            if isinstance(primitive, dict) and isinstance(primitive.get("rqi"), str):
                rqi = primitive["rqi"]
            request = request_from_primitive(primitive)
            if kind == "req":
                self._check_sender(sender, request.fr)
        except M2MError as error:
            response = Response.error(error.rsc, rqi, error.message)
            await self._reply(reply_topic, None, response, sender)
            return
        replay = self._replies.get((sender, request.rqi))
        if replay is not None:  # a QoS 1 duplicate: answer again, do not execute again
            await self.publish(replay[0], replay[1])
            return
        if request.op == Operation.CREATE and request.ty == ResourceType.AE:
            self._default_point_of_access(request)
        if self.settings.workers > 1:
            # copies of one request may reach different workers: deduplicate in the database
            response = await self.dispatcher.handle_once(request, sender)
            if response is None:
                return
        else:
            response = await self.dispatcher.handle(request)
        await self._reply(reply_topic, request.fr, response, sender, remember=request.rqi)

    def _check_sender(self, sender: str, fr: str | None) -> None:
        claimed = cse_relative_id(id_from_topic(sender), self.settings.csi)
        fr = cse_relative_id(fr or "", self.settings.csi)
        if fr != claimed:
            raise BadRequest(f"the topic's originator {sender!r} does not match fr {fr!r}")

    def _default_point_of_access(self, request: Any) -> None:
        """An AE that registers over MQTT is reached over MQTT unless it names a `poa`."""
        if isinstance(request.pc, dict) and isinstance(request.pc.get("m2m:ae"), dict):
            ae = request.pc["m2m:ae"]
            ae.setdefault("poa", [self.broker.address])

    async def _reply(
        self,
        topic: str,
        to: str | None,
        response: Response,
        sender: str,
        remember: str | None = None,
    ) -> None:
        payload = orjson.dumps(response_primitive(response, to, self.settings.csi))
        if remember is not None:
            self._replies[(sender, remember)] = (topic, payload)
            while len(self._replies) > REPLAY_CACHE_SIZE:
                self._replies.popitem(last=False)
        try:
            await self.publish(topic, payload)
        except DeliveryFailed:
            log.warning("event=mqtt_reply_failed topic=%s rqi=%s", topic, response.rqi)

    # -- notifications -----------------------------------------------------------------

    async def deliver_notification(
        self, url: str, target: str, body: dict[str, Any], rqi: str
    ) -> None:
        """Publish a notify request primitive: to the topic in an `mqtt://` URL's path, or
        to an AE's request topic when the URL is the AE's point of access."""
        if not self.broker.is_same(url):
            raise DeliveryFailed(f"{url} is not the broker this CSE is connected to")
        path = urlsplit(url).path.lstrip("/")
        topic = path or f"/oneM2M/req/{self.cse_topic_id}/{topic_id(target)}/json"
        primitive = {
            "op": int(Operation.NOTIFY),
            "to": target,
            "fr": self.settings.csi,
            "rqi": rqi,
            "rvi": "3",
            "pc": body,
        }
        if not self.connected.is_set():
            raise DeliveryFailed("not connected to the MQTT broker")
        await self.publish(topic, orjson.dumps(primitive), wait=True)
