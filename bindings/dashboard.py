"""The operator dashboard: static files served by the CSE itself at `/dashboard`.

The page is plain HTML, CSS and JavaScript modules (no build step). It reads and acts on
the resource tree with ordinary oneM2M requests and follows `/sse/changes`, so what an
operator sees and may do is decided by access control like for any other client. The only
thing served here beside the files is `config.json`: the names the page needs to address the
CSE (its resource name and CSE-ID)."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from cse.settings import Settings

DASHBOARD_PATH = "/dashboard"
STATIC_DIR = Path(__file__).with_name("dashboard_static")


def mount(service: FastAPI, settings: Settings) -> None:
    """Add the dashboard's routes and files to the service app."""

    @service.get(DASHBOARD_PATH, include_in_schema=False)
    async def dashboard_root() -> RedirectResponse:
        return RedirectResponse(f"{DASHBOARD_PATH}/", status_code=308)

    @service.get(f"{DASHBOARD_PATH}/config.json", include_in_schema=False)
    async def dashboard_config() -> JSONResponse:
        return JSONResponse(
            {"cseRn": settings.cse_rn, "cseId": settings.cse_id},
            headers={"Cache-Control": "no-store"},
        )

    service.mount(DASHBOARD_PATH, StaticFiles(directory=STATIC_DIR, html=True), "dashboard")
