"""oneM2M over MQTT (TS-0010) as a `CSEClient`, for devices that publish through a broker.

Requests go to `/oneM2M/req/<originator>/<cse-id>/json` (`reg_req` for an AE registration)
and the answer is the response primitive with the same `rqi` on the matching response
topic. One client speaks for one originator (a device)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlparse

import orjson
import paho.mqtt.client as mqtt

from cse.constants import Operation
from ocpp_adapter.cse_client import RVI, CSEClient, Query, Reply

CONNECT_TIMEOUT = 10.0
QOS = 1


class MqttClient(CSEClient):
    def __init__(self, broker_url: str, cse_id: str, originator: str, timeout: float = 30.0):
        address = urlparse(broker_url)
        if address.scheme != "mqtt" or not address.hostname:
            raise ValueError(f"broker URL must be mqtt://host:port, got {broker_url!r}")
        self.host, self.port = address.hostname, address.port or 1883
        self.cse_id = cse_id.strip("/").replace("/", ":")
        self.originator = originator
        self.timeout = timeout
        self._waiting: dict[str, asyncio.Future] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Event | None = None
        self._client: mqtt.Client | None = None

    async def connect(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"{self.originator}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.connect(self.host, self.port, keepalive=30)
        client.loop_start()
        self._client = client
        await asyncio.wait_for(self._ready.wait(), CONNECT_TIMEOUT)

    async def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(
                [
                    (f"/oneM2M/resp/{self.originator}/{self.cse_id}/json", QOS),
                    (f"/oneM2M/reg_resp/{self.originator}/{self.cse_id}/json", QOS),
                ]
            )

    def _on_subscribe(self, *_args: Any) -> None:
        assert self._loop is not None and self._ready is not None
        self._loop.call_soon_threadsafe(self._ready.set)

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        try:
            response = orjson.loads(message.payload)
        except orjson.JSONDecodeError:
            return
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._answered, response)

    def _answered(self, response: Any) -> None:
        if not isinstance(response, dict):
            return
        future = self._waiting.pop(str(response.get("rqi")), None)
        if future is not None and not future.done():
            future.set_result(response)

    async def send(
        self,
        op: Operation,
        to: str,
        origin: str,
        *,
        ty: int | None = None,
        pc: dict[str, Any] | None = None,
        rcn: int | None = None,
        query: Query | None = None,
    ) -> Reply:
        assert self._client is not None and self._loop is not None, "connect() first"
        rqi = "dev-" + uuid.uuid4().hex
        body: dict[str, Any] = {"op": int(op), "to": to, "fr": origin, "rqi": rqi, "rvi": RVI}
        for name, value in (("ty", ty), ("pc", pc), ("rcn", rcn)):
            if value is not None:
                body[name] = value
        if query:
            body["fc"] = dict(query)
        kind = "reg_req" if op == Operation.CREATE and ty == 2 else "req"
        future = self._loop.create_future()
        self._waiting[rqi] = future
        topic = f"/oneM2M/{kind}/{origin}/{self.cse_id}/json"
        self._client.publish(topic, orjson.dumps(body), qos=QOS)
        try:
            response = await asyncio.wait_for(future, self.timeout)
        finally:
            self._waiting.pop(rqi, None)
        return Reply.received(response.get("rsc"), response.get("pc"))
