"""Commands to chargers: a contentInstance in `cp-<id>/commands` becomes an OCPP call, and
its outcome becomes a contentInstance in `cp-<id>/results`.

How the adapter hears of new commands: `Cevcs` subscribes to each charger's `commands`
container (`tree.ensure_commands_subscription`) with itself as the notification target.
`Cevcs` is not request-reachable (no `poa`), so the CSE keeps the notifications in its
outbox, and the adapter long-polls its polling channel `evcs/pch/pcu`. That is a plain
oneM2M request, so it works the same through the in-process client (`citycse serve
--ocpp-port`) and over HTTP (`citycse ocpp --cse-url`); it needs no port of the adapter's
own that the CSE must reach, and commands created while the adapter is down wait in the
outbox (and are then refused as `expired` when they have grown too old).

For as long as the age limit after the adapter starts, a command for a charger that is not
connected is held rather than recorded `offline`: chargers reconnect after an adapter
restart, and a command queued during the outage should reach its charger if it is still
young. It runs when the charger connects (`catch_up`), else `offline` when the time is up.

A notification is handed out once; one taken by a poll whose adapter died meanwhile (a
standalone adapter restarted while its long poll was still open at the CSE) is gone. So
when a charger connects, its commands of the last hour that have no result are run too
(`catch_up`); each command runs at most once per process, and not when a result exists.

Inside the adapter, `CommandService.send` is the one way to call a charger (budget cut-off,
interlocks, commands from the tree), so every call is recorded the same way."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from ocpp.exceptions import OCPPError

from cse.errors import M2MError
from cse.timestamps import parse_timestamp, to_timestamp
from ocpp_adapter.calls import CommandRejected
from ocpp_adapter.chargers import Chargers
from ocpp_adapter.cse_client import CSEClient
from ocpp_adapter.per_charger_order import PerChargerOrder
from ocpp_adapter.translation import for_v201
from ocpp_adapter.tree import (
    EVCS_AEI,
    POLLING_CHANNEL,
    TY_CIN,
    charger_id_of_aei,
    charger_path,
    instances,
)

log = logging.getLogger("citycse.ocpp.commands")

DEFAULT_MAX_AGE_SECONDS = 60.0
POLL_OK, POLL_TIMEOUT = 2000, 4008
RETRY_SECONDS = 1.0
COMMANDS_CONTAINER = "commands"
CATCH_UP_SECONDS = 3600.0
V201_SUBPROTOCOL = "ocpp2.0.1"


class ChargerConnection(Protocol):
    """What a charge point object of any OCPP version offers the command service."""

    subprotocol: str

    async def send_call(self, action: str, payload: dict) -> dict: ...


class StationTransactions(Protocol):
    """Where the command service finds a 2.0.1 charger's own transaction ids."""

    async def station_transaction_id(self, cp_id: str, transaction_id: int) -> str | None: ...


def _json_safe(value: Any) -> Any:
    """Answers may carry Decimals (1.6 charging schedules): as JSON numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _error_text(exc: BaseException) -> str:
    """Why a call failed: the code of the charger's CALLERROR (or of its answer's schema
    violation), a timeout, or another transport failure."""
    if isinstance(exc, OCPPError):
        details = exc.details if isinstance(exc.details, dict) else {}
        cause = details.get("cause") or (json.dumps(details, default=str) if details else "")
        return f"{exc.code}: {exc.description}" + (f" ({cause})"[:500] if cause else "")
    if isinstance(exc, TimeoutError):
        return "no answer from the charger in time"
    return f"{type(exc).__name__}: {exc}"


def parse_command(con: Any) -> tuple[str, dict, str | None]:
    """(action, request, reason) of a command's `con`, or CommandRejected."""
    if isinstance(con, str):
        try:
            con = json.loads(con)
        except ValueError:
            raise CommandRejected("the command must be a JSON object") from None
    if not isinstance(con, dict):
        raise CommandRejected("the command must be a JSON object")
    action = con.get("action")
    request = con.get("request", {})
    reason = con.get("reason")
    if not isinstance(action, str) or not action:
        raise CommandRejected("the command needs an action (an OCPP action name)")
    if not isinstance(request, dict):
        raise CommandRejected("request must be a JSON object (the OCPP payload)")
    if reason is not None and not isinstance(reason, str):
        raise CommandRejected("reason must be a string")
    return action, request, reason


class CommandService:
    """Sends calls to connected chargers and records every outcome in their `results`."""

    def __init__(
        self,
        client: CSEClient,
        chargers: Chargers,
        connections: Mapping[str, ChargerConnection],
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
        sessions: StationTransactions | None = None,
    ) -> None:
        self.client = client
        self.chargers = chargers
        self.connections = connections
        self.sessions = sessions
        self.max_age = max_age
        self._watcher: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._containers: dict[str, str | None] = {}  # commands container ri -> cp id
        self._taken: dict[str, float] = {}  # command ri -> when this process took it
        self._order = PerChargerOrder()
        self._started = time.monotonic()
        self._held: list[tuple[str, dict]] = []  # (cp id, command CIN) until chargers are back

    # -- the Python contract --------------------------------------------------------------

    async def send(
        self,
        cp_id: str,
        action: str,
        request: dict,
        reason: str | None,
        requested_by: str | None,
        command: str | None = None,
    ) -> dict:
        """Send `action` to the charger and record the result (see the README's commands
        contract); returns the recorded result."""
        record: dict[str, Any] = {
            "command": command,
            "action": action,
            "request": request,
            "reason": reason,
            "requestedBy": requested_by,
        }
        connection = self.connections.get(cp_id)
        if connection is None:
            record.update(status="offline", error=f"charge point {cp_id} is not connected")
        else:
            try:
                sent_action, sent_request = await self._for_charger(
                    cp_id, connection, action, request
                )
                if (sent_action, sent_request) != (action, request):
                    record["sent"] = {"action": sent_action, "request": _json_safe(sent_request)}
                answer = await connection.send_call(sent_action, sent_request)
                record.update(status="answered", response=_json_safe(answer))
            except CommandRejected as exc:
                record.update(status="rejected", error=str(exc))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - CALLERROR, timeout, closed socket
                record.update(status="failed", error=_error_text(exc))
        await self.record(cp_id, record)
        return record

    async def _for_charger(
        self, cp_id: str, connection: ChargerConnection, action: str, request: dict
    ) -> tuple[str, dict]:
        """The call to send: the command itself, or for a 2.0.1 charger its 2.0.1 call."""
        if connection.subprotocol != V201_SUBPROTOCOL:
            return action, request

        async def station_transaction(transaction_id: int) -> str | None:
            if self.sessions is None:
                return None
            return await self.sessions.station_transaction_id(cp_id, transaction_id)

        return await for_v201(action, request, station_transaction)

    async def record(self, cp_id: str, record: dict) -> None:
        log.info(
            "event=command cp=%s action=%s status=%s command=%s by=%s",
            cp_id,
            record["action"],
            record["status"],
            record["command"],
            record["requestedBy"],
        )
        labels = [f"action:{record['action']}"]
        if record["command"]:
            labels.insert(0, f"command:{record['command']}")
        try:
            await self.chargers.record(cp_id, "results", record, labels)
        except Exception:  # noqa: BLE001 - the call happened; losing the audit is logged
            log.exception("event=result_not_recorded cp=%s command=%s", cp_id, record["command"])

    # -- commands from the tree -------------------------------------------------------------

    def start(self) -> None:
        self._started = time.monotonic()
        loop = asyncio.get_running_loop()
        self._watcher = loop.create_task(self._watch(), name="commands")
        self._tasks.add(loop.create_task(self._release_held(), name="held-commands"))

    def _hold(self, cp_id: str, cin: dict) -> bool:
        """Keep a command for a charger that has not reconnected since the adapter started;
        False once that time is over."""
        if time.monotonic() - self._started >= self.max_age:
            return False
        self._held.append((cp_id, cin))
        self._taken.pop(cin.get("ri"), None)  # catch_up may take it when the charger connects
        log.info("event=command_held cp=%s command=%s", cp_id, cin.get("ri"))
        return True

    async def _release_held(self) -> None:
        """After the startup grace, the held commands nobody took are recorded (offline)."""
        await asyncio.sleep(self.max_age)
        held, self._held = self._held, []
        for cp_id, cin in held:
            if cin.get("ri") not in self._taken:
                self._in_order(cp_id, lambda cp_id=cp_id, cin=cin: self.run_command(cp_id, cin))

    async def stop(self) -> None:
        tasks = [t for t in (self._watcher, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _watch(self) -> None:
        while True:
            try:
                reply = await self.client.retrieve(f"{POLLING_CHANNEL}/pcu", EVCS_AEI)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the CSE is away: try again
                log.warning("event=command_poll_failed why=%s", exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if reply.rsc == POLL_OK:
                try:
                    await self.take_notification(reply.pc)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - one bad notification stops nothing
                    log.exception("event=command_notification_failed")
            elif reply.rsc != POLL_TIMEOUT:
                log.warning("event=command_poll_failed rsc=%s pc=%r", reply.rsc, reply.pc)
                await asyncio.sleep(RETRY_SECONDS)

    def _in_order(self, cp_id: str, job: Callable[[], Awaitable[Any]]) -> None:
        """Run `job` on its own task once the charger's previous command is done, so a
        charger gets its commands in the order they were created (others do not wait)."""
        task = self._order.run(cp_id, job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def take_notification(self, primitive: Any) -> None:
        """Queue the command a polled notification announces (a new CIN in `commands`)."""
        try:
            sgn = primitive["m2m:rqp"]["pc"]["m2m:sgn"]
            cin = sgn["nev"]["rep"]["m2m:cin"]
        except (KeyError, TypeError):
            return  # verification requests, deletion notices: nothing to do
        cp_id = await self._charger_of(cin.get("pi"))
        if cp_id is None:
            log.warning("event=command_ignored ri=%s why=not_in_a_charger", cin.get("ri"))
            return
        self._in_order(cp_id, lambda: self.run_command(cp_id, cin))

    async def catch_up(self, cp_id: str) -> None:
        """Run the charger's recent commands that have no result (see the module doc)."""
        since = to_timestamp(time.time() - CATCH_UP_SECONDS)
        container = f"{charger_path(cp_id)}/commands"
        reply = await self.client.retrieve(
            container, EVCS_AEI, rcn=8, query={"ty": TY_CIN, "cra": since}
        )
        if not reply.ok:
            return
        results = f"{charger_path(cp_id)}/results"
        for cin in reply.children("m2m:cnt", "m2m:cin"):
            ri = cin.get("ri")
            if ri in self._taken:
                continue
            if await instances(self.client, results, EVCS_AEI, label=f"command:{ri}"):
                self._taken[ri] = time.monotonic()
                continue
            await self.run_command(cp_id, cin)

    def _take(self, command: Any) -> bool:
        """Claim a command for this process; False when it was already taken."""
        if not isinstance(command, str) or command in self._taken:
            return False
        moment = time.monotonic()
        self._taken[command] = moment
        if len(self._taken) > 10000:
            horizon = moment - CATCH_UP_SECONDS
            self._taken = {ri: t for ri, t in self._taken.items() if t > horizon}
        return True

    async def run_command(self, cp_id: str, cin: dict) -> dict | None:
        """Run a command CIN once: its result, or None when it was already taken."""
        requested_by = cin.get("cr")
        command = cin.get("ri")
        if not self._take(command):
            return None
        try:
            action, request, reason = parse_command(cin.get("con"))
        except CommandRejected as exc:
            con = cin.get("con")
            record = {
                "command": command,
                "action": con.get("action") if isinstance(con, dict) else None,
                "request": con.get("request") if isinstance(con, dict) else None,
                "reason": None,
                "requestedBy": requested_by,
                "status": "rejected",
                "error": str(exc),
            }
            await self.record(cp_id, record)
            return record
        age = self._age(cin.get("ct"))
        if age <= self.max_age and cp_id not in self.connections and self._hold(cp_id, cin):
            return None
        if age > self.max_age:
            record = {
                "command": command,
                "action": action,
                "request": request,
                "reason": reason,
                "requestedBy": requested_by,
                "status": "expired",
                "error": f"created {age:.0f} s ago; commands older than {self.max_age:g} s "
                "are not sent",
            }
            await self.record(cp_id, record)
            return record
        return await self.send(cp_id, action, request, reason, requested_by, command)

    @staticmethod
    def _age(ct: Any) -> float:
        try:
            return time.time() - parse_timestamp(ct)
        except M2MError:
            return 0.0

    async def _charger_of(self, container_ri: Any) -> str | None:
        """The charge point whose `commands` container has this resource ID."""
        if not isinstance(container_ri, str):
            return None
        if container_ri not in self._containers:
            reply = await self.client.retrieve(container_ri, EVCS_AEI)
            cnt = reply.pc.get("m2m:cnt") if reply.ok and isinstance(reply.pc, dict) else None
            cp_id = None
            if isinstance(cnt, dict) and cnt.get("rn") == COMMANDS_CONTAINER:
                cp_id = charger_id_of_aei(str(cnt.get("pi", "")))
            self._containers[container_ri] = cp_id
        return self._containers[container_ri]
