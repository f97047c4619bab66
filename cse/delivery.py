"""The notification service: delivers the outbox over HTTP after commit, with retries.

One sender task per target keeps that target's order and keeps a slow or dead target from
delaying any other. What queued up for a plain `http://` target while its last requests
were out is sent in one pipeline on one connection, answered in order; when the target
fails one of them, that one backs off and the ones behind it are released, to be sent again
after it (at-least-once, same request ids). Outcomes are written back in batches. AEs that
cannot be reached by request pick their notifications up from the event stream or a polling
channel."""

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson

from cse import outbox
from cse.access import AccessControl
from cse.constants import Permission
from cse.constants import ResponseStatusCode as RSC
from cse.errors import BadRequest, M2MError
from cse.events import normalize_target, subscription_reference
from cse.http_client import HttpClientError, PlainHttpClient, header_lines
from cse.resource import Resource
from cse.settings import Settings
from cse.storage import Storage, repository
from cse.timestamps import now
from resources.sub import is_url

log = logging.getLogger("citycse.notifications")

CLAIM_LIMIT = 1000
PIPELINE_DEPTH = 32
"""At most this many requests to one target are out at once (plain http:// only)."""
PIPELINE_LINGER_SECONDS = 0.001
"""While a burst to a target goes on, its sender waits this long before its next pipeline,
so that one write and one wake-up carry more notifications; the first notification of a
burst goes out at once."""
POLL_SECONDS = 1.0
SETTLE_GATHER_SECONDS = 0.01
"""Outcomes are written at most this often, all that came meanwhile in one write (a crash
before it only means that those notifications are sent again, with their request ids)."""
PRUNE_EVERY_SECONDS = 60.0
BACKOFF_FIRST_SECONDS = 0.5
HTTP_SCHEMES = ("http://", "https://")


class DeliveryFailed(Exception):
    """The target did not take the notification."""


class Refused(DeliveryFailed):
    """The target answered that the subscriber may not notify it (4101/4103, HTTP 403)."""


SEND_ERRORS = (httpx.HTTPError, DeliveryFailed, OSError, TimeoutError)
Transport = Callable[[str, str, dict[str, Any], str], Awaitable[None]]
Unit = list[outbox.Notification]
"""What goes out as one request: a notification, or a batch (`bn`) of them."""


def _answer_error(status: int, rsc: str, target: str) -> DeliveryFailed | None:
    if status == 403 or rsc in ("4101", "4103"):
        return Refused(f"{target} refused: HTTP {status} rsc {rsc or '-'}")
    if not 200 <= status < 300:
        return DeliveryFailed(f"HTTP {status}")
    return None


def _check_answer(status: int, rsc: str, target: str) -> None:
    error = _answer_error(status, rsc, target)
    if error is not None:
        raise error


def _unit_body(unit: Unit) -> dict[str, Any]:
    if len(unit) == 1:
        return unit[0].body
    return {"m2m:agn": {"m2m:sgn": [item.body["m2m:sgn"] for item in unit]}}


def _unit_payload(unit: Unit) -> bytes:
    return unit[0].payload if len(unit) == 1 else orjson.dumps(_unit_body(unit))


class NotificationService:
    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage
        self.totals = {"delivered": 0, "retried": 0, "dropped": 0}
        self._client: httpx.AsyncClient | None = None  # https:// targets
        self._plain = PlainHttpClient(settings.notification_timeout_seconds)
        self._fixed_headers = {
            "X-M2M-Origin": settings.csi,
            "X-M2M-RVI": "3",
            "Content-Type": "application/json",
        }
        self._fixed_header_lines = header_lines(self._fixed_headers)
        self._wake = asyncio.Event()
        self._queues: dict[str, deque[outbox.Notification]] = {}
        self._senders: dict[str, asyncio.Task] = {}
        self._outcomes: list[tuple[str, outbox.Notification, str]] = []
        self._outcome_ready = asyncio.Event()
        self._pickup_waiters: set[asyncio.Event] = set()
        self._tasks: list[asyncio.Task] = []
        self._transports: dict[str, Transport] = {}

    def register_transport(self, scheme: str, transport: "Transport") -> None:
        """Deliver to `scheme://` URLs through another binding (MQTT)."""
        self._transports[scheme] = transport

    def _can_send(self, url: str) -> bool:
        return url.startswith(HTTP_SCHEMES) or url.split("://", 1)[0] in self._transports

    async def _send(self, url: str, target: str, body: dict[str, Any], rqi: str) -> None:
        """Send one notification; raises DeliveryFailed or a transport error on failure."""
        if url.startswith(HTTP_SCHEMES):
            status, rsc = await self._post(url, body, rqi)
            _check_answer(status, rsc, target)
            return
        transport = self._transports.get(url.split("://", 1)[0])
        if transport is None:
            raise DeliveryFailed(f"no transport for {url}")
        await transport(url, target, body, rqi)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=self.settings.notification_timeout_seconds,
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=512),
        )
        if self.settings.workers == 1:
            await self.storage.write(outbox.reset_leases)
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="notification-claims"),
            asyncio.create_task(self._settle_loop(), name="notification-outcomes"),
        ]

    async def stop(self) -> None:
        for task in [*self._tasks, *self._senders.values()]:
            task.cancel()
        for task in [*self._tasks, *self._senders.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._flush_outcomes()
        if self._client is not None:
            await self._client.aclose()
        await self._plain.close()

    def deliver(self, items: list[outbox.Notification]) -> None:
        """Send notifications leased to this process by a transaction that has committed."""
        for item in items:
            self._enqueue(item)

    def committed(self) -> None:
        """Called after a transaction that wrote notifications has committed."""
        self._wake.set()
        for waiter in list(self._pickup_waiters):
            waiter.set()

    # -- verification (TS-0004 7.5.1.2.3) ----------------------------------------------

    async def verify_targets(
        self, subscription: Resource, originator: str, access: AccessControl
    ) -> None:
        """Check every target that is not the subscriber itself (TS-0004 7.4.8.2.1): an AE
        of this CSE must grant the subscriber NOTIFY (else 4101); a reachable target gets
        the verification request, and an unreachable one or a refusal fails the create."""
        creator = normalize_target(originator, self.settings)
        body = {
            "m2m:sgn": {
                "vrq": True,
                "sur": subscription_reference(self.settings, subscription),
                "cr": originator,
            }
        }
        for raw in subscription.attrs.get("nu", []):
            target = normalize_target(raw, self.settings)
            if target == creator:
                continue
            if is_url(target) and not self._can_send(target):
                raise BadRequest(
                    f"notification target {raw!r}: this CSE has no transport for "
                    "its scheme (mqtt:// needs the MQTT binding, --mqtt)"
                )
            if not is_url(target):
                await self._check_notify_privilege(target, originator, raw, access)
            urls = await self._urls_for(target)
            if urls:
                await self._verify(urls[0], target, body, raw)

    async def _check_notify_privilege(
        self, target: str, originator: str, raw: str, access: AccessControl
    ) -> None:
        ae = await self.storage.read(repository.get_by_ri, target)
        if ae is None:
            raise M2MError(
                f"notification target {raw} is not an AE of this CSE",
                RSC.SUBSCRIPTION_VERIFICATION_INITIATION_FAILED,
            )
        if not await access.allowed(originator, ae, Permission.NOTIFY):
            raise M2MError(
                f"{originator} has no NOTIFY privilege on notification target {raw}",
                RSC.SUBSCRIPTION_CREATOR_HAS_NO_PRIVILEGE,
            )

    async def _verify(self, url: str, target: str, body: dict[str, Any], raw: str) -> None:
        try:
            await self._send(url, target, body, outbox.new_request_id())
        except Refused:
            raise M2MError(
                f"notification target {raw} refused the subscription",
                RSC.SUBSCRIPTION_CREATOR_HAS_NO_PRIVILEGE,
            ) from None
        except SEND_ERRORS as exc:
            raise M2MError(
                f"verification of notification target {raw} failed: {exc}",
                RSC.SUBSCRIPTION_VERIFICATION_INITIATION_FAILED,
            ) from None

    # -- delivery ----------------------------------------------------------------------

    async def _urls_for(self, target: str) -> list[str]:
        if is_url(target):
            return [target]
        ae = await self.storage.read(repository.get_by_ri, target)
        if ae is None or not ae.attrs.get("rr"):
            return []
        return [p for p in ae.attrs.get("poa", []) if is_url(p) and self._can_send(p)]

    def _headers(self, rqi: str) -> dict[str, str]:
        return {**self._fixed_headers, "X-M2M-RI": rqi}

    def _header_lines(self, rqi: str) -> bytes:
        """`_headers(rqi)` as they go on the wire."""
        return b"%sX-M2M-RI: %s\r\n" % (self._fixed_header_lines, rqi.encode("latin-1"))

    async def _post(self, url: str, body: dict[str, Any], rqi: str) -> tuple[int, str]:
        """POST a notification; returns the HTTP status and the X-M2M-RSC of the answer."""
        headers = self._headers(rqi)
        if url.startswith("http://"):
            answer = await self._plain.post(url, orjson.dumps(body), headers)
            return answer.status, answer.rsc
        assert self._client is not None
        response = await self._client.post(url, content=orjson.dumps(body), headers=headers)
        return response.status_code, response.headers.get("x-m2m-rsc", "")

    async def _claim_loop(self) -> None:
        last_prune = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
            try:
                while True:
                    claimed = await self.storage.write(
                        outbox.claim_due, now(), outbox.LEASE_SECONDS, CLAIM_LIMIT
                    )
                    for item in claimed:
                        self._enqueue(item)
                    if len(claimed) < CLAIM_LIMIT:
                        break
                if now() - last_prune > PRUNE_EVERY_SECONDS:
                    last_prune = now()
                    retention = self.settings.notification_retention_seconds
                    await self.storage.write(outbox.prune, now() - retention)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event=notification_claim_failed")

    def _enqueue(self, item: outbox.Notification) -> None:
        queue = self._queues.get(item.target)
        if queue is None:
            queue = self._queues[item.target] = deque()
        queue.append(item)
        if item.target not in self._senders:
            self._senders[item.target] = asyncio.create_task(self._sender(item.target))

    async def _sender(self, target: str) -> None:
        """Deliver one target's notifications in order until its queue is empty."""
        queue = self._queues[target]
        burst_going_on = False
        try:
            while queue:
                if burst_going_on and len(queue) < PIPELINE_DEPTH:
                    await asyncio.sleep(PIPELINE_LINGER_SECONDS)
                burst_going_on = True
                units = []
                while queue and len(units) < PIPELINE_DEPTH:
                    unit = [queue.popleft()]
                    while unit[0].batch_key and queue and queue[0].batch_key == unit[0].batch_key:
                        unit.append(queue.popleft())
                    units.append(unit)
                if not await self._deliver(target, units):
                    while queue:
                        self._outcome("release", queue.popleft(), "")
                    return
        finally:
            self._senders.pop(target, None)
            self._queues.pop(target, None)

    async def _deliver(self, target: str, units: list[Unit]) -> bool:
        """Send units in order; False when the target failed and backs off (the units after
        the failed one are released)."""
        try:
            urls = await self._urls_for(target)
        except SEND_ERRORS as exc:
            return self._after_failures(target, units, 0, exc)
        if not urls:
            for unit in units:
                for item in unit:
                    self._outcome("pickup", item, "")
            return True
        if urls[0].startswith("http://"):
            return await self._deliver_pipelined(urls[0], target, units)
        for index, unit in enumerate(units):
            try:
                await self._send(urls[0], target, _unit_body(unit), unit[0].rqi)
            except SEND_ERRORS as exc:
                if not self._failed(target, unit, exc):
                    self._release_units(units[index + 1 :])
                    return False
                continue
            self._delivered(unit)
        return True

    async def _deliver_pipelined(self, url: str, target: str, units: list[Unit]) -> bool:
        requests = [(_unit_payload(unit), self._header_lines(unit[0].rqi)) for unit in units]
        try:
            answers = await self._plain.post_pipelined(url, requests)
        except HttpClientError as exc:
            answers, broken = exc.answers, exc
        else:
            broken = None
        for index, answer in enumerate(answers):
            error = _answer_error(answer.status, answer.rsc, target)
            if error is None:
                self._delivered(units[index])
            elif not self._failed(target, units[index], error):
                self._release_units(units[index + 1 :])
                return False
        if broken is None:
            return True
        return self._after_failures(target, units, len(answers), broken)

    def _after_failures(
        self, target: str, units: list[Unit], start: int, error: BaseException
    ) -> bool:
        """The units from `start` on were not taken, for one reason: drop the ones past
        their retry window, back the first other one off and release the rest."""
        for index in range(start, len(units)):
            if not self._failed(target, units[index], error):
                self._release_units(units[index + 1 :])
                return False
        return True

    def _delivered(self, unit: Unit) -> None:
        for item in unit:
            self._outcome("delivered", item, "")

    def _release_units(self, units: list[Unit]) -> None:
        for unit in units:
            for item in unit:
                self._outcome("release", item, "")

    def _failed(self, target: str, unit: Unit, exc: BaseException) -> bool:
        """Record a failed unit: dropped past the retry window (returns True: go on with
        the next), else retried later (returns False: the target backs off)."""
        first = unit[0]
        error = f"{type(exc).__name__}: {exc}"
        if now() - first.created > self.settings.notification_retry_seconds:
            for item in unit:
                self._outcome("dropped", item, error)
            log.warning(
                "event=notification_dropped target=%s sub=%s id=%d error=%s",
                target,
                first.sub_ri,
                first.id,
                error,
            )
            return True
        self._outcome("retry", first, error)
        for item in unit[1:]:
            self._outcome("release", item, "")
        log.info(
            "event=notification_retry target=%s sub=%s id=%d attempt=%d error=%s",
            target,
            first.sub_ri,
            first.id,
            first.attempts + 1,
            error,
        )
        return False

    # -- outcomes ----------------------------------------------------------------------

    def _outcome(self, kind: str, item: outbox.Notification, error: str) -> None:
        self._outcomes.append((kind, item, error))
        if kind in self.totals:
            self.totals[kind] += 1
        elif kind == "retry":
            self.totals["retried"] += 1
        self._outcome_ready.set()

    async def _settle_loop(self) -> None:
        while True:
            await self._outcome_ready.wait()
            await asyncio.sleep(SETTLE_GATHER_SECONDS)
            self._outcome_ready.clear()
            try:
                await self._flush_outcomes()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event=notification_settle_failed")
                await asyncio.sleep(POLL_SECONDS)

    async def _flush_outcomes(self) -> None:
        if not self._outcomes:
            return
        outcomes, self._outcomes = self._outcomes, []
        await self.storage.write(_settle, outcomes, now(), self._backoff)
        if any(kind == "pickup" for kind, _, _ in outcomes):
            self.committed()

    def _backoff(self, attempts: int) -> float:
        return min(
            BACKOFF_FIRST_SECONDS * 2**attempts, self.settings.notification_backoff_max_seconds
        )

    # -- pickup (event stream, polling channel) ----------------------------------------

    async def wait_for_pickup(self, timeout: float) -> None:
        """Wait until new notifications may be waiting for pickup (or the timeout)."""
        waiter = asyncio.Event()
        self._pickup_waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), timeout)
        finally:
            self._pickup_waiters.discard(waiter)


_COUNTERS = {"delivered": "delivered", "retry": "retried", "dropped": "dropped"}
"""The delivery counter that each outcome adds to."""


def _settle(
    conn, outcomes: list[tuple[str, outbox.Notification, str]], moment: float, backoff
) -> None:  # noqa: ANN001
    by_kind: dict[str, list[int]] = defaultdict(list)
    retries: list[tuple[int, float, str]] = []
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for kind, item, error in outcomes:
        by_kind[kind].append(item.id)
        if kind == "retry":
            retries.append((item.id, moment + backoff(item.attempts), error))
        counter = _COUNTERS.get(kind)
        if counter is not None and item.sub_ri:
            of_subscription = counts[item.sub_ri]
            of_subscription[counter] = of_subscription.get(counter, 0) + 1
    outbox.settle_retry(conn, retries)
    outbox.settle_delivered(conn, by_kind["delivered"], moment)
    dropped_error = next((e for k, _, e in outcomes if k == "dropped"), "")
    outbox.settle_dropped(conn, by_kind["dropped"], moment, dropped_error)
    outbox.release(conn, by_kind["release"])
    outbox.to_pickup(conn, by_kind["pickup"])
    for sub_ri, values in counts.items():
        outbox.count(conn, sub_ri, **values)
