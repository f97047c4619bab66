"""The OpenAPI document of the oneM2M HTTP API."""

from typing import Any

from cse.settings import Settings


def build_openapi(settings: Settings) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "citycse oneM2M API", "version": "0.1.0"},
        "paths": {},
    }
