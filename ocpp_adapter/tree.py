"""The EV-charging part of the resource tree: names, paths and idempotent setup.

    <cse>/evcs                   AE `Cevcs`, the charging service (this adapter)
      acp                        ACP: admin originator and Cevcs, all rights
      users/<IDTAG>              CNT per RFID card (upper case), lbl idTag:<IDTAG>
        profile                  CIN {"idTag", "budget"}: latest = current profile
        wallet                   CIN per balance change; latest = current balance
        transactions             CIN per finished session (rn tx-<id>)
      tariffs                    CIN {"pricePerKwh", "surges", "validFrom"} per tariff change
      sessions                   CIN per started transaction (rn tx-<id>): what settling needs
      txids                      CNT whose state tag is the transaction id counter (mni 1)
      authorizations             CIN per refused Authorize/StartTransaction, with the reason
      orphans                    CIN per StopTransaction of an unknown transaction
      credentials/<cpId>         CIN per password change of a charger (salted scrypt hash)
      pch                        polling channel: Cevcs's notifications (new commands)
    <cse>/cp-<cpId>              AE `Ccp-<cpId>` per charge point, lbl chargePoint:<cpId>
                                 (+ lbl ocpp:lenient: schema violations tolerated)
      acp                        ACP: admin, Cevcs and the charger itself
      info, status, meter, transactions, results, violations      CNTs
      connection                 CNT  CIN per connect / disconnect (`connection_log`)
      commands                   CNT; SUB `evcs` tells Cevcs about each new command CIN

Every create here accepts "already there" (4105, or 4117 for an AE), so setup can run
again on every start and from every process."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ocpp_adapter.cse_client import CSEClient, CSEError

TY_ACP, TY_AE, TY_CNT, TY_CIN, TY_PCH, TY_SUB = 1, 2, 3, 4, 15, 23
NET_CHILD_CREATED = 3
CREATED, CONFLICT, ALREADY_REGISTERED = 2001, 4105, 4117
OK, NOT_FOUND = 2000, 4004
ALL_RIGHTS = 63
RCN_NOTHING = 0

EVCS_RN = "evcs"
EVCS_AEI = "Cevcs"
EVCS_API = "Ncitycse.evcs"
CHARGER_API = "Ncitycse.chargepoint"
BASE = "-"
EVCS = f"{BASE}/{EVCS_RN}"
USERS = f"{EVCS}/users"
TARIFFS = f"{EVCS}/tariffs"
SESSIONS = f"{EVCS}/sessions"
TXIDS = f"{EVCS}/txids"
BUDGETS = f"{EVCS}/budgets"
AUTHORIZATIONS = f"{EVCS}/authorizations"
ORPHANS = f"{EVCS}/orphans"
CREDENTIALS = f"{EVCS}/credentials"
POLLING_CHANNEL = f"{EVCS}/pch"
COMMANDS_SUBSCRIPTION = "evcs"
LENIENT_LABEL = "ocpp:lenient"
EVCS_CONTAINERS = {
    "users": {},
    "tariffs": {},
    "sessions": {},
    "txids": {"mni": 1},
    "budgets": {},
    "authorizations": {"mni": 100000},
    "orphans": {},
    "credentials": {},
}
USER_CONTAINERS = ("profile", "wallet", "transactions")
CHARGER_CONTAINERS = {
    "info": {"mni": 100},
    "status": {"mni": 10000},
    "meter": {"mni": 100000},
    "transactions": {},
    "commands": {"mni": 10000},
    "results": {"mni": 10000},
    "violations": {"mni": 1000},
    "connection": {"mni": 1000},
}

CHARGE_POINT_ID = re.compile(r"[A-Za-z0-9._~-]{1,48}")
ID_TAG_MAX = 20


def normalize_id_tag(id_tag: str) -> str | None:
    """The canonical (upper-case) form of an idTag, or None when it cannot name a user.
    OCPP idTags are CiString20: compared case-insensitively."""
    tag = (id_tag or "").strip().upper()
    if not tag or len(tag) > ID_TAG_MAX or "/" in tag or not tag.isprintable() or " " in tag:
        return None
    return tag


def valid_charge_point_id(cp_id: str) -> bool:
    return bool(CHARGE_POINT_ID.fullmatch(cp_id))


def user_path(tag: str) -> str:
    return f"{USERS}/{tag}"


def charger_aei(cp_id: str) -> str:
    return f"Ccp-{cp_id}"


def charger_id_of_aei(aei: str) -> str | None:
    """The charge point id in an AE-ID `Ccp-<id>` (also SP-relative), else None."""
    name = aei.rsplit("/", 1)[-1]
    cp_id = name.removeprefix("Ccp-")
    return cp_id if cp_id != name and valid_charge_point_id(cp_id) else None


def charger_rn(cp_id: str) -> str:
    return f"cp-{cp_id}"


def charger_path(cp_id: str) -> str:
    return f"{BASE}/{charger_rn(cp_id)}"


def _created_or_present(reply_rsc: int) -> bool:
    return reply_rsc in (CREATED, CONFLICT, ALREADY_REGISTERED)


async def _ensure(client: CSEClient, to: str, origin: str, ty: int, root: str, attrs: dict):
    reply = await client.create(to, origin, ty, root, attrs)
    if not _created_or_present(reply.rsc):
        raise CSEError(f"creating {to}/{attrs.get('rn')}", reply)
    return reply


async def _ensure_acp(
    client: CSEClient, parent: str, origin: str, members: list[str], owners: list[str]
) -> str:
    """An ACP `acp` under `parent` giving `members` all rights; its resource ID."""
    attrs = {
        "rn": "acp",
        "pv": {"acr": [{"acor": members, "acop": ALL_RIGHTS}]},
        "pvs": {"acr": [{"acor": owners, "acop": ALL_RIGHTS}]},
    }
    reply = await _ensure(client, parent, origin, TY_ACP, "m2m:acp", attrs)
    if reply.rsc == CREATED:
        return reply.resource("m2m:acp")["ri"]
    existing = await client.retrieve(f"{parent}/acp", origin)
    return existing.expect(f"reading {parent}/acp", OK).resource("m2m:acp")["ri"]


async def _ensure_acpi(client: CSEClient, path: str, origin: str, acp_ri: str) -> None:
    current = await client.retrieve(path, origin)
    current.expect(f"reading {path}", OK)
    root = next(iter(current.pc))
    if acp_ri not in current.pc[root].get("acpi", []):
        reply = await client.update(path, origin, root, {"acpi": [acp_ri]})
        reply.expect(f"setting acpi of {path}", 2004)


@dataclass(frozen=True, slots=True)
class EvcsTree:
    acp_ri: str
    admin: str


async def ensure_evcs(client: CSEClient, admin: str) -> EvcsTree:
    """The charging service's AE, its policy and its containers (as Cevcs)."""
    ae = {"rn": EVCS_RN, "api": EVCS_API, "rr": False, "srv": ["3"]}
    await _ensure(client, BASE, EVCS_AEI, TY_AE, "m2m:ae", ae)
    members = [admin, EVCS_AEI]
    acp_ri = await _ensure_acp(client, EVCS, EVCS_AEI, members, members)
    await _ensure_acpi(client, EVCS, EVCS_AEI, acp_ri)
    for rn, limits in EVCS_CONTAINERS.items():
        attrs = {"rn": rn, "acpi": [acp_ri], **limits}
        await _ensure(client, EVCS, EVCS_AEI, TY_CNT, "m2m:cnt", attrs)
    await _ensure(client, EVCS, EVCS_AEI, TY_PCH, "m2m:pch", {"rn": "pch"})
    return EvcsTree(acp_ri, admin)


async def create_user(client: CSEClient, origin: str, tree: EvcsTree, tag: str) -> bool:
    """The user's containers; False when a user with this idTag already exists."""
    attrs = {"rn": tag, "lbl": [f"idTag:{tag}"], "acpi": [tree.acp_ri]}
    reply = await client.create(USERS, origin, TY_CNT, "m2m:cnt", attrs)
    if reply.rsc == CONFLICT:
        return False
    reply.expect(f"creating user {tag}", CREATED)
    for rn in USER_CONTAINERS:
        attrs = {"rn": rn, "acpi": [tree.acp_ri]}
        await _ensure(client, user_path(tag), origin, TY_CNT, "m2m:cnt", attrs)
    return True


async def ensure_charger(
    client: CSEClient, cp_id: str, tree: EvcsTree, labels: list[str] | None = None
) -> str:
    """The charger's AE (as the charger), its policy and containers; the ACP's ri."""
    origin = charger_aei(cp_id)
    ae = {
        "rn": charger_rn(cp_id),
        "api": CHARGER_API,
        "rr": False,
        "srv": ["3"],
        "lbl": [f"chargePoint:{cp_id}", *(labels or [])],
    }
    await _ensure(client, BASE, origin, TY_AE, "m2m:ae", ae)
    path = charger_path(cp_id)
    members = [tree.admin, EVCS_AEI, origin]
    acp_ri = await _ensure_acp(client, path, origin, members, [tree.admin, EVCS_AEI, origin])
    await _ensure_acpi(client, path, origin, acp_ri)
    for rn, limits in CHARGER_CONTAINERS.items():
        attrs = {"rn": rn, "acpi": [acp_ri], **limits}
        await _ensure(client, path, origin, TY_CNT, "m2m:cnt", attrs)
    await ensure_commands_subscription(client, cp_id)
    return acp_ri


async def ensure_commands_subscription(client: CSEClient, cp_id: str) -> None:
    """Cevcs subscribes to new instances of the charger's `commands`; the notifications wait
    for it in its polling channel (Cevcs is not request-reachable)."""
    attrs = {
        "rn": COMMANDS_SUBSCRIPTION,
        "nu": [EVCS_AEI],
        "enc": {"net": [NET_CHILD_CREATED], "chty": [TY_CIN]},
        "nct": 1,
    }
    await _ensure(client, f"{charger_path(cp_id)}/commands", EVCS_AEI, TY_SUB, "m2m:sub", attrs)


async def charger_exists(client: CSEClient, cp_id: str) -> bool:
    reply = await client.retrieve(charger_path(cp_id), EVCS_AEI)
    return reply.rsc == OK


async def add_instance(
    client: CSEClient,
    container: str,
    origin: str,
    con: dict,
    rn: str | None = None,
    labels: list[str] | None = None,
    answer: bool = True,
) -> dict | None:
    """Create a CIN; the created instance, or None when `rn` already exists (4105).
    `answer=False` asks the CSE for no representation (rcn 0: less work per create, for
    records nobody reads back here) and always gives None."""
    attrs: dict = {"cnf": "application/json:0", "con": con}
    if rn is not None:
        attrs["rn"] = rn
    if labels:
        attrs["lbl"] = labels
    rcn = None if answer else RCN_NOTHING
    reply = await client.create(container, origin, TY_CIN, "m2m:cin", attrs, rcn=rcn)
    if reply.rsc == CONFLICT and rn is not None:
        return None
    reply.expect(f"adding an instance to {container}", CREATED)
    return reply.resource("m2m:cin") if answer else None


async def latest(client: CSEClient, container: str, origin: str) -> dict | None:
    """The latest instance of a container, or None when it has none (or does not exist)."""
    reply = await client.retrieve(f"{container}/la", origin)
    if reply.rsc == NOT_FOUND:
        return None
    return reply.expect(f"reading {container}/la", OK).resource("m2m:cin")


async def instances(
    client: CSEClient, container: str, origin: str, label: str | None = None
) -> list[dict]:
    """Instances of a container (optionally with one label), oldest first."""
    query: dict = {"ty": TY_CIN}
    if label is not None:
        query["lbl"] = label
    reply = await client.retrieve(container, origin, rcn=8, query=query)
    if reply.rsc == NOT_FOUND:
        return []
    return reply.expect(f"listing {container}", OK).children("m2m:cnt", "m2m:cin")
