"""Access control (TS-0001 9.6.2, 10.2.3.1): accessControlPolicy rules and the default policy.

The decision itself is a pure function of the originator, the governing resource and the
policies it references; `AccessControl` loads those policies in one query and caches them
until they change."""

import math
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


MAX_CACHED_POLICIES = 20_000


class AccessControl:
    """Applies the access decision, with the policies loaded in one query and cached until
    they change.

    A policy stays cached until an update or delete of it: through this worker, `forget`
    drops it at once (before the response); through another worker, the change bumps the
    policy version in the database, which this worker reads at most every `sync_seconds`
    before a decision, dropping every cached policy when it moved. So a change reaches every
    worker for the requests that start more than `sync_seconds` after it was committed.
    Policies that are not found are cached only for `sync_seconds`."""

    def __init__(
        self,
        admin: str,
        load_policies: Callable,
        load_version: Callable,
        sync_seconds: float,
    ) -> None:
        self.admin = admin
        self._load_policies = load_policies
        self._load_version = load_version
        self._sync_seconds = sync_seconds
        self._cache: dict[str, Resource] = {}
        self._missing: dict[str, float] = {}
        self._version: int | None = None
        self._synced_at = -math.inf
        # Moves on every drop: a load that overlapped a drop does not fill the cache.
        self._generation = 0

    def is_admin(self, originator: str) -> bool:
        return originator == self.admin

    def forget(self, ri: str) -> None:
        self._cache.pop(ri, None)
        self._missing.pop(ri, None)
        self._generation += 1

    def _forget_all(self) -> None:
        self._cache.clear()
        self._missing.clear()
        self._generation += 1

    async def _sync(self, now: float) -> None:
        """Drop every cached policy when another worker changed one since the last look."""
        if now - self._synced_at < self._sync_seconds:
            return
        self._synced_at = now
        version = await self._load_version()
        if version != self._version:
            self._forget_all()
            self._version = version

    async def policies(self, ris: Iterable[str]) -> dict[str, Resource]:
        now = time.monotonic()
        await self._sync(now)
        found: dict[str, Resource] = {}
        missing: list[str] = []
        for ri in set(ris):
            policy = self._cache.get(ri)
            if policy is not None:
                found[ri] = policy
            elif now - self._missing.get(ri, -math.inf) >= self._sync_seconds:
                missing.append(ri)
        if missing:
            generation = self._generation
            loaded = {policy.ri: policy for policy in await self._load_policies(missing)}
            found.update(loaded)
            if generation == self._generation:
                self._remember(missing, loaded, now)
        return found

    def _remember(self, ris: list[str], loaded: dict[str, Resource], now: float) -> None:
        if len(self._cache) + len(self._missing) + len(ris) > MAX_CACHED_POLICIES:
            self._forget_all()
        self._cache.update(loaded)
        for ri in ris:
            if ri not in loaded:
                self._missing[ri] = now

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
