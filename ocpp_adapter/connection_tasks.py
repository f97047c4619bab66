"""The tasks a charger connection owns, shared by the OCPP 1.6 and 2.0.1 central systems.

Work spawned for a connection and the calls it has in flight end with the connection: a call
whose charger goes away fails at once with `ChargerDisconnected` instead of waiting for the
response timeout, so whoever sent it (a command, an interlock) learns the outcome without
delay."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


class ChargerDisconnected(Exception):
    """The charger's connection closed before it answered the call."""


class ConnectionTasks:
    """Mixin for a charge point connection: `spawn`, `until_closed` and `close_tasks`."""

    def init_tasks(self) -> None:
        self._tasks: set[asyncio.Task] = set()
        self._calls: set[asyncio.Future] = set()

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def until_closed(self, call: Awaitable[T]) -> T:
        """`call`'s result, or ChargerDisconnected when the connection closes first."""
        future = asyncio.ensure_future(call)
        self._calls.add(future)
        future.add_done_callback(self._calls.discard)
        try:
            await asyncio.wait({future})
        except asyncio.CancelledError:
            future.cancel()
            raise
        if future.cancelled():
            raise ChargerDisconnected("the charger disconnected before it answered")
        return future.result()

    async def close_tasks(self) -> None:
        """The connection is gone: end its calls in flight and the work it spawned."""
        for call in list(self._calls):
            call.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._calls, return_exceptions=True)
