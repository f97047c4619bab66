"""subscription (ty 23, TS-0001 9.6.8, TS-0004 7.4.8): who is told about which changes."""

import re
from typing import Any

from cse.attributes import (
    ACCESS_CONTROLLED,
    CREATOR,
    EXPIRING,
    UNIVERSAL,
    Attribute,
    Kind,
    M,
    O,
    attribute_table,
)
from cse.constants import Permission, ResourceType
from cse.constants import ResponseStatusCode as RSC
from cse.errors import BadRequest
from resources.base import CreateContext, ResourceSpec, UpdateContext

# notificationEventType (TS-0004 6.3.4.2.2) values this CSE produces.
NET_UPDATE = 1
NET_DELETE = 2
NET_CREATE_CHILD = 3
NET_DELETE_CHILD = 4
SUPPORTED_NET = frozenset({NET_UPDATE, NET_DELETE, NET_CREATE_CHILD, NET_DELETE_CHILD})
# notificationContentType (TS-0004 6.3.4.2.5)
NCT_ALL = 1
NCT_MODIFIED = 2
NCT_RESOURCE_ID = 3
SUPPORTED_NCT = frozenset({NCT_ALL, NCT_MODIFIED, NCT_RESOURCE_ID})

_URL = re.compile(r"^(https?|mqtts?)://[^\s/?#]+(/[^\s]*)?$")
# An AE-ID (C.../S...), or an SP-relative or absolute ID (/cse-id/..., //sp/cse-id/...).
_ID = re.compile(r"^([CS][\w.\-:~]*|//?[\w.\-:~]+(/[\w.\-:~]+)*)$")
_DURATION = re.compile(r"^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$")


def is_url(target: str) -> bool:
    return _URL.match(target) is not None


def check_target(name: str, target: Any) -> None:
    """A notification target is a URL (http, https, mqtt, mqtts) or a oneM2M ID."""
    if not isinstance(target, str) or not target:
        raise BadRequest(f"m2m:sub: {name} entries must be non-empty strings")
    if "://" in target:
        if not is_url(target):
            raise BadRequest(f"m2m:sub: {name} entry {target!r} is not a valid URL")
    elif not _ID.match(target):
        raise BadRequest(
            f"m2m:sub: {name} entry {target!r} is neither a URL nor a oneM2M ID "
            "(an AE-ID starting with C or S, or /<cse-id>/...)"
        )


def _int_list(name: str, value: Any, allowed: frozenset[int] | None = None) -> None:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise BadRequest(f"m2m:sub: {name} must be a list of integers")
    unknown = [v for v in value if allowed is not None and v not in allowed]
    if unknown:
        raise BadRequest(
            f"m2m:sub: {name} value(s) {unknown} not supported (supported: {sorted(allowed or ())})"
        )


def check_event_criteria(enc: dict[str, Any]) -> None:
    unknown = set(enc) - {"net", "atr", "chty"}
    if unknown:
        raise BadRequest(f"m2m:sub: unknown enc member(s) {', '.join(sorted(unknown))}")
    if "net" in enc:
        _int_list("enc.net", enc["net"], SUPPORTED_NET)
    if "chty" in enc:
        _int_list("enc.chty", enc["chty"])
    atr = enc.get("atr", [])
    if not isinstance(atr, list) or not all(isinstance(a, str) for a in atr):
        raise BadRequest("m2m:sub: enc.atr must be a list of attribute names")


def duration_seconds(value: Any) -> float:
    """`dur` of batchNotify: milliseconds as a number, or an ISO 8601 duration `PT5S`."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return value / 1000
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match and any(match.groups()):
            hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
            total = hours * 3600 + minutes * 60 + seconds
            if total > 0:
                return total
    raise BadRequest(f"m2m:sub: bn.dur must be positive milliseconds or like PT5S, got {value!r}")


def check_batch(bn: dict[str, Any]) -> None:
    unknown = set(bn) - {"num", "dur"}
    if unknown:
        raise BadRequest(f"m2m:sub: unknown bn member(s) {', '.join(sorted(unknown))}")
    num = bn.get("num")
    if not isinstance(num, int) or isinstance(num, bool) or num < 1:
        raise BadRequest("m2m:sub: bn.num must be a positive integer")
    if "dur" not in bn:
        raise BadRequest("m2m:sub: bn.dur is mandatory (TS-0004 batchNotify: num and dur)")
    duration_seconds(bn["dur"])


def check_subscription(content: dict[str, Any]) -> None:
    if "nu" in content and content["nu"] is not None:
        if not content["nu"]:
            raise BadRequest("m2m:sub: nu must name at least one notification target")
        for target in content["nu"]:
            check_target("nu", target)
    if content.get("enc") is not None:
        check_event_criteria(content["enc"])
    if content.get("nct") is not None and content["nct"] not in SUPPORTED_NCT:
        raise BadRequest(f"m2m:sub: nct must be 1, 2 or 3, got {content['nct']}")
    if content.get("su") is not None:
        check_target("su", content["su"])
    if content.get("bn") is not None:
        check_batch(content["bn"])


def notification_events(sub_attrs: dict[str, Any]) -> list[int]:
    """The events a subscription asks for; update of the resource when `enc` says none."""
    return (sub_attrs.get("enc") or {}).get("net") or [NET_UPDATE]


class SubscriptionSpec(ResourceSpec):
    ty = ResourceType.SUB
    root = "m2m:sub"
    ri_prefix = "sub"
    create_permission = Permission.RETRIEVE
    wrong_parent_code = RSC.TARGET_NOT_SUBSCRIBABLE
    attributes = attribute_table(
        UNIVERSAL,
        EXPIRING,
        ACCESS_CONTROLLED,
        CREATOR,
        (
            Attribute("enc", Kind.OBJECT, O, O),
            Attribute("nu", Kind.STRING_LIST, M, O),
            Attribute("nct", Kind.POSITIVE_INT, O, O),
            Attribute("exc", Kind.POSITIVE_INT, O, O),
            Attribute("su", Kind.STRING, O, O),
            Attribute("bn", Kind.OBJECT, O, O),
            Attribute("ln", Kind.BOOL, O, O),
        ),
    )

    def prepare_create(self, ctx: CreateContext) -> None:
        check_subscription(ctx.content)
        ctx.resource.attrs.setdefault("nct", NCT_ALL)

    def prepare_update(self, ctx: UpdateContext) -> None:
        check_subscription(ctx.content)

    async def verify_create(self, ctx: CreateContext, services: Any) -> None:
        await services.notifications.verify_targets(ctx.resource, ctx.originator, services.access)
