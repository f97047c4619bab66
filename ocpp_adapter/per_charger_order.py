"""Work for one charger runs in the order it was asked for; other chargers do not wait."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


class PerChargerOrder:
    """Runs each job on its own task once the previous job of the same charger is done."""

    def __init__(self) -> None:
        self._latest: dict[str, asyncio.Task] = {}  # cp id -> its latest job's task

    def run(self, cp_id: str, job: Callable[[], Awaitable[Any]]) -> asyncio.Task:
        previous = self._latest.get(cp_id)

        async def after_previous() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            await job()

        task = asyncio.get_running_loop().create_task(after_previous())
        self._latest[cp_id] = task

        def done(finished: asyncio.Task) -> None:
            if self._latest.get(cp_id) is finished:
                del self._latest[cp_id]

        task.add_done_callback(done)
        return task

    def pending(self) -> list[asyncio.Task]:
        """The latest job of every charger that still has one under way."""
        return list(self._latest.values())
