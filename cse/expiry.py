"""Removes expired resources (`et`, and instances past their container's `mia`)."""

import asyncio
import contextlib
import logging

from cse.dispatcher import delete_resource
from cse.storage import Storage, repository
from cse.timestamps import now

log = logging.getLogger("citycse.expiry")

BATCH = 500


def _sweep(conn, moment: float) -> list[str]:  # noqa: ANN001
    removed: list[str] = []
    for resource in repository.expired(conn, moment, BATCH):
        deleted = delete_resource(conn, resource)
        removed.extend(ri for ri, _, _ in deleted)
    return removed


class ExpirySweeper:
    def __init__(self, storage: Storage, interval: float, on_removed=None) -> None:  # noqa: ANN001
        self.storage = storage
        self.interval = interval
        self.on_removed = on_removed
        self._task: asyncio.Task | None = None

    async def sweep_once(self) -> int:
        removed = await self.storage.write(_sweep, now())
        if removed:
            log.info("event=expired count=%d", len(removed))
            if self.on_removed is not None:
                for ri in removed:
                    self.on_removed(ri)
        return len(removed)

    async def _run(self) -> None:
        while True:
            try:
                while await self.sweep_once() >= BATCH:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event=expiry_sweep_failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="expiry-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
