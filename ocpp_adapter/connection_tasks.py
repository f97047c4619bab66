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
        self._callers: set[asyncio.Task] = set()
        self._cut: set[asyncio.Task] = set()

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def until_closed(self, call: Awaitable[T]) -> T:
        """`call`'s result, or ChargerDisconnected when the connection closes first.

        The call runs in the caller's own task, so its message is on the wire before the
        caller first waits: an interlock that starts calls to 500 chargers in one turn of the
        loop has the first of them on their way while it still sends the others."""
        caller = asyncio.current_task()
        assert caller is not None
        self._callers.add(caller)
        try:
            return await call
        except asyncio.CancelledError:
            # Cut by close_tasks, and by nothing else: the caller goes on with the failure.
            if caller not in self._cut or caller.uncancel() > 0:
                raise
            raise ChargerDisconnected("the charger disconnected before it answered") from None
        finally:
            self._callers.discard(caller)
            self._cut.discard(caller)

    async def close_tasks(self) -> None:
        """The connection is gone: cut its calls in flight and end the work it spawned."""
        for caller in list(self._callers):
            self._cut.add(caller)
            caller.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
