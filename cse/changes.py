"""An in-process feed of committed resource changes, for event streams (dashboards)."""

import asyncio
from dataclasses import dataclass
from typing import Any

from cse.resource import Resource

QUEUE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # "create", "update" or "delete"
    resource: Resource
    representation: dict[str, Any]


class ChangeFeed:
    """Fan-out of changes to listeners; a listener that falls behind loses the oldest."""

    def __init__(self) -> None:
        self._listeners: set[asyncio.Queue[Change]] = set()

    def listen(self) -> "asyncio.Queue[Change]":
        queue: asyncio.Queue[Change] = asyncio.Queue(QUEUE_LIMIT)
        self._listeners.add(queue)
        return queue

    def forget(self, queue: "asyncio.Queue[Change]") -> None:
        self._listeners.discard(queue)

    def publish(self, kind: str, resource: Resource) -> None:
        if not self._listeners:
            return
        change = Change(kind, resource, resource.representation())
        for queue in self._listeners:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(change)
