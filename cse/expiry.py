"""Removes expired resources (`et`, and instances past their container's `mia`)."""

import asyncio
import contextlib
import logging
from collections.abc import Callable

from cse.dispatcher import delete_resource
from cse.settings import Settings
from cse.storage import Storage, repository
from cse.timestamps import now

log = logging.getLogger("citycse.expiry")

BATCH = 500


def _sweep(conn, moment: float, settings: Settings) -> tuple[list[str], int]:  # noqa: ANN001
    removed: list[str] = []
    notifications = 0
    for resource in repository.expired(conn, moment, BATCH):
        deleted, produced = delete_resource(conn, resource, settings)
        removed.extend(ri for ri, _, _ in deleted)
        notifications += produced.notifications
    return removed, notifications


class ExpirySweeper:
    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        on_removed: Callable[[str], None],
        on_notifications: Callable[[], None],
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.interval = settings.expiry_sweep_seconds
        self.on_removed = on_removed
        self.on_notifications = on_notifications
        self._task: asyncio.Task | None = None

    async def sweep_once(self) -> int:
        removed, notifications = await self.storage.write(_sweep, now(), self.settings)
        if removed:
            log.info("event=expired count=%d", len(removed))
            for ri in removed:
                self.on_removed(ri)
        if notifications:
            self.on_notifications()
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
