"""Access control (TS-0001 9.6.2, 10.2.3.1): accessControlPolicy rules and the default policy.

The decision itself is a pure function of the originator, the governing resource and the
policies it references; `AccessControl` loads those policies (cached briefly) in one query."""

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from cse.constants import Permission
from cse.errors import BadRequest, NoPrivilege
from cse.resource import Resource

_FIELD_RANGES = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def _parse_field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if step <= 0:
                raise ValueError(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            start_text, end_text = part.split("-", 1)
            start, end = int(start_text), int(end_text)
        else:
            start = end = int(part)
        if not (low <= start <= end <= high):
            raise ValueError(part)
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_time_window(window: str) -> tuple[frozenset[int], ...]:
    """A `actw` window: six cron-like fields `second minute hour day month weekday`."""
    fields = window.split()
    if len(fields) != 6:
        raise BadRequest(f"time window {window!r} needs six fields: sec min hour day month wday")
    try:
        return tuple(
            _parse_field(f, lo, hi) for f, (lo, hi) in zip(fields, _FIELD_RANGES, strict=True)
        )
    except ValueError as exc:
        raise BadRequest(f"invalid time window {window!r}") from exc


def window_matches(window: str, moment: datetime) -> bool:
    sec, minute, hour, day, month, weekday = parse_time_window(window)
    # cron counts Sunday as 0; Python's weekday() counts Monday as 0.
    return (
        moment.second in sec
        and moment.minute in minute
        and moment.hour in hour
        and moment.day in day
        and moment.month in month
        and (moment.weekday() + 1) % 7 in weekday
    )


def _originator_matches(patterns: Iterable[str], originator: str) -> bool:
    for pattern in patterns:
        if pattern in ("all", "*") or pattern == originator:
            return True
        if pattern.endswith("*") and originator.startswith(pattern[:-1]):
            return True
    return False


def _contexts_allow(contexts: list[dict[str, Any]], moment: datetime) -> bool:
    if not contexts:
        return True
    for context in contexts:
        windows = context.get("actw") or []
        if not windows or any(window_matches(w, moment) for w in windows):
            return True
    return False


def rules_grant(
    rules: Iterable[dict[str, Any]], originator: str, permission: int, moment: datetime
) -> bool:
    for rule in rules:
        if (
            rule.get("acop", 0) & permission
            and _originator_matches(rule.get("acor", []), originator)
            and _contexts_allow(rule.get("acco", []), moment)
        ):
            return True
    return False


def is_allowed(
    originator: str,
    governing: Resource,
    permission: int,
    policies: dict[str, Resource],
    self_governed: bool,
    moment: datetime | None = None,
) -> bool:
    """Whether `originator` holds `permission` on a resource governed by `governing`.

    A self-governed resource (an ACP) is decided by its `pvs`; otherwise the union of the
    `pv` rules of the policies in `acpi`; with no `acpi`, only the creator has access."""
    moment = moment or datetime.now(UTC)
    if self_governed:
        rules = governing.attrs.get("pvs", {}).get("acr", [])
        return governing.owner == originator or rules_grant(rules, originator, permission, moment)
    if not governing.acpi:
        return governing.owner == originator
    for ri in governing.acpi:
        policy = policies.get(ri)
        if policy is not None and rules_grant(
            policy.attrs.get("pv", {}).get("acr", []), originator, permission, moment
        ):
            return True
    return False


class AccessControl:
    """Applies the access decision, with the policies loaded in one query and cached briefly."""

    def __init__(self, admin: str, load_policies: Callable, cache_seconds: float) -> None:
        self.admin = admin
        self._load_policies = load_policies
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Resource | None]] = {}

    def is_admin(self, originator: str) -> bool:
        return originator == self.admin

    def forget(self, ri: str) -> None:
        self._cache.pop(ri, None)

    async def policies(self, ris: Iterable[str]) -> dict[str, Resource]:
        now = time.monotonic()
        found: dict[str, Resource] = {}
        missing: list[str] = []
        for ri in set(ris):
            cached = self._cache.get(ri)
            if cached is not None and now - cached[0] < self._cache_seconds:
                if cached[1] is not None:
                    found[ri] = cached[1]
            else:
                missing.append(ri)
        if missing:
            loaded = {policy.ri: policy for policy in await self._load_policies(missing)}
            for ri in missing:
                self._cache[ri] = (now, loaded.get(ri))
            found.update(loaded)
        return found

    async def allowed(
        self,
        originator: str,
        governing: Resource,
        permission: Permission,
        self_governed: bool = False,
    ) -> bool:
        if self.is_admin(originator):
            return True
        policies = {} if self_governed else await self.policies(governing.acpi)
        return is_allowed(originator, governing, permission, policies, self_governed)

    async def require(
        self,
        originator: str,
        governing: Resource,
        permission: Permission,
        self_governed: bool = False,
    ) -> None:
        if not await self.allowed(originator, governing, permission, self_governed):
            raise NoPrivilege(
                f"originator {originator} has no {permission.name} privilege on {governing.srn}"
            )
