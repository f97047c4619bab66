"""Interlocks: fire alarms and grid feeds act on the chargers of their site or feeder.

The service is the AE `interlocks` (AE-ID `Cinterlocks`) and learns about devices as any AE
would: it discovers fire alarms and grid feeds by label, subscribes to the CSEBase for new
device AEs and to each device's reading container, and takes the notifications on its own
HTTP endpoint. Chargers belong to a site and a feeder through the labels `site:<site>` and
`feeder:<feeder>` of their AE.

- An active alarm in site X: RemoteStopTransaction for every running session on the
  chargers of X, then ChangeAvailability Inoperative (each charger on its own task, so one
  that does not answer delays no other); Authorize/StartTransaction there are Blocked
  while any alarm of the site is active; Operative again when the last one clears.
- An overload window on feeder F: with policy `block`, sessions on F's chargers are
  refused for the window; with `limit`, F's chargers get a TxDefaultProfile limited to the
  window's power for the window, cleared after it. Surge windows price the energy of F's
  chargers inside them at tariff x factor (`TariffSource.charger_surges`).

Every action is a content instance of `interlocks/actions`, written after the calls were
sent. After a restart the state is read back from the devices' latest readings, and an
alarm that is still active is enforced again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ocpp_adapter.billing import SurgeWindow
from ocpp_adapter.cse_client import CSEClient
from ocpp_adapter.devices import (
    ALARM_CONTAINER,
    FEEDER_PREFIX,
    FIRE_ALARM_LABEL,
    FORECAST_CONTAINER,
    GRID_FEED_LABEL,
    SITE_PREFIX,
    GridForecast,
    MalformedReading,
    OverloadWindow,
    label_value,
    parse_alarm,
    parse_forecast,
)
from ocpp_adapter.notification_receiver import NotificationReceiver
from ocpp_adapter.tree import (
    BASE,
    CHARGER_API,
    EVCS_AEI,
    TY_ACP,
    TY_AE,
    TY_CIN,
    TY_CNT,
    add_instance,
)

if TYPE_CHECKING:
    from ocpp_adapter.server import OcppAdapter

log = logging.getLogger("citycse.ocpp.interlocks")

INTERLOCKS_RN = "interlocks"
INTERLOCKS_AEI = "Cinterlocks"
INTERLOCKS_API = "Ncitycse.interlocks"
INTERLOCKS = f"{BASE}/{INTERLOCKS_RN}"
ACTIONS = f"{INTERLOCKS}/actions"
SUBSCRIPTION_RN = "interlocks-sub"
TY_SUB = 23
NET_UPDATE = 1
NET_CREATE_CHILD = 3
OVERLOAD_POLICIES = ("block", "limit")
MAPPING_REFRESH_SECONDS = 10.0
WATCH_RETRY_SECONDS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
ALL_RIGHTS = 63


@dataclass(slots=True)
class Device:
    kind: str  # "fire-alarm" or "grid-feed"
    aei: str
    path: str
    area: str  # the site of a fire alarm, the feeder of a grid feed
    container_ri: str = ""


@dataclass(slots=True)
class FeederState:
    forecasts: dict[str, GridForecast] = field(default_factory=dict)
    surges: set[SurgeWindow] = field(default_factory=set)
    limited: bool = False
    timer: asyncio.TimerHandle | None = None


def _created(rsc: int) -> bool:
    return rsc in (2001, 4105, 4117)


class InterlockService:
    def __init__(self, adapter: OcppAdapter, overload_policy: str = "block") -> None:
        if overload_policy not in OVERLOAD_POLICIES:
            raise ValueError(f"overload policy must be one of {OVERLOAD_POLICIES}")
        self.adapter = adapter
        self.client: CSEClient = adapter.client
        self.overload_policy = overload_policy
        self.receiver = NotificationReceiver(self._notified)
        self.devices: dict[str, Device] = {}  # by reading container ri
        self.active_alarms: dict[str, set[str]] = {}  # site -> alarm container ris
        self.feeders: dict[str, FeederState] = {}
        self.charger_site: dict[str, str] = {}
        self.charger_feeder: dict[str, str] = {}
        self._tasks: set[asyncio.Task] = set()
        self._watching: set[str] = set()
        self._followed: set[str] = set()  # charger AEs we subscribed to
        self._locked: set[str] = set()  # chargers stopped and locked by an alarm

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        await self._ensure_own_tree()
        await self.receiver.start()
        await self._subscribe(BASE, chty=[TY_AE])
        await self.refresh_chargers()
        sessions = self.adapter.sessions
        assert sessions is not None
        await sessions.recover_running()
        sessions.charging_refusal = self.refusal
        await self._discover_devices(recovering=True)
        sessions.tariffs.charger_surges = self.surges_for
        self._spawn(self._refresh_loop())
        log.info(
            "event=interlocks_started devices=%d locked_sites=%s endpoint=%s",
            len(self.devices),
            sorted(self.locked_sites()),
            self.receiver.url.rsplit("/", 1)[0],  # not the secret path
        )

    async def stop(self) -> None:
        await self.receiver.stop()
        for state in self.feeders.values():
            if state.timer is not None:
                state.timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event=interlock_task_failed error=%r", task.exception())

    async def _ensure_own_tree(self) -> None:
        origin = INTERLOCKS_AEI
        ae = {"rn": INTERLOCKS_RN, "api": INTERLOCKS_API, "rr": False, "srv": ["3"]}
        reply = await self.client.create(BASE, origin, TY_AE, "m2m:ae", ae)
        if not _created(reply.rsc):
            raise RuntimeError(f"cannot register the interlocks AE: {reply.rsc} {reply.pc}")
        members = [self.adapter.config.admin_originator, origin]
        policy = {
            "rn": "acp",
            "pv": {"acr": [{"acor": members, "acop": ALL_RIGHTS}]},
            "pvs": {"acr": [{"acor": members, "acop": ALL_RIGHTS}]},
        }
        await self.client.create(INTERLOCKS, origin, TY_ACP, "m2m:acp", policy)
        acp = await self.client.retrieve(f"{INTERLOCKS}/acp", origin)
        acp_ri = acp.resource("m2m:acp")["ri"]
        container = {"rn": "actions", "acpi": [acp_ri], "mni": 100000}
        reply = await self.client.create(INTERLOCKS, origin, TY_CNT, "m2m:cnt", container)
        if not _created(reply.rsc):
            raise RuntimeError(f"cannot create {ACTIONS}: {reply.rsc} {reply.pc}")

    # -- discovery and subscriptions ------------------------------------------------------

    async def _discover(
        self, query: dict[str, Any], origin: str = INTERLOCKS_AEI
    ) -> list[dict[str, Any]]:
        reply = await self.client.retrieve(BASE, origin, rcn=8, query=query)
        if not reply.ok:
            log.warning("event=discovery_failed query=%s rsc=%s", query, reply.rsc)
            return []
        return reply.children("m2m:cb", "m2m:ae")

    async def _discover_devices(self, recovering: bool = False) -> None:
        for label in (FIRE_ALARM_LABEL, GRID_FEED_LABEL):
            for ae in await self._discover({"ty": TY_AE, "lbl": label}):
                if ae.get("ri") not in self._watching:
                    await self._watch(ae, recovering)

    async def _subscribe(
        self,
        target: str,
        chty: list[int] | None = None,
        net: int = NET_CREATE_CHILD,
        origin: str = INTERLOCKS_AEI,
        quiet: bool = False,
    ) -> bool:
        """Our subscription on `target`, pointing at this process's endpoint."""
        enc: dict[str, Any] = {"net": [net]}
        if chty:
            enc["chty"] = chty
        attrs = {"rn": SUBSCRIPTION_RN, "nu": [self.receiver.url], "enc": enc, "nct": 1}
        reply = await self.client.create(target, origin, TY_SUB, "m2m:sub", attrs)
        if reply.rsc == 4105:
            reply = await self.client.update(
                f"{target}/{SUBSCRIPTION_RN}", origin, "m2m:sub", {"nu": [self.receiver.url]}
            )
        if not reply.ok and not quiet:
            log.warning("event=subscribe_failed target=%s rsc=%s pc=%s", target, reply.rsc,
                        reply.pc)  # fmt: skip
        return reply.ok

    async def _watch(self, ae: dict[str, Any], recovering: bool = False, attempt: int = 0) -> None:
        """Follow a device AE: subscribe to its reading container and apply its state."""
        labels = ae.get("lbl") or []
        if FIRE_ALARM_LABEL in labels:
            kind, container, area = "fire-alarm", ALARM_CONTAINER, label_value(labels, SITE_PREFIX)
        elif GRID_FEED_LABEL in labels:
            kind, container = "grid-feed", FORECAST_CONTAINER
            area = label_value(labels, FEEDER_PREFIX)
        else:
            return
        if area is None or ae.get("ri") in self._watching:
            return
        self._watching.add(ae["ri"])
        device = Device(kind, ae.get("aei", ""), f"{BASE}/{ae['rn']}/{container}", area)
        reply = await self.client.retrieve(device.path, INTERLOCKS_AEI)
        if not reply.ok or not await self._subscribe(device.path, quiet=True):
            # A device that just registered has not yet made its container or given us
            # access: try again shortly (the periodic discovery is the last resort).
            self._watching.discard(ae["ri"])
            if attempt < len(WATCH_RETRY_SECONDS):
                await asyncio.sleep(WATCH_RETRY_SECONDS[attempt])
                await self._watch(ae, recovering, attempt + 1)
            else:
                log.warning("event=device_unreadable path=%s rsc=%s", device.path, reply.rsc)
            return
        device.container_ri = reply.resource("m2m:cnt")["ri"]
        self.devices[device.container_ri] = device
        log.info("event=device_watched kind=%s aei=%s area=%s", kind, device.aei, area)
        if kind == "grid-feed":
            readings = await self._instances(device.path)
            for cin in readings:
                self._take_forecast(device, cin, act=False)
            self._apply_feeder(device.area, trigger=(device, readings[-1]) if readings else None)
        else:
            found = await self._instances(device.path, latest_only=True)
            if found:
                # On its own task: a charger that does not answer must not hold up the start.
                self._spawn(self._take_alarm(device, found[-1], recovering=recovering))

    async def _instances(self, path: str, latest_only: bool = False) -> list[dict[str, Any]]:
        if latest_only:
            reply = await self.client.retrieve(f"{path}/la", INTERLOCKS_AEI)
            return [reply.resource("m2m:cin")] if reply.ok else []
        reply = await self.client.retrieve(path, INTERLOCKS_AEI, rcn=8, query={"ty": TY_CIN})
        return reply.children("m2m:cnt", "m2m:cin") if reply.ok else []

    async def refresh_chargers(self) -> None:
        """The site and feeder of every charger, from the labels of the charger AEs (read as
        the charging service, which the chargers' policies let in); each charger AE is
        subscribed to, so that a new assignment is known at once."""
        for ae in await self._discover({"ty": TY_AE, "api": CHARGER_API}, EVCS_AEI):
            self._place_charger(ae)
            if ae.get("ri") not in self._followed:
                await self._follow_charger(ae)

    async def _follow_charger(self, ae: dict[str, Any], attempt: int = 0) -> None:
        """Subscribe to a charger AE's updates, then place it as it is now. A charger AE
        that was just created may not have its policy yet: try again shortly."""
        self._followed.add(ae["ri"])
        path = f"{BASE}/{ae['rn']}"
        if await self._subscribe(path, net=NET_UPDATE, origin=EVCS_AEI, quiet=True):
            current = await self.client.retrieve(path, EVCS_AEI)
            if current.ok:
                self._place_charger(current.resource("m2m:ae"))
            return
        if attempt < len(WATCH_RETRY_SECONDS):
            await asyncio.sleep(WATCH_RETRY_SECONDS[attempt])
            await self._follow_charger(ae, attempt + 1)
        else:
            self._followed.discard(ae["ri"])
            log.warning("event=charger_not_followed path=%s", path)

    def _place_charger(self, ae: dict[str, Any]) -> None:
        """Site and feeder of one charger from its AE; a charger that joins a site in alarm
        is stopped and locked, one that joins a feeder under a power limit is limited."""
        cp_id = label_value(ae.get("lbl"), "chargePoint:")
        if cp_id is None:
            return
        feeder_before = self.charger_feeder.get(cp_id)
        places = ((self.charger_site, SITE_PREFIX), (self.charger_feeder, FEEDER_PREFIX))
        for mapping, prefix in places:
            value = label_value(ae.get("lbl"), prefix)
            if value is None:
                mapping.pop(cp_id, None)
            else:
                mapping[cp_id] = value
        site = self.charger_site.get(cp_id)
        if site is not None and self.active_alarms.get(site) and cp_id not in self._locked:
            why = f"charger joined site {site}, which is in alarm"
            self._spawn(self._lock_chargers(site, [cp_id], None, why))
        feeder = self.charger_feeder.get(cp_id)
        if feeder is not None and feeder != feeder_before:
            self._limit_if_overloaded(cp_id, feeder)

    def _limit_if_overloaded(self, cp_id: str, feeder: str) -> None:
        """A charger that joins (or reconnects in) a feeder under a power limit gets it."""
        window = self._overload_now(feeder)
        if self.overload_policy == "limit" and window is not None:
            self._spawn(self._limit_feeder(feeder, window, None, chargers=[cp_id]))

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(MAPPING_REFRESH_SECONDS)
            try:
                await self.refresh_chargers()
                await self._discover_devices()
            except Exception:  # noqa: BLE001 - retried at the next round
                log.exception("event=charger_refresh_failed")

    def charger_connected(self, cp_id: str) -> None:
        """A charger (re)connected: if its site is in alarm, stop and lock it again."""
        site = self.charger_site.get(cp_id)
        if site is not None and self.active_alarms.get(site):
            why = f"fire alarm active in site {site} (charger reconnected)"
            self._spawn(self._lock_chargers(site, [cp_id], None, why))
        feeder = self.charger_feeder.get(cp_id)
        if feeder is not None:
            self._limit_if_overloaded(cp_id, feeder)

    # -- notifications --------------------------------------------------------------------

    def _notified(self, body: dict[str, Any]) -> None:
        notification = body.get("m2m:sgn")
        if not isinstance(notification, dict) or notification.get("vrq"):
            return
        representation = (notification.get("nev") or {}).get("rep") or {}
        ae = representation.get("m2m:ae")
        if isinstance(ae, dict):
            if label_value(ae.get("lbl"), "chargePoint:") is None:
                self._spawn(self._watch(ae))
                return
            self._place_charger(ae)
            if ae.get("ri") not in self._followed:
                self._spawn(self._follow_charger(ae))
            return
        cin = representation.get("m2m:cin")
        if not isinstance(cin, dict):
            return
        device = self.devices.get(cin.get("pi", ""))
        if device is None:
            return
        if device.kind == "fire-alarm":
            self._spawn(self._take_alarm(device, cin))
        else:
            self._take_forecast(device, cin, act=True)

    # -- fire alarms ----------------------------------------------------------------------

    def locked_sites(self) -> set[str]:
        return {site for site, alarms in self.active_alarms.items() if alarms}

    def refusal(self, cp_id: str) -> str | None:
        """Why a session may not start on the charger now, or None."""
        site = self.charger_site.get(cp_id)
        if site is not None and self.active_alarms.get(site):
            return f"fire alarm in site {site}"
        feeder = self.charger_feeder.get(cp_id)
        if feeder is not None and self.overload_policy == "block":
            window = self._overload_now(feeder)
            if window is not None:
                return f"grid overload on feeder {feeder}"
        return None

    async def _take_alarm(
        self, device: Device, cin: dict[str, Any], recovering: bool = False
    ) -> None:
        try:
            reading = parse_alarm(cin.get("con"))
        except MalformedReading as exc:
            await self._audit("ignored-reading", str(exc), device, cin, {})
            return
        site = device.area
        alarms = self.active_alarms.setdefault(site, set())
        was_locked = bool(alarms)
        if reading.active:
            alarms.add(device.container_ri)
        else:
            alarms.discard(device.container_ri)
        why = f"fire alarm {'active' if reading.active else 'clear'} in site {site}"
        if reading.detail:
            why += f": {reading.detail}"
        if reading.active:
            chargers = self._chargers_in(self.charger_site, site)
            await self._lock_chargers(site, chargers, (device, cin), why, recovering)
        elif was_locked and not alarms:
            chargers = self._chargers_in(self.charger_site, site)
            await self._unlock_chargers(site, chargers, (device, cin), why)
        else:
            await self._audit("alarm-noted", why, device, cin, {}, site=site)

    @staticmethod
    def _chargers_in(mapping: dict[str, str], area: str) -> list[str]:
        return [cp_id for cp_id, value in mapping.items() if value == area]

    async def _lock_chargers(
        self,
        site: str,
        chargers: list[str],
        trigger: tuple[Device, dict[str, Any]] | None,
        why: str,
        recovering: bool = False,
    ) -> None:
        began = time.perf_counter()
        tasks = [self._spawn(self._stop_and_lock(cp_id, why)) for cp_id in chargers]
        # Each task runs up to its first wait, the charger's answer: after one turn of the
        # loop every first call (RemoteStop, or Inoperative when nothing runs) is sent.
        await asyncio.sleep(0)
        sent_ms = round((time.perf_counter() - began) * 1000, 3)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        outcome = dict(zip(chargers, map(_outcome, results), strict=True))
        action = "recovered-lock" if recovering else "fire-alarm-lock"
        device, cin = trigger if trigger is not None else (None, None)
        await self._audit(
            action, why, device, cin, outcome, site=site, extra={"firstCallsSentMs": sent_ms}
        )

    async def _stop_and_lock(self, cp_id: str, why: str) -> dict[str, Any]:
        """RemoteStop for each running session first (ChangeAvailability alone lets a
        running session go on), then Inoperative."""
        self._locked.add(cp_id)
        sessions = self.adapter.sessions
        assert sessions is not None
        commands = self.adapter.commands
        stops = []
        for transaction_id in sessions.running_transactions(cp_id):
            record = await commands.send(
                cp_id, "RemoteStopTransaction", {"transactionId": transaction_id}, why,
                INTERLOCKS_AEI,
            )  # fmt: skip
            stops.append({"transactionId": transaction_id, **_brief(record)})
        record = await commands.send(
            cp_id, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}, why,
            INTERLOCKS_AEI,
        )  # fmt: skip
        return {"remoteStops": stops, "availability": _brief(record)}

    async def _unlock_chargers(
        self, site: str, chargers: list[str], trigger: tuple[Device, dict[str, Any]], why: str
    ) -> None:
        commands = self.adapter.commands
        self._locked.difference_update(chargers)
        tasks = [
            self._spawn(
                commands.send(
                    cp_id, "ChangeAvailability", {"connectorId": 0, "type": "Operative"}, why,
                    INTERLOCKS_AEI,
                )
            )
            for cp_id in chargers
        ]  # fmt: skip
        results = await asyncio.gather(*tasks, return_exceptions=True)
        outcome = {
            cp_id: {"availability": _outcome(result)}
            for cp_id, result in zip(chargers, results, strict=True)
        }
        await self._audit("fire-alarm-clear", why, trigger[0], trigger[1], outcome, site=site)

    # -- grid feeds -----------------------------------------------------------------------

    def surges_for(self, cp_id: str) -> tuple[SurgeWindow, ...]:
        feeder = self.charger_feeder.get(cp_id)
        state = self.feeders.get(feeder) if feeder is not None else None
        return tuple(state.surges) if state is not None else ()

    def _overload_now(self, feeder: str) -> OverloadWindow | None:
        state = self.feeders.get(feeder)
        if state is None:
            return None
        moment = time.time()
        windows = [f.overload_at(moment) for f in state.forecasts.values()]
        return min((w for w in windows if w is not None), key=lambda w: w.limit_w, default=None)

    def _take_forecast(self, device: Device, cin: dict[str, Any], act: bool) -> None:
        """Surge windows accumulate (energy already delivered stays priced by them); the
        overload windows of a feed are those of its latest reading."""
        try:
            forecast = parse_forecast(cin.get("con"))
        except MalformedReading as exc:
            if act:
                self._spawn(self._audit("ignored-reading", str(exc), device, cin, {}))
            return
        state = self.feeders.setdefault(device.area, FeederState())
        state.forecasts[device.container_ri] = forecast
        state.surges.update(forecast.surges)
        if act:
            why = (
                f"grid forecast for feeder {device.area}: {len(forecast.overloads)} overload "
                f"and {len(forecast.surges)} surge window(s)"
            )
            self._spawn(self._audit("forecast-taken", why, device, cin, {}, feeder=device.area))
            self._apply_feeder(device.area, trigger=(device, cin))

    def _apply_feeder(self, feeder: str, trigger: tuple[Device, dict[str, Any]] | None) -> None:
        """Bring the feeder's chargers to the state of now, and wake up at the next edge."""
        state = self.feeders.setdefault(feeder, FeederState())
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        window = self._overload_now(feeder)
        moment = time.time()
        edges = [t for f in state.forecasts.values() for t in f.edges_after(moment)]
        if edges:
            delay = max(min(edges) - moment, 0) + 0.01
            loop = asyncio.get_running_loop()
            state.timer = loop.call_later(delay, self._apply_feeder, feeder, trigger)
        if self.overload_policy == "block":
            changed = (window is not None) != state.limited
            state.limited = window is not None
            if changed and trigger is not None:
                why = f"grid overload {'started' if window else 'ended'} on feeder {feeder}"
                action = "overload-block" if window else "overload-unblock"
                self._spawn(self._audit(action, why, trigger[0], trigger[1], {}, feeder=feeder))
            return
        if window is None and not state.limited:
            return
        state.limited = window is not None
        self._spawn(self._limit_feeder(feeder, window, trigger))

    async def _limit_feeder(
        self,
        feeder: str,
        window: OverloadWindow | None,
        trigger: tuple[Device, dict[str, Any]] | None,
        chargers: list[str] | None = None,
    ) -> None:
        """Limit (or clear the limit of) the feeder's chargers, or of `chargers` only."""
        if chargers is None:
            chargers = self._chargers_in(self.charger_feeder, feeder)
        commands = self.adapter.commands
        if window is not None:
            action, why = "overload-limit", f"grid overload on feeder {feeder}"
            request = _limit_profile(window.limit_w)
            call = "SetChargingProfile"
        else:
            action, why = "overload-clear", f"grid overload over on feeder {feeder}"
            request = {"id": LIMIT_PROFILE_ID}
            call = "ClearChargingProfile"
        tasks = [
            self._spawn(commands.send(cp_id, call, request, why, INTERLOCKS_AEI))
            for cp_id in chargers
        ]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        outcome = {cp: {"profile": _outcome(r)} for cp, r in zip(chargers, results, strict=True)}
        device, cin = trigger if trigger is not None else (None, None)
        await self._audit(action, why, device, cin, outcome, feeder=feeder)

    # -- audit ----------------------------------------------------------------------------

    async def _audit(
        self,
        action: str,
        why: str,
        device: Device | None,
        cin: dict[str, Any] | None,
        chargers: dict[str, Any],
        site: str | None = None,
        feeder: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        con: dict[str, Any] = {"action": action, "why": why, "at": time.time(), **(extra or {})}
        labels = [f"action:{action}"]
        if device is not None and cin is not None:
            con["trigger"] = {
                "resource": cin.get("ri"),
                "container": device.path,
                "device": device.aei,
                "con": cin.get("con"),
            }
            labels.append(f"trigger:{cin.get('ri')}")
        if site is not None:
            con["site"] = site
            labels.append(f"site:{site}")
        if feeder is not None:
            con["feeder"] = feeder
            labels.append(f"feeder:{feeder}")
        con["chargers"] = chargers
        log.info("event=interlock action=%s why=%r chargers=%d", action, why, len(chargers))
        try:
            await add_instance(self.client, ACTIONS, INTERLOCKS_AEI, con, labels=labels)
        except Exception:  # noqa: BLE001 - the action was taken; a lost record is logged
            log.exception("event=interlock_not_recorded action=%s", action)


LIMIT_PROFILE_ID = 7001
LIMIT_STACK_LEVEL = 9


def _limit_profile(limit_w: Any) -> dict[str, Any]:
    """A TxDefaultProfile for every connector (connector 0) capping power at `limit_w`."""
    return {
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": LIMIT_PROFILE_ID,
            "stackLevel": LIMIT_STACK_LEVEL,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": float(limit_w)}],
            },
        },
    }


def _brief(record: dict[str, Any]) -> dict[str, Any]:
    brief = {"status": record.get("status")}
    if "response" in record:
        brief["response"] = record["response"]
    if "error" in record:
        brief["error"] = record["error"]
    return brief


def _outcome(result: Any) -> Any:
    if isinstance(result, BaseException):
        return {"status": "failed", "error": f"{type(result).__name__}: {result}"}
    return _brief(result) if "action" in result else result
