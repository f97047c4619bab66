"""Turns committed changes into notifications (TS-0004 7.5.1).

Runs inside the transaction of the change: the subscriptions of the changed resource and of
its parent are matched against the event, and one outbox row per notification target is
written, so a notification exists if and only if its change was committed."""

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Connection

from cse import outbox
from cse.addressing import cse_relative_id
from cse.constants import ResourceType
from cse.resource import Resource
from cse.settings import Settings
from cse.storage import repository
from cse.timestamps import now
from resources.registry import spec_for
from resources.sub import (
    NCT_MODIFIED,
    NCT_RESOURCE_ID,
    NET_CREATE_CHILD,
    NET_DELETE,
    NET_DELETE_CHILD,
    NET_UPDATE,
    duration_seconds,
    is_url,
    notification_events,
)


@dataclass(slots=True)
class Produced:
    """What a transaction produced, so the caller can wake the delivery service."""

    notifications: int = 0
    removed_subscriptions: list[str] = field(default_factory=list)
    ready: list[outbox.Notification] = field(default_factory=list)
    """Notifications already leased to this process: sent right after the commit."""
    representation: dict[str, Any] | None = None
    """The changed resource's representation (all attributes, wrapped in its root), once a
    notification needed it; the answer to the request that made the change reuses it."""


def normalize_target(target: str, settings: Settings) -> str:
    """URLs stay as they are; an SP-relative AE-ID `/<csi>/Cxyz` becomes `Cxyz`."""
    return _resolved_target(target, settings.csi)[0]


@lru_cache(maxsize=4096)
def _resolved_target(target: str, csi: str) -> tuple[str, bool]:
    """The normalized target and whether it is a URL (every notification asks both)."""
    if is_url(target):
        return target, True
    return cse_relative_id(target, csi), False


def subscription_reference(settings: Settings, subscription: Resource) -> str:
    return f"{settings.csi}/{subscription.ri}"


def _representation(
    subscription: Resource,
    resource: Resource,
    modified: dict[str, Any] | None,
    produced: Produced,
) -> Any:
    nct = subscription.attrs.get("nct", 1)
    if nct == NCT_RESOURCE_ID:
        return resource.ri
    if produced.representation is None:
        produced.representation = {spec_for(resource.ty).root: resource.representation()}
    if nct == NCT_MODIFIED and modified is not None:
        ((root, representation),) = produced.representation.items()
        return {root: {k: v for k, v in representation.items() if k in modified}}
    return produced.representation


def _state_for(conn: Connection, target: str, url: bool) -> int:
    """Pending delivery for URLs and reachable AEs; pickup for AEs without a usable `poa`."""
    if url:
        return outbox.PENDING
    ae = repository.get_by_ri(conn, target)
    if ae is not None and ae.attrs.get("rr") and any(is_url(p) for p in ae.attrs.get("poa", [])):
        return outbox.PENDING
    return outbox.AWAITING_PICKUP


def _send(
    conn: Connection,
    settings: Settings,
    subscription: Resource,
    body: dict[str, Any],
    produced: Produced,
) -> None:
    moment = now()
    batch = subscription.attrs.get("bn")
    latest = bool(subscription.attrs.get("ln"))
    csi = settings.csi
    for raw_target in subscription.attrs.get("nu", []):
        target, url = _resolved_target(raw_target, csi)
        due = moment
        if batch:
            due = moment + duration_seconds(batch["dur"])
        key = f"{subscription.ri}|{target}"
        state = _state_for(conn, target, url)
        # A plain notification is leased to this process as it is written and handed to
        # the delivery service after the commit; batched and latest-only ones wait in the
        # outbox for their turn.
        send_now = state == outbox.PENDING and not batch and not latest
        item = outbox.add(
            conn,
            target,
            subscription.ri,
            body,
            moment,
            state,
            due,
            latest_key=key if latest else None,
            batch_key=key if batch else None,
            lease_until=moment + outbox.LEASE_SECONDS if send_now else None,
        )
        if item is not None:
            produced.ready.append(item)
        if batch and outbox.pending_events(conn, subscription.ri, target) >= batch["num"]:
            outbox.make_due(conn, subscription.ri, target, moment)
        produced.notifications += 1


def _notify(
    conn: Connection,
    settings: Settings,
    subscription: Resource,
    net: int,
    resource: Resource,
    modified: dict[str, Any] | None,
    produced: Produced,
) -> None:
    sgn: dict[str, Any] = {
        "nev": {"rep": _representation(subscription, resource, modified, produced), "net": net},
        "sur": subscription_reference(settings, subscription),
    }
    if "cr" in subscription.attrs:
        sgn["cr"] = subscription.attrs["cr"]
    _send(conn, settings, subscription, {"m2m:sgn": sgn}, produced)
    _count_towards_expiry(conn, settings, subscription, produced)


def _count_towards_expiry(
    conn: Connection, settings: Settings, subscription: Resource, produced: Produced
) -> None:
    """`exc`: the subscription goes away after that many notifications."""
    remaining = subscription.attrs.get("exc")
    if remaining is None:
        return
    if remaining > 1:
        subscription.attrs["exc"] = remaining - 1
        repository.save_resource(conn, subscription, labels_changed=False)
        return
    repository.delete_subtree(conn, subscription)
    produced.removed_subscriptions.append(subscription.ri)
    announce_deletion(conn, settings, subscription, produced)


def announce_deletion(
    conn: Connection, settings: Settings, subscription: Resource, produced: Produced
) -> None:
    """The deletion notification (`sud`) to the subscriber's `su`, if it gave one."""
    su = subscription.attrs.get("su")
    if not su:
        return
    target, url = _resolved_target(su, settings.csi)
    body = {"m2m:sgn": {"sud": True, "sur": subscription_reference(settings, subscription)}}
    outbox.add(conn, target, subscription.ri, body, now(), _state_for(conn, target, url), now())
    produced.notifications += 1


def _matching(
    conn: Connection,
    ri: str,
    net: int,
    child_ty: int | None = None,
    modified: dict[str, Any] | None = None,
) -> list[Resource]:
    out = []
    for subscription in repository.subscriptions_of(conn, ri, now()):
        if net not in notification_events(subscription.attrs):
            continue
        enc = subscription.attrs.get("enc") or {}
        if child_ty is not None and enc.get("chty") and child_ty not in enc["chty"]:
            continue
        if modified is not None and enc.get("atr") and not set(enc["atr"]) & set(modified):
            continue
        out.append(subscription)
    return out


def on_created(conn: Connection, settings: Settings, parent: Resource, child: Resource) -> Produced:
    produced = Produced()
    for subscription in _matching(conn, parent.ri, NET_CREATE_CHILD, child_ty=child.ty):
        if subscription.ri == child.ri:
            continue  # a new subscription is not told about itself
        _notify(conn, settings, subscription, NET_CREATE_CHILD, child, None, produced)
    return produced


def on_updated(
    conn: Connection, settings: Settings, resource: Resource, modified: dict[str, Any]
) -> Produced:
    produced = Produced()
    for subscription in _matching(conn, resource.ri, NET_UPDATE, modified=modified):
        _notify(conn, settings, subscription, NET_UPDATE, resource, modified, produced)
    return produced


def before_deleted(conn: Connection, settings: Settings, resource: Resource) -> Produced:
    """Notifications for a deletion, produced before the rows go: net 2 to the resource's
    subscribers, net 4 to its parent's, and `sud` for every subscription in the subtree."""
    produced = Produced()
    for subscription in _matching(conn, resource.ri, NET_DELETE):
        _notify(conn, settings, subscription, NET_DELETE, resource, None, produced)
    if resource.pi is not None:
        for subscription in _matching(conn, resource.pi, NET_DELETE_CHILD, child_ty=resource.ty):
            if subscription.ri != resource.ri:
                _notify(conn, settings, subscription, NET_DELETE_CHILD, resource, None, produced)
    for subscription in repository.resources_in_subtree(conn, resource, ResourceType.SUB):
        if subscription.ri not in produced.removed_subscriptions:
            announce_deletion(conn, settings, subscription, produced)
    return produced
