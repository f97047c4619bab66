"""Reading what the page asked of chargers: the instances of their commands containers."""

from __future__ import annotations

import asyncio

from tests.support.client import TY_CIN


def command_instances(city, cp_id: str) -> list[dict]:
    reply = city.admin().retrieve(f"cse-in/cp-{cp_id}/commands", params={"rcn": 8, "ty": TY_CIN})
    assert reply.status == 200, reply
    return reply.res("m2m:cnt").get("m2m:cin", [])


async def wait_for_command(city, cp_id: str, action: str) -> dict:
    for _ in range(100):
        found = [c for c in command_instances(city, cp_id) if c["con"].get("action") == action]
        if found:
            return found[-1]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {action} command for {cp_id}")
