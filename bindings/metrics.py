"""`/metrics`: counters in the Prometheus text format."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from cse import outbox


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def build_router(runtime: Any) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get(
        "/metrics",
        response_class=PlainTextResponse,
        summary="Notification delivery counters (Prometheus text format)",
    )
    async def metrics() -> str:
        rows = await runtime.storage.read(outbox.counters)
        lines = []
        for name, column in (
            ("delivered", "delivered"),
            ("retried", "retried"),
            ("dropped", "dropped"),
        ):
            metric = f"citycse_notifications_{name}_total"
            lines.append(f"# TYPE {metric} counter")
            for row in rows:
                lines.append(
                    f'{metric}{{subscription="{_escape(row.sub_ri)}"}} {getattr(row, column)}'
                )
        return "\n".join(lines) + "\n"

    return router
