"""Cached access control policies across processes: two citycse processes on one database
stand for the workers of `serve --workers N`. A policy change made through one of them
reaches the other for the requests that start more than `--acp-cache-seconds` later, also
when the other one had the policy cached."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import launch, shutdown
from tests.support.client import M2M, TY_ACP, TY_AE, TY_CNT, expect, unique
from tests.support.server import Server, start_server

SYNC_SECONDS = 0.3
PAST_THE_BOUND = SYNC_SECONDS + 0.2
R, ALL = 2, 63


@pytest.fixture(scope="module")
def two_processes(backend: str) -> Iterator[tuple[Server, Server]]:
    options = ["--acp-cache-seconds", str(SYNC_SECONDS)]
    started = launch(backend, options)
    try:
        second = start_server(started.db, extra_args=options)
    except BaseException:
        shutdown(started)
        raise
    yield started.server, second
    second.stop()
    shutdown(started)


def client(server: Server, origin: str) -> M2M:
    return M2M(server.base_url, origin=origin, cse_rn=server.cse_rn, cse_id=server.cse_id)


def policy(owner: str, reader: str | None) -> dict:
    rules = [{"acor": [owner], "acop": ALL}]
    if reader is not None:
        rules.append({"acor": [reader], "acop": R})
    return {"pv": {"acr": rules}}


def test_a_policy_change_through_one_process_reaches_the_other(two_processes) -> None:
    first, second = two_processes
    owner_origin, reader_origin = unique("C"), unique("C")
    admin = client(first, first.admin)
    ae = unique("ae")
    body = {"rn": ae, "api": "Ntest.citycse", "rr": False, "srv": ["3"]}
    expect(admin.create(first.cse_rn, TY_AE, body, origin=owner_origin), 2001, 201)
    owner = client(first, owner_origin)
    pvs = {"pvs": {"acr": [{"acor": [owner_origin], "acop": ALL}]}}
    acp = owner.make(
        f"{first.cse_rn}/{ae}", TY_ACP, {"rn": "p", **policy(owner_origin, reader_origin), **pvs}
    )
    owner.make(f"{first.cse_rn}/{ae}", TY_CNT, {"rn": "c", "acpi": [acp["ri"]]})
    container, acp_path = f"{first.cse_rn}/{ae}/c", f"{first.cse_rn}/{ae}/p"
    reader = client(second, reader_origin)
    try:
        expect(reader.retrieve(container), 2000, 200)  # now cached by the second process

        expect(owner.update(acp_path, TY_ACP, policy(owner_origin, None)), 2004, 200)
        time.sleep(PAST_THE_BOUND)
        expect(reader.retrieve(container), 4103, 403)

        expect(owner.update(acp_path, TY_ACP, policy(owner_origin, reader_origin)), 2004, 200)
        time.sleep(PAST_THE_BOUND)
        expect(reader.retrieve(container), 2000, 200)

        expect(owner.delete(acp_path), 2002, 200)
        time.sleep(PAST_THE_BOUND)
        expect(reader.retrieve(container), 4103, 403)
    finally:
        for c in (admin, owner, reader):
            c.close()
