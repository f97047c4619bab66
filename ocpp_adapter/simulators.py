"""Device simulators: a fire alarm and a grid feed that register as AEs and publish readings.

They speak plain oneM2M through a `CSEClient` (HTTP, or MQTT with `--mqtt`), exactly as a
real device would: register the AE with its labels, give the interlock service read access
through an ACP, create the reading container and write content instances to it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ocpp_adapter.cse_client import CSEClient, CSEError
from ocpp_adapter.devices import (
    ALARM_CONTAINER,
    FEEDER_PREFIX,
    FIRE_ALARM_API,
    FIRE_ALARM_LABEL,
    FORECAST_CONTAINER,
    GRID_FEED_API,
    GRID_FEED_LABEL,
    READING_CNF,
    SITE_PREFIX,
    iso,
    parse_alarm,
    parse_forecast,
)
from ocpp_adapter.interlocks import INTERLOCKS_AEI
from ocpp_adapter.tree import BASE, TY_ACP, TY_AE, TY_CIN, TY_CNT

RETRIEVE_AND_DISCOVER = 2 | 32
ALL_RIGHTS = 63


@dataclass(frozen=True, slots=True)
class RegisteredDevice:
    aei: str
    rn: str
    container: str
    """The structured path of the reading container (`<cse-rn>/<ae>/<container>`)."""

    @property
    def relative_container(self) -> str:
        return f"{BASE}/{self.rn}/{self.container.rsplit('/', 1)[-1]}"

    def summary(self) -> dict[str, str]:
        return {"aei": self.aei, "container": self.container}


def fire_alarm_name(site: str) -> str:
    return f"firealarm-{site}"


def grid_feed_name(feeder: str) -> str:
    return f"gridfeed-{feeder}"


def _accept(reply_rsc: int, what: str, reply: Any) -> None:
    if reply_rsc not in (2001, 4105, 4117):
        raise CSEError(what, reply)


async def register_device(
    client: CSEClient,
    rn: str,
    api: str,
    labels: list[str],
    container: str,
    cse_rn: str,
    readers: tuple[str, ...] = (INTERLOCKS_AEI,),
) -> RegisteredDevice:
    """The device AE `rn` (AE-ID `C<rn>`), an ACP letting `readers` find and read it, and
    its reading container. Running it again finds what is already there."""
    aei = f"C{rn}"
    path = f"{BASE}/{rn}"
    ae = {"rn": rn, "api": api, "rr": False, "srv": ["3"], "lbl": labels}
    reply = await client.create(BASE, aei, TY_AE, "m2m:ae", ae)
    _accept(reply.rsc, f"registering {rn}", reply)
    policy = {
        "rn": "acp",
        "pv": {
            "acr": [
                {"acor": [aei], "acop": ALL_RIGHTS},
                {"acor": list(readers), "acop": RETRIEVE_AND_DISCOVER},
            ]
        },
        "pvs": {"acr": [{"acor": [aei], "acop": ALL_RIGHTS}]},
    }
    reply = await client.create(path, aei, TY_ACP, "m2m:acp", policy)
    _accept(reply.rsc, f"creating {path}/acp", reply)
    acp_ri = (await client.retrieve(f"{path}/acp", aei)).resource("m2m:acp")["ri"]
    reply = await client.update(path, aei, "m2m:ae", {"acpi": [acp_ri]})
    reply.expect(f"setting the policy of {path}", 2004)
    cnt = {"rn": container, "acpi": [acp_ri], "mni": 1000}
    reply = await client.create(path, aei, TY_CNT, "m2m:cnt", cnt)
    _accept(reply.rsc, f"creating {path}/{container}", reply)
    return RegisteredDevice(aei, rn, f"{cse_rn}/{rn}/{container}")


async def register_fire_alarm(client: CSEClient, site: str, cse_rn: str) -> RegisteredDevice:
    labels = [FIRE_ALARM_LABEL, f"{SITE_PREFIX}{site}"]
    return await register_device(
        client, fire_alarm_name(site), FIRE_ALARM_API, labels, ALARM_CONTAINER, cse_rn
    )


async def register_grid_feed(client: CSEClient, feeder: str, cse_rn: str) -> RegisteredDevice:
    labels = [GRID_FEED_LABEL, f"{FEEDER_PREFIX}{feeder}"]
    return await register_device(
        client, grid_feed_name(feeder), GRID_FEED_API, labels, FORECAST_CONTAINER, cse_rn
    )


async def publish(client: CSEClient, device: RegisteredDevice, con: dict[str, Any]) -> str:
    """Write one reading; the created content instance's ri."""
    attrs = {"cnf": READING_CNF, "con": con}
    reply = await client.create(device.relative_container, device.aei, TY_CIN, "m2m:cin", attrs)
    return reply.expect(f"writing to {device.container}", 2001).resource("m2m:cin")["ri"]


def alarm_content(active: bool, detail: str | None = None) -> dict[str, Any]:
    con: dict[str, Any] = {"active": active, "at": iso(time.time())}
    if detail:
        con["detail"] = detail
    parse_alarm(con)
    return con


def forecast_content(
    overloads: list[tuple[float, float, Decimal]],
    surges: list[tuple[float, float, Decimal]],
) -> dict[str, Any]:
    con = {
        "overloads": [
            {"start": iso(start), "end": iso(end), "limitW": str(limit)}
            for start, end, limit in overloads
        ],
        "surges": [
            {"start": iso(start), "end": iso(end), "factor": str(factor)}
            for start, end, factor in surges
        ],
    }
    parse_forecast(con)
    return con
