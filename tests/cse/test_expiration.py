"""expirationTime (et): an expired resource is gone for every request (TS-0001 §9.6.1.3)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tests.support.client import TY_AE, TY_CIN, TY_CNT, expect, timestamp

SOON = timedelta(seconds=2)


def wait_past(seconds: float = 3.2) -> None:
    time.sleep(seconds)


def test_et_is_stored_and_reported(ae) -> None:
    et = timestamp(timedelta(days=3))
    cnt = ae.client.make(ae.path, TY_CNT, {"rn": "c", "et": et})
    assert cnt["et"].startswith(et)
    assert ae.client.get(f"{ae.path}/c", TY_CNT)["et"].startswith(et)


def test_expired_container_is_gone_for_every_request(m2m, ae) -> None:
    cnt = ae.client.make(ae.path, TY_CNT, {"rn": "c", "et": timestamp(SOON)})
    ae.client.make(ae.path, TY_CNT, {"rn": "keep"})
    expect(ae.client.retrieve(f"{ae.path}/c"), 2000, 200)
    wait_past()
    expect(ae.client.retrieve(f"{ae.path}/c"), 4004, 404)
    expect(m2m.retrieve(f"/{cnt['ri']}"), 4004, 404)
    expect(ae.client.update(f"{ae.path}/c", TY_CNT, {"lbl": ["x"]}), 4004, 404)
    expect(ae.client.create(f"{ae.path}/c", TY_CIN, {"con": "x"}), 4004, 404)
    expect(ae.client.delete(f"{ae.path}/c"), 4004, 404)
    uril = ae.client.discover(ae.path, ty="3")
    assert not any(u.rstrip("/").endswith("/c") or u.endswith(cnt["ri"]) for u in uril), uril
    assert any(u.rstrip("/").endswith("/keep") for u in uril), uril
    # the name is free again
    again = ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    assert again["ri"] != cnt["ri"]


def test_children_of_an_expired_resource_are_gone(m2m, ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c", "et": timestamp(SOON)})
    inner = ae.client.make(f"{ae.path}/c", TY_CNT, {"rn": "inner"})
    cin = ae.client.make(f"{ae.path}/c/inner", TY_CIN, {"con": "x"})
    wait_past()
    expect(m2m.retrieve(f"/{inner['ri']}"), 4004, 404)
    expect(m2m.retrieve(f"/{cin['ri']}"), 4004, 404)
    expect(m2m.retrieve(f"{ae.path}/c/inner/la"), 4004, 404)


def test_expired_ae_is_deregistered(m2m, register) -> None:
    a = register(et=timestamp(SOON))
    a.client.make(a.path, TY_CNT, {"rn": "c"})
    wait_past()
    expect(m2m.retrieve(a.path), 4004, 404)
    expect(m2m.retrieve(f"{a.path}/c"), 4004, 404)
    # the AE-ID may register again
    m2m.make(
        m2m.cse_rn, TY_AE, {"rn": a.rn, "api": "Nx", "rr": False, "srv": ["3"]}, origin=a.origin
    )


def test_expired_instance_leaves_the_container_counters(ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    keep = ae.client.make(path, TY_CIN, {"con": "keep"})
    gone = ae.client.make(path, TY_CIN, {"con": "gone!", "et": timestamp(SOON)})
    assert ae.client.get(path, TY_CNT)["cni"] == 2
    wait_past()
    expect(ae.client.retrieve(f"/{gone['ri']}"), 4004, 404)
    assert ae.client.get(f"{path}/la", TY_CIN)["ri"] == keep["ri"]
    # the sweep (or the read) must bring the counters back in line
    deadline = time.monotonic() + 20
    while True:
        cnt = ae.client.get(path, TY_CNT)
        if (cnt["cni"], cnt["cbs"]) == (1, 4) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert (cnt["cni"], cnt["cbs"]) == (1, 4), cnt


def test_et_can_be_extended_by_update(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c", "et": timestamp(SOON)})
    expect(ae.client.update(f"{ae.path}/c", TY_CNT, {"et": timestamp(timedelta(hours=1))}), 2004)
    wait_past()
    expect(ae.client.retrieve(f"{ae.path}/c"), 2000, 200)


def test_et_in_the_past_on_create_never_yields_a_live_resource(ae) -> None:
    reply = ae.client.create(ae.path, TY_CNT, {"rn": "past", "et": timestamp(-timedelta(hours=1))})
    assert reply.rsc in (2001, 4000) and reply.status in (201, 400), reply
    expect(ae.client.retrieve(f"{ae.path}/past"), 4004, 404)


def test_et_in_the_past_on_update(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    reply = ae.client.update(f"{ae.path}/c", TY_CNT, {"et": timestamp(-timedelta(hours=1))})
    if reply.rsc == 4000:
        expect(ae.client.retrieve(f"{ae.path}/c"), 2000, 200)
    else:
        expect(reply, 2004, 200)
        expect(ae.client.retrieve(f"{ae.path}/c"), 4004, 404)


@pytest.mark.parametrize("et", ["tomorrow", "2030-01-01", "20301301T000000", 20300101, ""])
def test_malformed_et_is_4000(ae, et) -> None:
    expect(ae.client.create(ae.path, TY_CNT, {"rn": "c", "et": et}), 4000, 400)
    expect(ae.client.retrieve(f"{ae.path}/c"), 4004, 404)


def test_cse_base_has_no_et(m2m) -> None:
    expect(m2m.update(m2m.cse_rn, 5, {"et": timestamp(SOON)}), 4000, 400)
