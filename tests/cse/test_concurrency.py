"""Concurrent requests: counters, state tags and name clashes stay exact."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import httpx

from tests.support.client import TY_AE, TY_CIN, TY_CNT, unique


def headers(origin: str, ty: int | None = None) -> dict:
    h = {"X-M2M-Origin": origin, "X-M2M-RI": unique("rq"), "X-M2M-RVI": "3"}
    if ty is not None:
        h["Content-Type"] = f"application/json;ty={ty}"
    return h


async def _burst(base_url: str, requests: list[tuple[str, str, int, dict]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=len(requests))
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        gate = asyncio.Event()

        async def one(origin: str, path: str, ty: int, body: dict) -> httpx.Response:
            await gate.wait()
            return await client.post(
                "/" + path, headers=headers(origin, ty), content=json.dumps(body)
            )

        tasks = [asyncio.create_task(one(*r)) for r in requests]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(*tasks)


def burst(base_url: str, requests: list[tuple[str, str, int, dict]]) -> list[httpx.Response]:
    return asyncio.run(_burst(base_url, requests))


def rscs(responses: list[httpx.Response]) -> Counter:
    return Counter(int(r.headers.get("X-M2M-RSC", "0")) for r in responses)


def test_concurrent_instance_creates_keep_st_unique_and_cni_exact(server, ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    n = 50
    responses = burst(
        server.base_url,
        [(ae.origin, path, TY_CIN, {"m2m:cin": {"con": f"{i:03d}"}}) for i in range(n)],
    )
    assert rscs(responses) == {2001: n}, [r.text for r in responses if r.status_code != 201][:3]
    sts = [r.json()["m2m:cin"]["st"] for r in responses]
    assert sorted(sts) == list(range(1, n + 1))
    cnt = ae.client.get(path, TY_CNT)
    assert (cnt["cni"], cnt["cbs"], cnt["st"]) == (n, 3 * n, n)
    assert len(ae.client.discover(path, ty="4")) == n


def test_concurrent_creates_with_mni_keep_exactly_mni_newest(server, ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c", "mni": 10})
    n = 40
    responses = burst(
        server.base_url, [(ae.origin, path, TY_CIN, {"m2m:cin": {"con": "abcd"}}) for _ in range(n)]
    )
    assert rscs(responses) == {2001: n}
    cnt = ae.client.get(path, TY_CNT)
    assert (cnt["cni"], cnt["cbs"], cnt["st"]) == (10, 40, n)
    kept = ae.client.get(path, TY_CNT, params={"rcn": "4"})["m2m:cin"]
    assert sorted(c["st"] for c in kept) == list(range(n - 9, n + 1))


def test_concurrent_creates_of_one_name_one_wins(server, ae) -> None:
    n = 20
    responses = burst(
        server.base_url,
        [
            (ae.origin, ae.path, TY_CNT, {"m2m:cnt": {"rn": "same", "lbl": [str(i)]}})
            for i in range(n)
        ],
    )
    assert rscs(responses) == {2001: 1, 4105: n - 1}, rscs(responses)
    winner = next(r for r in responses if r.status_code == 201).json()["m2m:cnt"]
    assert ae.client.get(f"{ae.path}/same", TY_CNT)["ri"] == winner["ri"]
    assert len(ae.client.discover(ae.path, ty="3")) == 1


def test_concurrent_registrations_of_one_ae_id_one_wins(server, m2m) -> None:
    origin = unique("C")
    n = 10
    body = {"api": "Nx", "rr": False, "srv": ["3"]}
    responses = burst(
        server.base_url,
        [(origin, m2m.cse_rn, TY_AE, {"m2m:ae": {**body, "rn": unique("ae")}}) for _ in range(n)],
    )
    assert rscs(responses) == {2001: 1, 4117: n - 1}, rscs(responses)
    assert m2m.get(f"/{origin}", TY_AE)["ri"] == origin


def test_concurrent_creates_in_many_containers(server, ae) -> None:
    for k in range(5):
        ae.client.make(ae.path, TY_CNT, {"rn": f"c{k}"})
    requests = [
        (ae.origin, f"{ae.path}/c{i % 5}", TY_CIN, {"m2m:cin": {"con": "x"}}) for i in range(50)
    ]
    responses = burst(server.base_url, requests)
    assert rscs(responses) == {2001: 50}
    for k in range(5):
        cnt = ae.client.get(f"{ae.path}/c{k}", TY_CNT)
        assert (cnt["cni"], cnt["st"]) == (10, 10)


async def _mixed(base_url: str, calls: list[tuple[str, str, str, dict | None, int | None]]):
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        gate = asyncio.Event()

        async def one(method, origin, path, body, ty):
            await gate.wait()
            content = json.dumps(body) if body is not None else None
            return await client.request(
                method, "/" + path, headers=headers(origin, ty), content=content
            )

        tasks = [asyncio.create_task(one(*c)) for c in calls]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(*tasks)


def test_concurrent_deletes_of_la_remove_distinct_instances(server, ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    for i in range(10):
        ae.client.make(path, TY_CIN, {"con": f"{i}"})
    responses = asyncio.run(
        _mixed(server.base_url, [("DELETE", ae.origin, f"{path}/la", None, None)] * 8)
    )
    counts = rscs(responses)
    assert set(counts) <= {2002, 4004} and counts[2002] >= 1, counts
    cnt = ae.client.get(path, TY_CNT)
    assert cnt["cni"] == 10 - counts[2002]
    left = ae.client.get(path, TY_CNT, params={"rcn": "4"}).get("m2m:cin", [])
    assert len(left) == cnt["cni"]
    assert sorted(c["con"] for c in left) == [str(i) for i in range(cnt["cni"])]


def test_concurrent_deletes_of_one_resource_succeed_once(server, ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    cin = ae.client.make(f"{ae.path}/c", TY_CIN, {"con": "x"})
    responses = asyncio.run(
        _mixed(server.base_url, [("DELETE", ae.origin, cin["ri"], None, None)] * 8)
    )
    assert rscs(responses) == {2002: 1, 4004: 7}, rscs(responses)
    cnt = ae.client.get(f"{ae.path}/c", TY_CNT)
    assert (cnt["cni"], cnt["cbs"]) == (0, 0)


def test_creates_racing_with_a_lowered_mni_end_within_the_limit(server, ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    calls = [("POST", ae.origin, path, {"m2m:cin": {"con": "ab"}}, TY_CIN) for _ in range(30)]
    calls.insert(10, ("PUT", ae.origin, path, {"m2m:cnt": {"mni": 5}}, None))
    responses = asyncio.run(_mixed(server.base_url, calls))
    counts = rscs(responses)
    assert counts == {2001: 30, 2004: 1}, counts
    cnt = ae.client.get(path, TY_CNT)
    children = ae.client.get(path, TY_CNT, params={"rcn": "4"}).get("m2m:cin", [])
    assert cnt["cni"] == len(children) == 5
    assert cnt["cbs"] == 10
    assert cnt["st"] == 31  # 30 instances and the update: st counts every modification


def test_deleting_a_container_while_instances_are_created(server, ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    calls = [("POST", ae.origin, path, {"m2m:cin": {"con": "x"}}, TY_CIN) for _ in range(20)]
    calls.insert(5, ("DELETE", ae.origin, path, None, None))
    responses = asyncio.run(_mixed(server.base_url, calls))
    counts = rscs(responses)
    assert counts[2002] == 1 and set(counts) <= {2001, 2002, 4004}, counts
    expect_gone = ae.client.retrieve(path)
    assert expect_gone.rsc == 4004
    # no orphan survived the delete
    for r in responses:
        if r.status_code == 201:
            ri = r.json()["m2m:cin"]["ri"]
            assert ae.client.retrieve(f"/{ri}").rsc == 4004


def test_concurrent_registrations_with_assigned_ids_are_all_distinct(server, m2m) -> None:
    n = 15
    requests = [
        ("C", m2m.cse_rn, TY_AE, {"m2m:ae": {"api": "Nx", "rr": False, "srv": ["3"]}})
        for _ in range(n)
    ]
    responses = burst(server.base_url, requests)
    assert rscs(responses) == {2001: n}
    ids = {r.json()["m2m:ae"]["aei"] for r in responses}
    names = {r.json()["m2m:ae"]["rn"] for r in responses}
    assert len(ids) == n and len(names) == n
